// Before the first swap (issue 15 §1): the loop counts on the health gate's streak before the first change when it
// follows closely; a readiness refusal comes before the lock (a refusal leaves no Lease behind).
import assert from 'node:assert/strict';
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

  it('a readiness refusal comes before the lock: exit 2, no Lease written, no gate, no etcd copy', async () => {
    const world = new FakeWorld(['cp-a', 'cp-b', 'cp-c']);
    let copied = false;
    world.etcd.snapshot = async (file) => {
      copied = true;
      return { file, bytes: 4 };
    };
    const err = await failure(apply({ ...world.ports(), readiness: refusingReadiness() }, request, APPLY_OPTIONS));
    assert.deepEqual([err.failure, err.code], ['blocked', 'readiness.blocked']);
    assert.deepEqual(world.calls, [], 'nothing changed');
    assert.equal(world.leases.has('kube-system/kubeswap-lock'), false, 'not even a released Lease');
    assert.equal(world.configMaps.has('kube-system/kubeswap-progress'), false);
    assert.equal(copied, false);
    assert.ok(!world.log.codes().includes('gate.passed'));
  });
});
