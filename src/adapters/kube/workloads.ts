// DaemonSets and Deployments (apps/v1): read one with its rollout status, set one container's image.
import {
  type KubeConfig,
  PatchStrategy,
  setHeaderOptions,
  type V1DaemonSet,
  type V1Deployment,
  type V1PodTemplateSpec,
} from '@kubernetes/client-node';
import type { WorkloadKind, WorkloadView, WorkloadWatchHandlers } from '../../ports/kube.ts';
import { statusCode } from './errors.ts';
import type { KubeApis } from './transport.ts';
import { watchOne } from './watch-one.ts';

function base(kind: WorkloadKind, object: V1DaemonSet | V1Deployment, template: V1PodTemplateSpec | undefined) {
  return {
    kind,
    namespace: object.metadata?.namespace ?? '',
    name: object.metadata?.name ?? '',
    labels: { ...(object.metadata?.labels ?? {}) },
    annotations: { ...(object.metadata?.annotations ?? {}) },
    containers: (template?.spec?.containers ?? []).map((c) => ({ name: c.name, image: c.image ?? '' })),
    configMaps: (template?.spec?.volumes ?? []).flatMap((v) => (v.configMap?.name ? [v.configMap.name] : [])),
    generation: object.metadata?.generation ?? 0,
  };
}

export function toWorkloadView(kind: WorkloadKind, object: V1DaemonSet | V1Deployment): WorkloadView {
  if (kind === 'DaemonSet') {
    const ds = object as V1DaemonSet;
    const s = ds.status;
    return {
      ...base(kind, ds, ds.spec?.template),
      observedGeneration: s?.observedGeneration ?? 0,
      desired: s?.desiredNumberScheduled ?? 0,
      updated: s?.updatedNumberScheduled ?? 0,
      available: s?.numberAvailable ?? 0,
      total: s?.currentNumberScheduled ?? 0,
    };
  }
  const d = object as V1Deployment;
  const s = d.status;
  return {
    ...base(kind, d, d.spec?.template),
    observedGeneration: s?.observedGeneration ?? 0,
    desired: d.spec?.replicas ?? 1,
    updated: s?.updatedReplicas ?? 0,
    available: s?.availableReplicas ?? 0,
    total: s?.replicas ?? 0,
  };
}

export async function getWorkload(apis: KubeApis, kind: WorkloadKind, namespace: string, name: string) {
  try {
    const object =
      kind === 'DaemonSet'
        ? await apis.apps.readNamespacedDaemonSet({ namespace, name })
        : await apis.apps.readNamespacedDeployment({ namespace, name });
    return toWorkloadView(kind, object);
  } catch (err) {
    if (statusCode(err) === 404) return undefined;
    throw apis.fail(err, `read ${kind} ${namespace}/${name}`);
  }
}

export async function setContainerImage(
  apis: KubeApis,
  kind: WorkloadKind,
  namespace: string,
  name: string,
  container: string,
  image: string,
) {
  // Strategic merge patch merges containers by name: the other fields and containers stay as they are.
  const body = { spec: { template: { spec: { containers: [{ name: container, image }] } } } };
  const strategic = setHeaderOptions('Content-Type', PatchStrategy.StrategicMergePatch);
  try {
    if (kind === 'DaemonSet') await apis.apps.patchNamespacedDaemonSet({ namespace, name, body }, strategic);
    else await apis.apps.patchNamespacedDeployment({ namespace, name, body }, strategic);
  } catch (err) {
    throw apis.fail(err, `set the ${container} image of ${kind} ${namespace}/${name}`);
  }
}

/** Follows one DaemonSet or Deployment (watch-one.ts): its rollout status as each write changes it. */
export function watchWorkload(
  kc: KubeConfig,
  kind: WorkloadKind,
  namespace: string,
  name: string,
  handlers: WorkloadWatchHandlers,
): { stop(): void; restart(): void } {
  const collection = kind === 'DaemonSet' ? 'daemonsets' : 'deployments';
  return watchOne<V1DaemonSet | V1Deployment>(kc, `/apis/apps/v1/namespaces/${namespace}/${collection}`, name, {
    onConnection: handlers.onConnection,
    onObject: (object) => handlers.onWorkload(object ? toWorkloadView(kind, object) : undefined),
  });
}
