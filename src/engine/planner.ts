// The pure planner: (snapshot, desired, run state) -> one Decision. No I/O, no clock beyond the
// snapshot's `at`. Converging by re-planning after every step means a crash anywhere is recovered
// by running again (KCP rolling update): the pair of old machine and replacement is re-derived from
// live state (the replacement's `replaces` tag), never from memory.
import { evaluateGate, type GateResult } from './gate.ts';
import { CONTROL_PLANE_COMPONENTS, type Desired, type EtcdMember, type Machine, type NodeView } from './model.ts';
import { projectRemoval } from './projection.ts';
import { type Candidate, orderCandidates } from './selection.ts';
import {
  controlPlaneMachines,
  isLive,
  memberHealth,
  memberOfNode,
  nodeOf,
  type Snapshot,
  targetOf,
  unlinkedMembers,
} from './snapshot.ts';
import type { Decision } from './steps.ts';

/** Set on the old Node once its drain completed, so a re-run does not drain again. */
export const DRAINED_ANNOTATION = 'kubeswap.io/drained';

export interface PlanInput {
  snapshot: Snapshot;
  desired: Desired;
  runId: string;
  /** Consecutive passes (this one included) in which the gate held. */
  gateStreak: number;
  gatePasses: number;
  machineTimeoutMs: number;
}

/** A replacement and the machine it replaces, while the old one still exists in any form. */
export interface Swap {
  replacement: Machine;
  oldId: string;
  old?: Machine;
  oldNode?: NodeView;
}

export function findSwaps(s: Snapshot): { live: Swap[]; failed: Swap[] } {
  const live: Swap[] = [];
  const failed: Swap[] = [];
  for (const r of s.machines) {
    if (!r.replaces) continue;
    const old = s.machines.find((m) => m.id === r.replaces);
    const oldNode = s.nodes.find((n) => n.providerId?.endsWith(`/${r.replaces}`));
    const oldExists = (old && isLive(old)) || oldNode !== undefined;
    if (!oldExists) continue;
    (isLive(r) ? live : failed).push({ replacement: r, oldId: r.replaces, old, oldNode });
  }
  return { live, failed };
}

/**
 * The gate this pass is judged by. Once the old machine of a swap is cordoned it is being retired:
 * its Node and member are expected to go away, so the gate looks at the rest of the cluster.
 */
export function gateFor(s: Snapshot): GateResult {
  const retiring = findSwaps(s).live.find((w) => w.oldNode?.unschedulable)?.oldNode;
  return evaluateGate(retiring ? withoutNode(s, retiring.name) : s);
}

function withoutNode(s: Snapshot, name: string): Snapshot {
  const member = memberOfNode(s, name);
  return {
    ...s,
    nodes: s.nodes.filter((n) => n.name !== name),
    etcd: {
      ...s.etcd,
      members: s.etcd.members.filter((m) => m !== member),
      endpoints: s.etcd.endpoints.filter((e) => !member || e.memberId !== member.id),
    },
  };
}

export function plan(input: PlanInput): Decision {
  const s = input.snapshot;
  const gate = gateFor(s);
  const { live, failed } = findSwaps(s);
  if (live.length > 1) {
    return {
      kind: 'blocked',
      code: 'swap.several-in-flight',
      reason: `${live.length} replacements are in flight (${live.map((w) => w.replacement.id).join(', ')}); only one may be`,
      hint: 'terminate the extra replacement instance(s) or let the run that created them finish',
    };
  }
  const unfinished = failed.find((f) => nodeOf(s, f.replacement) || unlinkedMembers(s).length > 0);
  if (live.length === 0 && unfinished) return rollback(s, unfinished, 'continuing an interrupted rollback');
  const swap = live[0];
  if (swap) return planSwap(input, swap, gate);

  const candidates = orderCandidates(controlPlaneMachines(s), input.desired, input.runId);
  const next = candidates[0];
  if (!next) {
    const orphan = unlinkedMembers(s)[0];
    if (orphan) return orphanBlocked(orphan);
    return { kind: 'done' };
  }
  if (!gate.ok || input.gateStreak < input.gatePasses) return gateWait(gate, input, next.cp.name);
  return createReplacement(next, failed);
}

function createReplacement(next: Candidate, failed: Swap[]): Decision {
  const old = next.cp.machine;
  if (!old) {
    return {
      kind: 'blocked',
      code: 'machine.not-found',
      machine: next.cp.name,
      reason: `node ${next.cp.name} (providerID ${next.cp.node.providerId ?? 'none'}) has no machine in the provider`,
      hint: 'check the provider settings (region, cluster name) or the Node providerID',
    };
  }
  const attempt = 1 + failed.filter((f) => f.oldId === old.id).length;
  return {
    kind: 'step',
    machine: next.cp.name,
    reason: next.reasons.map((r) => r.message).join('; '),
    step: { kind: 'create-replacement', old, oldNode: next.cp.name, attempt },
  };
}

