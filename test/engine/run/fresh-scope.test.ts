// Which Nodes a fresh read asks the API for (issue 15): the control-plane loop's decisions and its gate rest on the
// control-plane Nodes alone, so its fresh reads ask for those (the others come from the watch); the worker pools'
// decisions (readiness within maxUnavailable) rest on the workers too, so that loop's fresh reads ask for every Node.
import assert from 'node:assert/strict';
import { apply } from '../../../src/engine/run/run.ts';
import { APPLY_OPTIONS, machine, node, TO } from '../builders.ts';
import { FakeWorld } from '../fake-world.ts';

describe('fresh Node reads by loop', () => {
  it('the control-plane loop reads the control plane afresh, the worker loop every Node', async () => {
    const world = new FakeWorld(['cp-a', 'cp-b', 'cp-c']);
    world.machines.push(machine('w-1', { pool: 'blue' }));
    world.nodes.set('w-1', node('w-1', { controlPlane: false, staticPods: {} }));
    const pools = [{ name: 'blue', maxSurge: 1, maxUnavailable: 0 }];
    const outcome = await apply(world.ports(), { version: TO, force: false }, { ...APPLY_OPTIONS, pools });
    assert.equal(outcome.swaps, 4);
    assert.ok(
      world.machines.some((m) => m.pool === 'blue' && m.replaces),
      'the worker was replaced',
    );
    const cpEnd = world.freshNodeReads.lastIndexOf('control-plane');
    assert.ok(cpEnd >= 0, 'the control-plane loop read the control plane afresh');
    assert.ok(world.freshNodeReads.includes(true), JSON.stringify(world.freshNodeReads));
    // Every fresh read after the control-plane loop's last one is the worker loop's: all of every Node.
    assert.ok(
      world.freshNodeReads.slice(cpEnd + 1).every((f) => f === true),
      JSON.stringify(world.freshNodeReads),
    );
  });
});
