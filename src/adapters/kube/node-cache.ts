// The run's view of Nodes and control-plane static pods, kept in memory from watches (issue 15 §2: "observe from
// watches kept for the run"): one LIST and then a WATCH per resource instead of a full Node list and a kube-system
// pod list on every pass of the loop, so the loop's Kubernetes calls do not grow with the number of Nodes or passes.
// A change that matters (readiness, cordon, role of a Node; readiness of a static pod) also wakes the loop.
//
// The cache answers only while it can be trusted; otherwise listNodes reads the API as before:
// - before its first LIST completed, and while a watch is down after an error (restarted after a pause);
// - after one of our own writes to a Node until the watch delivered that write (read-your-writes: the patch's
//   resourceVersion, or the Node's deletion, seen in the stream). The loop therefore never plans from a view older
//   than its own last step, exactly as with a fresh LIST. A write an open watch does not deliver within
//   WRITE_RESUME_MS, with nothing else heard since, resumes the watch on a new connection (its server may no longer
//   follow etcd); one not delivered within WRITE_SEEN_MS means the watch is stuck: it is listed afresh.
// - A read while the cache's own LIST is under way waits for it (LIST_WAIT_MS) rather than list every Node beside it.
// - A watch that goes silent (a connection pinned to an API server that left the load balancer) is caught by its
//   silence: each watch asks allowWatchBookmarks, and the API server then sends a BOOKMARK roughly every minute even
//   when nothing changed (and 2 s before the watch's timeout: k8s.io/apiserver pkg/storage/cacher, cacher.go
//   defaultBookmarkFrequency, cache_watcher.go nextBookmarkTime). A watch that brought no byte for SILENCE_MS is not
//   trusted (the reads go to the API), and the client's inactivity timer ends it soon after. `restart()` is also
//   called when the engine drops kept-alive connections after deregistering a server (client.ts reconnect).
//   So each watch can stay open for minutes, as client-go's reflector keeps them (timeoutSeconds 5-10 min,
//   tools/cache/reflector.go minWatchTimeout), instead of being re-requested every 30 s: the run's watch requests no
//   longer grow with its waits (issue 15 §2). The price is that a silently dead watch is trusted for up to SILENCE_MS
//   (was 35 s); no swap starts from the cache: the pass that starts one reads the Nodes afresh (converge.ts).
// client-node's ListWatch relists after 410 Gone and resumes from the last resourceVersion after a clean close;
// after any other error it stops (notes/libraries.md §1.6), hence the restart here.
// - A watch that is not open (between a clean close and the next watch, which ListWatch may delay by up to 30 s
//   without events: capped here at 1 s) is not trusted beyond a short gap: the reads go to the API meanwhile.
import { type KubeConfig, ListWatch, type V1Node, type V1Pod, Watch } from '@kubernetes/client-node';
import type { NodeView } from '../../domain/model.ts';
import { toNodeView } from './nodes.ts';
import type { KubeApis } from './transport.ts';
import { listAllWithVersion } from './wire.ts';

/** kubeadm labels every static pod it writes `tier: control-plane` (cmd/kubeadm/app/util/staticpod/utils.go). */
export const STATIC_POD_SELECTOR = 'tier=control-plane';
/**
 * The server ends each watch after this long, drawn per watch as client-go's reflector does (minWatchTimeout 5 min,
 * times 1-2) so that many clients do not reconnect together; the next watch resumes from the last resourceVersion.
 */
const watchSeconds = () => Math.floor(300 * (1 + Math.random()));
/** The API server's bookmark interval (1 min) plus a margin: a watch silent this long is taken for dead. */
export const SILENCE_MS = 75_000;
/** No byte for this long: the client ends the connection (client-node's inactivity timer), after SILENCE_MS. */
const INACTIVITY_MS = SILENCE_MS + 5_000;
const RESTART_PAUSE_MS = 1000;
/**
 * After the server's clean close the store is current up to that moment, and the next watch resumes from its
 * resourceVersion (replaying what changed meanwhile): for this long it is still trusted, so the reconnect at the
 * server's timeout does not cost a full list. Shorter than a poll interval's worth of staleness that matters to a gate.
 */
const CLEAN_GAP_MS = 2_000;
/** ListWatch waits before re-watching after a close that brought no event (up to 30 s, doubling): capped. */
const RECONNECT_DELAY_MAX_MS = 1000;

