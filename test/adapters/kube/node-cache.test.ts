// The run's watched Nodes and static pods (node-cache.ts) through the real KubePort (openKube) against a small API
// server of our own: LIST and WATCH of Nodes and kube-system pods, PATCH of a Node, with resourceVersions.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { KubeConfig, type V1Node } from '@kubernetes/client-node';
import { openKube } from '../../../src/adapters/kube/client.ts';
import {
  Follower,
  SETTLE_MS,
  SILENCE_MS,
  WRITE_RESUME_MS,
  WRITE_SEEN_MS,
} from '../../../src/adapters/kube/node-cache.ts';
import { FRESH_BY_NAME, hostnameSelectors } from '../../../src/adapters/kube/nodes.ts';
import { watchOne } from '../../../src/adapters/kube/watch-one.ts';
import type { KubePort } from '../../../src/ports/kube.ts';

type Obj = {
  metadata: { name: string; namespace?: string; resourceVersion: string; labels?: Record<string, string> };
} & Record<string, unknown>;

class FakeApiServer {
  rv = 10;
  nodes = new Map<string, Obj>();
  pods = new Map<string, Obj>();
  requests: string[] = [];
  /** Open watch streams, by kind. */
  private watchers: { kind: 'nodes' | 'pods'; res: ServerResponse; stuck?: boolean }[] = [];
  /** When set, the event of a write is held back (a watch that lags behind the write's response). */
  holdEvents = false;
  /** When set, only the events of this object are held back (a server slow to deliver one change, not all). */
  holdEventsOf?: string;
  /** The next watch requests are answered after these delays (ms), in order: a slow server's answer. */
  watchAnswerDelays: number[] = [];
  /** The next N watch requests are answered 500 (a server in trouble). */
  failWatches = 0;
  /** The next N Node lists are answered only when `releaseList()` is called (a slow LIST), first come first out. */
  holdNodeLists = 0;
  /** After a Node patch is stored and sent: a change someone else makes right behind it, sent before the answer. */
  afterPatch?: (patched: Obj) => void;
  private heldLists: (() => void)[] = [];
  private held: (() => void)[] = [];
  server: Server;

  constructor() {
    this.server = createServer((req, res) => this.handle(req, res));
  }

