// The KubePort over @kubernetes/client-node 2.x: loads the kubeconfig, builds the API clients with a
// request timeout, and assembles the concern modules. Nothing here interprets cluster state.

import pRetry from 'p-retry';
import type { KubePort } from '../../ports/kube.ts';
import { canI } from './access.ts';
import { type KubeconfigOptions, type KubeconfigSummary, loadKubeconfig } from './config.ts';
import { KubeUnavailableError } from './errors.ts';
import { createLease, deleteLease, getLease, replaceLease, watchLease } from './leases.ts';
import { NodeCache } from './node-cache.ts';
import {
  annotateNode,
  deleteNode,
  etcdClientUrls,
  listNodes,
  readAfresh,
  recordNodeEvent,
  setUnschedulable,
} from './nodes.ts';
import {
  createConfigMap,
  createSecret,
  deleteConfigMap,
  deleteSecret,
  getConfigMap,
  getSecret,
  listSecrets,
  replaceConfigMap,
} from './objects.ts';
import {
  awaitPodsGone,
  evictPod,
  forceDeletePod,
  listDisruptionBudgets,
  podExists,
  podsInNamespace,
  podsOnNode,
  podsOnNodeAt,
} from './pods.ts';
import { ensureRbac, rbacExists } from './rbac.ts';
import { connectApis, DEFAULT_REQUEST_TIMEOUT_MS, type KubeApis } from './transport.ts';
import { getWorkload, setContainerImage, watchWorkload } from './workloads.ts';

export interface OpenKubeOptions extends KubeconfigOptions {
  /** Per-request timeout; a request that takes longer fails with KubeUnavailableError. */
  timeoutMs?: number;
  /** How a call whose connection was lost (or that got a 5xx or 429) is repeated (KUBE_RETRY); `{ retries: 0 }` = never. */
  retry?: Partial<KubeRetryOptions>;
}

/** The port plus where it points, for messages ("talking to X as Y"). */
export interface Kube extends KubePort {
  readonly summary: KubeconfigSummary;
}

/** Opens the port. Throws KubeConfigError when no usable kubeconfig or context is found; makes no request. */
export function openKube(options: OpenKubeOptions = {}): Kube {
  const { kc, summary } = loadKubeconfig(options);
  const apis = connectApis(kc, summary, options.timeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS);
  // The run's watched Nodes and static pods (node-cache.ts), while anyone watches; reads fall back to the API. One
  // cache for all of them: the run keeps it from its start gate to its end, and each loop (the control plane's, the
  // workers') subscribes to it for its wake-ups, instead of each starting its own with a LIST of every Node.
  let cache: NodeCache | undefined;
  const subscribers = new Set<() => void>();
  const port = kubePortOver(apis, () => cache);
  const objectWatches = new Set<{ restart(): void; stop(): void }>();
  const reconnect = () => {
    apis.reconnect();
    for (const watch of objectWatches) watch.restart();
    // A watch's connection may be pinned to the server that just left the load balancer, as the requests' were.
    cache?.restart();
  };
  /** A watch of one object, restarted with the others on reconnect; returns its stop function. */
  const followed = (watch: { restart(): void; stop(): void }) => {
    objectWatches.add(watch);
    return () => {
      objectWatches.delete(watch);
      watch.stop();
    };
  };
  return {
    summary,
    ...retryingOnLostConnections(port, reconnect, options.retry),
    watchChanges: (onChange) => {
      const subscriber = () => onChange();
      subscribers.add(subscriber);
      cache ??= new NodeCache(kc, apis, () => {
        for (const notify of subscribers) notify();
      }).start();
      return () => {
        subscribers.delete(subscriber);
        if (subscribers.size > 0) return;
        cache?.stop();
        cache = undefined;
      };
    },
    // Outside the retrying wrapper: it returns a stop function, not a promise, and restarts its own watches.
    watchLease: (namespace, name, handlers) => followed(watchLease(kc, namespace, name, handlers)),
    watchWorkload: (kind, namespace, name, handlers) => followed(watchWorkload(kc, kind, namespace, name, handlers)),
    // Outside the retrying wrapper too: it never throws; any failure answers undefined and the drain polls. Its watch
    // is restarted with the others on reconnect (the drain overlaps an API server's deregistration).
    awaitPodsGone: (node, uids, options) => awaitPodsGone(kc, apis, node, uids, { ...options, follow: followed }),
    reconnect,
    // Ends every watch still open too: each may stay open for minutes (node-cache.ts), and an open one keeps the
    // process alive.
    close: () => {
      cache?.stop();
      cache = undefined;
      subscribers.clear();
      for (const watch of objectWatches) watch.stop();
      objectWatches.clear();
      port.close();
    },
  };
}

/**
 * Pauses before repeating a call: 0.2 s, 0.8 s, then 3 s (p-retry's exponential back-off, capped), about 4 s in all:
 * long enough for a load balancer to stop sending to a deregistered server, short enough not to hide an outage.
 */
export const KUBE_RETRY: KubeRetryOptions = { retries: 3, minTimeout: 200, factor: 4, maxTimeout: 3000 };

export interface KubeRetryOptions {
  /** Repeats after the first attempt; 0 = no retry. */
  retries: number;
  minTimeout: number;
  factor: number;
  maxTimeout: number;
}

