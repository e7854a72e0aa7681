// A provider that drains on delete (Cluster API): its system drains the old Node, waits on kubeswap's hold, and once
// released deletes the machine and then the Node itself. The swap ends with that release (`terminate`), so the run
// counts it and says swap.finished once per machine, a resumed or left-over-Node swap included.
import assert from 'node:assert/strict';
import type { KubeswapEvent } from '../../../src/domain/events.ts';
import { swapTimelines } from '../../../src/domain/run-timeline.ts';
import { RETIRING_ANNOTATION } from '../../../src/engine/plan/annotations.ts';
import { apply } from '../../../src/engine/run/run.ts';
import { APPLY_OPTIONS, TO } from '../builders.ts';
import { FakeWorld, failure } from '../fake-world.ts';

const request = { version: TO, force: false };
const OLD = ['cp-a', 'cp-b', 'cp-c'];

const finishedBy = (events: readonly KubeswapEvent[]) =>
  events
    .filter((e) => e.code === 'swap.finished')
    .map((e) => e.machine)
    .sort();

function drainsOnDelete(opts: { leavesNode?: boolean } = {}) {
  const world = new FakeWorld(OLD);
  world.useDrainsOnDelete(opts);
  return world;
}

/** Nothing of the old machines is left, and the control plane is three new voting members. */
function assertReplaced(world: FakeWorld) {
  assert.deepEqual(
    world.machines.filter((m) => !m.replaces && m.phase !== 'gone').map((m) => m.id),
    [],
    'the old machines are gone',
  );
  assert.equal(world.machines.filter((m) => m.replaces && m.phase === 'running').length, 3);
  assert.ok(
    OLD.every((n) => !world.nodes.has(n)),
    'their Nodes are gone',
  );
  assert.equal(world.members.length, 3);
  assert.ok(world.members.every((m) => !m.isLearner && m.name.startsWith('node-')));
}