function planSwap(input: PlanInput, swap: Swap, gate: GateResult): Decision {
  const s = input.snapshot;
  const r = swap.replacement;
  const name = swap.oldNode?.name ?? swap.oldId;
  const rNode = nodeOf(s, r);
  const rMember = rNode ? memberOfNode(s, rNode.name) : undefined;
  const missing = joinMissing(s, rNode, rMember);
  const oldTouched = swap.oldNode?.unschedulable || (swap.old && targetOf(s, swap.old.id)?.state === 'draining');
  if (oldTouched && missing.length === 0) {
    // Retiring: the gate held N times before the old machine was touched; now every step only
    // needs the rest of the cluster healthy (and removal its own quorum projection).
    if (!gate.ok) return gateWait(gate, input, name);
    return planRetirement(s, swap, rNode!, rMember!);
  }
  if (missing.length > 0 || !gate.ok) {
    const elapsed = s.at.getTime() - r.launchedAt.getTime();
    if (elapsed > input.machineTimeoutMs && !oldTouched) {
      const why = missing.length > 0 ? missing.join('; ') : gate.reasons.join('; ');
      return rollback(s, swap, `not healthy within the machine timeout: ${why}`);
    }
    if (missing.length > 0) {
      return {
        kind: 'wait',
        code: 'replacement.joining',
        machine: name,
        reason: `replacement ${r.id}: ${missing.join('; ')}`,
      };
    }
  }
  if (!gate.ok || input.gateStreak < input.gatePasses) return gateWait(gate, input, name);
  return planRetirement(s, swap, rNode!, rMember!);
}

/** After the replacement joined and the gate held: retire the old machine in the safe order (§4.3-7). */
function planRetirement(s: Snapshot, swap: Swap, rNode: NodeView, rMember: EtcdMember): Decision {
  const r = swap.replacement;
  const name = swap.oldNode?.name ?? swap.oldId;
  const step = (step: Extract<Decision, { kind: 'step' }>['step'], reason: string): Decision => ({
    kind: 'step',
    machine: name,
    reason,
    step,
  });
  if (s.apiTargets) {
    const rTarget = targetOf(s, r.id);
    if (!rTarget || rTarget.state === 'unused' || rTarget.state === 'draining') {
      return step({ kind: 'register-target', machineId: r.id, node: rNode.name }, 'replacement joined');
    }
    if (rTarget.state !== 'healthy') {
      return { kind: 'wait', code: 'target.registering', machine: name, reason: `target ${r.id} is ${rTarget.state}` };
    }
    const oTarget = swap.old ? targetOf(s, swap.old.id) : undefined;
    if (swap.old && oTarget && oTarget.state !== 'unused' && oTarget.state !== 'unavailable') {
      return step({ kind: 'deregister-target', machineId: swap.old.id, node: name }, 'replacement serves the API');
    }
  }
  const oldNode = swap.oldNode;
  if (oldNode && !(oldNode.unschedulable && oldNode.annotations[DRAINED_ANNOTATION] !== undefined)) {
    return step({ kind: 'drain', node: oldNode.name }, 'replacement serves the API');
  }
  const oldMember = oldNode ? memberOfNode(s, oldNode.name) : undefined;
  if (oldMember) {
    if (s.etcd.leaderId === oldMember.id) {
      return step({ kind: 'move-leader', node: name, fromId: oldMember.id, toId: rMember.id }, 'its member leads etcd');
    }
    const projection = projectRemoval(s, oldMember);
    if (!projection.safe) {
      return {
        kind: 'blocked',
        code: 'etcd.quorum-at-risk',
        machine: name,
        reason: `removing etcd member ${name} is unsafe: ${projection.reason}`,
        hint: 'restore the unhealthy members, then re-run',
      };
    }
    return step({ kind: 'remove-member', node: name, member: oldMember }, 'node drained');
  }
  if (swap.old && isLive(swap.old)) {
    return step({ kind: 'terminate', machineId: swap.old.id, node: name }, 'etcd member removed');
  }
  if (oldNode) return step({ kind: 'delete-node', node: oldNode.name }, 'machine terminated');
  return { kind: 'done' };
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

function rollback(s: Snapshot, swap: Swap, reason: string): Decision {
  const rNode = nodeOf(s, swap.replacement);
  const members = [...(rNode ? [memberOfNode(s, rNode.name)] : []), ...unlinkedMembers(s)].filter(
    (m): m is EtcdMember => m !== undefined,
  );
  const target = targetOf(s, swap.replacement.id);
  const name = swap.oldNode?.name ?? swap.oldId;
  return {
    kind: 'step',
    machine: name,
    reason,
    step: {
      kind: 'rollback',
      replacement: swap.replacement,
      oldNode: name,
      node: rNode?.name,
      members: [...new Map(members.map((m) => [m.id, m])).values()],
      registered: target !== undefined && target.state !== 'unused',
      reason,
    },
  };
}

function gateWait(gate: GateResult, input: PlanInput, machine: string): Decision {
  if (!gate.ok) return { kind: 'wait', code: 'gate.failing', machine, reason: gate.reasons.join('; ') };
  return {
    kind: 'wait',
    code: 'gate.settling',
    machine,
    reason: `health gate passed ${input.gateStreak} of ${input.gatePasses} consecutive times`,
  };
}

function orphanBlocked(m: EtcdMember): Decision {
  const hexId = BigInt(m.id).toString(16);
  return {
    kind: 'blocked',
    code: 'etcd.orphan-member',
    reason: `etcd member ${m.name || '(unstarted)'} ${hexId}${m.isLearner ? ' (learner)' : ''} belongs to no control-plane node`,
    hint: `if its machine is gone, remove it: etcdctl member remove ${hexId}`,
  };
}
