import assert from 'node:assert/strict';
import { DEFAULT_ENGINE_OPTIONS, type EngineOptions } from '../../../src/engine/ports.ts';
import { GateStreak } from '../../../src/engine/run/gate-streak.ts';
import { apply } from '../../../src/engine/run/run.ts';
import { member, TO } from '../builders.ts';
import { FakeWorld, failure } from '../fake-world.ts';

const options: EngineOptions = {
  ...DEFAULT_ENGINE_OPTIONS,
  gatePasses: 2,
  gateTimeoutMs: 30_000,
  machineTimeoutMs: 60_000,
  snapshotDir: '/tmp',
};
const request = { version: TO, force: false };
const kubeadmVersion = (w: FakeWorld) => w.configMaps.get('kube-system/kubeadm-config')!.data['ClusterConfiguration'];

describe('nothing changes until the cluster is healthy', () => {
  it('refuses an unhealthy start within --gate-timeout, naming the machine, with nothing changed and the lock released', async () => {
    const world = new FakeWorld(['cp-a', 'cp-b', 'cp-c']);
    world.nodes.set('cp-b', { ...world.nodes.get('cp-b')!, ready: false });
    const before = kubeadmVersion(world);
    const started = world.now;
    const err = await failure(apply(world.ports(), request, options));
    assert.deepEqual([err.failure, err.code], ['blocked', 'gate.unhealthy']);
    assert.match(err.message, /node cp-b is not Ready/);
    assert.match(err.hint ?? '', /nothing was changed/);
    assert.ok(world.now - started >= options.gateTimeoutMs, 'waited out the gate timeout, no longer');
    assert.ok(world.now - started < options.gateTimeoutMs + 5_000);
    assert.equal(kubeadmVersion(world), before, 'kubeadm-config untouched');
    assert.equal(world.configMaps.has('kube-system/kubeswap-progress'), false, 'no progress record');
    assert.deepEqual(world.calls, [], 'no machine, member or snapshot call');
    assert.equal(world.leases.get('kube-system/kubeswap-lock')?.holderIdentity ?? '', '', 'lock released');
  });

  it('a pass that cannot observe breaks the streak: ok, error, ok is not two in a row', async () => {
    const world = new FakeWorld(['cp-a', 'cp-b', 'cp-c']);
    const list = world.etcd.memberList;
    let armed: 'no' | 'yes' | 'done' = 'no';
    let failedAt = 0;
    world.onSleep = () => {
      if (
        armed === 'no' &&
        world.log.events.some((e) => e.data?.['reason'] === 'gate.start' && /passed 1 of 3/.test(e.message))
      )
        armed = 'yes';
    };
    world.etcd.memberList = async () => {
      if (armed === 'yes') {
        armed = 'done';
        failedAt = world.now;
        throw new Error('etcd: deadline exceeded');
      }
      return list();
    };
    await apply(world.ports(), request, { ...options, gatePasses: 3 });
    assert.equal(armed, 'done', 'the fault was injected during the start gate');
    const passed = world.log.events.find((e) => e.code === 'gate.passed')!;
    assert.match(passed.message, /3 consecutive times before the first change/);
    assert.ok(
      Date.parse(passed.at) - failedAt >= 3 * options.pollIntervalMs * 0.9,
      'three healthy passes after the failed one, not two',
    );
  });

  it('starts once the cluster turns healthy within the timeout', async () => {
    const world = new FakeWorld(['cp-a', 'cp-b', 'cp-c']);
    world.nodes.set('cp-b', { ...world.nodes.get('cp-b')!, ready: false });
    const heal = world.now + 5_000;
    world.onSleep = () => {
      // Once: cp-b is replaced later in the run, and must not come back.
      const cpB = world.nodes.get('cp-b');
      if (world.now >= heal && cpB) world.nodes.set('cp-b', { ...cpB, ready: true });
    };
    const outcome = await apply(world.ports(), request, options);
    assert.equal(outcome.result, 'done');
    assert.ok(world.log.codes().includes('gate.passed'));
  });

  it("blocks on someone else's never-started etcd member instead of waiting for it", async () => {
    const world = new FakeWorld(['cp-a', 'cp-b', 'cp-c']);
    world.members.push(member('', { clientUrls: [] }));
    const err = await failure(apply(world.ports(), request, { ...options, gateTimeoutMs: 5 * 60_000 }));
    assert.equal(err.code, 'etcd.orphan-member');
    assert.match(err.hint ?? '', /etcdctl member remove/);
    assert.deepEqual(world.calls, []);
  });
});

describe('gate streak', () => {
  const ok = { ok: true, reasons: [] };
  it('counts passes at most once per poll interval, and restarts on a failure or a change', () => {
    const streak = new GateStreak(1000);
    assert.equal(streak.observe(ok, 0), 1);
    assert.equal(streak.observe(ok, 200), 1, 'an early wake-up does not count');
    assert.equal(streak.observe(ok, 950), 2, 'timer jitter within 10% counts');
    assert.equal(streak.observe({ ok: false, reasons: ['x'] }, 2000), 0);
    assert.equal(streak.observe(ok, 3000), 1);
    streak.restart();
    assert.equal(streak.observe(ok, 3100), 1);
  });

  it('is carried over a gap only when the next pass follows within two poll intervals', () => {
    const streak = new GateStreak(1000);
    assert.equal(streak.followsAt(0), false, 'nothing to carry');
    streak.observe(ok, 0);
    streak.observe(ok, 1000);
    assert.equal(streak.followsAt(2900), true);
    assert.equal(streak.followsAt(3100), false, 'a gap of more than two intervals was never looked at');
    streak.restart();
    assert.equal(streak.followsAt(1100), false);
  });
});
