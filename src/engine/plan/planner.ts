// The pure planner: (snapshot, desired, run state) -> one Decision. No I/O, no clock beyond the
// snapshot's `at`. Converging by re-planning after every step means a crash anywhere is recovered
// by running again (KCP rolling update): the pair of old machine and replacement is re-derived from
// live state (the replacement's `replaces` tag), never from memory.

import {
  CONTROL_PLANE_COMPONENTS,
  type Desired,
  type EtcdMember,
  type Machine,
  type NodeView,
} from '../../domain/model.ts';
import {
  controlPlaneMachines,
  isLive,
  memberHealth,
  memberOfNode,
  nodeOf,
  type Snapshot,
  targetOf,
  unlinkedMembers,
} from '../observe/snapshot.ts';
import type { RetiringRecord } from '../run/retiring.ts';
import { evaluateGate, type GateResult } from './gate.ts';
import { projectRemoval } from './projection.ts';
import { type Candidate, orderCandidates } from './selection.ts';
import type { Decision, Step } from './steps.ts';

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
  /** 1: add the replacement, then remove the old machine. 0: remove first (needs >= 3 members). */
  maxSurge: 0 | 1;
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
    const oldNode = s.nodes.find((n) => n.machineId === r.replaces);
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
  const retiring = s.retiring?.node ?? findSwaps(s).live.find((w) => w.oldNode?.unschedulable)?.oldNode?.name;
  return evaluateGate(retiring ? withoutNode(s, retiring) : s);
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
  // A remove-first swap in progress is finished first, whatever --max-surge this run was given.
  if (s.retiring) return planRemoveFirst(input, s.retiring, gate);
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
  if (input.maxSurge === 0) return beginRetirement(s, next);
  return createReplacement(next, failed);
}

function machineNotFound(next: Candidate): Decision {
  return {
    kind: 'blocked',
    code: 'machine.not-found',
    machine: next.cp.name,
    reason: `node ${next.cp.name} (providerID ${next.cp.node.providerId ?? 'none'}) has no machine in the provider`,
    hint: 'check the provider settings (region, cluster name) or the Node providerID',
  };
}

function createReplacement(next: Candidate, failed: Swap[]): Decision {
  const old = next.cp.machine;
  if (!old) return machineNotFound(next);
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
  if (s.apiTargets) {
    const rTarget = targetOf(s, r.id);
    if (!rTarget || rTarget.state === 'absent' || rTarget.state === 'draining') {
      return stepFor(name, { kind: 'register-target', machineId: r.id, node: rNode.name }, 'replacement joined');
    }
    if (rTarget.state !== 'serving') {
      return { kind: 'wait', code: 'target.registering', machine: name, reason: `target ${r.id} is ${rTarget.state}` };
    }
  }
  return (
    retireOld(s, {
      name,
      old: swap.old,
      oldNode: swap.oldNode,
      leaderTo: rMember.id,
      why: 'replacement serves the API',
    }) ?? {
      kind: 'done',
    }
  );
}

interface Retiree {
  name: string;
  old?: Machine;
  oldNode?: NodeView;
  /** Member to hand etcd leadership to; undefined picks any other healthy voter. */
  leaderTo?: string;
  why: string;
  /** --max-surge 0: the Node is deleted before the replacement exists. */
  midSwap?: boolean;
}

/**
 * The old machine's way out, one step per call, in the safe order: stop serving the API, drain,
 * hand off etcd leadership, remove its member (after the quorum projection), terminate, delete the
 * Node. undefined once nothing of it is left.
 */
