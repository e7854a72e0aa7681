// --max-surge 0 (KCP scale-down first): with >= 3 members and quorum to spare, the old machine is
// written down, then removed in the same safe order, then its replacement is created in its place,
// joins and is registered; the record is dropped when the gate holds again.
import { isLive, memberOfNode, nodeOf, type Snapshot, unlinkedMembers } from '../observe/snapshot.ts';
import type { RetiringRecord } from '../run/retiring.ts';
import {
  gateWait,
  joinAwaitsOnlyKube,
  joiningWait,
  joinMissing,
  type PlanInput,
  pastMachineTimeout,
  registerReplacement,
  rollback,
  stepFor,
} from './decisions.ts';
import type { GateResult } from './gate.ts';
import { projectRemoval } from './projection.ts';
import { retireOld } from './retirement.ts';
import type { Candidate } from './selection.ts';
import type { Decision } from './steps.ts';

/** The first step of a remove-first swap: refused unless the cluster can spare the member. */
export function beginRetirement(s: Snapshot, next: Candidate, old: NonNullable<Candidate['cp']['machine']>): Decision {
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

/** A remove-first swap in progress (its record exists): finished first, whatever --max-surge this run has. */
export function planRemoveFirst(input: PlanInput, record: RetiringRecord, gate: GateResult): Decision {
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
    if (pastMachineTimeout(input, replacement)) {
      const swap = { replacement, oldId: record.machine.id };
      return rollback(s, swap, `not healthy within the machine timeout: ${missing.join('; ')}`, true);
    }
    return joiningWait(name, replacement, missing, joinAwaitsOnlyKube(s, rNode, rMember));
  }
  const registering = registerReplacement(s, name, replacement, rNode!);
  if (registering) return registering;
  if (!gate.ok || input.gateStreak < input.gatePasses) return gateWait(gate, input, name);
  return stepFor(name, { kind: 'finish-retirement', node: name, replacement: replacement.id }, 'replacement serves');
}
