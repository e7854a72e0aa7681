// Which Nodes a fresh read asks the API for (issue 15): the control-plane loop's decisions and its gate rest on the
// control-plane Nodes alone, so its fresh reads ask for those (the others come from the watch); the worker pools'
// decisions (readiness within maxUnavailable) rest on their pools' Nodes too, so that loop's fresh reads ask for
// those by name as well, never for every Node nor for the Nodes of a pool outside the run; only a worker's rollback,
// which rests on its replacement's Node being absent (a Node no read by name can ask for), reads every Node first.
import assert from 'node:assert/strict';
import type { KubeswapError } from '../../../src/domain/errors.ts';
import { apply } from '../../../src/engine/run/run.ts';
import { APPLY_OPTIONS, TO } from '../builders.ts';
import { FakeWorld } from '../fake-world.ts';

describe('fresh Node reads by loop', () => {
  it("the control-plane loop reads the control plane afresh, the worker loop its pool's Nodes by name", async () => {
    const world = new FakeWorld(['cp-a', 'cp-b', 'cp-c']).addWorker('w-1', 'blue').addWorker('w-2', 'blue');
    world.addWorker('g-1', 'green');
    const pools = [{ name: 'blue', maxSurge: 1, maxUnavailable: 0 }];
    const outcome = await apply(world.ports(), { version: TO, force: false }, { ...APPLY_OPTIONS, pools });
    assert.equal(outcome.swaps, 5);
    const reads = JSON.stringify(world.freshNodeReads);
    const cpEnd = world.freshNodeReads.lastIndexOf('control-plane');
    assert.ok(cpEnd >= 0, 'the control-plane loop read the control plane afresh');
    // Every fresh read after the control-plane loop's last one is the worker loop's: blue's Nodes by name; then the
    // verification's, which reads every Node as an operator would.
    assert.equal(world.freshNodeReads.at(-1), true, `the verification reads every Node: ${reads}`);
    const workerReads = world.freshNodeReads.slice(cpEnd + 1, -1);
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

  /** The fresh reads and the steps, in order; a watch as the real port keeps (a pass that starts a swap or takes an
   * irreversible step then reads afresh instead of standing on it); `never` boots no replacement of those workers. */
  function traced(world: FakeWorld, never: string[]) {
    const ports = world.ports();
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
    const create = ports.provider.createReplacement;
    ports.provider = {
      ...ports.provider,
      createReplacement: (request, wait) => {
        if (never.includes(request.replaces.id)) world.pendingFault = 'never-boots';
        return create(request, wait);
      },
    };
    return { ports, trail };
  }

  function cluster(workers: string[]) {
    const world = new FakeWorld(['cp-a', 'cp-b', 'cp-c']);
    for (const name of workers) world.addWorker(name, 'blue');
    return world;
  }

  const rolledBack = (run: Promise<unknown>) =>
    run.then(
      () => assert.fail('a worker replacement never boots'),
      (err: KubeswapError) => assert.equal(err.failure, 'rolled-back', err.message),
    );

  it("a worker pool's rollback is taken from a read of every Node, the pool's other steps from reads by name", async () => {
    const world = cluster(['w-1']);
    const { ports, trail } = traced(world, ['i-w-1']);
    const pools = [{ name: 'blue', maxSurge: 1, maxUnavailable: 0 }];
    await rolledBack(apply(ports, { version: TO, force: false }, { ...APPLY_OPTIONS, pools }));
    const rollback = trail.indexOf('step rollback');
    assert.ok(rollback > 0, JSON.stringify(trail));
    assert.equal(trail[rollback - 1], true, JSON.stringify(trail));
    // The worker's create-replacement stood on a read by name.
    const create = trail.findLastIndex((t, i) => i < rollback && t === 'step create-replacement');
    assert.deepEqual(trail[create - 1], { workers: ['w-1'] }, JSON.stringify(trail));
    assert.equal(trail.filter((t) => t === true).length, 1, JSON.stringify(trail));
  });

  it('also when the pass that plans the rollback read the pool afresh by name (right after a swap ended)', async () => {
    // Two replacements at once (maxSurge 2): w-1's boots and its swap ends, w-2's never boots and its machine timeout
    // passes while w-1's old Node is deleted, so the rollback is planned on the fresh read by name after that swap.
    const world = cluster(['w-1', 'w-2']);
    const { ports, trail } = traced(world, ['i-w-2']);
    const deleteNode = ports.kube.deleteNode;
    ports.kube.deleteNode = async (name) => {
      const r2 = world.machines.find((m) => m.replaces === 'i-w-2');
      if (name === 'w-1' && r2)
        world.now = Math.max(world.now, r2.launchedAt.getTime() + APPLY_OPTIONS.machineTimeoutMs + 1000);
      return deleteNode(name);
    };
    const pools = [{ name: 'blue', maxSurge: 2, maxUnavailable: 0 }];
    await rolledBack(apply(ports, { version: TO, force: false }, { ...APPLY_OPTIONS, pools }));
    const rollback = trail.indexOf('step rollback');
    const around = JSON.stringify(trail.slice(rollback - 3, rollback + 1));
    assert.equal(trail[rollback - 3], 'step delete-node', around);
    assert.ok(typeof trail[rollback - 2] === 'object', around);
    assert.equal(trail[rollback - 1], true, around);
  });

  it("drains a worker only from a read made afresh since the pool's last step (its replacement counted Ready from the API)", async () => {
    const world = cluster(['w-1', 'w-2']);
    const { ports, trail } = traced(world, []);
    const pools = [{ name: 'blue', maxSurge: 1, maxUnavailable: 0 }];
    await apply(ports, { version: TO, force: false }, { ...APPLY_OPTIONS, pools });
    const drains = trail.flatMap((t, i) => (t === 'step drain-worker' ? [i] : []));
    assert.equal(drains.length, 2, JSON.stringify(trail));
    for (const i of drains) {
      const sinceStep = trail.slice(trail.findLastIndex((t, j) => j < i && typeof t === 'string') + 1, i);
      assert.ok(
        sinceStep.some((t) => typeof t === 'object' || t === true),
        `no fresh read between the step before and this drain: ${JSON.stringify(trail.slice(Math.max(0, i - 4), i + 1))}`,
      );
    }
  });
});
