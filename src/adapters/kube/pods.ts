// Drain primitives: the pods on a node, the policy/v1 Eviction API, and the PodDisruptionBudgets
// that make the API server refuse an eviction (HTTP 429).
import { type KubeConfig, type V1Pod, type V1PodDisruptionBudget, Watch } from '@kubernetes/client-node';
import type { DisruptionBudgetView, LabelRequirement, PodOnNode, PodsListed } from '../../ports/kube.ts';
import { statusCode } from './errors.ts';
import { MIRROR_ANNOTATION } from './nodes.ts';
import type { KubeApis } from './transport.ts';
import { listAll, listAllWithVersion } from './wire.ts';

export function toPodOnNode(pod: V1Pod): PodOnNode {
  return {
    namespace: pod.metadata?.namespace ?? '',
    name: pod.metadata?.name ?? '',
    uid: pod.metadata?.uid ?? '',
    daemonSet: (pod.metadata?.ownerReferences ?? []).some((o) => o.kind === 'DaemonSet' && o.controller !== false),
    mirror: MIRROR_ANNOTATION in (pod.metadata?.annotations ?? {}),
    phase: pod.status?.phase ?? 'Unknown',
    emptyDir: (pod.spec?.volumes ?? []).some((v) => v.emptyDir !== undefined),
    bare: !(pod.metadata?.ownerReferences ?? []).some((o) => o.controller === true),
    labels: { ...(pod.metadata?.labels ?? {}) },
  };
}

export function toDisruptionBudgetView(pdb: V1PodDisruptionBudget): DisruptionBudgetView {
  const selector = pdb.spec?.selector;
  return {
    namespace: pdb.metadata?.namespace ?? '',
    name: pdb.metadata?.name ?? '',
    // Without kube-controller-manager the status is never computed; 0 allowed is what the server assumes then.
    disruptionsAllowed: pdb.status?.disruptionsAllowed ?? 0,
    currentHealthy: pdb.status?.currentHealthy ?? 0,
    desiredHealthy: pdb.status?.desiredHealthy ?? 0,
    matchLabels: { ...(selector?.matchLabels ?? {}) },
    matchExpressions: (selector?.matchExpressions ?? []).map((e) => ({
      key: e.key,
      operator: e.operator as LabelRequirement['operator'],
      values: e.values ?? [],
    })),
    selectsNone: selector === undefined || selector === null ? true : undefined,
  };
}

export async function podsOnNode(apis: KubeApis, node: string): Promise<PodOnNode[]> {
  return (await podsOnNodeAt(apis, node)).pods;
}

export async function podsOnNodeAt(apis: KubeApis, node: string): Promise<PodsListed> {
  try {
    const listed = await listAllWithVersion((_continue) =>
      apis.core.listPodForAllNamespaces({ fieldSelector: `spec.nodeName=${node}`, limit: 500, _continue }),
    );
    return { pods: listed.items.map(toPodOnNode), resourceVersion: listed.metadata.resourceVersion };
  } catch (err) {
    throw apis.fail(err, `list Pods on Node ${node}`);
  }
}

/** The watch client of awaitPodsGone (client-node's Watch, or a fake in tests). */
export type PodWatchClient = Pick<Watch, 'watch'>;

/**
 * The drain's wait for its evicted pods (KubePort.awaitPodsGone): the node's pods listed once, then followed by a watch
 * from that list's resourceVersion, so every later change is seen in order and the answer is as current as a fresh
 * list; a poll instead cost a list per pause (issue 15 §2: 24 pod lists in three swaps of the model bench). Any failure
 * answers undefined: the drain then polls as before, so a watch problem costs requests, never a wrong answer.
 * `follow`: registers the watch with the client's reconnect and close (client.ts): the drain overlaps the
 * deregistration of an API server, and a watch pinned to a server that left may go silent without closing; restarted,
 * it resumes from the last resourceVersion it saw (the server replays what changed since, or answers 410 Gone and the
 * drain polls), instead of waiting up to the inactivity timer (80 s) for a dead connection to end.
 */
