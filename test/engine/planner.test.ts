import assert from 'node:assert/strict';
import { controlPlaneMachines, nodeOf, type Snapshot } from '../../src/engine/observe/snapshot.ts';
import { DRAINED_ANNOTATION, RETIRING_ANNOTATION } from '../../src/engine/plan/annotations.ts';
import type { PlanInput } from '../../src/engine/plan/decisions.ts';
import { plan } from '../../src/engine/plan/planner.ts';
import type { Decision, Step } from '../../src/engine/plan/steps.ts';
import {
  cluster,
  desired,
  editNode,
  FROM,
  NEW_IMAGE,
  RUN,
  removeMember,
  setMachine,
  setTarget,
  TO,
  withReplacement,
} from './builders.ts';

const input = (snapshot: Snapshot, over: Partial<PlanInput> = {}): PlanInput => ({
  snapshot,
  desired: desired(),
  runId: RUN,
  gateStreak: 3,
  gatePasses: 3,
  machineTimeoutMs: 600_000,
  maxSurge: 1,
  ...over,
});

const stepKind = (d: Decision) => (d.kind === 'step' ? d.step.kind : d.kind);

describe('planner', () => {
  it('replaces the oldest outdated machine first once the gate held N times', () => {
    const d = plan(input(cluster(['cp-a', 'cp-b', 'cp-c'])));
    assert.equal(d.kind, 'step');
    assert.equal(d.kind === 'step' && d.step.kind, 'create-replacement');
    assert.equal(d.kind === 'step' && d.machine, 'cp-a');
    assert.match(d.kind === 'step' ? d.reason : '', /kubelet v1\.36\.3 != v1\.37\.2/);
  });

  it('waits while the gate has not held for the configured number of passes', () => {
    const d = plan(input(cluster(['cp-a', 'cp-b', 'cp-c']), { gateStreak: 2 }));
    assert.deepEqual([d.kind, d.kind === 'wait' && d.code], ['wait', 'gate.settling']);
  });

  it('waits with reasons when a control-plane node is NotReady', () => {
    const d = plan(input(editNode(cluster(['cp-a', 'cp-b', 'cp-c']), 'cp-b', { ready: false }), { gateStreak: 0 }));
    assert.equal(d.kind, 'wait');
    assert.match(d.kind === 'wait' ? d.reason : '', /node cp-b is not Ready/);
  });

  it('puts a machine marked for replacement before older ones', () => {
    const s = editNode(cluster(['cp-a', 'cp-b', 'cp-c']), 'cp-c', { annotations: { 'kubeswap.io/replace': '' } });
    const d = plan(input(s));
    assert.equal(d.kind === 'step' && d.machine, 'cp-c');
  });

  it('is done when every machine runs the target version and image', () => {
    let s = cluster(['cp-a', 'cp-b', 'cp-c']);
    s = {
      ...s,
      nodes: s.nodes.map((n) => ({ ...n, kubeletVersion: TO })),
      machines: s.machines.map((m) => ({ ...m, imageId: NEW_IMAGE, drift: [] })),
    };
    assert.deepEqual(plan(input(s)), { kind: 'done' });
  });

  it('replaces machines at the target version whose image differs (image rotation)', () => {
    let s = cluster(['cp-a', 'cp-b', 'cp-c']);
    s = { ...s, nodes: s.nodes.map((n) => ({ ...n, kubeletVersion: FROM })) };
    const d = plan(input(s, { desired: desired({ version: FROM }) }));
    assert.match(d.kind === 'step' ? d.reason : '', /image ami-old != ami-new/);
  });

  it('waits for a replacement that is still joining', () => {
    const d = plan(input(withReplacement(cluster(['cp-a', 'cp-b', 'cp-c']), 'cp-a', 'learner')));
    assert.deepEqual([d.kind, d.kind === 'wait' && d.code], ['wait', 'replacement.joining']);
  });

  it('rolls back a replacement that did not join within the machine timeout, removing its learner', () => {
    const base = cluster(['cp-a', 'cp-b', 'cp-c']);
    const s = withReplacement(base, 'cp-a', 'learner', { launchedAt: new Date(base.at.getTime() - 700_000) });
    const d = plan(input(s));
    assert.equal(stepKind(d), 'rollback');
    assert.equal(d.kind === 'step' && d.step.kind === 'rollback' && d.step.members.length, 1);
    assert.equal(d.kind === 'step' && d.step.kind === 'rollback' && d.step.members[0]?.isLearner, true);
  });

  it('never rolls back a replacement that joined, for the machine timeout, while the gate fails elsewhere', () => {
    const base = cluster(['cp-a', 'cp-b', 'cp-c']);
    let s = withReplacement(base, 'cp-a', 'joined', { launchedAt: new Date(base.at.getTime() - 3_600_000) });
    s = editNode(s, 'cp-c', { ready: false });
    const d = plan(input(s));
    assert.deepEqual([d.kind, d.kind === 'wait' && d.code], ['wait', 'gate.failing']);
  });

  it('never creates a second replacement while one is in flight', () => {
    const d = plan(input(withReplacement(cluster(['cp-a', 'cp-b', 'cp-c']), 'cp-a', 'launched')));
    assert.notEqual(stepKind(d), 'create-replacement');
  });

  /** The effect of one retirement step of cp-a on the snapshot, applied by hand as the real world would. */
  const retireCpA = (s: Snapshot, step: Step): Snapshot => {
    if (step.kind === 'register-target') return setTarget(s, step.machineId, 'serving');
    if (step.kind === 'mark-retiring')
      return editNode(s, 'cp-a', { unschedulable: true, annotations: { [RETIRING_ANNOTATION]: RUN } });
    if (step.kind === 'deregister-target') return setTarget(s, step.machineId, 'absent');
    if (step.kind === 'drain')
      return editNode(s, 'cp-a', {
        unschedulable: true,
        annotations: { [RETIRING_ANNOTATION]: RUN, [DRAINED_ANNOTATION]: RUN },
      });
    if (step.kind === 'move-leader') return { ...s, etcd: { ...s.etcd, leaderId: step.toId } };
    if (step.kind === 'remove-member') return removeMember(s, 'cp-a');
    if (step.kind === 'terminate') return setMachine(s, 'i-cp-a', { phase: 'gone', status: 'terminated' });
    if (step.kind === 'delete-node') return { ...s, nodes: s.nodes.filter((n) => n.name !== 'cp-a') };
    return s;
  };

  it('retires the old machine in the safe order once the replacement joined', () => {
    let s = withReplacement(cluster(['cp-a', 'cp-b', 'cp-c']), 'cp-a', 'joined');
    const sequence: string[] = [];
    let deleteNode: Step | undefined;
    // Apply each planned step's effect by hand, as the real world would, and record the order.
    for (let i = 0; i < 10; i++) {
      const d = plan(input(s));
      if (d.kind !== 'step') {
        sequence.push(d.kind);
        break;
      }
      sequence.push(d.step.kind);
      const step = d.step;
      if (step.kind === 'create-replacement') break;
      if (step.kind === 'delete-node') deleteNode = step;
      s = retireCpA(s, step);
    }
    assert.deepEqual(sequence, [
      'register-target',
      'mark-retiring',
      'deregister-target',
      'drain',
      'move-leader',
      'remove-member',
      'terminate',
      'delete-node',
      'create-replacement',
    ]);
    // Terminated: no kubelet is left, so its DaemonSet pods go with the Node.
    assert.equal(deleteNode?.kind === 'delete-node' && deleteNode.machineGone, true);
  });

  it("leaves a failed (not terminated) old machine's pods to the garbage collector when its Node is deleted", () => {
    let s = withReplacement(cluster(['cp-a', 'cp-b', 'cp-c']), 'cp-a', 'joined');
    let d = plan(input(s));
    // Retire it up to its member's removal, then its machine fails instead of being terminated.
    for (let i = 0; i < 10 && d.kind === 'step' && d.step.kind !== 'delete-node'; i++, d = plan(input(s))) {
      const step = d.step;
      assert.notEqual(step.kind, 'terminate', 'a failed machine is not terminated');
      s = retireCpA(s, step);
      if (step.kind === 'remove-member') s = setMachine(s, 'i-cp-a', { phase: 'failed' });
    }
    assert.equal(stepKind(d), 'delete-node');
    assert.equal(d.kind === 'step' && d.step.kind === 'delete-node' && d.step.machineGone, undefined);
  });

  it('lets a provider that drains on delete (Cluster API) drain, and removes the member while it holds the machine', () => {
    // No target group: the provider owns load-balancer membership.
    let s: Snapshot = { ...withReplacement(cluster(['cp-a', 'cp-b', 'cp-c']), 'cp-a', 'joined'), providerDrains: true };
    s = { ...s, apiTargets: undefined };
    const sequence: string[] = [];
    for (let i = 0; i < 10; i++) {
      const d = plan(input(s));
      if (d.kind !== 'step') {
        sequence.push(d.kind === 'wait' ? `wait:${d.code}` : d.kind);
        // The provider's system drains the Node, then holds the machine on the hook.
        if (d.kind === 'wait' && d.code === 'machine.draining') {
          s = setMachine(s, 'i-cp-a', { held: true, status: 'Deleting' });
          s = editNode(s, 'cp-a', { unschedulable: true, annotations: { [RETIRING_ANNOTATION]: RUN } });
          continue;
        }
        break;
      }
      sequence.push(d.step.kind);
      const step = d.step;
      if (step.kind === 'create-replacement') break;
      if (step.kind === 'mark-retiring')
        s = editNode(s, 'cp-a', { unschedulable: true, annotations: { [RETIRING_ANNOTATION]: RUN } });
      else if (step.kind === 'start-deletion') s = setMachine(s, 'i-cp-a', { phase: 'deleting', status: 'Deleting' });
      else if (step.kind === 'move-leader') s = { ...s, etcd: { ...s.etcd, leaderId: step.toId } };
      else if (step.kind === 'remove-member') s = removeMember(s, 'cp-a');
      else if (step.kind === 'terminate') {
        // Released, Cluster API deletes the Machine and then the Node: the swap ends here (converge's swap.finished).
        assert.equal(step.endsSwap, true);
        s = setMachine(s, 'i-cp-a', { phase: 'gone', status: 'Deleted' });
      } else if (step.kind === 'delete-node') {
        // Here the Node outlived its Machine: deleting it is cleanup after the swap, not its end.
        assert.equal(step.leftByProvider, true);
        s = { ...s, nodes: s.nodes.filter((n) => n.name !== 'cp-a') };
      } else assert.fail(`unexpected step ${step.kind} after ${sequence.join(', ')}`);
    }
    assert.deepEqual(sequence, [
      'mark-retiring',
      'start-deletion',
      'wait:machine.draining',
      'move-leader',
      'remove-member',
      'terminate',
      'delete-node',
      'create-replacement',
    ]);
  });

  it('links a machine without a providerId to the Node its provider names (Cluster API status.nodeRef)', () => {
    let s = cluster(['cp-a', 'cp-b', 'cp-c']);
    s = setMachine(s, 'i-cp-a', { providerId: '', nodeName: 'cp-a' });
    assert.equal(controlPlaneMachines(s)[0]!.machine?.id, 'i-cp-a');
    assert.equal(nodeOf(s, s.machines.find((m) => m.id === 'i-cp-a')!)?.name, 'cp-a');
    const d = plan(input(s));
    assert.equal(d.kind === 'step' && d.step.kind === 'create-replacement' && d.step.old.id, 'i-cp-a');
    // Without either link it is not that Node's machine.
    const unlinked = setMachine(s, 'i-cp-a', { nodeName: undefined });
    assert.equal(controlPlaneMachines(unlinked)[0]!.machine, undefined);
  });

  it('holds a control-plane machine someone else deletes, and retires it through the projection, unreplaced', () => {
    // cp-b is deleted by hand while cp-a's swap is in flight: its hold comes first, whatever the swap does.
    let s: Snapshot = {
      ...withReplacement(cluster(['cp-a', 'cp-b', 'cp-c']), 'cp-a', 'launched'),
      providerDrains: true,
    };
    s = { ...s, apiTargets: undefined };
    s = setMachine(s, 'i-cp-b', { phase: 'deleting', status: 'Deleting', unheld: true });
    const first = plan(input(s));
    assert.deepEqual(first.kind === 'step' && first.step, {
      kind: 'start-deletion',
      machineId: 'i-cp-b',
      node: 'cp-b',
    });
    // Without a member left there is nothing to hold it for.
    assert.notEqual(stepKind(plan(input(removeMember(s, 'cp-b')))), 'start-deletion');

    // Outside any swap, once held, it leaves like a retired machine and no replacement is made for it.
    s = { ...cluster(['cp-a', 'cp-b', 'cp-c']), providerDrains: true, apiTargets: undefined };
    s = setMachine(s, 'i-cp-b', { phase: 'deleting', status: 'Deleting' });
    const lead = s.etcd.members.find((m) => m.name === 'cp-b')!.id;
    s = { ...s, etcd: { ...s.etcd, leaderId: lead } };
    const sequence: string[] = [];
    for (let i = 0; i < 10; i++) {
      const d = plan(input(s));
      if (d.kind !== 'step') {
        sequence.push(d.kind === 'wait' ? `wait:${d.code}` : d.kind);
        if (d.kind === 'wait' && d.code === 'machine.draining') {
          s = setMachine(s, 'i-cp-b', { held: true });
          continue;
        }
        break;
      }
      sequence.push(d.step.kind);
      const step = d.step;
      if (step.kind === 'create-replacement') {
        assert.equal(step.old.id, 'i-cp-a', 'the deleted machine is not replaced');
        break;
      }
      if (step.kind === 'mark-retiring')
        s = editNode(s, 'cp-b', { unschedulable: true, annotations: { [RETIRING_ANNOTATION]: RUN } });
      else if (step.kind === 'move-leader') s = { ...s, etcd: { ...s.etcd, leaderId: step.toId } };
      else if (step.kind === 'remove-member') s = removeMember(s, 'cp-b');
      else if (step.kind === 'terminate') {
        assert.equal(step.endsSwap, undefined, 'a machine deleted by someone else ends no swap');
        s = setMachine(s, 'i-cp-b', { phase: 'gone', status: 'Deleted' });
      } else if (step.kind === 'delete-node') s = { ...s, nodes: s.nodes.filter((n) => n.name !== 'cp-b') };
      else assert.fail(`unexpected step ${step.kind} after ${sequence.join(', ')}`);
    }
    assert.deepEqual(sequence, [
      'mark-retiring',
      'wait:machine.draining',
      'move-leader',
      'remove-member',
      'terminate',
      'delete-node',
      'create-replacement',
    ]);
  });

  it('does not remove the member of a machine deleted by hand when the projection says quorum would be at risk', () => {
    let s: Snapshot = { ...cluster(['cp-a', 'cp-b', 'cp-c']), providerDrains: true, apiTargets: undefined };
    s = setMachine(s, 'i-cp-b', { phase: 'deleting', status: 'Deleting', held: true });
    s = editNode(s, 'cp-b', { unschedulable: true, annotations: { [RETIRING_ANNOTATION]: RUN } });
    const c = s.etcd.members.find((m) => m.name === 'cp-c')!.id;
    s = {
      ...s,
      etcd: { ...s.etcd, endpoints: s.etcd.endpoints.map((e) => (e.memberId === c ? { ...e, healthy: false } : e)) },
    };
    const d = plan(input(s, { gateStreak: 0 }));
    assert.equal(d.kind === 'blocked' && d.code, 'etcd.quorum-at-risk');
  });

  it('bounds the drain the provider does by --drain-timeout: past it the run is blocked, naming the machine', () => {
    let s: Snapshot = { ...withReplacement(cluster(['cp-a', 'cp-b', 'cp-c']), 'cp-a', 'joined'), providerDrains: true };
    s = { ...s, apiTargets: undefined };
    s = editNode(s, 'cp-a', { unschedulable: true, annotations: { [RETIRING_ANNOTATION]: RUN } });
    const since = (ms: number) =>
      setMachine(s, 'i-cp-a', {
        phase: 'deleting',
        status: 'Deleting',
        deletionStartedAt: new Date(s.at.getTime() - ms),
      });
    const recent = plan(input(since(30_000), { drainTimeoutMs: 60_000 }));
    assert.equal(recent.kind === 'wait' && recent.code, 'machine.draining');
    const late = plan(input(since(90_000), { drainTimeoutMs: 60_000 }));
    assert.equal(late.kind === 'blocked' && late.code, 'node.drain-blocked');
    assert.equal(late.kind === 'blocked' && late.machine, 'cp-a');
  });

  it('does not move leadership when the old member does not lead', () => {
    let s = withReplacement(cluster(['cp-a', 'cp-b', 'cp-c']), 'cp-a', 'joined');
    s = setTarget(setTarget(s, 'i-r-cp-a', 'serving'), 'i-cp-a', 'absent');
    s = editNode(s, 'cp-a', {
      unschedulable: true,
      annotations: { [RETIRING_ANNOTATION]: RUN, [DRAINED_ANNOTATION]: RUN },
    });
    const other = s.etcd.members.find((m) => m.name === 'cp-b')!.id;
    s = { ...s, etcd: { ...s.etcd, leaderId: other } };
    assert.equal(stepKind(plan(input(s))), 'remove-member');
  });

  it('refuses to remove a member when the rest would lose quorum', () => {
    let s = withReplacement(cluster(['cp-a', 'cp-b', 'cp-c']), 'cp-a', 'joined');
    s = setTarget(setTarget(s, 'i-r-cp-a', 'serving'), 'i-cp-a', 'absent');
    s = editNode(s, 'cp-a', {
      unschedulable: true,
      annotations: { [RETIRING_ANNOTATION]: RUN, [DRAINED_ANNOTATION]: RUN },
    });
    const b = s.etcd.members.find((m) => m.name === 'cp-b')!.id;
    const c = s.etcd.members.find((m) => m.name === 'cp-c')!.id;
    s = {
      ...s,
      etcd: {
        ...s.etcd,
        leaderId: c,
        endpoints: s.etcd.endpoints.map((e) => (e.memberId === b ? { ...e, healthy: false } : e)),
      },
    };
    const d = plan(input(s, { gateStreak: 0 }));
    assert.notEqual(stepKind(d), 'remove-member');
  });

  it('does not roll back once the old machine is being retired', () => {
    const base = cluster(['cp-a', 'cp-b', 'cp-c']);
    let s = withReplacement(base, 'cp-a', 'joined', { launchedAt: new Date(base.at.getTime() - 10_000_000) });
    s = editNode(s, 'cp-a', { unschedulable: true });
    assert.notEqual(stepKind(plan(input(s))), 'rollback');
  });

  it('blocks on an etcd member that belongs to no node, naming it in hex', () => {
    let s = cluster(['cp-a', 'cp-b', 'cp-c']);
    s = {
      ...s,
      nodes: s.nodes.map((n) => ({ ...n, kubeletVersion: TO })),
      machines: s.machines.map((m) => ({ ...m, imageId: NEW_IMAGE, drift: [] })),
    };
    s = {
      ...s,
      etcd: {
        ...s.etcd,
        members: [
          ...s.etcd.members,
          { id: '18446744073709551615', name: 'ghost', peerUrls: [], clientUrls: [], isLearner: false },
        ],
      },
    };
    const d = plan(input(s));
    assert.equal(d.kind, 'blocked');
    assert.match(d.kind === 'blocked' ? `${d.reason} ${d.hint}` : '', /ffffffffffffffff/);
  });

  it('continues an interrupted rollback: a terminated replacement whose Node remains', () => {
    let s = withReplacement(cluster(['cp-a', 'cp-b', 'cp-c']), 'cp-a', 'joined');
    s = setMachine(s, 'i-r-cp-a', { phase: 'gone', status: 'terminated' });
    assert.equal(stepKind(plan(input(s))), 'rollback');
  });

  it('counts attempts so a retry after a rollback gets a fresh idempotency token', () => {
    let s = cluster(['cp-a', 'cp-b', 'cp-c']);
    s = withReplacement(s, 'cp-a', 'launched', { phase: 'gone', status: 'terminated' });
    const d = plan(input(s));
    assert.equal(d.kind === 'step' && d.step.kind === 'create-replacement' && d.step.attempt, 2);
  });

  it('replaces a single-machine control plane through a second member', () => {
    const d = plan(input(cluster(['solo'])));
    assert.equal(stepKind(d), 'create-replacement');
  });
});

