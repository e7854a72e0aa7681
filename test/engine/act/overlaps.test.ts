// act's side of the overlaps of issue 15 §1: the drain runs while the target drains, the step ends only when both
// are done; a background termination is recorded on the Node before it starts, and the run waits for it to end.
import assert from 'node:assert/strict';
import { act } from '../../../src/engine/act/act.ts';
import { DRAINED_ANNOTATION, TERMINATING_ANNOTATION } from '../../../src/engine/plan/annotations.ts';
import { apply } from '../../../src/engine/run/run.ts';
import { APPLY_OPTIONS, desired, RUN, TO } from '../builders.ts';
import { FakeWorld } from '../fake-world.ts';

const ctx = { runId: RUN, desired: desired(), options: APPLY_OPTIONS };

describe('act: overlapped retirement steps', () => {
  it('drains the Node while the target drains, and ends only when both are done', async () => {
    const world = new FakeWorld(['cp-a', 'cp-b', 'cp-c']);
    let release!: () => void;
    const draining = new Promise<void>((resolve) => {
      release = resolve;
    });
    world.provider.loadBalancer!.deregister = async (id) => {
      world.targets.set(id, 'draining');
      await draining;
      world.targets.set(id, 'absent');
    };
    let ended = false;
    const done = act(
      { kind: 'deregister-target', machineId: 'i-cp-a', node: 'cp-a', drainNode: 'cp-a' },
      world.ports(),
      ctx,
      'cp-a',
    ).then(() => {
      ended = true;
    });
    for (let i = 0; i < 20 && world.nodes.get('cp-a')!.annotations[DRAINED_ANNOTATION] === undefined; i++) {
      await new Promise((r) => setImmediate(r));
    }
    assert.equal(world.nodes.get('cp-a')!.unschedulable, true, 'cordoned while the target drains');
    assert.equal(world.nodes.get('cp-a')!.annotations[DRAINED_ANNOTATION], RUN, 'drained while the target drains');
    assert.equal(world.targets.get('i-cp-a'), 'draining');
    assert.equal(ended, false, 'the step waits for the target');
    release();
    await done;
    assert.equal(world.targets.get('i-cp-a'), 'absent');
    assert.deepEqual(
      world.log.codes().filter((c) => c === 'node.drained' || c === 'target.deregistered'),
      ['node.drained', 'target.deregistered'],
    );
  });

  it('waits for the deregistration to settle before reporting a failed drain', async () => {
    const world = new FakeWorld(['cp-a', 'cp-b', 'cp-c']);
    let deregistered = false;
    world.provider.loadBalancer!.deregister = async () => {
      await new Promise((r) => setTimeout(r, 20));
      deregistered = true;
    };
    world.kube.setUnschedulable = async () => {
      throw new Error('cordon refused');
    };
    await assert.rejects(
      act(
        { kind: 'deregister-target', machineId: 'i-cp-a', node: 'cp-a', drainNode: 'cp-a' },
        world.ports(),
        ctx,
        'cp-a',
      ),
      /cordon refused/,
    );
    assert.equal(deregistered, true, 'nothing of the step still runs once it failed');
  });
});

describe('apply with a provider that terminates in the background', () => {
  it('deletes each old Node only once its VM is gone, and replaces all three', async () => {
    const world = new FakeWorld(['cp-a', 'cp-b', 'cp-c']);
    /** Machines shutting down, and how many clock sleeps until each is gone. */
    const shutting = new Map<string, number>();
    /** Machines whose Node did not carry the terminating-since time when their termination started. */
    const unrecorded: string[] = [];
    world.provider.beginTermination = async (id) => {
      world.calls.push(`beginTermination ${id}`);
      const m = world.machines.find((x) => x.id === id)!;
      const node = [...world.nodes.values()].find((n) => n.providerId === m.providerId);
      if (node?.annotations[TERMINATING_ANNOTATION] === undefined) unrecorded.push(id);
      if (m.phase === 'gone') return;
      Object.assign(m, { phase: 'deleting', status: 'shutting-down' });
      shutting.set(id, 3);
    };
    const deletedWhileRunning: string[] = [];
    const deleteNode = world.kube.deleteNode;
    world.kube.deleteNode = async (name) => {
      const n = world.nodes.get(name);
      const m = world.machines.find((x) => x.providerId === n?.providerId);
      if (m && m.phase !== 'gone') deletedWhileRunning.push(name);
      return deleteNode(name);
    };
    world.onSleep = () => {
      for (const [id, left] of shutting) {
        if (left > 1) shutting.set(id, left - 1);
        else {
          shutting.delete(id);
          Object.assign(world.machines.find((x) => x.id === id)!, { phase: 'gone', status: 'terminated' });
        }
      }
    };
    const outcome = await apply(world.ports(), { version: TO, force: false }, APPLY_OPTIONS);
    assert.equal(outcome.swaps, 3);
    assert.deepEqual(deletedWhileRunning, []);
    assert.equal(world.calls.filter((c) => c.startsWith('beginTermination')).length, 3);
    assert.equal(world.calls.filter((c) => c.startsWith('terminate')).length, 0);
    assert.equal(world.machines.filter((m) => m.phase === 'running').length, 3);
    assert.equal(world.log.codes().filter((c) => c === 'machine.terminating').length, 3);
    // Recorded on the Node before the termination started (the wait's bound).
    assert.deepEqual(unrecorded, []);
  });

  it("keeps the drain's last list of a Node only until that Node's deletion, whether its pods are released or not", async () => {
    const world = new FakeWorld(['cp-a', 'cp-b', 'cp-c']);
    const drained = new Map([
      ['cp-a', []],
      ['cp-b', []],
    ]);
    const run = { ...ctx, drained };
    await act({ kind: 'delete-node', node: 'cp-a', machineGone: true }, world.ports(), run, 'cp-a');
    // A Node deleted while its machine is not known gone (a rollback, a provider that deletes it): nothing released.
    await act({ kind: 'delete-node', node: 'cp-b' }, world.ports(), run, 'cp-b');
    assert.deepEqual([...drained.keys()], []);
    // A provider that drains on delete deletes the Node itself: no delete-node step comes, the release at terminate
    // drops it.
    const capi = new FakeWorld(['cp-a', 'cp-b', 'cp-c']);
    capi.useDrainsOnDelete();
    drained.set('cp-c', []);
    await act({ kind: 'terminate', machineId: 'i-cp-c', node: 'cp-c', endsSwap: true }, capi.ports(), run, 'cp-c');
    assert.deepEqual([...drained.keys()], []);
  });
});
