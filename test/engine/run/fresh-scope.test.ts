// Which Nodes a fresh read asks the API for (issue 15): the control-plane loop's decisions and its gate rest on the
// control-plane Nodes alone, so its fresh reads ask for those (the others come from the watch); the worker pools'
// decisions (readiness within maxUnavailable) rest on their pools' Nodes too, so that loop's fresh reads ask for
// those by name as well, never for every Node nor for the Nodes of a pool outside the run.
import assert from 'node:assert/strict';
import { apply } from '../../../src/engine/run/run.ts';
import { APPLY_OPTIONS, machine, node, TO } from '../builders.ts';
import { FakeWorld } from '../fake-world.ts';

describe('fresh Node reads by loop', () => {
  it("the control-plane loop reads the control plane afresh, the worker loop its pool's Nodes by name", async () => {
    const world = new FakeWorld(['cp-a', 'cp-b', 'cp-c']);
    for (const [name, pool] of [
      ['w-1', 'blue'],
      ['w-2', 'blue'],
      ['g-1', 'green'],
    ] as const) {
      world.machines.push(machine(name, { pool }));
      world.nodes.set(name, node(name, { controlPlane: false, staticPods: {} }));
    }
    const pools = [{ name: 'blue', maxSurge: 1, maxUnavailable: 0 }];
    const outcome = await apply(world.ports(), { version: TO, force: false }, { ...APPLY_OPTIONS, pools });
    assert.equal(outcome.swaps, 5);
    const reads = JSON.stringify(world.freshNodeReads);
    const cpEnd = world.freshNodeReads.lastIndexOf('control-plane');
    assert.ok(cpEnd >= 0, 'the control-plane loop read the control plane afresh');
    // Every fresh read after the control-plane loop's last one is the worker loop's: blue's Nodes by name.
    const workerReads = world.freshNodeReads.slice(cpEnd + 1);
    assert.ok(workerReads.length > 0, reads);
    for (const read of workerReads) {
      assert.ok(typeof read === 'object', reads);
      assert.ok(
        read.workers.every((name) => name !== 'g-1' && !name.startsWith('cp-')),
        reads,
      );
      assert.ok(read.workers.length > 0, reads);
    }
  });
});