/**
 * Behind a load balancer a kept-alive connection stays pinned to the API server it first reached, also
 * after that server was deregistered (ELB connection draining) and then lost its etcd member: the
 * connection then dies mid-run. Every port call is safe to repeat (reads; creates answer "exists";
 * replaces are resourceVersion-guarded), so on a lost connection or a 5xx we reconnect and try again; on a 429 we
 * only wait and try again. Everything else (400/422 bad input, 401/403, 404, 409, a bug) is passed on at once: the
 * adapter's callers turn the statuses they expect into answers ("gone", "exists", ConflictError) before this sees them.
 */
export function retryingOnLostConnections(
  port: KubePort,
  reconnect: () => void,
  options: Partial<KubeRetryOptions> = {},
): KubePort {
  const retry = { ...KUBE_RETRY, ...options };
  const wrapped = {} as Record<string, unknown>;
  for (const [name, fn] of Object.entries(port)) {
    if (typeof fn !== 'function' || name === 'close') {
      wrapped[name] = fn;
      continue;
    }
    wrapped[name] = (...args: unknown[]) =>
      pRetry(() => fn(...args), {
        ...retry,
        // Called only when another attempt follows (not after the last one), so the reconnect is for that attempt.
        shouldRetry: ({ error }) => {
          if (!(error instanceof KubeUnavailableError)) return false;
          // A 429 is an answer from a server that is there (throttled or not ready yet): keep its connection.
          // Its Retry-After is not read (KubeStatus keeps no headers): the back-off above stands in for it.
          if (error.status.code !== 429) reconnect();
          return true;
        },
      });
  }
  return wrapped as unknown as KubePort;
}

/** Loads the kubeconfig only to describe it (server, context, user), e.g. for `plan` output and errors. */
export function kubeconfigSummary(options: KubeconfigOptions = {}): KubeconfigSummary {
  return loadKubeconfig(options).summary;
}

export function kubePortOver(apis: KubeApis, cached: () => NodeCache | undefined = () => undefined): KubePort {
  return {
    serverVersion: async () => {
      try {
        return (await apis.version.getCode()).gitVersion;
      } catch (err) {
        throw apis.fail(err, 'read the API server version');
      }
    },
    etcdClientUrls: () => etcdClientUrls(apis),
    canI: (checks) => canI(apis, checks),
    listNodes: async (options) => {
      const cache = cached();
      // Not fresh: from memory once current (waiting a moment while it settles after our own write).
      if (!options?.fresh) return (await cache?.nodeViewsSettled()) ?? listNodes(apis, cache?.staticPods());
      if (options.fresh === true) return listNodes(apis);
      // The reads made afresh follow our own Node writes (the old Node deleted at a swap's end, the retiring one
      // cordoned): waiting the moment the stream takes to deliver them beats a list of every Node (issue 15 §3).
      const views = await cache?.nodeViewsSettled();
      const workers = options.fresh === 'control-plane' ? [] : options.fresh.workers;
      return views ? readAfresh(apis, views, workers) : listNodes(apis);
    },
    deleteNode: async (name) => {
      const result = await deleteNode(apis, name);
      cached()?.wroteNode(name, undefined);
      return result;
    },
    // The write first, on its own line: inside `cached()?.wroteNode(...)` it would be skipped whenever no cache runs
    // (optional chaining does not evaluate the arguments of a call it short-circuits).
    annotateNode: async (name, annotations, options) => {
      const resourceVersion = await annotateNode(apis, name, annotations, options);
      cached()?.wroteNode(name, resourceVersion);
    },
    setUnschedulable: async (name, unschedulable) => {
      const resourceVersion = await setUnschedulable(apis, name, unschedulable);
      cached()?.wroteNode(name, resourceVersion);
    },
    recordNodeEvent: (event) => recordNodeEvent(apis, event),

    podsOnNode: (node) => podsOnNode(apis, node),
    podsOnNodeAt: (node) => podsOnNodeAt(apis, node),
    podsInNamespace: (namespace, options) => podsInNamespace(apis, namespace, options),
    evictPod: (namespace, name) => evictPod(apis, namespace, name),
    podExists: (namespace, name, uid) => podExists(apis, namespace, name, uid),
    forceDeletePod: (namespace, name, uid) => forceDeletePod(apis, namespace, name, uid),
    listDisruptionBudgets: (namespace) => listDisruptionBudgets(apis, namespace),

    getConfigMap: (namespace, name) => getConfigMap(apis, namespace, name),
    createConfigMap: (cm) => createConfigMap(apis, cm),
    replaceConfigMap: (cm) => replaceConfigMap(apis, cm),
    deleteConfigMap: (namespace, name) => deleteConfigMap(apis, namespace, name),

    getSecret: (namespace, name) => getSecret(apis, namespace, name),
    listSecrets: (namespace, options) => listSecrets(apis, namespace, options),
    createSecret: (secret) => createSecret(apis, secret),
    deleteSecret: (namespace, name) => deleteSecret(apis, namespace, name),

    ensureRbac: (objects) => ensureRbac(apis, objects),
    rbacExists: (object) => rbacExists(apis, object),

    getLease: (namespace, name) => getLease(apis, namespace, name),
    createLease: (lease) => createLease(apis, lease),
    replaceLease: (lease) => replaceLease(apis, lease),
    deleteLease: (namespace, name) => deleteLease(apis, namespace, name),

    getWorkload: (kind, namespace, name) => getWorkload(apis, kind, namespace, name),
    setContainerImage: (kind, namespace, name, container, image) =>
      setContainerImage(apis, kind, namespace, name, container, image),

    close: () => apis.close(),
  };
}