describe('a swap of a provider that drains on delete (Cluster API)', () => {
  it('is finished when its machine is released: swaps == machines, swap.finished once per machine, timed', async () => {
    const world = drainsOnDelete();
    const outcome = await apply(world.ports(), request, APPLY_OPTIONS);
    assertReplaced(world);
    assert.equal(outcome.swaps, 3);
    assert.deepEqual(finishedBy(world.log.events), OLD);
    for (const e of world.log.events.filter((x) => x.code === 'swap.finished')) {
      assert.equal(typeof e.data?.['durationMs'], 'number', `${e.machine}: measured from its swap.started`);
    }
    // The provider deleted every old Node; none by us.
    assert.deepEqual(
      world.calls.filter((c) => c.startsWith('startDeletion') || c.startsWith('deleteNode')),
      ['startDeletion i-cp-a', 'startDeletion i-cp-b', 'startDeletion i-cp-c'],
    );
    // kubeswap report: three replaced swaps, the provider's drain and the release drawn as phases.
    const swaps = swapTimelines(world.log.events);
    assert.deepEqual(
      swaps.map((s) => [s.machine, s.outcome]),
      OLD.map((n) => [n, 'replaced']),
    );
    for (const s of swaps) {
      assert.deepEqual(
        s.phases.map((p) => p.name),
        ['create', 'join', 'gate', 'drain', 'member removal', 'terminate'],
      );
    }
    const run = world.log.events.find((e) => e.code === 'run.finished');
    assert.equal(run?.data?.['swaps'], 3);
  });

  it('releases the kube-system DaemonSet pods of each Node the provider deleted, once its machine is gone', async () => {
    const world = drainsOnDelete();
    const pod = (namespace: string, name: string) =>
      ({ namespace, name, uid: `uid-${name}`, daemonSet: true, mirror: false, phase: 'Running', labels: {} }) as const;
    for (const n of OLD)
      world.podsOn.set(n, [pod('kube-system', `kube-proxy-${n}`), pod('monitoring', `exporter-${n}`)]);
    await apply(world.ports(), request, APPLY_OPTIONS);
    const at = (call: string) => world.calls.indexOf(call);
    assert.deepEqual(
      world.calls.filter((c) => c.startsWith('forceDeletePod')),
      OLD.map((n) => `forceDeletePod kube-system/kube-proxy-${n}`),
    );
    for (const n of OLD) assert.ok(at(`terminate i-${n}`) < at(`forceDeletePod kube-system/kube-proxy-${n}`));
    assert.equal(world.log.events.filter((e) => e.code === 'node.pods-released').length, 3);
  });

  it('counts a machine once when the provider leaves its Node behind and the run deletes it', async () => {
    const world = drainsOnDelete({ leavesNode: true });
    const outcome = await apply(world.ports(), request, APPLY_OPTIONS);
    assertReplaced(world);
    assert.deepEqual(
      world.calls.filter((c) => c.startsWith('deleteNode')),
      OLD.map((n) => `deleteNode ${n}`),
    );
    assert.equal(outcome.swaps, 3);
    assert.deepEqual(finishedBy(world.log.events), OLD);
    // The Node's deletion after swap.finished is part of that swap in the report, not a second attempt.
    const swaps = swapTimelines(world.log.events);
    assert.deepEqual(
      swaps.map((s) => [s.machine, s.attempt, s.outcome]),
      OLD.map((n) => [n, 1, 'replaced']),
    );
  });

  it('a re-run after a kill before the release finishes that swap once, as resumed', async () => {
    const world = drainsOnDelete();
    world.crashBefore = 'terminate i-cp-b';
    await assert.rejects(apply(world.ports(), request, APPLY_OPTIONS), /simulated crash/);
    const first = world.log.events.length;
    assert.deepEqual(finishedBy(world.log.events), ['cp-a']);
    world.now += 10 * 60_000; // the crashed process's lease expires
    const outcome = await apply(world.ports(), request, APPLY_OPTIONS);
    assertReplaced(world);
    const rerun = world.log.events.slice(first);
    assert.equal(outcome.swaps, 2, 'the re-run finished cp-b (resumed) and cp-c');
    assert.deepEqual(finishedBy(rerun), ['cp-b', 'cp-c']);
    assert.match(rerun.find((e) => e.code === 'swap.finished' && e.machine === 'cp-b')!.message, /\(resumed\)/);
    assert.deepEqual(finishedBy(world.log.events), OLD, 'once per machine over both processes');
  });

  it('a re-run after a kill right after the release (Node left behind) does not count that swap again', async () => {
    const world = drainsOnDelete({ leavesNode: true });
    world.crashAfter = 'terminate i-cp-b';
    await assert.rejects(apply(world.ports(), request, APPLY_OPTIONS), /simulated crash/);
    const first = world.log.events.length;
    world.now += 10 * 60_000;
    const outcome = await apply(world.ports(), request, APPLY_OPTIONS);
    assertReplaced(world);
    assert.equal(outcome.swaps, 1, 'only cp-c is swapped by the re-run; cp-b is only cleaned up');
    assert.deepEqual(finishedBy(world.log.events.slice(first)), ['cp-c']);
    assert.ok(world.calls.includes('deleteNode cp-b'), 'the re-run deleted the Node the provider left');
    // The report still shows cp-b replaced once: its killed swap's last step is done.
    const swaps = swapTimelines(world.log.events);
    assert.deepEqual(
      swaps.map((s) => [s.machine, s.attempt, s.outcome]),
      OLD.map((n) => [n, 1, 'replaced']),
    );
  });

  it('only such a provider may leave a retiring Node without a machine: for another, a missing machine is refused', async () => {
    // A listing that misses a live machine (a wrong region or tag filter) while its Node is marked retiring: retiring
    // it would remove the member of a running VM whose apiserver stays behind the load balancer.
    const world = new FakeWorld(OLD);
    const node = world.nodes.get('cp-b')!;
    world.nodes.set('cp-b', { ...node, annotations: { ...node.annotations, [RETIRING_ANNOTATION]: 'run-0' } });
    world.machines = world.machines.filter((m) => m.id !== 'i-cp-b');
    const err = await failure(apply(world.ports(), request, APPLY_OPTIONS));
    assert.match(err.message, /cp-b .*has no machine in the provider/);
    assert.deepEqual(
      world.calls.filter((c) => !c.startsWith('list')),
      [],
      'nothing changed',
    );
  });
});