/** The watch client (client-node's Watch, or a fake in tests). */
export type WatchClient = Pick<Watch, 'watch'>;
export const WRITE_SEEN_MS = 10_000;
/**
 * Our own write not delivered this long: the watch resumes on a new connection, once per write. Its connection may be
 * pinned to an API server that no longer follows etcd: kubeadm's apiserver reads only its own machine's member, which
 * a swap removes, and the load balancer may still have handed that server a connection opened while it learned of the
 * deregistration (the sandbox's polls moto every 200 ms). Such a watch delivers nothing more, and every read waited
 * SETTLE_MS and then listed every Node until WRITE_SEEN_MS (2 per swap at 5,000 Nodes: issue 15 §3). The new watch
 * replays from the last resourceVersion, our write included, within the read's SETTLE_MS.
 */
export const WRITE_RESUME_MS = 100;
/** How many of each object's latest resourceVersions are remembered as delivered (Follower.delivered). */
const DELIVERED_KEPT = 3;

type Signature = (obj: unknown) => string;

const nodeSignature: Signature = (obj) => {
  const n = obj as V1Node;
  const ready = n.status?.conditions?.find((c) => c.type === 'Ready')?.status;
  const labels = n.metadata?.labels ?? {};
  const cp = 'node-role.kubernetes.io/control-plane' in labels || 'node-role.kubernetes.io/master' in labels;
  return `${ready}|${n.spec?.unschedulable === true}|${cp}|${n.spec?.providerID ?? ''}|${n.status?.nodeInfo?.kubeletVersion ?? ''}`;
};

const podSignature: Signature = (obj) => {
  const p = obj as V1Pod;
  const ready = p.status?.conditions?.find((c) => c.type === 'Ready')?.status;
  return `${ready}|${p.status?.phase}|${p.spec?.nodeName ?? ''}`;
};

interface Named {
  metadata?: { name?: string; namespace?: string; resourceVersion?: string };
}

/** One resource's LIST+WATCH, restarted after errors; `trusted` says whether its objects are current. */
export class Follower<T extends Named> {
  private lw?: ListWatch<T>;
  private synced = false;
  private down = false;
  /** When the current watch request was answered; undefined while none is open. */
  private openSince?: number;
  /** When the open watch last brought a byte (its answer, an event or a bookmark). */
  private heardAt?: number;
  /** When the last watch ended cleanly (the server's timeout), while the next one is not open yet. */
  private closedAt?: number;
  private stopped = true;
  /** The next re-watch goes out without ListWatch's pause: the last watch lost its connection (see `end`). */
  private rewatchAtOnce = false;
  private restartTimer?: NodeJS.Timeout;
  /** Ends the current watch request and resumes from the last resourceVersion; undefined while none is under way. */
  private resume?: () => void;
  /**
   * Every watch request answered and not ended, closed by stop() and by the next start(). ListWatch.stop() closes only
   * the request it awaited last, and after two resumes in one tick (a deregistration's reconnect and a lost
   * connection's) that can be the older, already ended one while the newer stays open for its whole timeout (up to
   * 10 min): a finished run's process then waited for it before exiting.
   */
  private readonly answered = new Set<AbortController>();
  private readonly seen = new Map<string, string>();
  /** Names whose deletion or resourceVersion (our own write) the stream is still to deliver, with the write's time. */
  private readonly awaited = new Map<string, { rv: string | undefined; since: number; resumed?: boolean }>();
  /**
   * The last few resourceVersions the stream delivered per name. The stream may deliver our write before our write's
   * answer is read, and a newer version right behind it (the node lifecycle controller tainting a Node we cordoned):
   * the store then holds the newer one, and waiting for ours would wait WRITE_SEEN_MS (a full list per pass) for an
   * event already seen. resourceVersions are opaque (no ordering may be assumed), so seen ones are kept, not compared.
   */
  private readonly delivered = new Map<string, string[]>();

  constructor(
    private readonly kc: KubeConfig,
    private readonly path: string,
    private readonly list: () => Promise<{ items: T[]; metadata?: { resourceVersion?: string } }>,
    private readonly signature: Signature,
    private readonly onChange: () => void,
    private readonly labelSelector?: string,
    private readonly newWatch: () => WatchClient = () => {
      const watch = new Watch(this.kc);
      // The client's inactivity timer (2.x): longer than the server-side timeout, so a live watch ends cleanly first.
      (watch as unknown as { requestTimeoutMs: number }).requestTimeoutMs = INACTIVITY_MS;
      return watch;
    },
    private readonly now: () => number = Date.now,
  ) {}

