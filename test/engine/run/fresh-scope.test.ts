// Which Nodes a fresh read asks the API for (issue 15): the control-plane loop's decisions and its gate rest on the
// control-plane Nodes alone, so its fresh reads ask for those (the others come from the watch); the worker pools'
// decisions (readiness within maxUnavailable) rest on their pools' Nodes too, so that loop's fresh reads ask for
// those by name as well, never for every Node nor for the Nodes of a pool outside the run; only a worker's rollback,
// which rests on its replacement's Node being absent (a Node no read by name can ask for), reads every Node first.
import assert from 'node:assert/strict';
import type { KubeswapError } from '../../../src/domain/errors.ts';
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

  it("a worker pool's rollback is taken from a read of every Node, the pool's other steps from reads by name", async () => {
    const world = new FakeWorld(['cp-a', 'cp-b', 'cp-c']);
    world.machines.push(machine('w-1', { pool: 'blue' }));
    world.nodes.set('w-1', node('w-1', { controlPlane: false, staticPods: {} }));
    const ports = world.ports();
    // The fresh reads and the steps, in order; a watch as the real port keeps (the passes that start a swap or take
    // an irreversible step then read afresh instead of standing on it).
    const trail: unknown[] = [];
    ports.kube = {
      ...ports.kube,
      watchChanges: () => () => {},
      listNodes: (options) => {
        if (options?.fresh) trail.push(options.fresh);
        return world.kube.listNodes(options);
      },
    };
    const emit = ports.emit;
    ports.emit = (event) => {
      if (event.code === 'plan.step') trail.push(`step ${String(event.data?.['step'])}`);
      emit(event);
    };
    // The worker's replacement never boots: rolled back after the machine timeout.
    const create = ports.provider.createReplacement;
    ports.provider = {
      ...ports.provider,
      createReplacement: (request, wait) => {
        if (request.pool === 'blue') world.pendingFault = 'never-boots';
        return create(request, wait);
      },
    };
    const pools = [{ name: 'blue', maxSurge: 1, maxUnavailable: 0 }];
    const failure = await apply(ports, { version: TO, force: false }, { ...APPLY_OPTIONS, pools }).then(
      () => assert.fail('the worker replacement never boots'),
      (err: KubeswapError) => err,
    );
    assert.equal(failure.failure, 'rolled-back', failure.message);
    const rollback = trail.indexOf('step rollback');
    assert.ok(rollback > 0, JSON.stringify(trail));
    assert.equal(trail[rollback - 1], true, JSON.stringify(trail));
    // The worker's create-replacement stood on a read by name.
    const create1 = trail.findLastIndex((t, i) => i < rollback && t === 'step create-replacement');
    assert.deepEqual(trail[create1 - 1], { workers: ['w-1'] }, JSON.stringify(trail));
    assert.equal(trail.filter((t) => t === true).length, 1, JSON.stringify(trail));
  });
});
