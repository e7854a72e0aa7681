// --max-surge 0 over the fake world: the old machine leaves before its replacement exists, the
// machine count never grows, and a crash or a failed replacement at any point is finished by a re-run.
import assert from 'node:assert/strict';
import { DEFAULT_ENGINE_OPTIONS, type EngineOptions } from '../../src/engine/ports.ts';
import { RETIRING_CONFIGMAP } from '../../src/engine/run/retiring.ts';
import { apply, inspect } from '../../src/engine/run/run.ts';
import { TO } from './builders.ts';
import { FakeWorld, failure } from './fake-world.ts';

const options: EngineOptions = {
  ...DEFAULT_ENGINE_OPTIONS,
  maxSurge: 0,
  gatePasses: 2,
  machineTimeoutMs: 60_000,
  pollIntervalMs: 1000,
  snapshotDir: '/tmp',
};
const request = { version: TO, force: false };
const running = (w: FakeWorld) => w.machines.filter((m) => m.phase === 'running');
const retiringRecord = (w: FakeWorld) => w.configMaps.get(`kube-system/${RETIRING_CONFIGMAP}`);

function assertUpgraded(world: FakeWorld) {
  assert.equal(world.members.length, 3);
  assert.ok(world.members.every((m) => !m.isLearner && m.name.startsWith('node-')));
  assert.equal(running(world).length, 3);
  assert.ok(running(world).every((m) => m.replaces));
  assert.ok([...world.nodes.values()].every((n) => n.kubeletVersion === TO));
  assert.equal(retiringRecord(world), undefined, 'the retiring record is dropped at the end');
  assert.ok(world.peakRunning <= 3, `never more than 3 machines running (saw ${world.peakRunning})`);
}

describe('apply --max-surge 0 over the fake world', () => {
  it('removes each old machine before creating its replacement, never growing past 3', async () => {
    const world = new FakeWorld(['cp-a', 'cp-b', 'cp-c']);
    const outcome = await apply(world.ports(), request, options);
    assert.equal(outcome.swaps, 3);
    assertUpgraded(world);
    const at = (call: string) => world.calls.indexOf(call);
    for (const old of ['i-cp-a', 'i-cp-b', 'i-cp-c']) {
      assert.ok(at(`deregister ${old}`) < at(`terminate ${old}`));
      assert.ok(at(`terminate ${old}`) < at(`createReplacement ${old}`), `${old} is gone before its successor`);
    }
    assert.ok(at('cordon cp-a') < at('terminate i-cp-a'), 'drained before terminated');
    const codes = world.log.codes();
    assert.equal(codes.filter((c) => c === 'swap.started').length, 3);
    assert.equal(codes.filter((c) => c === 'swap.finished').length, 3);
  });

  it('hands etcd leadership to another healthy voter before removing the leading member', async () => {
    const world = new FakeWorld(['cp-a', 'cp-b', 'cp-c']);
    const leader = world.leaderId;
    await apply(world.ports(), request, options);
    const moved = world.calls.findIndex((c) => c.startsWith('moveLeader'));
    const removed = world.calls.indexOf(`removeMember ${leader}`);
    assert.ok(moved >= 0 && moved < removed, 'leadership moved before the leader was removed');
  });

  it('works when the cloud deletes the Node of a terminated machine', async () => {
    const world = new FakeWorld(['cp-a', 'cp-b', 'cp-c']);
    world.nodeLifecycleController = true;
    await apply(world.ports(), request, options);
    assertUpgraded(world);
  });

  for (const size of [1, 2]) {
    it(`refuses a ${size}-member control plane before changing anything (exit class blocked)`, async () => {
      const world = new FakeWorld(['cp-a', 'cp-b'].slice(0, size));
      const err = await failure(apply(world.ports(), request, options));
      assert.deepEqual([err.failure, err.code], ['blocked', 'surge.too-few-members']);
      assert.match(err.message, /needs at least 3 etcd members/);
      assert.deepEqual(world.calls, []);
    });
  }

  it('plan shows the refusal for a small cluster and the remove-first swap for a large one', async () => {
    const small = await inspect(new FakeWorld(['cp-a']).ports(), { ...request, maxSurge: 0 });
    assert.equal(small.next.kind === 'blocked' && small.next.code, 'surge.too-few-members');
    const big = await inspect(new FakeWorld(['cp-a', 'cp-b', 'cp-c']).ports(), { ...request, maxSurge: 0 });
    assert.equal(big.next.kind === 'step' && big.next.step.kind, 'begin-retirement');
  });

  it('rolls back a replacement that never boots, one machine short, and a re-run restores the count', async () => {
    const world = new FakeWorld(['cp-a', 'cp-b', 'cp-c']);
    world.pendingFault = 'never-boots';
    const err = await failure(apply(world.ports(), request, options));
    assert.equal(err.failure, 'rolled-back');
    assert.match(err.message, /rolled back/);
    assert.match(err.hint ?? '', /one machine short/);
    assert.equal(running(world).length, 2);
    assert.equal(world.members.length, 2);
    assert.ok(retiringRecord(world), 'the record survives so the re-run knows a machine is missing');
    const outcome = await apply(world.ports(), request, options);
    assert.equal(outcome.result, 'done');
    assertUpgraded(world);
  });

  it('removes the learner a dying join leaked, then a re-run completes', async () => {
    const world = new FakeWorld(['cp-a', 'cp-b', 'cp-c']);
    world.pendingFault = 'dies-after-member-add';
    const err = await failure(apply(world.ports(), request, options));
    assert.equal(err.failure, 'rolled-back');
    assert.ok(world.members.every((m) => !m.isLearner));
    await apply(world.ports(), request, options);
    assertUpgraded(world);
  });

  for (const boundary of [
    `createConfigMap ${RETIRING_CONFIGMAP}`,
    'deregister',
    'cordon',
    'moveLeader',
    'removeMember',
    'terminate',
    'deleteNode',
    'createReplacement',
    'register',
    `deleteConfigMap ${RETIRING_CONFIGMAP}`,
  ]) {
    it(`resumes to completion after a crash before ${boundary}`, async () => {
      const world = new FakeWorld(['cp-a', 'cp-b', 'cp-c']);
      world.crashBefore = boundary;
      await assert.rejects(apply(world.ports(), request, options), /simulated crash/);
      world.now += 10 * 60_000; // expire the crashed run's lease
      const outcome = await apply(world.ports(), request, options);
      assert.equal(outcome.result, 'done');
      assertUpgraded(world);
      assert.equal(world.machines.filter((m) => m.replaces).length, 3, 'no duplicate replacement was launched');
    });
  }

  it('a re-run with --max-surge 1 first finishes the remove-first swap it finds', async () => {
    const world = new FakeWorld(['cp-a', 'cp-b', 'cp-c']);
    world.crashBefore = 'terminate';
    await assert.rejects(apply(world.ports(), request, options), /simulated crash/);
    world.now += 10 * 60_000;
    const outcome = await apply(world.ports(), request, { ...options, maxSurge: 1 });
    assert.equal(outcome.result, 'done');
    const at = (call: string) => world.calls.indexOf(call);
    assert.ok(at('terminate i-cp-a') < at('createReplacement i-cp-a'), 'cp-a still left before its successor came');
    assert.equal(world.machines.filter((m) => m.replaces).length, 3);
    assert.equal(retiringRecord(world), undefined);
  });
});