  start(): void {
    this.closeAnswered();
    this.resume = undefined;
    this.stopped = false;
    this.down = false;
    this.synced = false;
    this.openSince = undefined;
    this.closedAt = undefined;
    this.awaited.clear();
    this.delivered.clear();
    const watch = this.newWatch();
    const resilient = {
      watch: (
        path: string,
        params: Record<string, unknown>,
        cb: (...args: unknown[]) => void,
        done: (err: unknown) => void,
      ) => {
        // Open from its answer to its end: only then does the stream carry every change.
        let ended = false;
        let controller: AbortController | undefined;
        /** When this watch was answered; undefined until then. */
        let answeredAt: number | undefined;
        const end = (err: unknown) => {
          if (controller) this.answered.delete(controller);
          if (ended) return;
          ended = true;
          if (this.resume === resume) this.resume = undefined;
          // A watch that was open and lost its connection (no HTTP status: its API server left the load balancer,
          // which cuts the connections it let drain, or stopped) resumes from its last resourceVersion, as after the
          // server's clean close: the new watch replays what changed meanwhile (or answers 410 Gone and ListWatch
          // lists afresh). Taken for a failure, it cost a pause with every read a list of every Node, then a LIST of
          // every Node (issue 15 §3: 2-4 per swap at its termination). Not trusted until the new watch is open. A
          // client-side timeout is ListWatch's own to resume; an HTTP error still restarts after a pause, and so does a
          // watch dropped within RECONNECT_DELAY_MAX_MS of its answer (a server that crash-loops behind the load
          // balancer: ListWatch re-watches without a pause after any event, so resuming could spin).
          const dropped =
            err !== null &&
            err !== undefined &&
            answeredAt !== undefined &&
            this.now() - answeredAt >= RECONNECT_DELAY_MAX_MS &&
            (err as { statusCode?: unknown }).statusCode === undefined &&
            (err as { name?: unknown }).name !== 'TimeoutError';
          if (this.lw === lw) {
            // A clean end of a watch that had opened: the gap to the next one is trusted briefly (CLEAN_GAP_MS).
            this.closedAt = !err && this.openSince !== undefined ? this.now() : undefined;
            this.openSince = undefined;
            if (dropped) this.rewatchAtOnce = true;
          }
          done(dropped ? null : err);
        };
        // Ends this watch on purpose and has ListWatch watch again from its last resourceVersion: the new request
        // replays every change since (or answers 410 Gone, and ListWatch lists afresh), so no LIST is needed. Not
        // trusted until the new watch is open: this one may have been the dead one.
        const resume = () => {
          if (ended || this.lw !== lw) return;
          ended = true;
          this.resume = undefined;
          this.rewatchAtOnce = true;
          this.openSince = undefined;
          this.closedAt = undefined;
          if (controller) this.answered.delete(controller);
          controller?.abort();
          done(null);
        };
        this.resume = resume;
        // Every event, bookmarks included, shows the connection alive (SILENCE_MS).
        const heard = (...args: unknown[]) => {
          if (!ended && this.lw === lw) this.heardAt = this.now();
          cb(...args);
        };
        return watch
          .watch(path, { ...params, timeoutSeconds: watchSeconds(), allowWatchBookmarks: true }, heard, end)
          .then((answered) => {
            controller = answered;
            this.answered.add(answered);
            answeredAt = this.now();
            // A flag ListWatch's pause did not consume (it pauses only after a watch that brought nothing) must not
            // skip the pause of a later, unrelated reconnect.
            this.rewatchAtOnce = false;
            // Answered after this watch was ended, or after its ListWatch was stopped or replaced (ListWatch.stop()
            // aborts only a request already answered): closed here, or it would stay open for its whole timeout
            // (minutes) and keep the process alive.
            if (ended || this.lw !== lw) {
              this.answered.delete(answered);
              answered.abort();
            } else if (this.lw === lw) {
              this.openSince = this.now();
              this.heardAt = this.openSince;
              this.closedAt = undefined;
            }
            return answered;
          })
          .catch((err: unknown) => {
            end(err);
            return new AbortController();
          });
      },
    } as unknown as Watch;
    const listed = async () => {
      const asked = this.now();
      const result = await this.list();
      // A list of a ListWatch that a restart has replaced meanwhile says nothing about the new one's (empty) store.
      if (this.lw === lw) {
        this.synced = true;
        this.down = false;
        // A list asked after our write holds it (or a later version): nothing more to wait for.
        for (const [name, write] of this.awaited) if (write.since <= asked) this.awaited.delete(name);
      }
      return result;
    };
    const lw = new ListWatch<T>(this.path, resilient, listed as never, false, this.labelSelector, undefined, {
      delayFn: (ms: number) => {
        const atOnce = this.rewatchAtOnce;
        this.rewatchAtOnce = false;
        return new Promise<void>((resolve) => setTimeout(resolve, atOnce ? 0 : Math.min(ms, RECONNECT_DELAY_MAX_MS)));
      },
    } as never);
    this.lw = lw;
    const changed = (type: 'set' | 'delete') => (obj: T) => {
      if (this.lw !== lw) return;
      const key = `${obj.metadata?.namespace ?? ''}/${obj.metadata?.name ?? ''}`;
      const next = type === 'delete' ? undefined : this.signature(obj);
      const name = obj.metadata?.name ?? '';
      const rv = obj.metadata?.resourceVersion;
      const awaited = this.awaited.get(name);
      if (awaited && (type === 'delete' || awaited.rv === rv)) this.awaited.delete(name);
      if (type === 'delete' || rv === undefined) this.delivered.delete(name);
      else this.delivered.set(name, [...(this.delivered.get(name) ?? []), rv].slice(-DELIVERED_KEPT));
      const before = this.seen.get(key);
      if (next === undefined) this.seen.delete(key);
      else this.seen.set(key, next);
      // A relist replays every object: only news wakes the loop.
      if (before !== next) this.onChange();
    };
    lw.on('add', changed('set'));
    lw.on('update', changed('set'));
    lw.on('delete', changed('delete'));
    lw.on('connect', () => {
      if (this.lw === lw) this.down = false;
    });
    lw.on('error', () => {
      if (this.lw !== lw || this.stopped) return;
      this.down = true;
      this.scheduleRestart();
    });
    lw.start().catch(() => {
      if (this.lw === lw && !this.stopped) {
        this.down = true;
        this.scheduleRestart();
      }
    });
  }