export async function awaitPodsGone(
  kc: KubeConfig,
  apis: KubeApis,
  node: string,
  uids: readonly string[],
  options: {
    timeoutMs: number;
    signal?: AbortSignal;
    /** The node's pods as the drain's own list found them, at its resourceVersion: no list of its own. */
    from?: PodsListed;
    /** Returns the function that unregisters it, called once the wait is over. */
    follow?: (watch: { restart(): void; stop(): void }) => () => void;
    newWatch?: () => PodWatchClient;
  },
): Promise<PodOnNode[] | undefined> {
  const fieldSelector = `spec.nodeName=${node}`;
  // The drain's own list, made just before its evictions, when it has a resourceVersion (issue 15 §2: a second list
  // per swap): the watch from there replays the evictions' effects in order, so the answer is as current as a list.
  let listed: PodsListed;
  if (options.from?.resourceVersion) listed = options.from;
  else {
    try {
      listed = await podsOnNodeAt(apis, node);
    } catch {
      return undefined;
    }
  }
  const pods = new Map(listed.pods.map((p) => [p.uid, p]));
  const current = () => [...pods.values()];
  const gone = () => !uids.some((uid) => pods.has(uid));
  if (gone() || options.timeoutMs <= 0 || options.signal?.aborted || !listed.resourceVersion)
    return options.signal?.aborted ? undefined : current();
  /** The last resourceVersion the stream brought (bookmarks included): a restarted watch resumes from it. */
  let resourceVersion = listed.resourceVersion;
  const deadline = Date.now() + options.timeoutMs;
  const newWatch =
    options.newWatch ??
    (() => {
      const watch = new Watch(kc);
      // client-node ends a watch after 30 s without a byte; a pod may take its whole grace period (30 s by default)
      // to go without another event. The API server's bookmarks (about every minute) keep a live watch under this.
      (watch as unknown as { requestTimeoutMs: number }).requestTimeoutMs = 80_000;
      return watch;
    });
  return new Promise((resolve) => {
    let finished = false;
    /** The watch request under way; a restart ends it on purpose, so its end is not taken for a failure. */
    let attempt: { controller?: AbortController; ended: boolean } | undefined;
    let unfollow: (() => void) | undefined;
    const finish = (result: PodOnNode[] | undefined) => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      options.signal?.removeEventListener('abort', onAbort);
      unfollow?.();
      if (attempt) {
        attempt.ended = true;
        attempt.controller?.abort();
      }
      resolve(result);
    };
    const onAbort = () => finish(undefined);
    const timer = setTimeout(() => finish(current()), options.timeoutMs);
    options.signal?.addEventListener('abort', onAbort);
    const start = () => {
      const self: { controller?: AbortController; ended: boolean } = { ended: false };
      attempt = self;
      newWatch()
        .watch(
          '/api/v1/pods',
          {
            fieldSelector,
            resourceVersion,
            allowWatchBookmarks: true,
            timeoutSeconds: Math.max(1, Math.ceil((deadline - Date.now()) / 1000)) + 5,
          },
          (phase: string, pod: V1Pod) => {
            if (self.ended) return;
            // 410 Gone after a resume (the version left the watch cache) among them: the caller polls from here.
            if (phase === 'ERROR') return finish(undefined);
            const version = pod.metadata?.resourceVersion;
            if (version) resourceVersion = version;
            if (phase === 'BOOKMARK') return;
            const uid = pod.metadata?.uid;
            if (!uid) return;
            if (phase === 'DELETED') pods.delete(uid);
            else if (phase === 'ADDED' || phase === 'MODIFIED') pods.set(uid, toPodOnNode(pod));
            if (gone()) finish(current());
          },
          // Ended before they were gone (a server timeout, a dropped connection): the caller polls from here.
          () => {
            if (!self.ended) finish(undefined);
          },
        )
        .then((c) => {
          self.controller = c;
          if (finished || self.ended) c.abort();
        })
        .catch(() => {
          if (!self.ended) finish(undefined);
        });
    };
    const restart = () => {
      if (finished || !attempt) return;
      attempt.ended = true;
      attempt.controller?.abort();
      start();
    };
    start();
    // Stopped (the client closed): answered as a watch that ended, so the caller polls or stops.
    unfollow = options.follow?.({ restart, stop: () => finish(undefined) });
  });
}