function retireOld(s: Snapshot, o: Retiree): Decision | undefined {
  const { name, old, oldNode } = o;
  const oTarget = old ? targetOf(s, old.id) : undefined;
  if (old && isLive(old) && oTarget && oTarget.state !== 'absent' && oTarget.state !== 'unmonitored') {
    return stepFor(name, { kind: 'deregister-target', machineId: old.id, node: name }, o.why);
  }
  if (oldNode && !(oldNode.unschedulable && oldNode.annotations[DRAINED_ANNOTATION] !== undefined)) {
    return stepFor(name, { kind: 'drain', node: oldNode.name }, o.why);
  }
  const oldMember = memberOfNode(s, name);
  if (oldMember) {
    if (s.etcd.leaderId === oldMember.id) {
      const to =
        o.leaderTo ??
        s.etcd.members.find((m) => m.id !== oldMember.id && !m.isLearner && memberHealth(s, m.id)?.healthy === true)
          ?.id;
      if (!to) {
        return {
          kind: 'blocked',
          code: 'etcd.quorum-at-risk',
          machine: name,
          reason: `no other healthy voting member can take etcd leadership from ${name}`,
          hint: 'restore the unhealthy members, then re-run',
        };
      }
      return stepFor(
        name,
        { kind: 'move-leader', node: name, fromId: oldMember.id, toId: to },
        'its member leads etcd',
      );
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
    return stepFor(name, { kind: 'remove-member', node: name, member: oldMember }, 'node drained');
  }
  if (old && isLive(old)) {
    return stepFor(name, { kind: 'terminate', machineId: old.id, node: name }, 'etcd member removed');
  }
  if (oldNode) {
    return stepFor(name, { kind: 'delete-node', node: oldNode.name, midSwap: o.midSwap }, 'machine terminated');
  }
  return undefined;
}

function stepFor(machine: string, step: Step, reason: string): Decision {
  return { kind: 'step', machine, reason, step };
}

/**
 * --max-surge 0 (KCP scale-down first): with >= 3 members and quorum to spare, the old machine is
 * written down, then removed in the same safe order, then its replacement is created in its subnet,
 * joins and is registered; the record is dropped when the gate holds again.
 */
function beginRetirement(s: Snapshot, next: Candidate): Decision {
  const old = next.cp.machine;
  if (!old) return machineNotFound(next);
  const name = next.cp.name;
  const voters = s.etcd.members.filter((m) => !m.isLearner).length;
  if (voters < 3) {
    return {
      kind: 'blocked',
      code: 'surge.too-few-members',
      machine: name,
      reason: `--max-surge 0 removes ${name} before its replacement exists, which needs at least 3 etcd members; this cluster has ${voters}`,
      hint: 'use --max-surge 1 (the default): the replacement joins before the old machine leaves',
    };
  }
  const member = next.cp.member;
  const projection = member ? projectRemoval(s, member) : undefined;
  if (projection && !projection.safe) {
    return {
      kind: 'blocked',
      code: 'etcd.quorum-at-risk',
      machine: name,
      reason: `--max-surge 0 would remove etcd member ${name} first, which is unsafe: ${projection.reason}`,
      hint: 'restore the unhealthy members, or use --max-surge 1',
    };
  }
  return stepFor(name, { kind: 'begin-retirement', old, oldNode: name }, next.reasons.map((r) => r.message).join('; '));
}

function planRemoveFirst(input: PlanInput, record: RetiringRecord, gate: GateResult): Decision {
  const s = input.snapshot;
  const name = record.node;
  const old = s.machines.find((m) => m.id === record.machine.id);
  const oldNode = s.nodes.find((n) => n.name === name);
  const replacements = s.machines.filter((m) => m.replaces === record.machine.id);
  const replacement = replacements.find(isLive);
  if (!replacement) {
    // Removing the old machine needs the rest of the cluster healthy, as does adding its successor.
    if (!gate.ok) return gateWait(gate, input, name);
    const retiring = retireOld(s, { name, old, oldNode, why: 'removed first (--max-surge 0)', midSwap: true });
    if (retiring) return retiring;
    const leaked =
      replacements.find((f) => nodeOf(s, f)) ?? (unlinkedMembers(s).length > 0 ? replacements[0] : undefined);
    if (leaked)
      return rollback(s, { replacement: leaked, oldId: record.machine.id }, 'continuing an interrupted rollback', true);
    return stepFor(
      name,
      {
        kind: 'create-replacement',
        old: record.machine,
        oldNode: name,
        attempt: 1 + replacements.length,
        oldRetired: true,
      },
      'old machine removed (--max-surge 0)',
    );
  }
  const rNode = nodeOf(s, replacement);
  const rMember = rNode ? memberOfNode(s, rNode.name) : undefined;
  const missing = joinMissing(s, rNode, rMember);
  if (missing.length > 0) {
    if (s.at.getTime() - replacement.launchedAt.getTime() > input.machineTimeoutMs) {
      const swap = { replacement, oldId: record.machine.id };
      return rollback(s, swap, `not healthy within the machine timeout: ${missing.join('; ')}`, true);
    }
    return {
      kind: 'wait',
      code: 'replacement.joining',
      machine: name,
      reason: `replacement ${replacement.id}: ${missing.join('; ')}`,
    };
  }
  if (s.apiTargets) {
    const target = targetOf(s, replacement.id);
    if (!target || target.state === 'absent' || target.state === 'draining') {
      return stepFor(
        name,
        { kind: 'register-target', machineId: replacement.id, node: rNode!.name },
        'replacement joined',
      );
    }
    if (target.state !== 'serving') {
      return {
        kind: 'wait',
        code: 'target.registering',
        machine: name,
        reason: `target ${replacement.id} is ${target.state}`,
      };
    }
  }
  if (!gate.ok || input.gateStreak < input.gatePasses) return gateWait(gate, input, name);
  return stepFor(name, { kind: 'finish-retirement', node: name, replacement: replacement.id }, 'replacement serves');
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

function rollback(s: Snapshot, swap: Swap, reason: string, oldRetired = false): Decision {
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
      registered: target !== undefined && target.state !== 'absent',
      reason,
      oldRetired,
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
