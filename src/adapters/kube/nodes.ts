// Nodes as the engine sees them: readiness, role, machine link, kubelet version, and the mirror pods
// of the control-plane static pods kubeadm runs on them.
import { hostname } from 'node:os';
import { PatchStrategy, setHeaderOptions, V1MicroTime, type V1Pod } from '@kubernetes/client-node';
import {
  CONTROL_PLANE_COMPONENTS,
  type ControlPlaneComponent,
  type NodeView,
  type StaticPodView,
} from '../../domain/model.ts';
import type { NodeEvent } from '../../ports/kube.ts';
import { statusCode } from './errors.ts';
import type { KubeApis } from './transport.ts';
import { listAll, toDate } from './wire.ts';

export const CONTROL_PLANE_LABEL = 'node-role.kubernetes.io/control-plane';
/** kubeadm before 1.20 labelled control-plane nodes only with this; 1.20-1.24 set both. */
export const LEGACY_MASTER_LABEL = 'node-role.kubernetes.io/master';
export const MIRROR_ANNOTATION = 'kubernetes.io/config.mirror';
export const EVENT_SOURCE = 'kubeswap';

const merge = () => setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

/**
 * The fields of a Node that toNodeView reads: a client-node V1Node, or the Node as JSON off the wire (listNodes reads
 * it so, timestamps as strings).
 */
export interface NodeFields {
  metadata?: {
    name?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    creationTimestamp?: Date | string;
  };
  spec?: { providerID?: string; unschedulable?: boolean };
  status?: { conditions?: { type: string; status: string }[]; nodeInfo?: { kubeletVersion: string } };
}

export function toNodeView(node: NodeFields, kubeSystemPods: V1Pod[]): NodeView {
  const name = node.metadata?.name ?? '';
  const labels = node.metadata?.labels ?? {};
  const ready = node.status?.conditions?.find((c) => c.type === 'Ready');
  return {
    name,
    providerId: node.spec?.providerID || undefined,
    ready: ready?.status === 'True',
    unschedulable: node.spec?.unschedulable === true,
    controlPlane: CONTROL_PLANE_LABEL in labels || LEGACY_MASTER_LABEL in labels,
    kubeletVersion: node.status?.nodeInfo?.kubeletVersion ?? '',
    createdAt: toDate(node.metadata?.creationTimestamp),
    labels: { ...labels },
    annotations: { ...(node.metadata?.annotations ?? {}) },
    staticPods: staticPodsOf(name, kubeSystemPods),
  };
}

/**
 * The kubelet names a static pod's mirror `<pod name>-<node name>`; kubeadm's pods are named after the
 * component. Matching on the name alone would also pick up a same-named Deployment pod, so the pod must
 * be a mirror (annotation) or carry kubeadm's `tier: control-plane` label.
 */
export function staticPodsOf(node: string, kubeSystemPods: V1Pod[]): NodeView['staticPods'] {
  const found: Partial<Record<ControlPlaneComponent, StaticPodView>> = {};
  for (const component of CONTROL_PLANE_COMPONENTS) {
    const podName = `${component}-${node}`;
    const pod = kubeSystemPods.find((p) => p.metadata?.name === podName && isControlPlaneStaticPod(p, node));
    if (pod) found[component] = { component, name: podName, ready: podReady(pod) };
  }
  return found;
}

function isControlPlaneStaticPod(pod: V1Pod, node: string): boolean {
  if (pod.spec?.nodeName && pod.spec.nodeName !== node) return false;
  return MIRROR_ANNOTATION in (pod.metadata?.annotations ?? {}) || pod.metadata?.labels?.tier === 'control-plane';
}

export function podReady(pod: V1Pod): boolean {
  return pod.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') === true;
}

/**
 * Every Node, with the static pods of the control-plane ones. `staticPods` are the run's watched ones (node-cache.ts)
 * when current; otherwise one list of kubeadm's static pods (label tier=control-plane, which kubeadm puts on every
 * static pod it writes: cmd/kubeadm/app/util/staticpod/utils.go) instead of all of kube-system, which on a large
 * cluster holds a kube-proxy pod (and more) per Node.
 */
