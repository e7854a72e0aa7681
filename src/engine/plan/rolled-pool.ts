// A worker pool the provider's own system rolls (Cluster API MachineDeployments, capabilities.rollsPools): one step,
// the bump of what the pool's machines are made from (version, template, rolling-update strategy), then the rollout
// is followed, not driven. Cluster API's MachineDeployment controller keeps its batches within maxSurge and
// maxUnavailable and moves on only once new Machines are available (their Node Ready); kubeswap reports each batch,
// counts the pool done only when every Machine is at the target with a Ready Node at the target's kubelet version,
// and stops (exit 4) when the rollout stalls: a drain past --drain-timeout (a PodDisruptionBudget, named) or a new
// Machine without a Ready Node past --machine-timeout. A re-run after kill -9 finds the bump done (the provider's
// bump is idempotent) and follows the rollout in flight.
import { normalizeVersion } from '../../domain/kubeadm/versions.ts';
import type { NodeView } from '../../domain/model.ts';
import type { PoolSpec } from '../../domain/pools.ts';
import type { PoolRollout, RolloutMachine } from '../../domain/rollouts.ts';
import type { Snapshot } from '../observe/snapshot.ts';
import { type PlanInput, stepFor } from './decisions.ts';
import type { GateResult } from './gate.ts';
import type { Decision } from './steps.ts';

const nodeOf = (s: Snapshot, m: RolloutMachine): NodeView | undefined =>
  m.providerId ? s.nodes.find((n) => !n.controlPlane && n.providerId === m.providerId) : undefined;

/** The PodDisruptionBudget Cluster API's drain names ("The disruption budget <name> needs ..."), when it does. */
export function blockingBudget(message: string | undefined): string | undefined {
  return message ? /disruption budget (\S+?) needs/.exec(message)?.[1] : undefined;
}

/** What the operator reads about a rollout: machines at the target and Ready, old ones left, drains going on. */
export function rolloutProgress(s: Snapshot, r: PoolRollout, version: string): string {
  const live = r.machines.filter((m) => m.phase !== 'gone');
  const ready = live.filter((m) => m.upToDate && !m.deletionStartedAt && atTarget(nodeOf(s, m), version)).length;
  const old = live.filter((m) => !m.upToDate).length;
  const deleting = live
    .filter((m) => m.deletionStartedAt)
    .map((m) => `${m.id}${nodeOf(s, m) ? ` (node ${nodeOf(s, m)!.name})` : ''}`);
  return `${r.kind} ${r.name}: ${ready} of ${r.replicas} Machine(s) at ${version} with a Ready Node, ${old} old left${deleting.length > 0 ? `, Cluster API is deleting ${deleting.join(', ')}` : ''}`;
}

const atTarget = (node: NodeView | undefined, version: string) =>
  node?.ready === true && normalizeVersion(node.kubeletVersion) === normalizeVersion(version);

export function planRolledPool(input: PlanInput, spec: PoolSpec, gate: GateResult): Decision {
  const rollouts = (input.snapshot.poolRollouts ?? []).filter((r) => r.pool === spec.name);
  if (rollouts.length === 0) {
    return {
      kind: 'blocked',
      code: 'pool.empty',
      reason: `worker pool ${spec.name} has no MachineDeployment`,
      hint: "check the pool's machineDeployment (kubectl get machinedeployments -A)",
    };
  }
  // One MachineDeployment at a time, in name order: the pool's disruption is one rollout's.
  for (const r of rollouts) {
    const decision = planRollout(input, spec, r, gate);
    if (decision.kind !== 'done') return decision;
  }
  return { kind: 'done' };
}

