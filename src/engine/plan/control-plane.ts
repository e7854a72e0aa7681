// The control-plane pool: one machine in flight at a time, each swap add-then-remove (--max-surge 1)
// or remove-then-add (--max-surge 0), with the gate before every swap and after every join.
import {
  controlPlaneMachines,
  memberOfNode,
  nodeOf,
  type Snapshot,
  targetOf,
  unlinkedMembers,
} from '../observe/snapshot.ts';
import { isRetiring } from './annotations.ts';
import {
  gateWait,
  joinAwaitsOnlyKube,
  joiningWait,
  joinMissing,
  oldToPutBack,
  orphanBlocked,
  type PlanInput,
  pastMachineTimeout,
  registerReplacement,
  rollback,
  stepFor,
} from './decisions.ts';
import type { GateResult } from './gate.ts';
import { beginRetirement, planRemoveFirst } from './remove-first.ts';
import { retireOld } from './retirement.ts';
import { type Candidate, orderCandidates } from './selection.ts';
import type { Decision } from './steps.ts';
import { findSwaps, gateFor, type Swap } from './swaps.ts';

export function planControlPlane(input: PlanInput): Decision {
  const s = input.snapshot;
  const gate = gateFor(s);
  const hold = holdDeleted(s);
  if (hold) return hold;
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
  // A rollback is unfinished while anything of the failed replacement is left, or while the old machine is still
  // marked as being retired by us with its member in place: a rollback killed after tearing the replacement down
  // but before putting the old machine back (API target, cordon) must finish that, not start the next attempt.
  const unfinished = failed.find(
    (f) => nodeOf(s, f.replacement) || unlinkedMembers(s).length > 0 || oldToPutBack(s, f),
  );
  if (live.length === 0 && unfinished) return rollback(s, unfinished, 'continuing an interrupted rollback');
  const swap = live[0];
  if (swap) return planSwap(input, swap, gate);
  const deleted = retireDeleted(input);
  if (deleted) return deleted;

  // A member no swap of ours accounts for (someone's crashed join, a leftover learner) keeps the gate
  // failing for ever: say what it is and how to remove it instead of waiting.
  const orphan = unlinkedMembers(s)[0];
  if (orphan) return orphanBlocked(orphan);
  const next = orderCandidates(controlPlaneMachines(s), input.desired, input.runId)[0];
  if (!next) return { kind: 'done' };
  if (!gate.ok || input.gateStreak < input.gatePasses) return gateWait(gate, input, next.cp.name);
  const old = next.cp.machine;
  if (!old) return machineNotFound(next);
  if (input.maxSurge === 0) return beginRetirement(s, next, old);
  const attempt = 1 + failed.filter((f) => f.oldId === old.id).length;
  return {
    kind: 'step',
    machine: next.cp.name,
    reason: next.reasons.map((r) => r.message).join('; '),
    step: { kind: 'create-replacement', old, oldNode: next.cp.name, attempt },
  };
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

function planSwap(input: PlanInput, swap: Swap, gate: GateResult): Decision {
  const s = input.snapshot;
  const r = swap.replacement;
  const name = swap.oldNode?.name ?? swap.oldId;
  const rNode = nodeOf(s, r);
  const rMember = rNode ? memberOfNode(s, rNode.name) : undefined;
  const missing = joinMissing(s, rNode, rMember);
  const oldTouched = isRetiring(swap.oldNode) || (swap.old && targetOf(s, swap.old.id)?.state === 'draining');
  if (oldTouched && missing.length === 0) {
    // Retiring: the gate held N times before the old machine was touched; now every step only
    // needs the rest of the cluster healthy (and removal its own quorum projection).
    if (!gate.ok) return gateWait(gate, input, name);
    return retire(input, swap);
  }
  if (missing.length > 0) {
    // The machine timeout is the join's: it tears down a replacement that is not (or no longer) joined, its Node
    // or member missing or unhealthy, only while the old machine is untouched; once the old machine is being
    // retired the replacement is waited on, and so is a gate failing elsewhere.
    if (pastMachineTimeout(input, r) && !oldTouched) {
      return rollback(s, swap, `not joined within the machine timeout: ${missing.join('; ')}`);
    }
    return joiningWait(name, r, missing, joinAwaitsOnlyKube(s, rNode, rMember));
  }
  if (!gate.ok || input.gateStreak < input.gatePasses) return gateWait(gate, input, name);
  return retire(input, swap);
}

/** After the replacement joined and the gate held: it serves the API, then the old machine leaves. */
function retire(input: PlanInput, swap: Swap): Decision {
  const s = input.snapshot;
  const r = swap.replacement;
  const name = swap.oldNode?.name ?? swap.oldId;
  const rNode = nodeOf(s, r)!;
  const registering = registerReplacement(s, name, r, rNode);
  if (registering) return registering;
  const rMember = memberOfNode(s, rNode.name)!;
  return (
    retireOld(s, {
      name,
      old: swap.old,
      oldNode: swap.oldNode,
      leaderTo: rMember.id,
      why: 'replacement serves the API',
      drainTimeoutMs: input.drainTimeoutMs,
      terminateTimeoutMs: input.terminateTimeoutMs,
      terminatesInBackground: input.terminatesInBackground,
    }) ?? {
      kind: 'done',
    }
  );
}

/**
 * A control-plane machine someone else started deleting, without kubeswap's hold: Cluster API drains its Node and,
 * with no pre-terminate hook on the Machine, deletes the infrastructure right after (machine_controller.go
 * reconcileDelete), leaving a dead etcd member in the cluster. While it still has a member, put the hold on, so the
 * member leaves through the quorum projection as any other (the hold is harmless if the controller is past it:
 * it re-checks the hooks on every pass, and `terminate` releases it).
 */
function holdDeleted(s: Snapshot): Decision | undefined {
  if (!s.providerDrains) return undefined;
  for (const m of s.machines) {
    if (m.phase !== 'deleting' || !m.unheld) continue;
    const node = nodeOf(s, m);
    if (!node?.controlPlane || !memberOfNode(s, node.name)) continue;
    return stepFor(
      node.name,
      { kind: 'start-deletion', machineId: m.id, node: node.name },
      `${m.id} is being deleted outside kubeswap: holding it until its etcd member has been removed`,
    );
  }
  return undefined;
}

/**
 * A held machine outside any swap (deleted by someone else, then held above): the deletion is theirs to want, so
 * it is not replaced; it leaves the way a retired machine does (leadership moved, member removed after the quorum
 * projection, hold released) before any new swap starts.
 */
function retireDeleted(input: PlanInput): Decision | undefined {
  const s = input.snapshot;
  if (!s.providerDrains) return undefined;
  for (const cp of controlPlaneMachines(s)) {
    const old = cp.machine;
    const deleting = old?.phase === 'deleting' && !old.unheld;
    // Past the hold's release its Machine is gone (or going) while its Node is left: finish what was started.
    const leaving = isRetiring(cp.node) && (!old || old.phase === 'gone' || old.phase === 'deleting');
    if (!deleting && !leaving) continue;
    const step = retireOld(s, {
      name: cp.name,
      old,
      oldNode: cp.node,
      why: `${old?.id ?? cp.name} is being deleted outside kubeswap`,
      drainTimeoutMs: input.drainTimeoutMs,
      unreplaced: true,
    });
    if (step) return step;
  }
  return undefined;
}
