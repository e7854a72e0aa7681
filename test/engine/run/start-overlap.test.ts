// Before the first swap (issue 15 §1): the readiness report's reads overlap the lock, the health gate and the etcd
// copy, its verdict still comes before any change; and the loop counts on the gate's streak before the first change.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { apply } from '../../../src/engine/run/run.ts';
import { APPLY_OPTIONS, TO } from '../builders.ts';
import { FakeReadiness, metricLine } from '../checks/readiness/fake-readiness.ts';
import { FakeWorld, failure } from '../fake-world.ts';

const request = { version: TO, force: false };

function refusingReadiness(): FakeReadiness {
  const readiness = new FakeReadiness();
  readiness.metrics['cp-a'] = metricLine('networking.k8s.io', 'v1beta1', 'servicecidrs', '1.37');
  return readiness;
}

describe('before the first swap', () => {
  it('starts the first swap on the first healthy pass after the gate held before the first change', async () => {
    const world = new FakeWorld(['cp-a', 'cp-b', 'cp-c']);
    await apply(world.ports(), request, { ...APPLY_OPTIONS, gatePasses: 3 });
    const events = world.log.events;
    const started = events.findIndex((e) => e.code === 'run.started');
    const firstStep = events.findIndex((e) => e.code === 'plan.step');
    assert.equal(events[firstStep]?.data?.['step'], 'create-replacement');
    const between = events.slice(started, firstStep).filter((e) => e.data?.['reason'] === 'gate.settling');
    assert.deepEqual(
      between.map((e) => e.message),
      [],
      'the streak of the start gate goes on: no N passes anew',
    );
    const startGate = events.find((e) => e.code === 'gate.passed')!;
    assert.match(startGate.message, /3 consecutive times before the first change/);
    assert.ok(Date.parse(events[firstStep]!.at) - Date.parse(startGate.at) < APPLY_OPTIONS.pollIntervalMs);
  });

  it('counts the gate anew when the etcd copy outlasts two poll intervals: passes with a gap are not consecutive', async () => {
    const world = new FakeWorld(['cp-a', 'cp-b', 'cp-c']);
    const taking = world.etcd.snapshot;
    world.etcd.snapshot = async (file) => {
      world.now += 3 * APPLY_OPTIONS.pollIntervalMs; // a big database streams for a while
      return taking(file);
    };
    await apply(world.ports(), request, { ...APPLY_OPTIONS, gatePasses: 3 });
    const events = world.log.events;
    const startGate = events.findIndex((e) => e.code === 'gate.passed');
    const firstStep = events.findIndex((e) => e.code === 'plan.step');
    assert.match(events[startGate]!.message, /before the first change/);
    const passes = events.slice(startGate + 1, firstStep).filter((e) => e.code === 'gate.passed');
    assert.deepEqual(
      passes.map((e) => e.message),
      ['health gate passed 3 consecutive times'],
      'the first swap waits for 3 passes of its own after the copy',
    );
    assert.ok(
      Date.parse(events[firstStep]!.at) - Date.parse(events[startGate]!.at) >= 5 * APPLY_OPTIONS.pollIntervalMs,
    );
  });

  it('a readiness refusal stops the health gate at once: exit 2, nothing changed, lock released', async () => {
    const world = new FakeWorld(['cp-a', 'cp-b', 'cp-c']);
    world.nodes.set('cp-b', { ...world.nodes.get('cp-b')!, ready: false });
    // As the real clock: a sleep takes a turn of the event loop and ends when its signal aborts.
    const sleep = world.clock.sleep;
    world.clock.sleep = async (ms, signal) => {
      await new Promise((resolve) => setImmediate(resolve));
      if (signal?.aborted) throw signal.reason;
      return sleep(ms, signal);
    };
    const started = world.now;
    const err = await failure(
      apply({ ...world.ports(), readiness: refusingReadiness() }, request, {
        ...APPLY_OPTIONS,
        gateTimeoutMs: 60_000,
      }),
    );
    assert.deepEqual([err.failure, err.code], ['blocked', 'readiness.blocked'], 'the report refuses, not the gate');
    assert.ok(world.now - started < 60_000, 'the gate was not waited out');
    assert.deepEqual(world.calls, [], 'nothing changed');
    assert.equal(world.configMaps.has('kube-system/kubeswap-progress'), false);
    assert.equal(world.leases.get('kube-system/kubeswap-lock')?.holderIdentity ?? '', '', 'lock released');
  });

  it('a readiness refusal that comes after the etcd copy was taken deletes the copy', async () => {
    const world = new FakeWorld(['cp-a', 'cp-b', 'cp-c']);
    const dir = mkdtempSync(path.join(tmpdir(), 'kubeswap-start-'));
    let copied: string | undefined;
    world.etcd.snapshot = async (file) => {
      writeFileSync(file, 'etcd');
      copied = file;
      return { file, bytes: 4 };
    };
    const readiness = refusingReadiness();
    const endpoints = readiness.apiserverEndpoints.bind(readiness);
    // The report answers late (real time): the fake clock's gate and the copy are done long before.
    readiness.apiserverEndpoints = async () => {
      await new Promise((resolve) => setTimeout(resolve, 100));
      return endpoints();
    };
    const err = await failure(apply({ ...world.ports(), readiness }, request, { ...APPLY_OPTIONS, snapshotDir: dir }));
    assert.equal(err.code, 'readiness.blocked');
    assert.ok(copied, 'the copy was taken while the report was read');
    assert.equal(existsSync(copied), false, 'and deleted on the refusal');
    assert.ok(!world.log.codes().includes('etcd.snapshot-saved'));
    assert.deepEqual(world.calls, []);
  });
});
