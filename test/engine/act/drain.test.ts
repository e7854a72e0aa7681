import assert from 'node:assert/strict';
import { drainNode } from '../../../src/engine/act/drain.ts';
import type { PodOnNode } from '../../../src/ports/kube.ts';
import { FakeKube, type FakePod, fakeClock } from '../../adapters/kube/fake-kube.ts';

function pod(name: string, over: Partial<FakePod> = {}): FakePod {
  return {
    namespace: 'apps',
    name,
    uid: `uid-${name}`,
    node: 'cp-1',
    daemonSet: false,
    mirror: false,
    phase: 'Running',
    labels: { app: name },
    ...over,
  };
}

/** A fake pod as the port reports it. */
function toView(p: FakePod): PodOnNode {
  return {
    namespace: p.namespace,
    name: p.name,
    uid: p.uid,
    daemonSet: p.daemonSet,
    mirror: p.mirror,
    phase: p.phase,
    emptyDir: false,
    bare: false,
    labels: p.labels,
  };
}

describe('drainNode', () => {
  it('worker drains refuse, as kubectl drain, a bare pod and emptyDir data before evicting anything', async () => {
    const kube = new FakeKube();
    kube.pods = [
      pod('web'),
      pod('scratch', { emptyDir: true }),
      pod('lonely', { bare: true }),
      pod('done', { bare: true, phase: 'Succeeded' }),
    ];
    const clock = fakeClock();
    const result = await drainNode(kube.port(), 'cp-1', {
      timeoutMs: 60_000,
      pollMs: 1000,
      clock,
      deleteEmptyDirData: false,
    });
    assert.deepEqual(result, {
      ok: true,
      refused: [
        { pod: 'apps/scratch', why: 'local storage (emptyDir)' },
        { pod: 'apps/lonely', why: 'not managed by a controller' },
      ],
    });
    assert.deepEqual(kube.calls, ['cordon cp-1=true']);
    // --delete-emptydir-data: only the bare pod is refused.
    const kube2 = new FakeKube();
    kube2.pods = [pod('scratch', { emptyDir: true })];
    const ok = await drainNode(kube2.port(), 'cp-1', {
      timeoutMs: 60_000,
      pollMs: 1000,
      clock,
      deleteEmptyDirData: true,
    });
    assert.deepEqual(ok, { ok: true, refused: [], left: [] });
    assert.deepEqual(kube2.calls, ['cordon cp-1=true', 'evict apps/scratch']);
  });

  it('cordons, evicts all but DaemonSet and mirror pods, and waits until they are gone', async () => {
    const kube = new FakeKube();
    kube.pods = [
      pod('web', { terminationPasses: 2 }),
      pod('proxy', { daemonSet: true }),
      pod('etcd-cp-1', { namespace: 'kube-system', mirror: true }),
      pod('elsewhere', { node: 'cp-2' }),
    ];
    const clock = fakeClock();
    const result = await drainNode(kube.port(), 'cp-1', { timeoutMs: 60_000, pollMs: 1000, clock });
    assert.deepEqual(result.ok && result.refused, []);
    assert.deepEqual(
      result.ok && result.left?.map((p) => p.name),
      ['proxy', 'etcd-cp-1'],
      'what it leaves on the Node, as its last look found it (act.ts releaseDaemonPods starts from it)',
    );
    assert.deepEqual(kube.calls, ['cordon cp-1=true', 'evict apps/web']);
    assert.ok(kube.unschedulable.has('cp-1'));
    assert.equal(clock.slept.length, 3, 'listed for 2 more passes, gone on the 3rd poll');
    assert.deepEqual(clock.slept, [100, 200, 400], 'terminating pods are checked soon, then less often');
  });

  it("hands the wait its own list's resourceVersion, so the wait does not list again", async () => {
    const kube = new FakeKube();
    kube.pods = [pod('web', { terminationPasses: 50 })];
    const port = kube.port();
    let lists = 0;
    port.podsOnNodeAt = async (node) => {
      lists++;
      return { pods: await port.podsOnNode(node), resourceVersion: '42' };
    };
    const from: (string | undefined)[] = [];
    port.awaitPodsGone = async (_node, _uids, options) => {
      from.push(options.from?.resourceVersion);
      return [];
    };
    const result = await drainNode(port, 'cp-1', { timeoutMs: 60_000, pollMs: 1000, clock: fakeClock() });
    assert.equal(result.ok, true);
    assert.equal(lists, 1);
    assert.deepEqual(from, ['42']);
  });

  it('sends no cordon of its own for a Node the plan saw cordoned (the retiring mark cordoned it)', async () => {
    const kube = new FakeKube();
    kube.pods = [pod('web')];
    const result = await drainNode(kube.port(), 'cp-1', {
      timeoutMs: 60_000,
      pollMs: 1000,
      clock: fakeClock(),
      cordoned: true,
    });
    assert.equal(result.ok, true);
    assert.deepEqual(kube.calls, ['evict apps/web']);
  });

  it('waits for terminating pods on the watch (awaitPodsGone), not a list per pause; polls when it cannot watch', async () => {
    const kube = new FakeKube();
    kube.pods = [pod('web', { terminationPasses: 50 })];
    const port = kube.port();
    let lists = 0;
    const list = port.podsOnNode.bind(port);
    port.podsOnNode = (node) => {
      lists++;
      return list(node);
    };
    const waits: string[][] = [];
    // The watch's answers: web gone but a pod that landed before the cordon; then that one gone too.
    const answers = [[{ ...toView(pod('late')) }], []];
    port.awaitPodsGone = async (_node, uids) => {
      waits.push([...uids]);
      if (waits.length === 1) kube.pods.push(pod('late', { terminationPasses: 50 }));
      return answers.shift();
    };
    const clock = fakeClock();
    const result = await drainNode(port, 'cp-1', { timeoutMs: 60_000, pollMs: 1000, clock });
    assert.deepEqual(result, { ok: true, refused: [], left: [] });
    assert.deepEqual(kube.calls, ['cordon cp-1=true', 'evict apps/web', 'evict apps/late']);
    assert.deepEqual(waits, [['uid-web'], ['uid-late']]);
    assert.equal(lists, 1, 'one list; the waits answered the rest');
    assert.deepEqual(clock.slept, [], 'no pause: the watch reports the moment they are gone');
    // A wait that could not watch (undefined): the drain polls as before.
    const kube2 = new FakeKube();
    kube2.pods = [pod('web', { terminationPasses: 1 })];
    const port2 = kube2.port();
    port2.awaitPodsGone = async () => undefined;
    const clock2 = fakeClock();
    assert.deepEqual(await drainNode(port2, 'cp-1', { timeoutMs: 60_000, pollMs: 1000, clock: clock2 }), {
      ok: true,
      refused: [],
      left: [],
    });
    assert.deepEqual(clock2.slept, [100, 200], 'polled as without the watch');
  });

  it('retries an eviction the API server refused with 429 until a budget allows it', async () => {
    const kube = new FakeKube();
    kube.pods = [pod('db', { evictions: ['blocked', 'blocked', 'evicted'] })];
    const clock = fakeClock();
    const result = await drainNode(kube.port(), 'cp-1', { timeoutMs: 60_000, pollMs: 5000, clock });
    assert.deepEqual(result, { ok: true, refused: [], left: [] });
    assert.deepEqual(
      kube.calls.filter((c) => c.startsWith('evict')),
      ['evict apps/db', 'evict apps/db', 'evict apps/db'],
    );
    // Refused evictions are retried at the full pause; the evicted pod's termination is checked sooner.
    assert.deepEqual(clock.slept, [5000, 5000, 400]);
  });

  it('on timeout names the budgets selecting each refused pod and the pods still terminating', async () => {
    const kube = new FakeKube();
    kube.pods = [
      pod('db', { evictions: ['blocked'] }),
      pod('slow', { terminationPasses: 1000 }),
      pod('free', { evictions: ['blocked'], labels: {} }),
    ];
    kube.budgets = [
      {
        namespace: 'apps',
        name: 'db-pdb',
        disruptionsAllowed: 0,
        currentHealthy: 1,
        desiredHealthy: 1,
        matchLabels: { app: 'db' },
      },
      {
        namespace: 'other',
        name: 'db-pdb',
        disruptionsAllowed: 0,
        currentHealthy: 1,
        desiredHealthy: 1,
        matchLabels: { app: 'db' },
      },
    ];
    const result = await drainNode(kube.port(), 'cp-1', { timeoutMs: 20_000, pollMs: 5000, clock: fakeClock() });
    assert.deepEqual(result, {
      ok: false,
      blocking: [
        { pod: 'apps/db', pdbs: ['apps/db-pdb'], waitingFor: 'eviction' },
        { pod: 'apps/free', pdbs: [], waitingFor: 'eviction' },
        { pod: 'apps/slow', pdbs: [], waitingFor: 'termination' },
      ],
    });
  });

  it('evicts a pod that appears on the node after the first pass', async () => {
    const kube = new FakeKube();
    kube.pods = [pod('first', { terminationPasses: 1 })];
    const port = kube.port();
    const clock = fakeClock();
    const sleep = clock.sleep;
    clock.sleep = async (ms, signal) => {
      if (!kube.pods.some((p) => p.name === 'late')) kube.pods.push(pod('late'));
      return sleep(ms, signal);
    };
    assert.deepEqual(await drainNode(port, 'cp-1', { timeoutMs: 60_000, pollMs: 1000, clock }), {
      ok: true,
      refused: [],
      left: [],
    });
    assert.ok(kube.calls.includes('evict apps/late'));
  });

  it('stops with the abort reason when the run is interrupted', async () => {
    const kube = new FakeKube();
    kube.pods = [pod('db', { evictions: ['blocked'] })];
    const controller = new AbortController();
    const clock = fakeClock();
    const sleep = clock.sleep;
    clock.sleep = async (ms, signal) => {
      controller.abort(new Error('interrupted'));
      return sleep(ms, signal);
    };
    await assert.rejects(
      drainNode(kube.port(), 'cp-1', { timeoutMs: 60_000, pollMs: 1000, clock, signal: controller.signal }),
      /interrupted/,
    );
  });
});
