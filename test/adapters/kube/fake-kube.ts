// An in-memory KubePort covering what drain and the lease lock use: leases with resourceVersion checks,
// pods on nodes with scripted eviction answers, and budgets. Everything else throws, so a test that
// reaches it notices.
import type { Clock } from '../../../src/domain/clock.ts';
import {
  ConflictError,
  type DisruptionBudgetView,
  type EvictionResult,
  type KubePort,
  type LeaseView,
  type LeaseWatchHandlers,
  type PodOnNode,
} from '../../../src/ports/kube.ts';

export interface FakePod extends PodOnNode {
  node: string;
  /** Answers to successive evictions; the last one repeats. `evicted` starts termination. */
  evictions?: EvictionResult[];
  /** Passes (podsOnNode calls) the pod stays listed after an accepted eviction. */
  terminationPasses?: number;
}

export class FakeKube {
  leases = new Map<string, LeaseView>();
  pods: FakePod[] = [];
  budgets: DisruptionBudgetView[] = [];
  unschedulable = new Set<string>();
  calls: string[] = [];
  /** Lease reads (getLease calls). */
  leaseReads = 0;
  /** Set: the port offers watchLease, and the open watch's handlers are here. */
  leaseWatch?: { handlers?: LeaseWatchHandlers; stalled: boolean };
  private version = 100;
  private terminating = new Map<string, number>();

  port(): KubePort {
    const unsupported = (name: string) => () => {
      throw new Error(`FakeKube: ${name} is not faked`);
    };
    const key = (namespace: string, name: string) => `${namespace}/${name}`;
    return {
      serverVersion: unsupported('serverVersion'),
      etcdClientUrls: unsupported('etcdClientUrls'),
      canI: unsupported('canI'),
      listNodes: unsupported('listNodes'),
      deleteNode: unsupported('deleteNode'),
      annotateNode: unsupported('annotateNode'),
      recordNodeEvent: unsupported('recordNodeEvent'),
      setUnschedulable: async (name, value) => {
        this.calls.push(`cordon ${name}=${value}`);
        if (value) this.unschedulable.add(name);
        else this.unschedulable.delete(name);
      },
      podsInNamespace: unsupported('podsInNamespace'),
      podsOnNode: async (node) => {
        for (const [uid, left] of this.terminating) {
          if (left <= 0) {
            this.pods = this.pods.filter((p) => p.uid !== uid);
            this.terminating.delete(uid);
          } else this.terminating.set(uid, left - 1);
        }
        return this.pods
          .filter((p) => p.node === node)
          .map(({ node: _, evictions: __, terminationPasses: ___, ...p }) => p);
      },
      evictPod: async (namespace, name) => {
        this.calls.push(`evict ${namespace}/${name}`);
        const pod = this.pods.find((p) => p.namespace === namespace && p.name === name);
        if (!pod) return 'gone';
        const answer =
          pod.evictions && pod.evictions.length > 1 ? pod.evictions.shift()! : (pod.evictions?.[0] ?? 'evicted');
        if (answer === 'evicted' && !this.terminating.has(pod.uid))
          this.terminating.set(pod.uid, pod.terminationPasses ?? 0);
        return answer;
      },
      podExists: async (namespace, name, uid) =>
        this.pods.some((p) => key(p.namespace, p.name) === key(namespace, name) && p.uid === uid),
      forceDeletePod: unsupported('forceDeletePod'),
      listDisruptionBudgets: async (namespace) => this.budgets.filter((b) => !namespace || b.namespace === namespace),
      getConfigMap: unsupported('getConfigMap'),
      createConfigMap: unsupported('createConfigMap'),
      replaceConfigMap: unsupported('replaceConfigMap'),
      deleteConfigMap: unsupported('deleteConfigMap'),
      getSecret: unsupported('getSecret'),
      listSecrets: unsupported('listSecrets'),
      createSecret: unsupported('createSecret'),
      deleteSecret: unsupported('deleteSecret'),
      ensureRbac: unsupported('ensureRbac'),
      rbacExists: unsupported('rbacExists'),
      getLease: async (namespace, name) => {
        this.leaseReads++;
        const lease = this.leases.get(key(namespace, name));
        return lease && { ...lease };
      },
      createLease: async (lease) => {
        if (this.leases.has(key(lease.namespace, lease.name))) return 'exists';
        const created = { ...lease, resourceVersion: String(this.version++) };
        this.leases.set(key(lease.namespace, lease.name), created);
        return { ...created };
      },
      replaceLease: async (lease) => {
        const current = this.leases.get(key(lease.namespace, lease.name));
        if (!current || current.resourceVersion !== lease.resourceVersion) throw new ConflictError('conflict');
        const next = { ...lease, resourceVersion: String(this.version++) };
        this.leases.set(key(lease.namespace, lease.name), next);
        // Delivered before the write's answer: the stream may be faster than the response.
        this.deliverLease(next);
        return { ...next };
      },
      deleteLease: async (namespace, name) => (this.leases.delete(key(namespace, name)) ? 'deleted' : 'gone'),
      close: () => {},
      ...(this.leaseWatch
        ? {
            watchLease: (namespace: string, name: string, handlers: LeaseWatchHandlers) => {
              const watch = this.leaseWatch!;
              watch.handlers = handlers;
              handlers.onConnection(true);
              const lease = this.leases.get(key(namespace, name));
              handlers.onLease(lease && { ...lease });
              return () => {
                watch.handlers = undefined;
              };
            },
          }
        : {}),
    };
  }

  private deliverLease(lease: LeaseView | undefined): void {
    if (this.leaseWatch && !this.leaseWatch.stalled) this.leaseWatch.handlers?.onLease(lease && { ...lease });
  }

  /** Simulates another writer between our read and our write. */
  bumpLease(namespace: string, name: string, change: Partial<LeaseView> = {}): void {
    const lease = this.leases.get(`${namespace}/${name}`)!;
    const next = { ...lease, ...change, resourceVersion: String(this.version++) };
    this.leases.set(`${namespace}/${name}`, next);
    this.deliverLease(next);
  }
}

/** A clock whose sleep advances time instantly. */
export function fakeClock(start = new Date('2026-05-01T10:00:00Z')): Clock & { slept: number[] } {
  let now = start.getTime();
  const slept: number[] = [];
  return {
    slept,
    now: () => new Date(now),
    sleep: async (ms, signal) => {
      signal?.throwIfAborted();
      slept.push(ms);
      now += ms;
    },
  };
}
