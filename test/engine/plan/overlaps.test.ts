// The two overlaps of issue 15 §1, and the safety conditions each one rests on: every test here fails when its
// condition is dropped (the member removed while the target still drains, the Node deleted while the VM still runs,
// the next swap's streak counted while the old member is still listed).
import assert from 'node:assert/strict';
import type { Snapshot } from '../../../src/engine/observe/snapshot.ts';
import {
  DRAINED_ANNOTATION,
  RETIRING_ANNOTATION,
  TERMINATING_ANNOTATION,
} from '../../../src/engine/plan/annotations.ts';
import type { PlanInput } from '../../../src/engine/plan/decisions.ts';
import { plan } from '../../../src/engine/plan/planner.ts';
import type { Decision } from '../../../src/engine/plan/steps.ts';
import { gateFor, streakGate } from '../../../src/engine/plan/swaps.ts';
import { cluster, desired, editNode, RUN, removeMember, setMachine, setTarget, withReplacement } from '../builders.ts';

const input = (snapshot: Snapshot, over: Partial<PlanInput> = {}): PlanInput => ({
  snapshot,
  desired: desired(),
  runId: RUN,
  gateStreak: 3,
  gatePasses: 3,
  machineTimeoutMs: 600_000,
  maxSurge: 1,
  terminatesInBackground: true,
  terminateTimeoutMs: 60_000,
  ...over,
});

const retiring = { [RETIRING_ANNOTATION]: RUN };
const drained = { ...retiring, [DRAINED_ANNOTATION]: RUN };

/** cp-a's replacement joined and serves, the leader is elsewhere; cp-a is marked retiring. */
function retiringA(): Snapshot {
  let s = withReplacement(cluster(['cp-a', 'cp-b', 'cp-c']), 'cp-a', 'joined');
  s = setTarget(s, 'i-r-cp-a', 'serving');
  s = { ...s, etcd: { ...s.etcd, leaderId: s.etcd.members[1]!.id } };
  return editNode(s, 'cp-a', { annotations: retiring });
}

/** cp-a's member removed, its Node drained and its target gone: only the VM is left. */
function memberRemovedA(): Snapshot {
  return removeMember(
    editNode(setTarget(retiringA(), 'i-cp-a', 'absent'), 'cp-a', { unschedulable: true, annotations: drained }),
    'cp-a',
  );
}

const step = (d: Decision) => (d.kind === 'step' ? d.step : undefined);

describe('overlap 1: the old Node drains while its API target drains', () => {
  it('deregisters the target and drains the Node in one step', () => {
    const d = plan(input(retiringA()));
    assert.deepEqual(step(d), { kind: 'deregister-target', machineId: 'i-cp-a', node: 'cp-a', drainNode: 'cp-a' });
  });

  it('tells the drain the Node is cordoned already when its retiring mark cordoned it (no second patch)', () => {
    const s = editNode(retiringA(), 'cp-a', { unschedulable: true });
    assert.deepEqual(step(plan(input(s))), {
      kind: 'deregister-target',
      machineId: 'i-cp-a',
      node: 'cp-a',
      drainNode: 'cp-a',
      cordoned: true,
    });
  });

  it('does not drain again a Node already drained (a resumed run)', () => {
    const s = editNode(setTarget(retiringA(), 'i-cp-a', 'draining'), 'cp-a', {
      unschedulable: true,
      annotations: drained,
    });
    assert.deepEqual(step(plan(input(s))), {
      kind: 'deregister-target',
      machineId: 'i-cp-a',
      node: 'cp-a',
      drainNode: undefined,
    });
  });

  it('never moves leadership or removes the member while the target still drains, even with the Node drained', () => {
    // The member's removal stops this apiserver: connections the load balancer still drains to it would break.
    let s = editNode(setTarget(retiringA(), 'i-cp-a', 'draining'), 'cp-a', {
      unschedulable: true,
      annotations: drained,
    });
    s = { ...s, etcd: { ...s.etcd, leaderId: s.etcd.members[0]!.id } };
    const d = plan(input(s));
    assert.equal(step(d)?.kind, 'deregister-target');
    // Once the target is out, leadership moves first.
    assert.equal(step(plan(input(setTarget(s, 'i-cp-a', 'absent'))))?.kind, 'move-leader');
  });
});