export async function podsInNamespace(
  apis: KubeApis,
  namespace: string,
  options: { phases?: readonly string[] } = {},
): Promise<(PodOnNode & { node?: string })[]> {
  try {
    const list = (fieldSelector?: string) =>
      listAll((_continue) =>
        apis.core.listNamespacedPod({ namespace, limit: 500, _continue, ...(fieldSelector ? { fieldSelector } : {}) }),
      );
    // Pods index status.phase for field selectors (pkg/registry/core/pod/strategy.go ToSelectableFields); a
    // selector cannot say "A or B", hence one list per phase.
    const pods = options.phases
      ? (await Promise.all(options.phases.map((phase) => list(`status.phase=${phase}`)))).flat()
      : await list();
    return pods.map((p) => ({ ...toPodOnNode(p), ...(p.spec?.nodeName ? { node: p.spec.nodeName } : {}) }));
  } catch (err) {
    throw apis.fail(err, `list Pods in ${namespace}`);
  }
}

export async function evictPod(
  apis: KubeApis,
  namespace: string,
  name: string,
): Promise<'evicted' | 'gone' | 'blocked'> {
  try {
    await apis.core.createNamespacedPodEviction({
      namespace,
      name,
      body: { apiVersion: 'policy/v1', kind: 'Eviction', metadata: { namespace, name } },
    });
    return 'evicted';
  } catch (err) {
    const code = statusCode(err);
    if (code === 404) return 'gone';
    // 429: a PodDisruptionBudget allows no disruption right now (or API priority and fairness throttled us);
    // kubectl drain retries after 5 s. A 500 "more than one PodDisruptionBudget" is a real error.
    if (code === 429) return 'blocked';
    throw apis.fail(err, `evict Pod ${namespace}/${name}`);
  }
}

export async function podExists(apis: KubeApis, namespace: string, name: string, uid: string): Promise<boolean> {
  try {
    const pod = await apis.core.readNamespacedPod({ namespace, name });
    return pod.metadata?.uid === uid;
  } catch (err) {
    if (statusCode(err) === 404) return false;
    throw apis.fail(err, `read Pod ${namespace}/${name}`);
  }
}

export async function forceDeletePod(
  apis: KubeApis,
  namespace: string,
  name: string,
  uid: string,
): Promise<'deleted' | 'gone'> {
  try {
    // Grace period 0 removes the pod from the API at once (what the pod garbage collector does for a Node that is
    // gone); the uid precondition keeps a pod recreated under the same name safe (the server answers 409). Both go in
    // the body: with a body, the API server ignores the query parameters (apiserver endpoints/handlers/delete.go).
    await apis.core.deleteNamespacedPod({
      namespace,
      name,
      body: { gracePeriodSeconds: 0, preconditions: { uid } },
    });
    return 'deleted';
  } catch (err) {
    const code = statusCode(err);
    if (code === 404 || code === 409) return 'gone';
    throw apis.fail(err, `delete Pod ${namespace}/${name}`);
  }
}

export async function listDisruptionBudgets(apis: KubeApis, namespace?: string): Promise<DisruptionBudgetView[]> {
  try {
    const budgets = await listAll((_continue) =>
      namespace
        ? apis.policy.listNamespacedPodDisruptionBudget({ namespace, limit: 500, _continue })
        : apis.policy.listPodDisruptionBudgetForAllNamespaces({ limit: 500, _continue }),
    );
    return budgets.map(toDisruptionBudgetView);
  } catch (err) {
    throw apis.fail(err, `list PodDisruptionBudgets${namespace ? ` in ${namespace}` : ''}`);
  }
}
