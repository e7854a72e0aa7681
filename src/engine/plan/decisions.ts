// What every pool planner shares: the planner's input, and the small decisions each of them returns
// (a step, a gate wait, a join wait, a rollback, a blocked orphan), so each reads the same way.
import {
  CONTROL_PLANE_COMPONENTS,
  type Desired,
  type EtcdMember,
  type Machine,
  type NodeView,
} from '../../domain/model.ts';
import type { PoolSpec } from '../../domain/pools.ts';
import {
  isLive,
  memberHealth,
  memberOfNode,
  nodeOf,
  type Snapshot,
  targetOf,
  unlinkedMembers,
} from '../observe/snapshot.ts';
import { isRetiring, WAS_CORDONED_ANNOTATION } from './annotations.ts';
import type { GateResult } from './gate.ts';
import { projectRemoval } from './projection.ts';
import type { Decision, Step } from './steps.ts';
import type { Swap } from './swaps.ts';

export interface PlanInput {
  snapshot: Snapshot;
  desired: Desired;
  runId: string;
  /** Consecutive passes (this one included) in which the gate held. */
  gateStreak: number;
  gatePasses: number;
  machineTimeoutMs: number;
  /** --drain-timeout: how long a drain may take, also one the provider's system does (undefined: unbounded). */
  drainTimeoutMs?: number;
  /** How long a machine's termination may take (undefined: unbounded). */
  terminateTimeoutMs?: number;
  /** The provider can start a termination without waiting for it: the planner waits instead (retirement.ts). */
  terminatesInBackground?: boolean;
  /** 1: add the replacement, then remove the old machine. 0: remove first (needs >= 3 members). */
  maxSurge: 0 | 1;
  /** Which pools this pass plans: the control plane, the worker pools, or both (default). */
  scope?: PlanScope;
  /** The worker pools to roll, in order (after the control plane). */
  pools?: readonly PoolSpec[];
}

export type PlanScope = 'all' | 'control-plane' | 'workers';

export function stepFor(machine: string, step: Step, reason: string): Decision {
  return { kind: 'step', machine, reason, step };
}

export function gateWait(gate: GateResult, input: PlanInput, machine: string): Decision {
  if (!gate.ok) return { kind: 'wait', code: 'gate.failing', machine, reason: gate.reasons.join('; ') };
  return {
    kind: 'wait',
    code: 'gate.settling',
    machine,
    reason: `health gate passed ${input.gateStreak} of ${input.gatePasses} consecutive times`,
  };
}

/** What the replacement still lacks to count as joined (notes/kubernetes.md §4.2). */
export function joinMissing(s: Snapshot, rNode: NodeView | undefined, rMember: EtcdMember | undefined): string[] {
  if (!rNode) {
    const learner = unlinkedMembers(s)[0];
    return [learner ? 'etcd member added, Node not registered yet' : 'Node not registered yet'];
  }
  const missing: string[] = [];
  if (!rNode.controlPlane) missing.push(`node ${rNode.name} lacks the control-plane label`);
  if (!rNode.ready) missing.push(`node ${rNode.name} not Ready`);
  for (const c of CONTROL_PLANE_COMPONENTS) {
    if (!rNode.staticPods[c]?.ready) missing.push(`${c}-${rNode.name} not Ready`);
  }
  if (!rMember) missing.push('etcd member not started');
  else if (rMember.isLearner) missing.push('etcd member not promoted yet');
  else if (memberHealth(s, rMember.id)?.healthy !== true) missing.push('etcd member not healthy');
  return missing;
}

/**
 * While a join waits only for Kubernetes (no Node yet, or a Node and static pods not Ready while its etcd member is a
 * healthy voter already), nothing the plan decides depends on etcd until the Nodes change (observe/etcd-reads.ts).
 */
export function joinAwaitsOnlyKube(s: Snapshot, rNode: NodeView | undefined, rMember: EtcdMember | undefined): boolean {
  if (!rNode) return true;
  return rMember !== undefined && !rMember.isLearner && memberHealth(s, rMember.id)?.healthy === true;
}

/** The machine timeout counts from the replacement's launch, and only while it has not joined. */
export function pastMachineTimeout(input: PlanInput, replacement: Machine): boolean {
  return input.snapshot.at.getTime() - replacement.launchedAt.getTime() > input.machineTimeoutMs;
}