describe('planner: being retired is recorded, and a rollback puts the old machine back', () => {
  const base = () => cluster(['cp-a', 'cp-b', 'cp-c']);
  const rollbackOf = (d: Decision) => (d.kind === 'step' && d.step.kind === 'rollback' ? d.step : undefined);
  /** The replacement joined, then the old machine was marked, deregistered and drained, then the replacement died. */
  const diedMidRetirement = (oldAnnotations: Record<string, string> = {}) => {
    let s = withReplacement(base(), 'cp-a', 'joined');
    s = setTarget(setTarget(s, 'i-r-cp-a', 'serving'), 'i-cp-a', 'absent');
    s = editNode(s, 'cp-a', {
      unschedulable: true,
      annotations: { [RETIRING_ANNOTATION]: RUN, [DRAINED_ANNOTATION]: RUN, ...oldAnnotations },
    });
    return setMachine(s, 'i-r-cp-a', { phase: 'gone', status: 'terminated' });
  };

  it('does not take a Node an operator cordoned for one being retired: a join past the timeout is rolled back', () => {
    const b = base();
    let s = withReplacement(b, 'cp-a', 'learner', { launchedAt: new Date(b.at.getTime() - 700_000) });
    s = editNode(s, 'cp-a', { unschedulable: true });
    assert.equal(stepKind(plan(input(s))), 'rollback');
  });

  it('records the retirement on the old Node before touching it, with whether it was cordoned already', () => {
    let s = withReplacement(base(), 'cp-a', 'joined');
    s = editNode(setTarget(s, 'i-r-cp-a', 'serving'), 'cp-a', { unschedulable: true });
    const d = plan(input(s));
    assert.deepEqual(d.kind === 'step' && d.step, { kind: 'mark-retiring', node: 'cp-a', wasCordoned: true });
  });

  it('puts the old machine back in the load balancer and uncordons it when its replacement dies mid-retirement', () => {
    assert.deepEqual(rollbackOf(plan(input(diedMidRetirement())))?.restoreOld, {
      node: 'cp-a',
      machineId: 'i-cp-a',
      register: true,
      uncordon: true,
    });
  });

  it('finishes a rollback killed after tearing the replacement down, before the old machine was put back', () => {
    // The replacement's member removed, its instance terminated, its Node deleted: only the old machine is left.
    let s = removeMember(diedMidRetirement(), 'r-cp-a');
    s = { ...s, nodes: s.nodes.filter((n) => n.name !== 'r-cp-a') };
    const step = rollbackOf(plan(input(s)));
    assert.deepEqual(step?.restoreOld, { node: 'cp-a', machineId: 'i-cp-a', register: true, uncordon: true });
    assert.deepEqual(step?.members, []);
    assert.equal(step?.node, undefined);
  });

  it('starts the next attempt once a rolled-back swap left nothing to put back', () => {
    let s = removeMember(diedMidRetirement(), 'r-cp-a');
    s = { ...s, nodes: s.nodes.filter((n) => n.name !== 'r-cp-a') };
    s = editNode(setTarget(s, 'i-cp-a', 'serving'), 'cp-a', { unschedulable: false, annotations: {} });
    const d = plan(input(s));
    assert.equal(stepKind(d), 'create-replacement');
  });

  it('leaves the cordon of a Node an operator had cordoned before the run', () => {
    const step = rollbackOf(plan(input(diedMidRetirement({ 'kubeswap.io/was-cordoned': 'true' }))));
    assert.equal(step?.restoreOld?.uncordon, false);
  });

  it('says the control plane is one machine short when the old member was already removed', () => {
    const step = rollbackOf(plan(input(removeMember(diedMidRetirement(), 'cp-a'))));
    assert.equal(step?.restoreOld, undefined);
    assert.equal(step?.oldRetired, true);
  });

  it('projects quorum before a rollback removes a promoted member', () => {
    let s = withReplacement(base(), 'cp-a', 'joined');
    s = setMachine(s, 'i-r-cp-a', { phase: 'gone', status: 'terminated' });
    const sick = new Set(s.etcd.members.filter((m) => m.name === 'cp-b' || m.name === 'cp-c').map((m) => m.id));
    s = {
      ...s,
      etcd: {
        ...s.etcd,
        endpoints: s.etcd.endpoints.map((e) => (sick.has(e.memberId!) ? { ...e, healthy: false } : e)),
      },
    };
    const d = plan(input(s));
    assert.deepEqual([d.kind, d.kind === 'blocked' && d.code], ['blocked', 'etcd.quorum-at-risk']);
  });
});
