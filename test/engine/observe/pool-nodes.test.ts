// Which Nodes a worker loop's fresh read asks the API server for (issue 15 §3): the control-plane ones and the
// Nodes of the pools' machines by name, never every Node of a large cluster, unless a doubt remains.
import assert from 'node:assert/strict';
import { observe } from '../../../src/engine/observe/observe.ts';
import type { Snapshot } from '../../../src/engine/observe/snapshot.ts';
import { machine, node } from '../builders.ts';
import { FakeWorld } from '../fake-world.ts';

const worker = (name: string) => node(name, { controlPlane: false, staticPods: {} });

/** Control plane cp-a..c, pool blue (w-1, w-2) in scope, pool green (g-1) and a Node of no pool (x-1) not. */
function cluster() {
  const world = new FakeWorld(['cp-a', 'cp-b', 'cp-c']).addWorker('w-1', 'blue').addWorker('w-2', 'blue');
  world.addWorker('g-1', 'green').nodes.set('x-1', worker('x-1'));
  return world;
}

async function pass(world: FakeWorld, previous?: Snapshot): Promise<Snapshot> {
  return observe(world.ports(), {
    withTargets: false,
    pools: ['blue'],
    previous,
    ...(previous ? { freshNodes: 'in-scope' as const } : {}),
  });
}

describe('a fresh read of the worker loop (observe, freshNodes in-scope)', () => {
  it("asks for the control plane and the pool's Nodes by name, not every Node nor other pools' Nodes", async () => {
    const world = cluster();
    const snapshot = await pass(world, await pass(world));
    assert.deepEqual(world.freshNodeReads, [{ workers: ['w-1', 'w-2'] }]);
    assert.equal(snapshot.nodesFresh, true);
    assert.equal(snapshot.everyNodeFresh, undefined);
    assert.deepEqual(snapshot.workerMachines?.map((m) => m.id).sort(), ['i-w-1', 'i-w-2']);
  });

  it('names the old Node of a replacement as the pool does, also once the provider no longer lists the old machine', async () => {
    const world = cluster();
    world.machines.push(machine('r-1', { pool: 'blue', runId: 'run', replaces: 'i-w-1' }));
    world.nodes.set('r-1', worker('r-1'));
    // The old machine terminated and forgotten by the cloud; its Node is still there until deleted.
    world.machines.find((m) => m.id === 'i-w-1')!.phase = 'gone';
    world.forgetGone = true;
    await pass(world, await pass(world));
    assert.equal(world.freshNodeReads.length, 1);
    assert.deepEqual((world.freshNodeReads[0] as { workers: string[] }).workers.toSorted(), ['r-1', 'w-1', 'w-2']);
  });

  it('reads afresh also a pool Node the last pass did not link (a replacement registered since)', async () => {
    const world = cluster();
    const previous = await pass(world);
    world.machines.push(machine('r-1', { pool: 'blue', runId: 'run', replaces: 'i-w-1' }));
    world.nodes.set('r-1', worker('r-1'));
    await pass(world, previous);
    assert.deepEqual(world.freshNodeReads, [{ workers: ['w-1', 'w-2'] }, { workers: ['w-1', 'w-2', 'r-1'] }]);
  });

  it('a live machine of the pool without a Node in view is no doubt of the read by name (converge reads every Node before a rollback)', async () => {
    const world = cluster();
    world.machines.push(machine('r-1', { pool: 'blue', runId: 'run', replaces: 'i-w-1', phase: 'provisioning' }));
    const snapshot = await pass(world, await pass(world));
    assert.deepEqual(world.freshNodeReads, [{ workers: ['w-1', 'w-2'] }]);
    assert.equal(snapshot.everyNodeFresh, undefined);
  });

  it('reads every Node when a live machine of the pool, not ours, has no Node in view (its Node missed by a silent watch)', async () => {
    const world = cluster();
    // A scale-up's machine whose Node registered NotReady while the watch was silent: no name asks for it.
    world.machines.push(machine('w-3', { pool: 'blue' }));
    world.nodes.set('w-3', { ...worker('w-3'), ready: false });
    world.unwatched.add('w-3');
    const previous = await pass(world);
    assert.ok(!previous.nodes.some((n) => n.name === 'w-3'), 'the cache never had it');
    const snapshot = await pass(world, previous);
    assert.deepEqual(world.freshNodeReads, [{ workers: ['w-1', 'w-2'] }, true]);
    assert.equal(snapshot.everyNodeFresh, true);
    assert.equal(snapshot.nodes.find((n) => n.name === 'w-3')?.ready, false, 'its NotReady Node counts in the pool');
  });

  it('lists every Node when no pass before tells the names of the pool Nodes', async () => {
    const world = cluster();
    const snapshot = await observe(world.ports(), { withTargets: false, pools: ['blue'], freshNodes: 'in-scope' });
    assert.deepEqual(world.freshNodeReads, [true]);
    assert.equal(snapshot.everyNodeFresh, true);
  });

  it('asks for the control plane alone without pools (the control-plane loop)', async () => {
    const world = cluster();
    const previous = await observe(world.ports(), { withTargets: false });
    await observe(world.ports(), { withTargets: false, previous, freshNodes: 'in-scope' });
    assert.deepEqual(world.freshNodeReads, ['control-plane']);
  });
});
