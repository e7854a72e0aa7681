// coordination.k8s.io/v1 Leases, the run lock's storage. acquireTime and renewTime are MicroTime:
// the server parses exactly 6 fractional digits, so a plain Date (3 digits) is rejected with 400;
// V1MicroTime serializes with 6. Read back, the library hands these fields over as strings.
import { type KubeConfig, type V1Lease, V1MicroTime, Watch } from '@kubernetes/client-node';
import { ConflictError, type LeaseView, type LeaseWatchHandlers } from '../../ports/kube.ts';
import { statusCode } from './errors.ts';
import type { KubeApis } from './transport.ts';
import { toDate } from './wire.ts';

export function toLeaseView(lease: V1Lease): LeaseView {
  const spec = lease.spec ?? {};
  return {
    namespace: lease.metadata?.namespace ?? '',
    name: lease.metadata?.name ?? '',
    holderIdentity: spec.holderIdentity || undefined,
    leaseDurationSeconds: spec.leaseDurationSeconds,
    acquireTime: spec.acquireTime ? toDate(spec.acquireTime) : undefined,
    renewTime: spec.renewTime ? toDate(spec.renewTime) : undefined,
    leaseTransitions: spec.leaseTransitions,
    resourceVersion: lease.metadata?.resourceVersion ?? '',
  };
}

export function leaseBody(lease: Omit<LeaseView, 'resourceVersion'> & { resourceVersion?: string }): V1Lease {
  const micro = (d: Date | undefined) => (d ? new V1MicroTime(d.getTime()) : undefined);
  return {
    metadata: { namespace: lease.namespace, name: lease.name, resourceVersion: lease.resourceVersion },
    spec: {
      holderIdentity: lease.holderIdentity,
      leaseDurationSeconds: lease.leaseDurationSeconds,
      acquireTime: micro(lease.acquireTime),
      renewTime: micro(lease.renewTime),
      leaseTransitions: lease.leaseTransitions,
    },
  };
}

export async function getLease(apis: KubeApis, namespace: string, name: string): Promise<LeaseView | undefined> {
  try {
    return toLeaseView(await apis.coordination.readNamespacedLease({ namespace, name }));
  } catch (err) {
    if (statusCode(err) === 404) return undefined;
    throw apis.fail(err, `read Lease ${namespace}/${name}`);
  }
}

export async function createLease(apis: KubeApis, lease: Omit<LeaseView, 'resourceVersion'>) {
  try {
    await apis.coordination.createNamespacedLease({ namespace: lease.namespace, body: leaseBody(lease) });
    return 'created' as const;
  } catch (err) {
    if (statusCode(err) === 409) return 'exists' as const;
    throw apis.fail(err, `create Lease ${lease.namespace}/${lease.name}`);
  }
}

export async function replaceLease(apis: KubeApis, lease: LeaseView): Promise<LeaseView> {
  const { namespace, name } = lease;
  try {
    return toLeaseView(await apis.coordination.replaceNamespacedLease({ namespace, name, body: leaseBody(lease) }));
  } catch (err) {
    if (statusCode(err) === 409) {
      throw new ConflictError(`Lease ${namespace}/${name} changed since resourceVersion ${lease.resourceVersion}`, {
        cause: err,
      });
    }
    throw apis.fail(err, `replace Lease ${namespace}/${name}`);
  }
}

export async function deleteLease(apis: KubeApis, namespace: string, name: string) {
  try {
    await apis.coordination.deleteNamespacedLease({ namespace, name });
    return 'deleted' as const;
  } catch (err) {
    if (statusCode(err) === 404) return 'gone' as const;
    throw apis.fail(err, `delete Lease ${namespace}/${name}`);
  }
}

/** The apiserver ends each watch after this long; the next one starts without a resourceVersion (a fresh read). */
const LEASE_WATCH_SECONDS = 30;
/** No byte for this long: the connection is taken for dead (client-node's inactivity timer). */
const LEASE_INACTIVITY_MS = 40_000;
const LEASE_RESTART_PAUSE_MS = 1000;

/**
 * Watches one Lease by a field selector on its name. Each watch starts without a resourceVersion, so the API
 * server first sends the Lease as it is now (an ADDED event, as good as a GET), then every later write. A watch
 * that ends (the server's timeout, an error, a dropped connection) is reported and started again.
 */
export function watchLease(
  kc: KubeConfig,
  namespace: string,
  name: string,
  handlers: LeaseWatchHandlers,
): { stop(): void; restart(): void } {
  let stopped = false;
  let current: { controller?: AbortController; end(err: unknown): void } | undefined;
  let timer: NodeJS.Timeout | undefined;
  const start = () => {
    if (stopped) return;
    const watch = new Watch(kc);
    (watch as unknown as { requestTimeoutMs: number }).requestTimeoutMs = LEASE_INACTIVITY_MS;
    let ended = false;
    let connected = false;
    const self: { controller?: AbortController; end(err: unknown): void } = {
      end: (err: unknown) => {
        if (ended) return;
        ended = true;
        self.controller?.abort();
        if (connected) handlers.onConnection(false);
        if (stopped) return;
        // A clean close (the server's timeout) is followed at once; after an error, a short pause.
        timer = setTimeout(start, err ? LEASE_RESTART_PAUSE_MS : 0);
        timer.unref();
      },
    };
    current = self;
    watch
      .watch(
        `/apis/coordination.k8s.io/v1/namespaces/${namespace}/leases`,
        { fieldSelector: `metadata.name=${name}`, timeoutSeconds: LEASE_WATCH_SECONDS, allowWatchBookmarks: true },
        (phase: string, object: V1Lease) => {
          if (ended || stopped) return;
          if (phase === 'ERROR') return self.end(new Error('watch error event'));
          if (phase === 'BOOKMARK') return;
          // Connected once the first event (the Lease as it is now) arrived: only then is the state known.
          if (!connected) {
            connected = true;
            handlers.onConnection(true);
          }
          if (phase === 'ADDED' || phase === 'MODIFIED') handlers.onLease(toLeaseView(object));
          else if (phase === 'DELETED') handlers.onLease(undefined);
        },
        (err: unknown) => self.end(err ?? null),
      )
      .then((controller) => {
        self.controller = controller;
        if (stopped || ended) controller.abort();
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
      current?.end(new Error('restarted'));
    },
  };
}
