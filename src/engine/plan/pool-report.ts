// What `plan` shows of a worker pool: its size, the resolved maxSurge/maxUnavailable, and each machine with the
// reasons it is replaced (or that it matches). Pure, over the same view the pool planner uses.
import type { Desired } from '../../domain/model.ts';
import type { Fenceposts, PoolSpec } from '../../domain/pools.ts';
import type { Snapshot } from '../observe/snapshot.ts';
import { type PoolSlot, poolView } from './workers.ts';

export interface PoolPlan {
  name: string;
  size: number;
  fenceposts: Fenceposts;
  /** As configured (numbers or percentages), for the operator to compare with the resolved values. */
  configured: Pick<PoolSpec, 'maxSurge' | 'maxUnavailable'>;
  machines: PoolMachinePlan[];
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