  private scheduleRestart(): void {
    if (this.restartTimer) return;
    this.restartTimer = setTimeout(() => {
      this.restartTimer = undefined;
      if (this.stopped) return;
      void this.lw?.stop();
      this.start();
    }, RESTART_PAUSE_MS);
    this.restartTimer.unref();
  }

  /** Drops the watch (e.g. its connection may be pinned to a server that left) and watches again. */
  restart(): void {
    if (this.stopped) return;
    // A watch request under way (open or being answered) over a store that is synced: resumed from its
    // resourceVersion (one WATCH request); otherwise (listing, or down after an error) listed afresh.
    if (this.resume && this.synced && !this.down) {
      // Our writes not yet seen: the new watch gets WRITE_SEEN_MS of its own to deliver them.
      for (const write of this.awaited.values()) write.since = this.now();
      this.resume();
      return;
    }
    void this.lw?.stop();
    this.start();
  }

  stop(): void {
    this.stopped = true;
    if (this.restartTimer) clearTimeout(this.restartTimer);
    this.restartTimer = undefined;
    void this.lw?.stop();
    this.lw = undefined;
    this.closeAnswered();
  }

  private closeAnswered(): void {
    for (const request of this.answered) request.abort();
    this.answered.clear();
  }

  /** Our own write of `name` (its new resourceVersion; undefined for a deletion): answer from the API until seen. */
  wrote(name: string, rv: string | undefined): void {
    if (!this.lw) return;
    const current = this.lw.get(name);
    if (rv === undefined ? current === undefined : this.delivered.get(name)?.includes(rv)) return;
    this.awaited.set(name, { rv, since: this.now() });
  }

  trusted(): boolean {
    if (this.stopped || !this.synced || this.down || !this.lw) return false;
    // Between two watches, or a watch silent for longer than the server's bookmark interval: changes may be missed
    // (see the top).
    if (this.openSince === undefined) {
      if (this.closedAt === undefined || this.now() - this.closedAt > CLEAN_GAP_MS) return false;
    } else if (this.now() - (this.heardAt ?? this.openSince) > SILENCE_MS) return false;
    for (const { since } of this.awaited.values()) {
      if (this.now() - since > WRITE_SEEN_MS) {
        // The stream did not deliver our own write: it is stuck, or it moved past our version unseen (a relist
        // after 410 Gone, more than DELIVERED_KEPT versions behind ours before our answer was read). Listed afresh,
        // not resumed: a resumed watch could wait for that version for ever. The API answers meanwhile.
        void this.lw?.stop();
        this.start();
        return false;
      }
    }
    if (this.awaited.size === 0) return true;
    // Only an open watch that has brought nothing since the write: one not answered yet is on a new connection
    // already, and one that brings other events is lagging, not stuck (a busy API server's usual delivery lag).
    const late = [...this.awaited.values()].filter(
      (w) =>
        !w.resumed &&
        this.now() - w.since > WRITE_RESUME_MS &&
        this.openSince !== undefined &&
        this.now() - this.openSince > WRITE_RESUME_MS &&
        (this.heardAt ?? this.openSince) <= w.since,
    );
    if (late.length > 0 && this.resume) {
      for (const write of late) write.resumed = true;
      this.resume();
    }
    return false;
  }

