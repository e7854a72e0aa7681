// Drain primitives: the pods on a node, the policy/v1 Eviction API, and the PodDisruptionBudgets
// that make the API server refuse an eviction (HTTP 429).
import type { V1Pod, V1PodDisruptionBudget } from '@kubernetes/client-node';
import type { DisruptionBudgetView, LabelRequirement, PodOnNode } from '../../ports/kube.ts';
import { statusCode } from './errors.ts';
import { MIRROR_ANNOTATION } from './nodes.ts';
import type { KubeApis } from './transport.ts';
import { listAll } from './wire.ts';

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
  try {
    const pods = await listAll((_continue) =>
      apis.core.listPodForAllNamespaces({ fieldSelector: `spec.nodeName=${node}`, limit: 500, _continue }),
    );
    return pods.map(toPodOnNode);
  } catch (err) {
    throw apis.fail(err, `list Pods on Node ${node}`);
  }
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