export function joiningWait(machine: string, replacement: Machine, missing: string[], booting = false): Decision {
  return {
    kind: 'wait',
    code: 'replacement.joining',
    machine,
    reason: `replacement ${replacement.id}: ${missing.join('; ')}`,
    ...(booting ? { etcdIndependent: true } : {}),
  };
}

/**
 * A joined replacement enters the API load balancer and serves before the old machine leaves;
 * undefined once it serves (or when no load balancer is driven by the engine).
 */
export function registerReplacement(s: Snapshot, machine: string, r: Machine, rNode: NodeView): Decision | undefined {
  if (!s.apiTargets) return undefined;
  const target = targetOf(s, r.id);
  if (!target || target.state === 'absent' || target.state === 'draining') {
    return stepFor(machine, { kind: 'register-target', machineId: r.id, node: rNode.name }, 'replacement joined');
  }
  if (target.state !== 'serving') {
    // Waits on the load balancer alone: the join was judged on a fresh etcd read when register-target was planned, and
    // anything but this wait is planned again from a fresh read (observe/etcd-reads.ts, converge.ts).
    return {
      kind: 'wait',
      code: 'target.registering',
      machine,
      reason: `target ${r.id} is ${target.state}`,
      etcdIndependent: true,
    };
  }
  return undefined;
}

export function rollback(s: Snapshot, swap: Swap, reason: string, oldRetired = false): Decision {
  const rNode = nodeOf(s, swap.replacement);
  const found = [...(rNode ? [memberOfNode(s, rNode.name)] : []), ...unlinkedMembers(s)].filter(
    (m): m is EtcdMember => m !== undefined,
  );
  const members = [...new Map(found.map((m) => [m.id, m])).values()];
  const target = targetOf(s, swap.replacement.id);
  const name = swap.oldNode?.name ?? swap.oldId;
  // No member leaves without a quorum projection, the replacement's own included (a promoted voter).
  let after = s;
  for (const m of members) {
    const projection = projectRemoval(after, m);
    if (!projection.safe) {
      return {
        kind: 'blocked',
        code: 'etcd.quorum-at-risk',
        machine: name,
        reason: `rolling back ${swap.replacement.id} would remove etcd member ${m.name || hexId(m.id)}, which is unsafe: ${projection.reason}`,
        hint: 'restore the unhealthy members, then re-run to finish the rollback',
      };
    }
    after = { ...after, etcd: { ...after.etcd, members: after.etcd.members.filter((x) => x.id !== m.id) } };
  }
  return stepFor(
    name,
    {
      kind: 'rollback',
      replacement: swap.replacement,
      oldNode: name,
      node: rNode?.name,
      members,
      registered: target !== undefined && target.state !== 'absent',
      reason,
      oldRetired: oldRetired || (isRetiring(swap.oldNode) && !memberOfNode(s, name)),
      restoreOld: restoreOld(s, swap),
    },
    reason,
  );
}

/** Whether a rollback of this swap has the old machine to put back (its retirement had begun, its member remains). */
export const oldToPutBack = (s: Snapshot, swap: Swap): boolean => restoreOld(s, swap) !== undefined;

/**
 * What to put back when the old machine's retirement had begun but its member is still there: its API
 * target (while it runs) and its cordon (unless an operator had cordoned it before). Past the member's
 * removal there is no putting back: the rollback then says the control plane is one machine short.
 */
function restoreOld(s: Snapshot, swap: Swap): Extract<Step, { kind: 'rollback' }>['restoreOld'] {
  const node = swap.oldNode;
  if (!node || !isRetiring(node) || !memberOfNode(s, node.name)) return undefined;
  const old = swap.old && isLive(swap.old) ? swap.old : undefined;
  const target = old ? targetOf(s, old.id) : undefined;
  return {
    node: node.name,
    machineId: old?.id,
    register:
      s.apiTargets !== undefined &&
      old !== undefined &&
      (!target || target.state === 'absent' || target.state === 'draining'),
    uncordon: node.unschedulable && node.annotations[WAS_CORDONED_ANNOTATION] === undefined,
  };
}

const hexId = (id: string) => BigInt(id).toString(16);

export function orphanBlocked(m: EtcdMember): Decision {
  const hexId = BigInt(m.id).toString(16);
  return {
    kind: 'blocked',
    code: 'etcd.orphan-member',
    reason: `etcd member ${m.name || '(never started)'} ${hexId}${m.isLearner ? ' (learner)' : ''} belongs to no control-plane node and no replacement of this run`,
    hint: `if no machine is joining with it (a crashed join, a leftover), remove it: etcdctl member remove ${hexId}; then re-run`,
  };
}