export async function listNodes(apis: KubeApis, staticPods?: V1Pod[], labelSelector?: string): Promise<NodeView[]> {
  try {
    const podsRead =
      staticPods ??
      listAll((_continue) =>
        apis.core.listNamespacedPod({
          namespace: 'kube-system',
          labelSelector: 'tier=control-plane',
          limit: 500,
          _continue,
        }),
      );
    Promise.resolve(podsRead).catch(() => undefined);
    // Each page becomes our small NodeView as it arrives: the Nodes (managed fields, images, addresses, conditions...)
    // of one page at a time are held, never those of every Node, and as plain JSON: the generated deserializer would
    // copy each of them field by field first, the larger part of plan's CPU time at 5,000 Nodes (issue 15 §3).
    const views: NodeView[] = [];
    let token: string | undefined;
    let limit: number = NODE_PAGE.min;
    do {
      const { value: page, length } = await apis.getJson<{ items: NodeFields[]; metadata?: { continue?: string } }>(
        '/api/v1/nodes',
        { limit, continue: token, labelSelector },
      );
      const pods = await podsRead;
      for (const n of page.items) views.push(toNodeView(n, pods));
      token = page.metadata?.continue || undefined;
      limit = nextNodePageLimit(length, page.items.length);
    } while (token);
    return views;
  } catch (err) {
    throw apis.fail(err, 'list Nodes and kube-system Pods');
  }
}

/** kubelet labels its Node with its hostname (k8s.io/api/core/v1 LabelHostname), usually the Node's name. */
export const HOSTNAME_LABEL = 'kubernetes.io/hostname';

/**
 * The worker Nodes of a fresh read are asked for by their hostname label, `kubernetes.io/hostname in (...)`, in
 * selectors of at most `selectorChars` URL-encoded characters each (a URL of a few KB passes every proxy and load
 * balancer in front of an API server). Node lists have no index on labels: each selector costs the server a pass over
 * every Node, so beyond `maxLists` of them one list of every Node is read instead.
 */
export const FRESH_BY_NAME = { selectorChars: 4096, maxLists: 8 } as const;

/**
 * The Nodes afresh while the run's watched cache (node-cache.ts) is current: the control-plane Nodes and their static
 * pods read from the API by label, the named `workers` (a worker pool's Nodes, whose readiness its decisions count) by
 * their hostname label, every other Node from the cache. The reads made afresh (a swap's start, a member's removal, a
 * machine's termination: converge.ts) exist because a watch may be silently dead (node-cache.ts): every Node whose
 * readiness the decision counts is read from the API. Read whole, they cost a full Node list each, 2-3 per swap, at
 * 5,000 Nodes tens of MB over several pages each (issue 15: requests per swap independent of the cluster's size).
 * The other Nodes are as current as the watch. Any doubt reads every Node as before: a control-plane Node labelled
 * only the legacy way, or a named worker without a hostname label (a selector would miss either); one the cache holds
 * that the fresh read no longer returns (deleted or relabelled since: the whole list tells which); more worker
 * selectors than FRESH_BY_NAME.maxLists. A named worker the cache does not hold (deleted, or never delivered by a
 * watch that went silent) is read by its name, one list by `metadata.name` each: absent there, it is gone.
 */
