// What `plan` shows of a worker pool: its size, the resolved maxSurge/maxUnavailable, and each machine with the
// reasons it is replaced (or that it matches). Pure, over the same view the pool planner uses.
import type { Desired } from '../../domain/model.ts';
import { type Fenceposts, type PoolSpec, resolveFenceposts } from '../../domain/pools.ts';
import type { Snapshot } from '../observe/snapshot.ts';
import { type PoolSlot, poolView } from './workers.ts';

export interface PoolPlan {
  name: string;
  size: number;
  fenceposts: Fenceposts;
  /** As configured (numbers or percentages), for the operator to compare with the resolved values. */
  configured: Pick<PoolSpec, 'maxSurge' | 'maxUnavailable'>;
  machines: PoolMachinePlan[];
  /**
   * A pool the provider rolls itself: its objects (`MachineDeployment md-0`), and whose strategy the rollout uses:
   * `pool` (the configured maxSurge/maxUnavailable, set on each object) or `own` (keepStrategy: each object's own).
   */
  rolledBy?: { objects: string[]; strategy: 'pool' | 'own' };
}

export interface PoolMachinePlan {
  node: string;
  machineId?: string;
  imageId?: string;
  /** Empty: the machine matches the target. */
  reasons: { code: string; message: string }[];
  /** A replacement of this run already exists for it. */
  replacement?: string;
}

export function poolPlan(s: Snapshot, spec: PoolSpec, run: { desired: Desired; runId: string }): PoolPlan {
  if (s.poolRollouts) return rolledPoolPlan(s, spec);
  const view = poolView(s, spec, run);
  return {
    name: spec.name,
    size: view.slots.length,
    fenceposts: view.fenceposts,
    configured: { maxSurge: spec.maxSurge, maxUnavailable: spec.maxUnavailable },
    machines: view.slots.map(machinePlan),
  };
}

function machinePlan(slot: PoolSlot): PoolMachinePlan {
  return {
    node: slot.name,
    ...(slot.old ? { machineId: slot.old.id, imageId: slot.old.imageId } : {}),
    reasons: slot.reasons.map(({ code, message }) => ({ code, message })),
    ...(slot.replacement ? { replacement: slot.replacement.id } : {}),
  };
}

/** A pool the provider rolls (MachineDeployments): each Machine with why its rollout replaces it. */
function rolledPoolPlan(s: Snapshot, spec: PoolSpec): PoolPlan {
  const rollouts = s.poolRollouts!.filter((r) => r.pool === spec.name);
  const size = rollouts.reduce((n, r) => n + r.replicas, 0);
  // With keepStrategy the first object's own strategy is shown (each object rolls with its own).
  const strategy = spec.keepStrategy && rollouts[0] ? rollouts[0].strategy : spec;
  return {
    name: spec.name,
    size,
    fenceposts: resolveFenceposts(strategy, size),
    configured: { maxSurge: strategy.maxSurge, maxUnavailable: strategy.maxUnavailable },
    machines: rollouts.flatMap((r) =>
      r.machines.map((m) => {
        const node = m.providerId ? s.nodes.find((n) => n.providerId === m.providerId)?.name : undefined;
        const reasons = !m.upToDate
          ? [{ code: 'rollout', message: `${r.kind} ${r.name} rolls it (not from its current template)` }]
          : r.drift.map(({ code, message }) => ({ code, message }));
        return { node: node ?? m.id, machineId: m.id, reasons };
      }),
    ),
    rolledBy: { objects: rollouts.map((r) => `${r.kind} ${r.name}`), strategy: spec.keepStrategy ? 'own' : 'pool' },
  };
}