describe("overlap 2: the next swap's gate counts while the old VM terminates", () => {
  it('starts the termination in the background once the member is gone, when the provider can', () => {
    assert.deepEqual(step(plan(input(memberRemovedA()))), {
      kind: 'terminate',
      machineId: 'i-cp-a',
      node: 'cp-a',
      background: true,
    });
    assert.deepEqual(step(plan(input(memberRemovedA(), { terminatesInBackground: false }))), {
      kind: 'terminate',
      machineId: 'i-cp-a',
      node: 'cp-a',
    });
  });

  const terminating = (_at: Snapshot['at'], since: Date) =>
    editNode(setMachine(memberRemovedA(), 'i-cp-a', { phase: 'deleting', status: 'shutting-down' }), 'cp-a', {
      unschedulable: true,
      annotations: { ...drained, [TERMINATING_ANNOTATION]: since.toISOString() },
    });

  it('waits for the VM to be gone before deleting its Node (a live kubelet would re-register it)', () => {
    const s = memberRemovedA();
    const d = plan(input(terminating(s.at, s.at)));
    assert.deepEqual([d.kind, d.kind === 'wait' && d.code], ['wait', 'machine.terminating']);
    const gone = setMachine(terminating(s.at, s.at), 'i-cp-a', { phase: 'gone', status: 'terminated' });
    assert.equal(step(plan(input(gone)))?.kind, 'delete-node');
  });

  it('is blocked past --terminate-timeout, naming the machine', () => {
    const s = terminating(memberRemovedA().at, new Date(memberRemovedA().at.getTime() - 61_000));
    const d = plan(input(s));
    assert.deepEqual(
      [d.kind, d.kind === 'blocked' && d.code, d.kind === 'blocked' && d.machine],
      ['blocked', 'terminate.timeout', 'cp-a'],
    );
  });

  it("allows the provider's termination allowance on top of --terminate-timeout (a terminate lifecycle hook)", () => {
    const at = memberRemovedA().at;
    const held = (since: number) =>
      setMachine(terminating(at, new Date(at.getTime() - since)), 'i-cp-a', {
        phase: 'deleting',
        status: 'Terminating:Wait',
        terminationAllowanceMs: 3_600_000,
      });
    const d = plan(input(held(61_000)));
    assert.deepEqual([d.kind, d.kind === 'wait' && d.code], ['wait', 'machine.terminating']);
    const late = plan(input(held(61_000 + 3_600_000)));
    assert.deepEqual([late.kind, late.kind === 'blocked' && late.code], ['blocked', 'terminate.timeout']);
  });

  it('waits inside the terminate step for a termination it did not start in the background', () => {
    const s = setMachine(memberRemovedA(), 'i-cp-a', { phase: 'deleting', status: 'shutting-down' });
    assert.deepEqual(step(plan(input(s))), { kind: 'terminate', machineId: 'i-cp-a', node: 'cp-a' });
  });

  it("counts the next swap's gate while the VM terminates once its member is gone and its Node drained", () => {
    const s = terminating(memberRemovedA().at, memberRemovedA().at);
    assert.equal(streakGate(s).ok, true, streakGate(s).reasons.join('; '));
  });

  it("does NOT count it while the terminating machine's etcd member is still listed", () => {
    // A VM shutting down with its member would take a voter away under the next swap: the gate must see it.
    let s = editNode(setTarget(retiringA(), 'i-cp-a', 'absent'), 'cp-a', { unschedulable: true, annotations: drained });
    s = setMachine(s, 'i-cp-a', { phase: 'deleting', status: 'shutting-down' });
    assert.equal(gateFor(s).ok, true, 'the retirement steps look past the retiring machine');
    const gate = streakGate(s);
    assert.equal(gate.ok, false);
    assert.match(gate.reasons.join('; '), /cp-a is shutting-down while its etcd member is still listed/);
  });

  it("does NOT count it while the terminating machine's Node is not drained, or its target not out", () => {
    const base = terminating(memberRemovedA().at, memberRemovedA().at);
    const undrained = editNode(base, 'cp-a', { unschedulable: false, annotations: retiring });
    assert.match(streakGate(undrained).reasons.join('; '), /not cordoned and drained/);
    const serving = setTarget(base, 'i-cp-a', 'draining');
    assert.match(streakGate(serving).reasons.join('; '), /API target is draining/);
  });
});
