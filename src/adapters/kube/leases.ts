// coordination.k8s.io/v1 Leases, the run lock's storage. acquireTime and renewTime are MicroTime:
// the server parses exactly 6 fractional digits, so a plain Date (3 digits) is rejected with 400;
// V1MicroTime serializes with 6. Read back, the library hands these fields over as strings.
import { type KubeConfig, type V1Lease, V1MicroTime } from '@kubernetes/client-node';
import { ConflictError, type LeaseView, type LeaseWatchHandlers } from '../../ports/kube.ts';
import { statusCode } from './errors.ts';
import type { KubeApis } from './transport.ts';
import { watchOne } from './watch-one.ts';
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

/** The created Lease as the server answered it (its resourceVersion guards the first renewal), or 'exists'. */
export async function createLease(
  apis: KubeApis,
  lease: Omit<LeaseView, 'resourceVersion'>,
): Promise<LeaseView | 'exists'> {
  try {
    return toLeaseView(
      await apis.coordination.createNamespacedLease({ namespace: lease.namespace, body: leaseBody(lease) }),
    );
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

/**
 * The Lease's watch stays open this long (client-go's reflector asks 5-10 min), not 30 s: a watch re-requested every
 * 30 s was a third of the run's watch requests. Its liveness is proven otherwise: the lock keeper trusts it only while
 * it delivers our own renewals and the server's bookmarks (lock-keeper.ts).
 */
export const LEASE_WATCH_SECONDS = 600;

/**
 * Watches the Lease (watch-one.ts): each watch first sends the Lease as it is now (as good as a GET), then every
 * later write.
 */
export function watchLease(
  kc: KubeConfig,
  namespace: string,
  name: string,
  handlers: LeaseWatchHandlers,
): { stop(): void; restart(): void } {
  return watchOne<V1Lease>(
    kc,
    `/apis/coordination.k8s.io/v1/namespaces/${namespace}/leases`,
    name,
    {
      onConnection: handlers.onConnection,
      onObject: (lease) => handlers.onLease(lease ? toLeaseView(lease) : undefined),
      ...(handlers.onAlive ? { onAlive: handlers.onAlive } : {}),
    },
    LEASE_WATCH_SECONDS,
  );
}
