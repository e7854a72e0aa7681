// One named object followed by a watch, restarted whenever it ends: the run lock's Lease, and the addons' DaemonSet
// and Deployment while their rollouts are awaited (issue 15 §2: react, don't poll).
import type { KubeConfig } from '@kubernetes/client-node';
import { Watch } from '@kubernetes/client-node';

/** By default the apiserver ends each watch after this long; the next one starts without a resourceVersion (a fresh read). */
export const WATCH_ONE_SECONDS = 30;
/**
 * No byte for this long: the connection is taken for dead (client-node's inactivity timer). Longer than the API
 * server's bookmark interval (1 min, sent to watches that allow bookmarks: k8s.io/apiserver pkg/storage/cacher), so a
 * long watch that sees no change is not cut.
 */
const INACTIVITY_MS = 80_000;
const RESTART_PAUSE_MS = 1000;

export interface WatchOneHandlers<T> {
  /** Every version the API server reports; undefined: deleted. */
  onObject(object: T | undefined): void;
  /** true once a watch is open (its first event, the object as it is now, came with it); false when it ended. */
  onConnection(connected: boolean): void;
  /** Any event of an open watch, bookmarks included: its connection is alive. */
  onAlive?(): void;
}

/**
 * Watches one object of a collection (`path`, e.g. `/apis/apps/v1/namespaces/kube-system/daemonsets`) by a field
 * selector on its name. Each watch starts without a resourceVersion, so the API server first sends the object as it
 * is now (an ADDED event, as good as a GET: "Get State and Start at Most Recent", Kubernetes API concepts), then
 * every later write. A watch that ends (the server's timeout, an error, a dropped connection) is reported and started
 * again. An object that does not exist sends no first event: the watch then stays "not connected".
 */
export function watchOne<T>(
  kc: KubeConfig,
  path: string,
  name: string,
  handlers: WatchOneHandlers<T>,
  /** How long the server keeps each watch open (WATCH_ONE_SECONDS by default). */
  timeoutSeconds: number = WATCH_ONE_SECONDS,
): { stop(): void; restart(): void } {
  let stopped = false;
  let current: { controller?: AbortController; ended: boolean; end(err: unknown): void } | undefined;
  let timer: NodeJS.Timeout | undefined;
  const start = () => {
    if (stopped) return;
    const watch = new Watch(kc);
    (watch as unknown as { requestTimeoutMs: number }).requestTimeoutMs = INACTIVITY_MS;
    let connected = false;
    const self: { controller?: AbortController; ended: boolean; end(err: unknown): void } = {
      ended: false,
      end: (err: unknown) => {
        if (self.ended) return;
        self.ended = true;
        self.controller?.abort();
        if (connected) handlers.onConnection(false);
        if (stopped) return;
        // A clean close (the server's timeout) is followed at once; after an error, a short pause.
        timer = setTimeout(start, err ? RESTART_PAUSE_MS : 0);
        timer.unref();
      },
    };
    current = self;
    watch
      .watch(
        path,
        { fieldSelector: `metadata.name=${name}`, timeoutSeconds, allowWatchBookmarks: true },
        (phase: string, object: T) => {
          if (self.ended || stopped) return;
          if (phase === 'ERROR') return self.end(new Error('watch error event'));
          if (phase === 'BOOKMARK') {
            if (connected) handlers.onAlive?.();
            return;
          }
          // Connected once the first event (the object as it is now) arrived: only then is the state known.
          if (!connected) {
            connected = true;
            handlers.onConnection(true);
          }
          handlers.onAlive?.();
          if (phase === 'ADDED' || phase === 'MODIFIED') handlers.onObject(object);
          else if (phase === 'DELETED') handlers.onObject(undefined);
        },
        (err: unknown) => self.end(err ?? null),
      )
      .then((controller) => {
        self.controller = controller;
        if (stopped || self.ended) controller.abort();
      })
      .catch((err: unknown) => self.end(err));
  };
  start();
  return {
    stop: () => {
      stopped = true;
      if (timer) clearTimeout(timer);
      current?.end(null);
    },
    // After the engine dropped kept-alive connections: this watch's may be pinned to a server that left.
    restart: () => {
      if (stopped) return;
      if (timer) clearTimeout(timer);
      timer = undefined;
      if (current && !current.ended) current.end(new Error('restarted'));
      else {
        // Already ended, its restart pending (just cleared): a second reconnect must not leave it unwatched.
        timer = setTimeout(start, RESTART_PAUSE_MS);
        timer.unref();
      }
    },
  };
}
