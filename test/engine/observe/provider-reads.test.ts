import assert from 'node:assert/strict';
import type { ApiTarget, Machine } from '../../../src/domain/model.ts';
import { PROVIDER_LAUNCH_INTERVAL_MS, ProviderReads } from '../../../src/engine/observe/provider-reads.ts';
import type { StepKind } from '../../../src/engine/plan/steps.ts';
import { DEFAULT_ENGINE_OPTIONS } from '../../../src/engine/ports.ts';
import { apply } from '../../../src/engine/run/run.ts';
import { machine, TO } from '../builders.ts';
import { FakeWorld } from '../fake-world.ts';

const ids = ['aws:///a', 'aws:///b'];
const serving = (m: Machine): ApiTarget => ({ machineId: m.id, state: 'serving' });

describe('ProviderReads: the provider view between passes', () => {
  const running = [machine('cp-a'), machine('cp-b')];
  const launching = [...running, machine('r-cp-a', { phase: 'provisioning' })];

  describe('machines', () => {
    const cases: { name: string; machines: Machine[]; askedAt: number; askedFor?: string[]; reused: boolean }[] = [
      { name: 'reuses a stable view of the same Nodes', machines: running, askedAt: 14_999, reused: true },
      { name: 'reads again once the slow interval passed', machines: running, askedAt: 15_000, reused: false },
      {
        name: 'reads again when the control-plane Nodes changed',
        machines: running,
        askedAt: 1,
        askedFor: ['aws:///a'],
        reused: false,
      },
      {
        name: 'reuses a view with a launching machine within the launch interval',
        machines: launching,
        askedAt: 4_999,
        reused: true,
      },
      {
        name: 'reads a launching machine again after the launch interval',
        machines: launching,
        askedAt: 5_000,
        reused: false,
      },
      {
        name: 'reuses the view when a Node added since links to a machine in it (a replacement registering)',
        machines: [...running, machine('r', { providerId: 'aws:///r' })],
        askedAt: 1,
        askedFor: [...ids, 'aws:///r'],
        reused: true,
      },
      {
        name: 'reads again when a Node added since links to no machine in the view',
        machines: running,
        askedAt: 1,
        askedFor: [...ids, 'aws:///x'],
        reused: false,
      },
      {
        name: 'reads again every pass while a machine is being deleted',
        machines: [machine('cp-a', { phase: 'deleting' })],
        askedAt: 1,
        reused: false,
      },
      {
        name: 'reads again every pass while one machine launches and another is deleted',
        machines: [machine('cp-a', { phase: 'deleting' }), machine('r-cp-a', { phase: 'provisioning' })],
        askedAt: 1,
        reused: false,
      },
      {
        name: 'reads again every pass while a machine has failed',
        machines: [...running, machine('r-cp-a', { phase: 'failed' })],
        askedAt: 1,
        reused: false,
      },
    ];
    for (const c of cases) {
      it(c.name, () => {
        const reads = new ProviderReads(15_000, 5_000);
        reads.rememberMachines(0, ids, c.machines);
        // Targets in transition do not make the machines stale (each has its own staleness).
        reads.rememberTargets(0, [{ machineId: 'i-cp-a', state: 'draining' }]);
        assert.equal(reads.reusableMachines(c.askedAt, c.askedFor ?? ids) !== undefined, c.reused);
      });
    }
  });

  describe('targets', () => {
    const cases: { name: string; targets: ApiTarget[]; askedAt: number; reused: boolean }[] = [
      {
        name: 'reuses serving and absent targets',
        targets: [...running.map(serving), { machineId: 'x', state: 'absent' }],
        askedAt: 14_999,
        reused: true,
      },
      {
        name: 'reads again once the slow interval passed',
        targets: running.map(serving),
        askedAt: 15_000,
        reused: false,
      },
      {
        name: 'reads again every pass while a target registers',
        targets: [{ machineId: 'i-r', state: 'registering' }],
        askedAt: 1,
        reused: false,
      },
      {
        name: 'reads again every pass while a target drains',
        targets: [{ machineId: 'i-cp-a', state: 'draining' }],
        askedAt: 1,
        reused: false,
      },
      {
        name: 'reads again every pass while a target is unhealthy',
        targets: [{ machineId: 'i-cp-a', state: 'unhealthy' }],
        askedAt: 1,
        reused: false,
      },
    ];
    for (const c of cases) {
      it(c.name, () => {
        const reads = new ProviderReads(15_000, 5_000);
        // A launching machine does not make the targets stale.
        reads.rememberMachines(0, ids, launching);
        reads.rememberTargets(0, c.targets);
        assert.equal(reads.reusableTargets(c.askedAt) !== undefined, c.reused);
      });
    }
  });

  describe('our steps forget what they may change, and only that', () => {
    const forgets: Record<StepKind, 'both' | 'machines' | 'targets' | 'nothing'> = {
      'create-replacement': 'machines',
      'start-deletion': 'machines',
      terminate: 'machines',
      'bump-pool': 'machines',
      rollback: 'both',
      'register-target': 'targets',
      'deregister-target': 'targets',
      'mark-retiring': 'nothing',
      drain: 'nothing',
      'drain-worker': 'nothing',
      'move-leader': 'nothing',
      'remove-member': 'nothing',
      'delete-node': 'nothing',
      'begin-retirement': 'nothing',
      'finish-retirement': 'nothing',
    };
    for (const [kind, what] of Object.entries(forgets) as [StepKind, string][]) {
      it(`${kind}: forgets ${what}`, () => {
        const reads = new ProviderReads(15_000, 5_000);
        reads.rememberMachines(0, ids, running);
        reads.rememberTargets(0, running.map(serving));
        reads.forgetAfter(kind);
        assert.equal(reads.reusableMachines(1, ids) === undefined, what === 'both' || what === 'machines', 'machines');
        assert.equal(reads.reusableTargets(1) === undefined, what === 'both' || what === 'targets', 'targets');
      });
    }
  });

  it('a machine shutting down: read every pass at first, then after a tenth of the time it has been leaving, at most 5 s apart', () => {
    const reads = new ProviderReads(15_000, 5_000, 5_000);
    const leaving = [machine('cp-a', { phase: 'deleting' }), machine('cp-b')];
    const readAt = (at: number) => reads.rememberMachines(at, ids, leaving);
    readAt(0);
    assert.equal(reads.reusableMachines(1, ids), undefined, 'just started leaving: every pass');
    readAt(20_000);
    assert.ok(reads.reusableMachines(21_999, ids), 'leaving for 20 s: the read stands 2 s');
    assert.equal(reads.reusableMachines(22_000, ids), undefined);
    readAt(200_000);
    assert.ok(reads.reusableMachines(204_999, ids), 'leaving for 200 s: stands the 5 s cap');
    assert.equal(reads.reusableMachines(205_000, ids), undefined);
    // Gone, then another machine starts leaving: its own time counts, from its first read so.
    reads.rememberMachines(210_000, ids, [machine('cp-a', { phase: 'gone' }), machine('cp-b')]);
    reads.rememberMachines(300_000, ids, [machine('cp-a', { phase: 'gone' }), machine('cp-b', { phase: 'deleting' })]);
    assert.ok(reads.reusableMachines(304_999, ids), 'cp-b just started leaving, and cp-a took 210 s: the 5 s cap');
    assert.equal(reads.reusableMachines(305_000, ids), undefined);
  });

  it('a termination after one seen to its end: read at the cap until a tenth before the shortest seen, every pass to a quarter past it, then as the first', () => {
    const reads = new ProviderReads(15_000, 5_000, 5_000);
    const at = (t: number, a: Machine['phase'], b: Machine['phase'] = 'running') =>
      reads.rememberMachines(t, ids, [machine('cp-a', { phase: a }), machine('cp-b', { phase: b })]);
    at(0, 'deleting');
    assert.equal(reads.reusableMachines(1, ids), undefined, 'nothing seen yet: every pass');
    at(12_500, 'gone');
    // cp-b leaves at 100 s: close reads from 0.9 x 12.5 s = 11.25 s into its leaving.
    at(100_000, 'gone', 'deleting');
    assert.ok(reads.reusableMachines(104_999, ids), 'stands the 5 s cap');
    assert.equal(reads.reusableMachines(105_000, ids), undefined);
    at(110_000, 'gone', 'deleting');
    assert.ok(reads.reusableMachines(111_249, ids), 'stands until 11.25 s into the leaving');
    assert.equal(reads.reusableMachines(111_250, ids), undefined);
    at(111_250, 'gone', 'deleting');
    assert.equal(reads.reusableMachines(111_251, ids), undefined, 'every pass where its end is expected');
    at(115_624, 'gone', 'deleting');
    assert.equal(reads.reusableMachines(115_625, ids), undefined, 'up to 1.25 x 12.5 s');
    at(115_625, 'gone', 'deleting');
    assert.ok(reads.reusableMachines(117_187, ids), 'then a tenth of the time it has been leaving');
    assert.equal(reads.reusableMachines(117_188, ids), undefined);
    // A quicker termination read gone (3 s) shortens the schedule for the next; one no longer listed (its Node went)
    // or back to running teaches nothing.
    at(200_000, 'deleting', 'deleting');
    reads.rememberMachines(201_000, ids, [machine('cp-b', { phase: 'deleting' })]);
    at(250_000, 'deleting', 'deleting');
    at(253_000, 'gone', 'deleting');
    at(300_000, 'deleting', 'gone');
    at(300_500, 'running', 'gone');
    at(400_000, 'deleting', 'gone');
    assert.ok(reads.reusableMachines(402_699, ids), 'close reads from 0.9 x 3 s, not from 0.9 x 1 s or 0.9 x 0.5 s');
    assert.equal(reads.reusableMachines(402_700, ids), undefined);
  });

  it('over a run: a replacement that dies while it boots is acted on within the launch interval, and a launching machine is not listed every pass', async () => {
    const world = new FakeWorld(['cp-a', 'cp-b', 'cp-c']);
    const bootMs = 30_000;
    const diesAfterMs = 2_000;
    let diedAt: number | undefined;
    // The first replacement stays pending (provisioning) and dies 2 s after its launch (EC2 terminates it); later
    // ones boot after 30 s, pending all that while.
    world.onSleep = () => {
      for (const m of world.machines) {
        if (!m.replaces || m.phase === 'gone') continue;
        const age = world.now - m.launchedAt.getTime();
        if (m.id === world.machines.find((x) => x.replaces)?.id && age >= diesAfterMs) {
          Object.assign(m, { phase: 'gone', status: 'terminated' });
          diedAt ??= world.now;
        } else if (!world.nodes.has(`node-${m.id}`)) {
          Object.assign(m, {
            phase: age < bootMs ? 'provisioning' : 'running',
            status: age < bootMs ? 'pending' : 'running',
          });
        }
      }
    };
    const ports = world.ports();
    const listedWhileLaunching: number[] = [];
    const { listMachines: list, createReplacement } = ports.provider;
    ports.provider = {
      ...ports.provider,
      // As EC2: a launched instance is pending first.
      createReplacement: async (request) => {
        const created = await createReplacement(request);
        const m = world.machines.find((x) => x.id === created.id)!;
        if (m.phase === 'running') Object.assign(m, { phase: 'provisioning', status: 'pending' });
        return { ...m };
      },
      listMachines: (pool, providerIds) => {
        if (world.machines.some((m) => m.phase === 'provisioning')) listedWhileLaunching.push(world.now);
        return list(pool, providerIds);
      },
    };
    const steps: { at: number; kind: string }[] = [];
    const sink = ports.emit;
    ports.emit = (event) => {
      if (event.code === 'plan.step') steps.push({ at: world.now, kind: String(event.data?.['step']) });
      sink(event);
    };
    const pollIntervalMs = 1000;
    const options = { ...DEFAULT_ENGINE_OPTIONS, gatePasses: 2, pollIntervalMs, snapshotDir: '/tmp' };
    const outcome = await apply(ports, { version: TO, force: false }, options);
    assert.equal(outcome.swaps, 3);
    assert.ok(diedAt !== undefined, 'the first replacement died');
    const next = steps.find((s) => s.at >= diedAt!);
    assert.ok(next, 'a step after the death');
    assert.equal(next.kind, 'create-replacement', 'a new attempt for the dead replacement');
    assert.ok(
      next.at - diedAt <= PROVIDER_LAUNCH_INTERVAL_MS + pollIntervalMs,
      `acted on ${next.at - diedAt} ms after the death`,
    );
    // About one listing per launch interval (2 s + 3 x 30 s at a pass a second), not one per pass.
    const launchingMs = diesAfterMs + 3 * bootMs;
    assert.ok(
      listedWhileLaunching.length <= launchingMs / PROVIDER_LAUNCH_INTERVAL_MS + 4 * 2,
      `${listedWhileLaunching.length} listings while a machine launched`,
    );
  });

  it('over a run: the pass after a step on Kubernetes or etcd alone reads neither machines nor targets', async () => {
    const world = new FakeWorld(['cp-a', 'cp-b', 'cp-c']);
    const ports = world.ports();
    const trace: string[] = [];
    const { listMachines, loadBalancer } = ports.provider;
    ports.provider = {
      ...ports.provider,
      listMachines: (pool, providerIds) => {
        trace.push('machines');
        return listMachines(pool, providerIds);
      },
      loadBalancer: loadBalancer && {
        ...loadBalancer,
        targets: () => {
          trace.push('targets');
          return loadBalancer.targets();
        },
      },
    };
    const sink = ports.emit;
    ports.emit = (event) => {
      if (event.code === 'plan.step') trace.push(`step ${String(event.data?.['step'])}`);
      sink(event);
    };
    const options = { ...DEFAULT_ENGINE_OPTIONS, gatePasses: 2, pollIntervalMs: 1000, snapshotDir: '/tmp' };
    const outcome = await apply(ports, { version: TO, force: false }, options);
    assert.equal(outcome.swaps, 3);
    const quiet = new Set(['mark-retiring', 'drain', 'move-leader', 'remove-member']);
    let checked = 0;
    for (const [i, entry] of trace.entries()) {
      const kind = entry.startsWith('step ') ? entry.slice(5) : undefined;
      if (!kind || !quiet.has(kind)) continue;
      const until = trace.findIndex((e, j) => j > i && e.startsWith('step '));
      const after = trace.slice(i + 1, until === -1 ? undefined : until);
      assert.deepEqual(after, [], `after ${kind} (entry ${i}): ${after.join(', ')}`);
      checked++;
    }
    assert.ok(checked >= 3, `${checked} Kubernetes/etcd steps checked`);
    // Steps that change the provider's view are followed by a read of it.
    for (const [i, entry] of trace.entries()) {
      const read = { 'step create-replacement': 'machines', 'step register-target': 'targets' }[entry];
      if (!read) continue;
      const until = trace.findIndex((e, j) => j > i && e.startsWith('step '));
      const after = trace.slice(i + 1, until === -1 ? undefined : until);
      assert.ok(after.includes(read), `${entry} (entry ${i}) followed by a read of the ${read}`);
    }
  });
});