function planRollout(input: PlanInput, spec: PoolSpec, r: PoolRollout, gate: GateResult): Decision {
  const s = input.snapshot;
  const version = input.desired.version;
  const what = `${r.kind} ${r.name}`;
  const hintMachine = (id: string) => `kubectl describe machine ${id} (its conditions say what Cluster API waits for)`;
  if (r.paused) {
    return {
      kind: 'blocked',
      code: 'pool.paused',
      machine: r.name,
      reason: `pool ${spec.name}: ${what} is paused: its rollout would never finish`,
      hint: `unpause it (spec.paused, annotation cluster.x-k8s.io/paused) and re-run`,
    };
  }
  if (r.drift.length > 0) {
    if (!gate.ok) return { kind: 'wait', code: 'gate.failing', machine: r.name, reason: gate.reasons.join('; ') };
    const strategy = spec.keepStrategy ? 'keep' : { maxSurge: spec.maxSurge, maxUnavailable: spec.maxUnavailable };
    return stepFor(
      r.name,
      { kind: 'bump-pool', pool: spec.name, objectKind: r.kind, name: r.name, strategy },
      `pool ${spec.name}: ${r.drift.map((d) => d.message).join('; ')}`,
    );
  }
  const live = r.machines.filter((m) => m.phase !== 'gone');
  for (const m of live) {
    if (m.phase === 'failed') {
      return {
        kind: 'blocked',
        code: 'pool.machine-failed',
        machine: m.id,
        reason: `pool ${spec.name}: Machine ${m.id} of ${what} failed`,
        hint: hintMachine(m.id),
      };
    }
    // Cluster API drains without a deadline unless the MachineDeployment sets one: --drain-timeout bounds it here.
    const drainingMs = m.deletionStartedAt ? s.at.getTime() - m.deletionStartedAt.getTime() : 0;
    const node = nodeOf(s, m);
    // Past the drain (the Deleting condition's reason says so), what is slow is the infrastructure or a hook, not
    // a PodDisruptionBudget: bounded by --drain-timeout plus --termination-timeout, and not called a blocked drain.
    if (m.deletionStartedAt && m.deletingStage === 'after-drain') {
      const bound =
        input.terminateTimeoutMs === undefined ? undefined : (input.drainTimeoutMs ?? 0) + input.terminateTimeoutMs;
      if (bound !== undefined && drainingMs > bound) {
        return {
          kind: 'blocked',
          code: 'pool.deletion-stalled',
          machine: m.id,
          reason: `pool ${spec.name}: Cluster API has deleted Machine ${m.id} of ${what} for ${Math.round(drainingMs / 1000)} s, longer than --drain-timeout plus --termination-timeout; its drain is done${m.deleting ? `, it waits: ${m.deleting.replace(/\s+/g, ' ').trim()}` : ''}`,
          hint: `${hintMachine(m.id)}; check its infrastructure machine in the provider, then re-run: the rollout goes on where it is`,
        };
      }
      continue;
    }
    if (m.deletionStartedAt && node && input.drainTimeoutMs !== undefined && drainingMs > input.drainTimeoutMs) {
      const budget = blockingBudget(m.deleting);
      return {
        kind: 'blocked',
        code: 'node.drain-blocked',
        machine: node.name,
        reason: `pool ${spec.name}: Cluster API has drained node ${node.name} (Machine ${m.id} of ${what}) for ${Math.round(drainingMs / 1000)} s, longer than --drain-timeout${budget ? `: PodDisruptionBudget ${budget} does not allow the eviction` : ''}${m.deleting ? ` (${m.deleting.replace(/\s+/g, ' ').trim()})` : ''}`,
        hint: `${budget ? `relax PodDisruptionBudget ${budget} or move its pods` : hintMachine(m.id)}, then re-run: the rollout goes on where it is`,
      };
    }
  }
  for (const m of live.filter((x) => x.upToDate && !x.deletionStartedAt)) {
    const node = nodeOf(s, m);
    if (!atTarget(node, version) && s.at.getTime() - m.launchedAt.getTime() > input.machineTimeoutMs) {
      return {
        kind: 'blocked',
        code: 'pool.rollout-stalled',
        machine: m.id,
        reason: `pool ${spec.name}: Machine ${m.id} of ${what} has ${node ? `node ${node.name} not Ready at ${version}` : 'no Node'} past --machine-timeout; Cluster API keeps the old Machines it has not deleted yet`,
        hint: `${hintMachine(m.id)}; fix the template or the image, then re-run`,
      };
    }
  }
  // After the bump Cluster API creates the new MachineSet's Machines; if none ever appears (a MachineSet the
  // controller cannot create, a quota or a webhook refusing the Machine), nothing above ever stops the wait.
  if (
    r.bumpedAt &&
    r.replicas > 0 &&
    !live.some((m) => m.upToDate) &&
    s.at.getTime() - r.bumpedAt.getTime() > input.machineTimeoutMs
  ) {
    return {
      kind: 'blocked',
      code: 'pool.rollout-stalled',
      machine: r.name,
      reason: `pool ${spec.name}: ${what} points at ${version} since ${r.bumpedAt.toISOString()}, and Cluster API has created no Machine of its new template within --machine-timeout`,
      hint: `kubectl describe machinedeployment ${r.name} and its newest MachineSet (their conditions say why no Machine is created), fix that, then re-run`,
    };
  }
  const upToDate = live.filter((m) => m.upToDate && !m.deletionStartedAt);
  const done =
    live.every((m) => m.upToDate && !m.deletionStartedAt) &&
    upToDate.length === r.replicas &&
    upToDate.every((m) => atTarget(nodeOf(s, m), version));
  if (done) return { kind: 'done' };
  return {
    kind: 'wait',
    code: 'pool.rollout',
    machine: r.name,
    reason: `pool ${spec.name}: ${rolloutProgress(s, r, version)}`,
  };
}
