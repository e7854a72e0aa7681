// What every pool planner shares: the planner's input, and the small decisions each of them returns
// (a step, a gate wait, a join wait, a rollback, a blocked orphan), so each reads the same way.
import {
  CONTROL_PLANE_COMPONENTS,
  type Desired,
  type EtcdMember,
  type Machine,
  type NodeView,
} from '../../domain/model.ts';
import { memberHealth, memberOfNode, nodeOf, type Snapshot, targetOf, unlinkedMembers } from '../observe/snapshot.ts';
import type { GateResult } from './gate.ts';
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
  /** 1: add the replacement, then remove the old machine. 0: remove first (needs >= 3 members). */
  maxSurge: 0 | 1;
}

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

/** The machine timeout counts from the replacement's launch, and only while it has not joined. */
export function pastMachineTimeout(input: PlanInput, replacement: Machine): boolean {
  return input.snapshot.at.getTime() - replacement.launchedAt.getTime() > input.machineTimeoutMs;
}

export function joiningWait(machine: string, replacement: Machine, missing: string[]): Decision {
  return {
    kind: 'wait',
    code: 'replacement.joining',
    machine,
    reason: `replacement ${replacement.id}: ${missing.join('; ')}`,
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
    return { kind: 'wait', code: 'target.registering', machine, reason: `target ${r.id} is ${target.state}` };
  }
  return undefined;
}

export function rollback(s: Snapshot, swap: Swap, reason: string, oldRetired = false): Decision {
  const rNode = nodeOf(s, swap.replacement);
  const members = [...(rNode ? [memberOfNode(s, rNode.name)] : []), ...unlinkedMembers(s)].filter(
    (m): m is EtcdMember => m !== undefined,
  );
  const target = targetOf(s, swap.replacement.id);
  const name = swap.oldNode?.name ?? swap.oldId;
  return stepFor(
    name,
    {
      kind: 'rollback',
      replacement: swap.replacement,
      oldNode: name,
      node: rNode?.name,
      members: [...new Map(members.map((m) => [m.id, m])).values()],
      registered: target !== undefined && target.state !== 'absent',
      reason,
      oldRetired,
    },
    reason,
  );
}

export function orphanBlocked(m: EtcdMember): Decision {
  const hexId = BigInt(m.id).toString(16);
  return {
    kind: 'blocked',
    code: 'etcd.orphan-member',
    reason: `etcd member ${m.name || '(never started)'} ${hexId}${m.isLearner ? ' (learner)' : ''} belongs to no control-plane node and no replacement of this run`,
    hint: `if no machine is joining with it (a crashed join, a leftover), remove it: etcdctl member remove ${hexId}; then re-run`,
  };
}