  async listen(): Promise<string> {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  get openWatches(): number {
    return this.watchers.length;
  }

  close() {
    for (const w of this.watchers) w.res.destroy();
    this.server.closeAllConnections();
    this.server.close();
  }

  node(name: string, ready: boolean, labels: Record<string, string> = {}): Obj {
    return {
      metadata: { name, labels, resourceVersion: String(++this.rv), creationTimestamp: '2026-01-01T00:00:00Z' },
      spec: { providerID: `aws:///z/i-${name}` },
      status: {
        conditions: [{ type: 'Ready', status: ready ? 'True' : 'False' }],
        nodeInfo: { kubeletVersion: 'v1.36.0' },
      },
    } as Obj;
  }

  /** A change made by someone else (a kubelet): stored and sent to the watchers. */
  put(kind: 'nodes' | 'pods', obj: Obj, type = 'MODIFIED') {
    (kind === 'nodes' ? this.nodes : this.pods).set(obj.metadata.name, obj);
    this.send(kind, type, obj);
  }

  private send(kind: 'nodes' | 'pods', type: string, obj: Obj) {
    const go = () => {
      for (const w of this.watchers.filter((x) => x.kind === kind && !x.stuck))
        w.res.write(`${JSON.stringify({ type, object: obj })}\n`);
    };
    if (this.holdEvents || this.holdEventsOf === obj.metadata.name) this.held.push(go);
    else go();
  }

  /** Answers the oldest held Node list; true when there was one. */
  releaseList(): boolean {
    const go = this.heldLists.shift();
    go?.();
    return go !== undefined;
  }

  get heldListCount(): number {
    return this.heldLists.length;
  }

  release() {
    this.holdEvents = false;
    this.holdEventsOf = undefined;
    for (const go of this.held.splice(0)) go();
  }

  /** The watches open now deliver nothing more, for ever (their API server lost its etcd member); new ones do. */
  stickWatches() {
    for (const w of this.watchers) w.stuck = true;
  }

  /** Ends every watch with an error status, as a server going away mid-stream would not say more. */
  breakWatches() {
    for (const w of this.watchers.splice(0)) w.res.destroy();
  }

  private handle(req: IncomingMessage, res: ServerResponse) {
    const url = new URL(req.url ?? '/', 'http://x');
    const kind = url.pathname.endsWith('/nodes') || url.pathname.includes('/nodes/') ? 'nodes' : 'pods';
    const watch = url.searchParams.get('watch') === 'true';
    // Label selectors as the API server reads them: terms joined by commas (outside parentheses), each `key`
    // (exists), `key=value` or `key in (v1,v2)`.
    const selector = url.searchParams.get('labelSelector');
    const byName = url.searchParams.get('fieldSelector')?.match(/^metadata\.name=(.+)$/)?.[1];
    const selected = (obj: Obj) =>
      (byName === undefined || obj.metadata.name === byName) &&
      (selector ?? '').split(/,(?![^(]*\))/).every((term) => {
        if (!term) return true;
        const labels = (obj.metadata as { labels?: Record<string, string> }).labels ?? {};
        const set = /^(\S+) in \((.*)\)$/.exec(term);
        if (set) return set[2]!.split(',').includes(labels[set[1]!] ?? '\0');
        const [key, value] = term.split('=');
        return value === undefined ? key! in labels : labels[key!] === value;
      });
    const field = url.searchParams.get('fieldSelector');
    this.requests.push(
      `${req.method} ${kind}${watch ? ' watch' : ''}${kind === 'nodes' && selector ? ` ${selector}` : ''}${kind === 'nodes' && field ? ` ${field}` : ''}`,
    );
    if (req.method === 'GET' && watch && this.failWatches > 0) {
      this.failWatches--;
      res.writeHead(500).end();
      return;
    }
    const answerDelay = req.method === 'GET' && watch ? this.watchAnswerDelays.shift() : undefined;
    if (answerDelay !== undefined) {
      setTimeout(() => this.answerWatch(kind, url, res), answerDelay);
      return;
    }
    if (req.method === 'GET' && watch) {
      this.answerWatch(kind, url, res);
      return;
    }
    this.handleRest(req, res, url, kind, selected);
  }

  private answerWatch(kind: 'nodes' | 'pods', url: URL, res: ServerResponse) {
    res.writeHead(200, { 'content-type': 'application/json' });
    // As the API server does: the answer's headers go out at once, before any event.
    res.flushHeaders();
    // As the API server does: a watch from a resourceVersion first sends what changed since.
    const from = Number(url.searchParams.get('resourceVersion') ?? 0);
    // A lagging server (holdEvents) holds the replay back too.
    for (const obj of (kind === 'nodes' ? this.nodes : this.pods).values()) {
      if (Number(obj.metadata.resourceVersion) <= from) continue;
      const replay = () => res.write(`${JSON.stringify({ type: 'MODIFIED', object: obj })}\n`);
      if (this.holdEvents) this.held.push(replay);
      else replay();
    }
    const w = { kind: kind as 'nodes' | 'pods', res };
    this.watchers.push(w);
    res.on('close', () => {
      this.watchers = this.watchers.filter((x) => x !== w);
    });
  }

  private handleRest(
    req: IncomingMessage,
    res: ServerResponse,
    url: URL,
    kind: 'nodes' | 'pods',
    selected: (obj: Obj) => boolean,
  ) {
    if (req.method === 'GET') {
      const answer = () => {
        const items = [...(kind === 'nodes' ? this.nodes : this.pods).values()].filter(selected);
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(
          JSON.stringify({ kind: 'List', apiVersion: 'v1', metadata: { resourceVersion: String(this.rv) }, items }),
        );
      };
      if (kind === 'nodes' && this.holdNodeLists > 0) {
        this.holdNodeLists--;
        this.heldLists.push(answer);
      } else answer();
      return;
    }
    if (req.method === 'PATCH') {
      let body = '';
      req.on('data', (d) => {
        body += String(d);
      });
      req.on('end', () => {
        const name = url.pathname.split('/').pop()!;
        const before = this.nodes.get(name)!;
        const patch = JSON.parse(body) as { spec?: Record<string, unknown> };
        const after = {
          ...before,
          metadata: { ...before.metadata, resourceVersion: String(++this.rv) },
          spec: { ...(before['spec'] as object), ...patch.spec },
        } as Obj;
        this.nodes.set(name, after);
        this.send('nodes', 'MODIFIED', after);
        const answer = () => {
          res.writeHead(200, { 'content-type': 'application/json' });
          res.end(JSON.stringify(after));
        };
        if (!this.afterPatch) return answer();
        this.afterPatch(after);
        // The answer after both events are through the stream, as when the write's answer is read late.
        setTimeout(answer, 50);
      });
      return;
    }
    res.writeHead(404).end();
  }
}

const until = async (what: string, ok: () => boolean | Promise<boolean>, ms = 3000) => {
  const deadline = Date.now() + ms;
  while (!(await ok())) {
    if (Date.now() > deadline) assert.fail(`timed out waiting: ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
};

/** Both watches answered (open): a read then sends no request. */
const watching = (api: FakeApiServer, kube: { listNodes(): Promise<unknown> }) =>
  until('both watches open', async () => {
    if (api.requests.filter((r) => r.endsWith('watch')).length < 2) return false;
    const n = api.requests.length;
    await kube.listNodes();
    return api.requests.length === n;
  });

describe('kube adapter: the run watches Nodes and static pods (node-cache)', () => {
  let api: FakeApiServer;
  let kubeconfig: string;

  beforeEach(async () => {
    api = new FakeApiServer();
    const server = await api.listen();
    for (const n of ['cp-a', 'cp-b']) {
      api.nodes.set(n, api.node(n, true, { 'node-role.kubernetes.io/control-plane': '' }));
      api.pods.set(`kube-apiserver-${n}`, {
        metadata: {
          name: `kube-apiserver-${n}`,
          namespace: 'kube-system',
          resourceVersion: String(++api.rv),
          labels: { component: 'kube-apiserver', tier: 'control-plane' },
        },
        spec: { nodeName: n },
        status: { phase: 'Running', conditions: [{ type: 'Ready', status: 'True' }] },
      } as Obj);
    }
    const dir = mkdtempSync(join(tmpdir(), 'node-cache-'));
    kubeconfig = join(dir, 'config');
    writeFileSync(
      kubeconfig,
      `apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: '${server}', insecure-skip-tls-verify: true}}]
users: [{name: u, user: {token: t}}]
contexts: [{name: x, context: {cluster: c, user: u}}]
current-context: x
`,
    );
  });
  afterEach(() => {
    api.close();
    rmSync(dirname(kubeconfig), { recursive: true, force: true });
  });

  /** `body` on a KubePort whose Node cache runs (one watchChanges subscriber) and has synced; both stopped after it. */
  const withCache = async (body: (kube: KubePort) => Promise<void>) => {
    const kube = openKube({ kubeconfig, retry: { retries: 0 } });
    const stop = kube.watchChanges!(() => {});
    try {
      await watching(api, kube);
      await body(kube);
    } finally {
      stop();
      kube.close();
    }
  };

  it('answers listNodes from memory once synced, and a watched change wakes the loop', async () => {
    const kube = openKube({ kubeconfig, retry: { retries: 0 } });
    let wakes = 0;
    const stop = kube.watchChanges!(() => wakes++);
    try {
      await watching(api, kube);
      const before = api.requests.length;
      for (let i = 0; i < 5; i++) {
        const nodes = await kube.listNodes();
        assert.deepEqual(nodes.map((n) => n.name).sort(), ['cp-a', 'cp-b']);
        assert.equal(nodes.find((n) => n.name === 'cp-a')!.staticPods['kube-apiserver']?.ready, true);
      }
      assert.equal(api.requests.length, before, `no request for five reads: ${api.requests.slice(before).join(', ')}`);
      const woken = wakes;
      api.put('nodes', api.node('cp-c', false, { 'node-role.kubernetes.io/control-plane': '' }), 'ADDED');
      await until('the new Node is seen', async () => (await kube.listNodes()).some((n) => n.name === 'cp-c'));
      assert.ok(wakes > woken, 'the new Node woke the loop');
      assert.equal(api.requests.length, before);
    } finally {
      stop();
      kube.close();
    }
  });

  it('a control-plane fresh read while the cache is current lists only those Nodes, the others from memory', async () => {
    // Issue 15: the reads made afresh (2-3 per swap) each listed every Node: at 5,000 workers, ~10 pages of ~4 MB.
    api.nodes.set('worker-1', api.node('worker-1', true, {}));
    const kube = openKube({ kubeconfig, retry: { retries: 0 } });
    const stop = kube.watchChanges!(() => {});
    try {
      await watching(api, kube);
      const before = api.requests.length;
      const fresh = await kube.listNodes({ fresh: 'control-plane' });
      assert.deepEqual(
        fresh.map((n) => n.name),
        ['cp-a', 'cp-b', 'worker-1'],
      );
      assert.equal(fresh.find((n) => n.name === 'cp-a')!.staticPods['kube-apiserver']?.ready, true);
      assert.deepEqual(api.requests.slice(before).sort(), [
        'GET nodes node-role.kubernetes.io/control-plane',
        'GET pods',
      ]);
      // `fresh: true` (the worker loop's decisions rest on the workers too): every Node from the API.
      const all = api.requests.length;
      assert.deepEqual(
        (await kube.listNodes({ fresh: true })).map((x) => x.name),
        ['cp-a', 'cp-b', 'worker-1'],
      );
      assert.deepEqual(api.requests.slice(all).sort(), ['GET nodes', 'GET pods']);
      // Read afresh, not from memory: a change the watch has not delivered is in the answer.
      api.holdEvents = true;
      api.nodes.set('cp-b', api.node('cp-b', false, { 'node-role.kubernetes.io/control-plane': '' }));
      assert.equal((await kube.listNodes({ fresh: 'control-plane' })).find((n) => n.name === 'cp-b')!.ready, false);
      // A control-plane Node the cache holds but the fresh read no longer returns: every Node is read, as before.
      api.nodes.delete('cp-a');
      const n = api.requests.length;
      assert.deepEqual(
        (await kube.listNodes({ fresh: 'control-plane' })).map((x) => x.name),
        ['cp-b', 'worker-1'],
      );
      assert.ok(api.requests.slice(n).includes('GET nodes'), api.requests.slice(n).join(', '));
    } finally {
      api.release();
      stop();
      kube.close();
    }
  });

  describe("a fresh read of named worker Nodes (a worker pool's)", () => {
    const hostname = (name: string) => ({ 'kubernetes.io/hostname': name });
    const nodeLists = (requests: string[]) => requests.filter((r) => r.startsWith('GET nodes') && !r.endsWith('watch'));
    const FULL = 'GET nodes';

    /** The port with its watches open over cp-a, cp-b and the workers w-1, w-2, w-3 (w-3's hostname: host-3). */
    async function watched(workers: Record<string, Record<string, string>> = {}) {
      const labels: Record<string, Record<string, string>> = {
        'w-1': hostname('w-1'),
        'w-2': hostname('w-2'),
        'w-3': hostname('host-3'),
        ...workers,
      };
      for (const [name, l] of Object.entries(labels)) api.nodes.set(name, api.node(name, true, l));
      const kube = openKube({ kubeconfig, retry: { retries: 0 } });
      const stop = kube.watchChanges!(() => {});
      await watching(api, kube);
      return {
        kube,
        close: () => {
          api.release();
          stop();
          kube.close();
        },
      };
    }

    it('asks for the control-plane Nodes by label and the named workers by hostname, never for every Node', async () => {
      // Issue 15 §3: the worker loop's fresh reads (2-3 per swap) each listed every Node, at 5,000 Nodes ~10 pages.
      const { kube, close } = await watched();
      try {
        // Changes the watch has not delivered: a named worker's is in the answer, an unnamed one's is not (memory).
        api.holdEvents = true;
        api.put('nodes', api.node('w-1', false, hostname('w-1')));
        api.put('nodes', api.node('w-2', false, hostname('w-2')));
        api.put('nodes', api.node('w-3', false, hostname('host-3')));
        const before = api.requests.length;
        const fresh = await kube.listNodes({ fresh: { workers: ['w-1', 'w-3'] } });
        assert.deepEqual(
          fresh.map((n) => [n.name, n.ready]),
          [
            ['cp-a', true],
            ['cp-b', true],
            ['w-1', false],
            ['w-2', true],
            ['w-3', false],
          ],
        );
        assert.equal(fresh.find((n) => n.name === 'cp-a')!.staticPods['kube-apiserver']?.ready, true);
        assert.deepEqual(nodeLists(api.requests.slice(before)).sort(), [
          'GET nodes kubernetes.io/hostname in (host-3,w-1)',
          'GET nodes node-role.kubernetes.io/control-plane',
        ]);
      } finally {
        close();
      }
    });

    it('reads a named worker the cache does not hold by its name: there it is in the answer, gone it is not', async () => {
      // A watch gone silent never delivered w-4 (registered meanwhile): a read by hostname from the cache's labels
      // cannot ask for it, and the pool would count one machine fewer (maxUnavailable undercounted).
      const { kube, close } = await watched();
      try {
        api.holdEvents = true;
        api.put('nodes', api.node('w-4', false, hostname('w-4')), 'ADDED');
        const before = api.requests.length;
        const fresh = await kube.listNodes({ fresh: { workers: ['w-1', 'w-4', 'w-gone'] } });
        assert.equal(fresh.find((n) => n.name === 'w-4')?.ready, false, 'the Node the watch missed, as the API has it');
        assert.ok(!fresh.some((n) => n.name === 'w-gone'), 'a Node the API does not have is gone');
        const reads = nodeLists(api.requests.slice(before));
        assert.deepEqual(reads.sort(), [
          'GET nodes kubernetes.io/hostname in (w-1)',
          'GET nodes metadata.name=w-4',
          'GET nodes metadata.name=w-gone',
          'GET nodes node-role.kubernetes.io/control-plane',
        ]);
      } finally {
        close();
      }
    });

    const doubts: {
      name: string;
      workers?: Record<string, Record<string, string>>;
      change: () => void;
      /** The Node lists sent, in order. */
      lists: string[];
    }[] = [
      {
        name: 'a named Node the cache holds is gone from the API',
        change: () => api.nodes.delete('w-1'),
        lists: [
          'GET nodes node-role.kubernetes.io/control-plane',
          'GET nodes kubernetes.io/hostname in (w-1,w-2)',
          FULL,
        ],
      },
      {
        name: "a named Node's hostname label changed (the selector misses it)",
        change: () => api.nodes.set('w-1', api.node('w-1', true, hostname('w-1b'))),
        lists: [
          'GET nodes node-role.kubernetes.io/control-plane',
          'GET nodes kubernetes.io/hostname in (w-1,w-2)',
          FULL,
        ],
      },
      // No selector can name it: every Node at once.
      { name: 'a named Node carries no hostname label', workers: { 'w-1': {} }, change: () => {}, lists: [FULL] },
    ];
    for (const doubt of doubts) {
      it(`lists every Node when ${doubt.name}`, async () => {
        const { kube, close } = await watched(doubt.workers);
        try {
          api.holdEvents = true;
          doubt.change();
          const before = api.requests.length;
          const fresh = await kube.listNodes({ fresh: { workers: ['w-1', 'w-2'] } });
          assert.deepEqual(nodeLists(api.requests.slice(before)).sort(), doubt.lists.toSorted());
          assert.deepEqual(
            fresh.map((n) => n.name),
            [...api.nodes.keys()].sort(),
          );
        } finally {
          close();
        }
      });
    }

    it('lists every Node rather than more selectors than FRESH_BY_NAME.maxLists', async () => {
      // Hostnames of 60 characters: about 65 to a selector.
      const many: Record<string, Record<string, string>> = {};
      const names = Array.from(
        { length: 65 * FRESH_BY_NAME.maxLists + 1 },
        (_, i) => `w-${String(i).padStart(58, '0')}`,
      );
      for (const name of names) many[name] = hostname(name);
      assert.ok(hostnameSelectors(names).length > FRESH_BY_NAME.maxLists);
      const { kube, close } = await watched(many);
      try {
        const before = api.requests.length;
        await kube.listNodes({ fresh: { workers: names } });
        assert.deepEqual(nodeLists(api.requests.slice(before)), [FULL]);
        const fewer = names.slice(0, 65 * 2);
        const n = api.requests.length;
        await kube.listNodes({ fresh: { workers: fewer } });
        const lists = nodeLists(api.requests.slice(n));
        assert.ok(!lists.includes(FULL), lists.join(', '));
        assert.equal(lists.length, 1 + hostnameSelectors(fewer).length);
      } finally {
        close();
      }
    });
  });

  it('a control-plane fresh read just after our own Node write waits for the watch to deliver it, not a list of every Node', async () => {
    // Issue 15 §3: the passes that read afresh follow our own Node writes (the old Node deleted at a swap's end, the
    // retiring Node cordoned): with the write still on its way through the stream, each listed every Node.
    api.nodes.set('worker-1', api.node('worker-1', true, {}));
    const kube = openKube({ kubeconfig, retry: { retries: 0 } });
    const stop = kube.watchChanges!(() => {});
    try {
      await watching(api, kube);
      api.holdEvents = true;
      await kube.setUnschedulable('cp-a', true);
      const before = api.requests.length;
      // The stream delivers the cordon a moment after its response, well within SETTLE_MS.
      const server = api; // this test's: the timer may fire after the next test's beforeEach replaced `api`
      setTimeout(() => server.release(), SETTLE_MS / 5);
      const fresh = await kube.listNodes({ fresh: 'control-plane' });
      assert.deepEqual(
        fresh.map((n) => n.name),
        ['cp-a', 'cp-b', 'worker-1'],
      );
      assert.equal(fresh.find((n) => n.name === 'cp-a')!.unschedulable, true, 'our cordon is never unseen');
      // (A loaded machine may take past WRITE_RESUME_MS to release the event: the watch then resumes, one WATCH.)
      assert.deepEqual(
        api.requests
          .slice(before)
          .filter((r) => !r.endsWith('watch'))
          .sort(),
        ['GET nodes node-role.kubernetes.io/control-plane', 'GET pods'],
      );
    } finally {
      api.release();
      stop();
      kube.close();
    }
  });

  it('a fresh read lists every Node while a control-plane Node carries only the legacy label', async () => {
    api.nodes.set('cp-old', api.node('cp-old', true, { 'node-role.kubernetes.io/master': '' }));
    await withCache(async (kube) => {
      const before = api.requests.length;
      const fresh = await kube.listNodes({ fresh: 'control-plane' });
      assert.ok(
        fresh.find((n) => n.name === 'cp-old')?.controlPlane,
        'the legacy-labelled Node is a control-plane one',
      );
      assert.deepEqual(api.requests.slice(before).sort(), ['GET nodes', 'GET pods']);
    });
  });

  it('reads the API after our own write until the watch delivered it, then memory again', async () => {
    await withCache(async (kube) => {
      api.holdEvents = true;
      await kube.setUnschedulable('cp-a', true);
      const listsBefore = api.requests.filter((r) => r === 'GET nodes').length;
      const seen = await kube.listNodes();
      assert.equal(seen.find((n) => n.name === 'cp-a')!.unschedulable, true, 'our cordon is never unseen');
      assert.equal(api.requests.filter((r) => r === 'GET nodes').length, listsBefore + 1, 'read from the API');
      api.release();
      await until('the watch delivered the cordon', async () => {
        const n = api.requests.length;
        const nodes = await kube.listNodes();
        return api.requests.length === n && nodes.find((x) => x.name === 'cp-a')!.unschedulable;
      });
    });
  });

  it('waits a moment for the stream to deliver our own write instead of listing every Node (SETTLE_MS)', async () => {
    await withCache(async (kube) => {
      api.holdEvents = true;
      await kube.setUnschedulable('cp-a', true);
      const before = api.requests.length;
      // The event is on its way (held here for 50 ms): the read waits for it rather than asking the API.
      setTimeout(() => api.release(), 50);
      const started = performance.now();
      const seen = await kube.listNodes();
      assert.equal(seen.find((n) => n.name === 'cp-a')!.unschedulable, true, 'our cordon is never unseen');
      assert.deepEqual(
        api.requests.slice(before).filter((r) => !r.endsWith('watch')),
        [],
        'no list: the stream delivered the write (a loaded machine may add one WATCH: WRITE_RESUME_MS)',
      );
      assert.ok(performance.now() - started < SETTLE_MS + 200);
    });
  });

  it('our write not delivered by a stuck watch: it resumes on a new connection, one WATCH and no list (WRITE_RESUME_MS)', async () => {
    await withCache(async (kube) => {
      // The open watch delivers nothing more (its API server lost its etcd member); a new one replays what changed.
      // (Our write some milliseconds after the watch last brought anything: the cache compares clock readings.)
      await new Promise((r) => setTimeout(r, 20));
      api.stickWatches();
      await kube.setUnschedulable('cp-a', true);
      const before = api.requests.length;
      const seen = await kube.listNodes();
      assert.equal(seen.find((n) => n.name === 'cp-a')!.unschedulable, true, 'our cordon is never unseen');
      assert.deepEqual(
        api.requests.slice(before).filter((r) => r.startsWith('GET nodes')),
        ['GET nodes watch'],
        'the Node watch resumed once, no list of every Node',
      );
    });
  });

  it('a watch slow to deliver our write but bringing other changes is lagging, not stuck: not resumed', async () => {
    const kube = openKube({ kubeconfig, retry: { retries: 0 } });
    let wakes = 0;
    const stop = kube.watchChanges!(() => wakes++);
    try {
      await watching(api, kube);
      api.holdEventsOf = 'cp-a';
      await kube.setUnschedulable('cp-a', true);
      const before = api.requests.length;
      // Another change right behind our write comes through the same watch (seen before the read): it is alive.
      // (Some milliseconds later: what the cache compares are millisecond clock readings.)
      await new Promise((r) => setTimeout(r, 20));
      const woken = wakes;
      api.put('nodes', api.node('cp-b', false, { 'node-role.kubernetes.io/control-plane': '' }));
      await until('the other change seen', () => wakes > woken);
      // Our write is older than WRITE_RESUME_MS when the read looks, and comes a moment after.
      await new Promise((r) => setTimeout(r, WRITE_RESUME_MS + 20));
      setTimeout(() => api.release(), 50);
      const seen = await kube.listNodes();
      assert.equal(seen.find((n) => n.name === 'cp-a')!.unschedulable, true, 'our cordon is never unseen');
      assert.deepEqual(api.requests.slice(before), [], 'no new watch, no list: the stream delivered our write late');
    } finally {
      stop();
      kube.close();
    }
  });

  it('our write delivered before its answer, and a newer version right behind it: memory, no list, no restart', async () => {
    await withCache(async (kube) => {
      // The node lifecycle controller taints a Node as soon as it is cordoned.
      api.afterPatch = (patched) =>
        api.put('nodes', { ...patched, metadata: { ...patched.metadata, resourceVersion: String(++api.rv) } });
      await kube.setUnschedulable('cp-a', true);
      const before = api.requests.length;
      const seen = await kube.listNodes();
      assert.equal(seen.find((n) => n.name === 'cp-a')!.unschedulable, true);
      assert.deepEqual(api.requests.slice(before), [], 'the stream had delivered the write: no request');
    });
  });

  it("a read during the cache's first LIST waits for it instead of listing every Node beside it", async () => {
    api.holdNodeLists = 1;
    const kube = openKube({ kubeconfig, retry: { retries: 0 } });
    const stop = kube.watchChanges!(() => undefined);
    try {
      await until("the cache's Node list is pending", () => api.heldListCount === 1);
      // Longer than SETTLE_MS, as a LIST at 5,000 Nodes takes: the wait for its first WATCH counts from its end.
      setTimeout(() => api.releaseList(), SETTLE_MS + 150);
      const [plain, fresh] = await Promise.all([kube.listNodes(), kube.listNodes({ fresh: 'control-plane' })]);
      assert.deepEqual(plain.map((n) => n.name).sort(), ['cp-a', 'cp-b']);
      assert.deepEqual(fresh.map((n) => n.name).sort(), ['cp-a', 'cp-b']);
      assert.deepEqual(
        api.requests.filter((r) => r.startsWith('GET nodes') && !r.includes('watch')),
        ['GET nodes', 'GET nodes node-role.kubernetes.io/control-plane'],
        "the cache's LIST, and the control-plane Nodes by label for the fresh read: no list of every Node beside them",
      );
    } finally {
      stop();
      kube.close();
    }
  });

  it('one cache for every subscriber: a second watchChanges lists nothing, and the cache lives until the last stops', async () => {
    const kube = openKube({ kubeconfig, retry: { retries: 0 } });
    let runWakes = 0;
    let loopWakes = 0;
    const stopRun = kube.watchChanges!(() => runWakes++);
    try {
      await watching(api, kube);
      const stopLoop = kube.watchChanges!(() => loopWakes++);
      const before = api.requests.length;
      api.put('nodes', api.node('cp-a', false, { 'node-role.kubernetes.io/control-plane': '' }));
      await until('both subscribers woken', () => runWakes > 0 && loopWakes > 0);
      stopLoop();
      const nodes = await kube.listNodes();
      assert.equal(nodes.find((n) => n.name === 'cp-a')!.ready, false, 'the change, from memory');
      assert.deepEqual(api.requests.slice(before), [], 'no LIST or WATCH for the second subscriber, no read after');
      assert.ok(api.openWatches >= 2, 'still watching for the run');
    } finally {
      stopRun();
    }
    await until('the last stop closes the watches', () => api.openWatches === 0);
    kube.close();
  });

  it('a restart during a slow list: the replaced list never marks the new (empty) cache current', async () => {
    api.holdNodeLists = 2;
    const kube = openKube({ kubeconfig, retry: { retries: 0 } });
    const stop = kube.watchChanges!(() => undefined);
    try {
      await until('the first Node list is pending', () => api.heldListCount === 1);
      kube.reconnect?.();
      await until('the restarted cache lists again', () => api.heldListCount === 2);
      assert.ok(api.releaseList(), 'the first (replaced) list is answered');
      await new Promise((r) => setTimeout(r, 50));
      // The read waits for the list under way (LIST_WAIT_MS), answered a moment later.
      setTimeout(() => api.releaseList(), 50);
      const nodes = await kube.listNodes();
      assert.deepEqual(
        nodes.map((n) => n.name).sort(),
        ['cp-a', 'cp-b'],
        'the Nodes, not the empty store of the list still pending',
      );
    } finally {
      stop();
      kube.close();
    }
  });

  it('falls back to the API while a broken watch restarts, and follows again after', async () => {
    const kube = openKube({ kubeconfig, retry: { retries: 0 } });
    const stop = kube.watchChanges!(() => {});
    try {
      await until('both watches started', () => api.requests.filter((r) => r.endsWith('watch')).length === 2);
      api.failWatches = 2;
      api.breakWatches();
      api.nodes.set('cp-b', api.node('cp-b', false, { 'node-role.kubernetes.io/control-plane': '' }));
      // The change happened while nobody watched: whichever way listNodes answers, it must show it.
      await until('the change made while the watch was down is seen', async () =>
        (await kube.listNodes()).some((n) => n.name === 'cp-b' && !n.ready),
      );
      const lists = api.requests.filter((r) => r === 'GET nodes').length;
      assert.ok(lists >= 2, 'listed from the API while the watch was down');
      await until('watching again', () => api.requests.filter((r) => r === 'GET nodes watch').length >= 3, 5000);
      api.put('nodes', api.node('cp-b', true, { 'node-role.kubernetes.io/control-plane': '' }));
      await until('followed again', async () => (await kube.listNodes()).some((n) => n.name === 'cp-b' && n.ready));
    } finally {
      stop();
      kube.close();
    }
  });
  it('reconnect resumes both watches from their resourceVersion: no LIST, and a change made meanwhile is seen', async () => {
    await withCache(async (kube) => {
      api.requests = [];
      api.holdEvents = true;
      kube.reconnect?.();
      api.put('nodes', api.node('cp-b', false, { 'node-role.kubernetes.io/control-plane': '' }));
      await until('both watched again', () => api.requests.filter((r) => r.endsWith('watch')).length === 2);
      assert.deepEqual(api.requests.sort(), ['GET nodes watch', 'GET pods watch'], 'no LIST, one WATCH each');
      api.release();
      await until('the change made across the reconnect is seen', async () =>
        (await kube.listNodes()).some((n) => n.name === 'cp-b' && !n.ready),
      );
      assert.equal(api.requests.filter((r) => r.endsWith('watch')).length, 2, 'one new watch each');
    });
  });

  it('a watch whose connection drops resumes from its resourceVersion: no LIST, and a change made meanwhile is seen', async () => {
    // Issue 15 §3: the load balancer cuts the connections a deregistered API server kept, and the old VM's termination
    // ends its own. Taken for a failure, each drop cost a pause in which every read listed every Node, then a LIST.
    await withCache(async (kube) => {
      // Open longer than RECONNECT_DELAY_MAX_MS (1 s): a drop, not a server that drops every watch at once.
      await new Promise((r) => setTimeout(r, 1_100));
      api.requests = [];
      api.nodes.set('cp-b', api.node('cp-b', false, { 'node-role.kubernetes.io/control-plane': '' }));
      api.breakWatches();
      await until('both watched again', () => api.requests.filter((r) => r.endsWith('watch')).length === 2);
      await until('the change made while the connection was down is seen', async () =>
        (await kube.listNodes()).some((n) => n.name === 'cp-b' && !n.ready),
      );
      assert.deepEqual(api.requests.sort(), ['GET nodes watch', 'GET pods watch'], 'no LIST, one WATCH each');
      // Dropped again at once (a crash-looping server): the restart's pause and LIST, not a spin of re-watches.
      api.requests = [];
      api.breakWatches();
      await until('listed afresh', () => api.requests.includes('GET nodes'), 5000);
    });
  });

  it('watchOne: a reconnect while a restart is pending still watches again (two reconnects in a row)', async () => {
    const kc = new KubeConfig();
    kc.loadFromFile(kubeconfig);
    let connected = false;
    const watch = watchOne(kc, '/api/v1/nodes', 'cp-a', {
      onObject: () => undefined,
      onConnection: (c) => {
        connected = c;
      },
    });
    try {
      await until('connected', () => connected);
      api.breakWatches(); // ended: its restart is pending
      await until('disconnected', () => !connected);
      watch.restart();
      watch.restart();
      await until('watching again', () => connected, 5000);
    } finally {
      watch.stop();
    }
  });

  it('leaves no watch open after stop, also when stopped right after a reconnect, or on close', async () => {
    const kube = openKube({ kubeconfig, retry: { retries: 0 } });
    const stop = kube.watchChanges!(() => {});
    await watching(api, kube);
    kube.reconnect?.();
    stop();
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(api.openWatches, 0, 'no watch left open after stop');
    kube.watchChanges!(() => {});
    const kc = new KubeConfig();
    kc.loadFromFile(kubeconfig);
    kube.watchLease!('kube-system', 'kubeswap-lock', { onLease: () => undefined, onConnection: () => undefined });
    await until('watching', () => api.openWatches >= 2);
    kube.close();
    await until('all closed', () => api.openWatches === 0);
  });

  it('two reconnects in one tick, then stop: no watch left open (one was orphaned and kept the process alive for minutes)', async () => {
    const kube = openKube({ kubeconfig, retry: { retries: 0 } });
    const stop = kube.watchChanges!(() => {});
    await watching(api, kube);
    // A deregistration's reconnect and a lost connection's at once: the second resumes the watch the first began,
    // whose answer comes after the one that replaced it.
    api.watchAnswerDelays = [150, 150];
    kube.reconnect?.();
    kube.reconnect?.();
    await until('watching again', () => api.openWatches >= 2);
    await new Promise((r) => setTimeout(r, 200));
    stop();
    await until('no watch left open after stop', () => api.openWatches === 0);
    kube.close();
  });

  it("awaitPodsGone follows the node's pods with one LIST and one WATCH until the evicted ones are gone", async () => {
    const web = {
      metadata: { name: 'web', namespace: 'apps', uid: 'u-web', resourceVersion: String(++api.rv) },
      spec: { nodeName: 'cp-a' },
      status: { phase: 'Running' },
    } as unknown as Obj;
    api.pods.set('web', web);
    const kube = openKube({ kubeconfig, retry: { retries: 0 } });
    try {
      // Not gone within its time: the pods as they are then, web still among them.
      const late = await kube.awaitPodsGone!('cp-a', ['u-web'], { timeoutMs: 200 });
      assert.ok(late?.some((p) => p.uid === 'u-web'));
      api.requests = [];
      const waiting = kube.awaitPodsGone!('cp-a', ['u-web'], { timeoutMs: 5000 });
      await until('watching the pods', () => api.requests.includes('GET pods watch'));
      const terminating = { ...web, metadata: { ...web.metadata, resourceVersion: String(++api.rv) } } as Obj;
      api.put('pods', terminating); // still there, terminating
      api.put(
        'pods',
        { ...terminating, metadata: { ...terminating.metadata, resourceVersion: String(++api.rv) } },
        'DELETED',
      );
      api.pods.delete('web');
      const left = await waiting;
      assert.ok(left && !left.some((p) => p.uid === 'u-web'), 'answered once web was deleted');
      assert.deepEqual(api.requests, ['GET pods', 'GET pods watch']);
    } finally {
      kube.close();
    }
  });
});

describe('node-cache: a watch that went silent is not trusted', () => {
  /** A watch client whose requests the test answers and ends. */
  class FakeWatch {
    opened: { cb: (phase: string, obj: unknown) => void; done: (err: unknown) => void }[] = [];
    async watch(
      _path: string,
      _params: unknown,
      cb: (phase: string, obj: unknown) => void,
      done: (err: unknown) => void,
    ) {
      this.opened.push({ cb, done });
      return new AbortController();
    }
  }

  it('trusts an open watch while it brings bookmarks or events, not once silent, and not between two watches', async () => {
    let now = 1_000_000;
    const fake = new FakeWatch();
    const follower = new Follower<V1Node>(
      undefined as never,
      '/api/v1/nodes',
      async () => ({ items: [api.node('cp-a', true)], metadata: { resourceVersion: '5' } }),
      () => 'sig',
      () => undefined,
      undefined,
      () => fake as never,
      () => now,
    );
    const api = new FakeApiServer();
    follower.start();
    await until('the watch is open', () => follower.trusted());
    now += 60_000;
    assert.equal(follower.trusted(), true, 'a minute without a change: within the bookmark interval');
    // The API server's periodic bookmark: the connection is alive, whatever the watch's age.
    fake.opened[0]!.cb('BOOKMARK', { metadata: { resourceVersion: '6' } });
    now += SILENCE_MS - 1_000;
    assert.equal(follower.trusted(), true, 'heard within SILENCE_MS');
    now += 2_000;
    assert.equal(follower.trusted(), false, 'silent past the bookmark interval: its connection died without a word');
    // A watch ending with an error: until the next one is open, changes may be missed.
    await until('watching again', () => fake.opened.length === 1);
    fake.opened[0]!.done(new Error('connection reset'));
    assert.equal(follower.trusted(), false);
    await until('restarted and watching again', () => fake.opened.length === 2 && follower.trusted(), 5000);
    // The server's clean close (its timeout): the store is current up to it; the short gap to the next watch,
    // which resumes from its resourceVersion, is trusted, a longer one is not.
    fake.opened[1]!.done(null);
    assert.equal(follower.trusted(), true, 'just closed cleanly');
    now += 2_500;
    assert.equal(follower.trusted(), false, 'no watch open 2.5 s after the close');
    follower.stop();
    api.close();
  });

  it('an own write the stream never delivers: after WRITE_SEEN_MS the store is listed afresh and trusted again', async () => {
    let now = 1_000_000;
    let lists = 0;
    const fake = new FakeWatch();
    const api = new FakeApiServer();
    const follower = new Follower<V1Node>(
      undefined as never,
      '/api/v1/nodes',
      async () => {
        lists++;
        return { items: [api.node('cp-a', true)], metadata: { resourceVersion: String(10 * lists) } };
      },
      () => 'sig',
      () => undefined,
      undefined,
      () => fake as never,
      () => now,
    );
    follower.start();
    await until('the watch is open', () => follower.trusted());
    // Our write's version, which this stream will never bring (it moved past it unseen).
    follower.wrote('cp-a', 'never-delivered');
    assert.equal(follower.trusted(), false);
    now += WRITE_SEEN_MS + 1;
    assert.equal(follower.trusted(), false, 'stuck: the API answers');
    await until('listed afresh and trusted again', () => lists === 2 && follower.trusted(), 3000);
    follower.stop();
    api.close();
  });
});