  /**
   * Not trusted for a moment only: our own write on its way through the stream, or a watch being opened again. Not for
   * a watch that went silent or failed, nor before the first LIST: those are not a matter of milliseconds.
   */
  settling(): boolean {
    if (this.stopped || !this.synced || this.down || !this.lw) return false;
    return this.openSince === undefined || this.now() - (this.heardAt ?? this.openSince) <= SILENCE_MS;
  }

  /** Its first LIST (or the one after a restart) is under way: the store will be current once it is answered. */
  listing(): boolean {
    return !this.stopped && !this.synced && !this.down && this.lw !== undefined;
  }

  objects(): T[] {
    return this.lw ? [...this.lw.list()] : [];
  }
}

/**
 * How long a read waits for the cache to settle (our own write delivered, a resumed watch open) before it goes to the
 * API: the stream usually delivers a write before or with its response, so the pass right after a step (a Node
 * annotated, deleted, the connections dropped after a deregistration) needs no list of every Node (issue 15 §2: two
 * per swap). Shorter than the list it saves on a large cluster, far shorter than a poll interval.
 */
export const SETTLE_MS = 250;
/**
 * How long a read waits for the cache's LIST under way (its first, or after a restart) before it lists every Node itself:
 * a list of its own would cost the API server the same and end no sooner (issue 15 §3: the start gate's first reads
 * each listed every Node beside the cache's LIST). Bounded for a LIST that hangs.
 */
export const LIST_WAIT_MS = 5_000;
const SETTLE_POLL_MS = 10;

export class NodeCache {
  private readonly nodes: Follower<V1Node>;
  private readonly pods: Follower<V1Pod>;

  constructor(kc: KubeConfig, apis: KubeApis, onChange: () => void) {
    this.nodes = new Follower(
      kc,
      '/api/v1/nodes',
      () => listAllWithVersion((_continue) => apis.core.listNode({ limit: 500, _continue })),
      nodeSignature,
      onChange,
    );
    this.pods = new Follower(
      kc,
      '/api/v1/namespaces/kube-system/pods',
      () =>
        listAllWithVersion((_continue) =>
          apis.core.listNamespacedPod({
            namespace: 'kube-system',
            labelSelector: STATIC_POD_SELECTOR,
            limit: 500,
            _continue,
          }),
        ),
      podSignature,
      onChange,
      STATIC_POD_SELECTOR,
    );
  }

  start(): this {
    this.nodes.start();
    this.pods.start();
    return this;
  }

  stop(): void {
    this.nodes.stop();
    this.pods.stop();
  }

  restart(): void {
    this.nodes.restart();
    this.pods.restart();
  }

  /** Our write to a Node returned `rv` (undefined: the Node was deleted). */
  wroteNode(name: string, rv: string | undefined): void {
    this.nodes.wrote(name, rv);
  }

  /** The static pods from memory, when current. */
  staticPods(): V1Pod[] | undefined {
    return this.pods.trusted() ? this.pods.objects() : undefined;
  }

  /** Nodes with their static pods from memory; undefined when either part is not current. */
  nodeViews(): NodeView[] | undefined {
    const pods = this.staticPods();
    if (!pods || !this.nodes.trusted()) return undefined;
    return this.nodes.objects().map((n) => toNodeView(n, pods));
  }

  /**
   * nodeViews, once current: waits up to `waitMs` while the cache is only settling (Follower.settling), and up to
   * LIST_WAIT_MS while a LIST of its own is under way.
   */
  async nodeViewsSettled(waitMs = SETTLE_MS): Promise<NodeView[] | undefined> {
    const started = Date.now();
    /** The settling wait counts from the end of a LIST waited for: its first WATCH is still to be answered then. */
    let settleFrom = started;
    for (;;) {
      const views = this.nodeViews();
      if (views) return views;
      const now = Date.now();
      const listing = this.nodes.listing() || this.pods.listing();
      if (listing) settleFrom = now;
      const waiting = listing || (this.nodes.settling() && this.pods.settling());
      if (!waiting || now - started >= LIST_WAIT_MS || (!listing && now - settleFrom >= waitMs)) return views;
      await new Promise((resolve) => setTimeout(resolve, SETTLE_POLL_MS));
    }
  }
}
