import assert from 'node:assert/strict';
import type { NodeView } from '../../../src/domain/model.ts';
import { readProgress } from '../../../src/engine/run/progress.ts';
import { apply } from '../../../src/engine/run/run.ts';
import { notReadyNodes } from '../../../src/engine/run/verify.ts';
import { APPLY_OPTIONS, node, TO } from '../builders.ts';
import { FakeWorld } from '../fake-world.ts';

const worker = (name: string, over: Partial<NodeView> = {}) =>
  node(name, { controlPlane: false, staticPods: {}, createdAt: new Date('2025-12-01T00:00:00Z'), ...over });

/** A control-plane run over cp-a..c with worker-1 (and worker-2) beside them. */
function world(workerReady: boolean): FakeWorld {
  const w = new FakeWorld(['cp-a', 'cp-b', 'cp-c']);
  w.nodes.set('worker-1', worker('worker-1', { ready: workerReady }));
  w.nodes.set('worker-2', worker('worker-2'));
  return w;
}

const checksOf = (w: FakeWorld) => {
  const verified = w.log.events.find((e) => e.code === 'verify.passed' || e.code === 'verify.failed');
  assert.ok(verified, w.log.codes().join(' '));
  return verified.data!['checks'] as { check: string; ok: boolean; level: string; detail: string }[];
};

describe('verification: Nodes not Ready', () => {
  it('a worker not Ready before the run started is a warning, and the run succeeds', async () => {
    const w = world(false);
    const outcome = await apply(w.ports(), { version: TO, force: false }, APPLY_OPTIONS);
    assert.equal(outcome.result, 'done');
    assert.equal(outcome.swaps, 3);
    const checks = checksOf(w);
    assert.equal(checks.find((c) => c.check === 'nodes.ready')?.ok, true, JSON.stringify(checks));
    const warning = checks.find((c) => c.check === 'nodes.not-ready-before');
    assert.deepEqual({ ok: warning?.ok, level: warning?.level }, { ok: false, level: 'warn' }, JSON.stringify(checks));
    assert.match(warning!.detail, /worker-1 is not Ready \(it was not Ready when the run started\)/);
    assert.doesNotMatch(warning!.detail, /worker-2/);
    const passed = w.log.events.find((e) => e.code === 'verify.passed')!;
    assert.equal(passed.level, 'warn');
    assert.match(passed.message, /warnings: .*worker-1/);
    // Remembered in the progress record, by name and creation time.
    const record = await readProgress(w.kube);
    assert.deepEqual(record?.notReadyAtStart, [{ node: 'worker-1', createdAt: '2025-12-01T00:00:00.000Z' }]);
  });

  it('a worker Ready at the start and not Ready at the end fails the verification (exit 4)', async () => {
    const w = world(true);
    const ports = w.ports();
    const emit = ports.emit;
    ports.emit = (event) => {
      // The worker goes NotReady during the run.
      if (event.code === 'swap.finished') w.nodes.set('worker-1', { ...w.nodes.get('worker-1')!, ready: false });
      emit(event);
    };
    const err = (await apply(ports, { version: TO, force: false }, APPLY_OPTIONS).then(
      () => assert.fail('apply should fail'),
      (e: unknown) => e,
    )) as { code: string; failure: string; message: string };
    assert.equal(err.code, 'verify.failed');
    assert.equal(err.failure, 'needs-person');
    assert.match(err.message, /nodes\.ready: worker-1 is not Ready/);
    assert.equal(
      checksOf(w).find((c) => c.check === 'nodes.not-ready-before'),
      undefined,
    );
  });

  /** A run that crashes before its first termination, `between` the two processes, then the resume's error. */
  async function resumedError(w: FakeWorld, between: () => void) {
    w.crashBefore = 'terminate';
    await assert.rejects(apply(w.ports(), { version: TO, force: false }, APPLY_OPTIONS), /simulated crash/);
    between();
    w.now += 10 * 60_000; // the crashed run's lease expires
    const err = (await apply(w.ports(), { version: TO, force: false }, APPLY_OPTIONS).then(
      () => assert.fail('apply should fail'),
      (e: unknown) => e,
    )) as { code: string; message: string };
    assert.ok(w.log.codes().includes('run.resumed'), w.log.codes().join(' '));
    return err;
  }

  it("a resumed run keeps the first start's list: a worker that went NotReady under the crashed process fails", async () => {
    const w = world(true);
    const err = await resumedError(w, () => w.nodes.set('worker-1', { ...w.nodes.get('worker-1')!, ready: false }));
    assert.equal(err.code, 'verify.failed');
    assert.match(err.message, /worker-1 is not Ready/);
  });

  it('a resumed run whose record has no list (an older kubeswap wrote it) excuses no worker', async () => {
    const w = world(true);
    const err = await resumedError(w, () => {
      const cm = w.configMaps.get('kube-system/kubeswap-progress')!;
      const { notReadyAtStart: _dropped, ...older } = JSON.parse(cm.data['progress']!);
      cm.data['progress'] = JSON.stringify(older);
      w.nodes.set('worker-1', { ...w.nodes.get('worker-1')!, ready: false });
    });
    assert.equal(err.code, 'verify.failed');
    assert.match(err.message, /worker-1 is not Ready/);
  });

  describe('which not-Ready Nodes fail', () => {
    const created = new Date('2025-12-01T00:00:00Z');
    const atStart = [
      { node: 'worker-1', createdAt: created.toISOString() },
      { node: 'cp-x', createdAt: created.toISOString() },
      { node: 'worker-3', createdAt: created.toISOString() },
    ];
    const cases: [string, NodeView, 'fails' | 'warns' | 'passes'][] = [
      ['a worker not Ready at the start', worker('worker-1', { ready: false, createdAt: created }), 'warns'],
      ['a worker not Ready at the start, Ready now', worker('worker-1', { createdAt: created }), 'passes'],
      [
        'a control-plane Node, even one not Ready at the start',
        node('cp-x', { ready: false, createdAt: created }),
        'fails',
      ],
      ['a worker Ready at the start', worker('worker-2', { ready: false, createdAt: created }), 'fails'],
      [
        'a Node registered under a remembered name after the start (another Node: the run may have created it)',
        worker('worker-3', { ready: false, createdAt: new Date('2026-06-01T00:05:00Z') }),
        'fails',
      ],
      [
        'a Node the run created',
        worker('node-i-new', { ready: false, createdAt: new Date('2026-06-01T00:05:00Z') }),
        'fails',
      ],
    ];
    for (const [what, n, expected] of cases) {
      it(`${what}: ${expected}`, () => {
        const { failing, before } = notReadyNodes([n], atStart);
        const got = failing.length > 0 ? 'fails' : before.length > 0 ? 'warns' : 'passes';
        assert.equal(got, expected);
      });
    }
  });
});