export async function readAfresh(
  apis: KubeApis,
  cached: NodeView[],
  workers: readonly string[] = [],
): Promise<NodeView[]> {
  if (cached.some((n) => n.controlPlane && !(CONTROL_PLANE_LABEL in n.labels))) return listNodes(apis);
  const wanted = new Set(workers);
  const asked = cached.filter((n) => wanted.has(n.name) && !n.controlPlane);
  if (asked.some((n) => !n.labels[HOSTNAME_LABEL])) return listNodes(apis);
  const held = new Set(cached.map((n) => n.name));
  const unheld = [...wanted].filter((name) => !held.has(name));
  const selectors = hostnameSelectors([...new Set(asked.map((n) => n.labels[HOSTNAME_LABEL]!))]);
  if (selectors.length + unheld.length > FRESH_BY_NAME.maxLists) return listNodes(apis);
  const [controlPlane, byName, ...named] = await Promise.all([
    listNodes(apis, undefined, CONTROL_PLANE_LABEL),
    Promise.all(unheld.map((name) => readNode(apis, name))),
    // Worker Nodes run no kubeadm static pods: no pod list for them.
    ...selectors.map((selector) => listNodes(apis, [], selector)),
  ]);
  const fresh = new Map<string, NodeView>();
  for (const n of named.flat()) fresh.set(n.name, n);
  for (const n of byName!) if (n) fresh.set(n.name, n);
  // A Node in both answers (a worker given the control-plane label since): the control-plane read has its static pods.
  for (const n of controlPlane!) fresh.set(n.name, n);
  const controlPlaneNames = new Set(controlPlane!.map((n) => n.name));
  if (cached.some((n) => n.controlPlane && !controlPlaneNames.has(n.name))) return listNodes(apis);
  if (asked.some((n) => !fresh.has(n.name))) return listNodes(apis);
  const others = cached.filter((n) => !n.controlPlane && !fresh.has(n.name));
  return [...fresh.values(), ...others].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/**
 * One worker Node from the API server by its name; undefined when there is none. A list with a field selector, not a
 * GET: kubeswap's role may `list` Nodes, not `get` them (templates/rbac/kubeswap.yaml).
 */
async function readNode(apis: KubeApis, name: string): Promise<NodeView | undefined> {
  try {
    const { value } = await apis.getJson<{ items: NodeFields[] }>('/api/v1/nodes', {
      fieldSelector: `metadata.name=${name}`,
    });
    const node = value.items[0];
    return node ? toNodeView(node, []) : undefined;
  } catch (err) {
    throw apis.fail(err, `read Node ${name}`);
  }
}

/** `kubernetes.io/hostname in (...)` selectors covering `hostnames`, each within FRESH_BY_NAME.selectorChars. */
export function hostnameSelectors(hostnames: readonly string[]): string[] {
  // URL-encoding is character by character, so a selector's encoded length is the sum of its parts'.
  const fixed = encodeURIComponent(`${HOSTNAME_LABEL} in ()`).length;
  const comma = encodeURIComponent(',').length;
  const selectors: string[] = [];
  let chunk: string[] = [];
  let length = fixed;
  for (const hostname of [...hostnames].sort()) {
    const more = encodeURIComponent(hostname).length + (chunk.length > 0 ? comma : 0);
    if (chunk.length > 0 && length + more > FRESH_BY_NAME.selectorChars) {
      selectors.push(`${HOSTNAME_LABEL} in (${chunk.join(',')})`);
      chunk = [];
      length = fixed;
    }
    length += encodeURIComponent(hostname).length + (chunk.length > 0 ? comma : 0);
    chunk.push(hostname);
  }
  if (chunk.length > 0) selectors.push(`${HOSTNAME_LABEL} in (${chunk.join(',')})`);
  return selectors;
}

/**
 * Pages of the Node list: each round trip costs the apiserver a fixed share (about 70 ms a page in the sandbox at 5,000
 * Nodes: 11 pages of 500 took 0.8 s, 3 of 2,500 0.3 s), so pages after the first are sized by the Nodes' size to about
 * `bytes` of JSON: small Nodes come in a few large pages, large ones (many images) stay at `min` a page, as kubectl's
 * default chunk size. A page is held at most once (parsed, then dropped). The page size may change between pages: the
 * continue token holds only the resourceVersion and the next key (k8s.io/apiserver pkg/storage/continue.go
 * EncodeContinue), so every page is still read from the first page's snapshot.
 */
export const NODE_PAGE = { min: 500, max: 5000, bytes: 4 * 1024 * 1024 } as const;

/** The limit of the next page of Nodes, from the JSON length and item count of the last one. */
export function nextNodePageLimit(length: number, items: number): number {
  if (items === 0) return NODE_PAGE.min;
  const perNode = length / items;
  return Math.min(NODE_PAGE.max, Math.max(NODE_PAGE.min, Math.floor(NODE_PAGE.bytes / perNode)));
}

/** Set by kubeadm (>= 1.22) on each `etcd-<node>` static pod; the mirror pod carries it. */
export const ETCD_CLIENT_URLS_ANNOTATION = 'kubeadm.kubernetes.io/etcd.advertise-client-urls';

/** Client URLs of the stacked etcd members, in node order, from the etcd mirror pods' kubeadm annotation. */
export function etcdClientUrlsOf(kubeSystemPods: V1Pod[]): string[] {
  const urls = kubeSystemPods
    .filter((p) => p.metadata?.name?.startsWith('etcd-') && p.metadata.annotations?.[ETCD_CLIENT_URLS_ANNOTATION])
    .sort((a, b) =>
      (a.spec?.nodeName ?? a.metadata?.name ?? '').localeCompare(b.spec?.nodeName ?? b.metadata?.name ?? ''),
    )
    .flatMap((p) => p.metadata!.annotations![ETCD_CLIENT_URLS_ANNOTATION]!.split(','))
    .map((u) => u.trim())
    .filter(Boolean);
  return [...new Set(urls)];
}

export async function etcdClientUrls(apis: KubeApis): Promise<string[]> {
  try {
    const pods = await listAll((_continue) =>
      apis.core.listNamespacedPod({ namespace: 'kube-system', labelSelector: 'component=etcd', limit: 500, _continue }),
    );
    return etcdClientUrlsOf(pods);
  } catch (err) {
    throw apis.fail(err, 'list the etcd static pods in kube-system');
  }
}

export async function deleteNode(apis: KubeApis, name: string): Promise<'deleted' | 'gone'> {
  try {
    await apis.core.deleteNode({ name });
    return 'deleted';
  } catch (err) {
    if (statusCode(err) === 404) return 'gone';
    throw apis.fail(err, `delete Node ${name}`);
  }
}

/** Returns the Node's new resourceVersion (the run's Node cache waits for it). */
export async function annotateNode(
  apis: KubeApis,
  name: string,
  annotations: Record<string, string | null>,
  options: { unschedulable?: boolean } = {},
) {
  try {
    const spec = options.unschedulable === undefined ? {} : { spec: { unschedulable: options.unschedulable } };
    const node = await apis.core.patchNode({ name, body: { metadata: { annotations }, ...spec } }, merge());
    return node.metadata?.resourceVersion;
  } catch (err) {
    throw apis.fail(err, `annotate Node ${name}`);
  }
}

export async function setUnschedulable(apis: KubeApis, name: string, unschedulable: boolean) {
  try {
    // Merge patch: 2.x, like 1.x, would otherwise send application/json-patch+json and the server rejects the body.
    const node = await apis.core.patchNode({ name, body: { spec: { unschedulable } } }, merge());
    return node.metadata?.resourceVersion;
  } catch (err) {
    throw apis.fail(err, `${unschedulable ? 'cordon' : 'uncordon'} Node ${name}`);
  }
}

/** A core/v1 Event about a Node, visible in `kubectl describe node` and `kubectl events`. */
export function nodeEventBody(event: NodeEvent, at: Date, instance: string) {
  // MicroTime must go out with 6 fractional digits or the server answers 400; V1MicroTime does that.
  const eventTime = new V1MicroTime(at.getTime());
  return {
    metadata: { name: `${event.node}.kubeswap.${at.getTime().toString(16)}${randomSuffix()}`, namespace: 'default' },
    // kubectl describe node looks events up with uid == node name, as the kubelet reports them.
    involvedObject: { apiVersion: 'v1', kind: 'Node', name: event.node, uid: event.node },
    reason: event.reason,
    message: event.message,
    type: event.type,
    action: event.action ?? event.reason,
    source: { component: EVENT_SOURCE, host: instance },
    reportingComponent: EVENT_SOURCE,
    reportingInstance: instance.slice(0, 128),
    firstTimestamp: at,
    lastTimestamp: at,
    eventTime,
    count: 1,
  };
}

export async function recordNodeEvent(apis: KubeApis, event: NodeEvent, at = new Date()): Promise<void> {
  try {
    await apis.core.createNamespacedEvent({ namespace: 'default', body: nodeEventBody(event, at, hostname()) });
  } catch (err) {
    throw apis.fail(err, `record event ${event.reason} on Node ${event.node}`);
  }
}

function randomSuffix(): string {
  return Math.floor(Math.random() * 0xffff)
    .toString(16)
    .padStart(4, '0');
}
