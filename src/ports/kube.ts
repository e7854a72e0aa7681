// The narrow port over the Kubernetes API the engine uses, speaking our types. Implemented over
// @kubernetes/client-node 2.x in src/adapters/kube/client.ts (request timeouts, ApiException decoding, paging).
import { KubeswapError } from '../domain/errors.ts';
import type { NodeView } from '../domain/model.ts';

export interface ConfigMapView {
  namespace: string;
  name: string;
  data: Record<string, string>;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  resourceVersion: string;
}

export interface SecretView {
  namespace: string;
  name: string;
  type: string;
  /** Decoded values. Never log them. */
  data: Record<string, string>;
  labels: Record<string, string>;
  resourceVersion: string;
}

export interface PodOnNode {
  namespace: string;
  name: string;
  uid: string;
  /** Owned by a DaemonSet: drain skips it (kubectl drain --ignore-daemonsets). */
  daemonSet: boolean;
  /** Mirror of a static pod (annotation kubernetes.io/config.mirror): goes away with the machine. */
  mirror: boolean;
  phase: string;
  /** Has an emptyDir volume: its data is lost with the pod (kubectl drain --delete-emptydir-data). */
  emptyDir?: boolean;
  /** Managed by no controller: evicted, it is never recreated (kubectl drain --force). */
  bare?: boolean;
  labels: Record<string, string>;
}

/** The pods of a node as one list found them, and that list's resourceVersion (a watch may start from it). */
export interface PodsListed {
  pods: PodOnNode[];
  resourceVersion?: string;
}

export interface DisruptionBudgetView {
  namespace: string;
  name: string;
  disruptionsAllowed: number;
  currentHealthy: number;
  desiredHealthy: number;
  matchLabels: Record<string, string>;
  /** Set-based part of the selector, ANDed with matchLabels. */
  matchExpressions?: LabelRequirement[];
  /** The budget has no selector at all: it selects no pod (an empty selector selects every pod in policy/v1). */
  selectsNone?: boolean;
}

export interface LabelRequirement {
  key: string;
  operator: 'In' | 'NotIn' | 'Exists' | 'DoesNotExist';
  values?: string[];
}

export type EvictionResult = 'evicted' | 'gone' | 'blocked';

export interface LeaseView {
  namespace: string;
  name: string;
  holderIdentity?: string;
  leaseDurationSeconds?: number;
  acquireTime?: Date;
  renewTime?: Date;
  /** Number of holder changes; carried through replace so it is not reset. */
  leaseTransitions?: number;
  resourceVersion: string;
}

/** Namespaced or cluster-scoped RBAC object, created only when missing, never overwritten. */
export type RbacObject =
  | { kind: 'Role'; namespace: string; name: string; rules: RbacRule[] }
  | { kind: 'RoleBinding'; namespace: string; name: string; roleRef: RoleRef; subjects: RbacSubject[] }
  | { kind: 'ClusterRole'; name: string; rules: RbacRule[] }
  | { kind: 'ClusterRoleBinding'; name: string; roleRef: RoleRef; subjects: RbacSubject[] };
export interface RbacRule {
  apiGroups: string[];
  resources: string[];
  verbs: string[];
  resourceNames?: string[];
}
export interface RoleRef {
  kind: 'Role' | 'ClusterRole';
  name: string;
}
export interface RbacSubject {
  kind: 'Group' | 'User' | 'ServiceAccount';
  name: string;
  namespace?: string;
}

/** A DaemonSet or Deployment (apps/v1) and its rollout, for the addons kubeadm manages (kube-proxy, CoreDNS). */
export type WorkloadKind = 'DaemonSet' | 'Deployment';
export interface WorkloadView {
  kind: WorkloadKind;
  namespace: string;
  name: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  containers: { name: string; image: string }[];
  /** Names of the ConfigMaps its pod template mounts. */
  configMaps: string[];
  generation: number;
  observedGeneration: number;
  /** DaemonSet desiredNumberScheduled; Deployment spec.replicas. */
  desired: number;
  /** Pods at the current template: updatedNumberScheduled / updatedReplicas. */
  updated: number;
  /** numberAvailable / availableReplicas. */
  available: number;
  /** Pods of any template: currentNumberScheduled / status.replicas (old pods still terminating count). */
  total: number;
}

export interface NodeEvent {
  node: string;
  reason: string;
  message: string;
  type: 'Normal' | 'Warning';
  /** What kubeswap did or failed to do (Event `action`, e.g. `Drain`); defaults to `reason`. */
  action?: string;
}

/** Thrown by replace*() when the object changed since it was read (HTTP 409): re-read and retry. */
export class ConflictError extends KubeswapError {
  override name = 'ConflictError';
  constructor(message: string, options: { cause?: unknown } = {}) {
    super('internal', 'kube.conflict', message, { cause: options.cause, source: 'environment', retryable: true });
  }
}

/** One permission to ask about (SelfSubjectAccessReview resourceAttributes). */
export interface AccessCheck {
  group: string;
  resource: string;
  subresource?: string;
  verb: string;
  namespace?: string;
  name?: string;
}

export interface LeaseWatchHandlers {
  onLease(lease: LeaseView | undefined): void;
  /** true once a watch is open (its first event, the Lease as it is now, follows); false when it ended. */
  onConnection(connected: boolean): void;
  /** Any event of the open watch, the API server's bookmarks included: its connection is alive. */
  onAlive?(): void;
}

export interface WorkloadWatchHandlers {
  onWorkload(workload: WorkloadView | undefined): void;
  /** true once a watch is open (its first event, the workload as it is now, follows); false when it ended. */
  onConnection(connected: boolean): void;
}

/** Which Nodes a fresh read takes from the API server (KubePort.listNodes); false: none. */
export type FreshNodes = boolean | 'control-plane' | { workers: readonly string[] };

export interface KubePort {
  /** gitVersion of the apiserver answering (e.g. through the load balancer). */
  serverVersion(): Promise<string>;
  /** Client URLs from the etcd mirror pods' kubeadm.kubernetes.io/etcd.advertise-client-urls annotation. */
  etcdClientUrls(): Promise<string[]>;
  /** Whether this identity may do each (SelfSubjectAccessReview), in order. */
  canI(checks: readonly AccessCheck[]): Promise<boolean[]>;
  /**
   * Every Node, with the control-plane static pods (kube-system mirror pods) attached to control-plane nodes.
   * `fresh`: from the API server, never from a run's watched cache (watchChanges); `'control-plane'`: only the
   * control-plane Nodes and their static pods so, the others from the cache while it is current (a large cluster's
   * workers are not listed for a decision about the control plane); `{ workers }`: those and the named worker Nodes
   * so (a worker pool's decisions count its Nodes' readiness). A named Node absent from the answer is gone.
   */
  listNodes(options?: { fresh?: FreshNodes }): Promise<NodeView[]>;
  deleteNode(name: string): Promise<'deleted' | 'gone'>;
  /**
   * Merge-patch annotations; null removes a key. `unschedulable`: sets the cordon in the same patch (one request, and
   * both or neither are written).
   */
  annotateNode(
    name: string,
    annotations: Record<string, string | null>,
    options?: { unschedulable?: boolean },
  ): Promise<void>;
  setUnschedulable(name: string, unschedulable: boolean): Promise<void>;
  recordNodeEvent(event: NodeEvent): Promise<void>;

  podsOnNode(node: string): Promise<PodOnNode[]>;
  /**
   * podsOnNode, with the list's resourceVersion: awaitPodsGone follows on from it instead of listing again. Optional:
   * without it the drain lists with podsOnNode.
   */
  podsOnNodeAt?(node: string): Promise<PodsListed>;
  /**
   * Waits until no pod with one of `uids` is on `node` any more (evicted pods terminating), following the node's pods
   * with a watch: one LIST and one WATCH however long they take. Answers the pods on the node at the end (as
   * podsOnNode would), also when `timeoutMs` ran out first; undefined when it could not follow them (the caller then
   * polls podsOnNode). Optional: without it the drain polls.
   */
  awaitPodsGone?(
    node: string,
    uids: readonly string[],
    /** `from`: the node's pods as a list at that resourceVersion found them (podsOnNodeAt): followed on, not listed. */
    options: { timeoutMs: number; signal?: AbortSignal; from?: PodsListed },
  ): Promise<PodOnNode[] | undefined>;
  /**
   * Every pod of one namespace (paged), each with the Node it is bound to: one list instead of one per Node. With
   * `phases`, only pods in those phases (status.phase field selector, one list per phase), so that a namespace holding
   * a pod per Node (kube-proxy on 5,000 Nodes) is not read whole to find the few that cannot run.
   */
  podsInNamespace(
    namespace: string,
    options?: { phases?: readonly string[] },
  ): Promise<(PodOnNode & { node?: string })[]>;
  evictPod(namespace: string, name: string): Promise<EvictionResult>;
  /** True while a pod with that name and uid exists (a recreated pod has another uid). */
  podExists(namespace: string, name: string, uid: string): Promise<boolean>;
  /**
   * Removes the pod at once (grace period 0), only if it still has this uid: for the pods of a Node whose machine is
   * gone, where no kubelet is left to end them. 'gone': no pod with that uid (already removed, or recreated).
   */
  forceDeletePod(namespace: string, name: string, uid: string): Promise<'deleted' | 'gone'>;
  listDisruptionBudgets(namespace?: string): Promise<DisruptionBudgetView[]>;

  getConfigMap(namespace: string, name: string): Promise<ConfigMapView | undefined>;
  createConfigMap(cm: Omit<ConfigMapView, 'resourceVersion'>): Promise<'created' | 'exists'>;
  /** Optimistic replace guarded by resourceVersion; throws ConflictError on 409. */
  replaceConfigMap(cm: ConfigMapView): Promise<ConfigMapView>;
  deleteConfigMap(namespace: string, name: string): Promise<'deleted' | 'gone'>;

  getSecret(namespace: string, name: string): Promise<SecretView | undefined>;
  listSecrets(namespace: string, options: { labelSelector?: string; type?: string }): Promise<SecretView[]>;
  createSecret(secret: Omit<SecretView, 'resourceVersion'>): Promise<'created' | 'exists'>;
  deleteSecret(namespace: string, name: string): Promise<'deleted' | 'gone'>;

  /** Creates each RBAC object that does not exist yet; returns `Kind/name` of those it created. */
  ensureRbac(objects: RbacObject[]): Promise<string[]>;
  rbacExists(object: Pick<RbacObject, 'kind' | 'name'> & { namespace?: string }): Promise<boolean>;

  getLease(namespace: string, name: string): Promise<LeaseView | undefined>;
  /** Create; answers the Lease as created (the server's answer), or 'exists' when someone else created it first. */
  createLease(lease: Omit<LeaseView, 'resourceVersion'>): Promise<LeaseView | 'exists'>;
  /** Optimistic replace; throws ConflictError on 409. */
  replaceLease(lease: LeaseView): Promise<LeaseView>;
  deleteLease(namespace: string, name: string): Promise<'deleted' | 'gone'>;

  /** Optional: without it the addons after the control plane are skipped with that reason. */
  getWorkload?(kind: WorkloadKind, namespace: string, name: string): Promise<WorkloadView | undefined>;
  /** Sets one container's image (strategic merge patch, keyed by container name): starts the rollout. */
  setContainerImage?(
    kind: WorkloadKind,
    namespace: string,
    name: string,
    container: string,
    image: string,
  ): Promise<void>;

  /**
   * Follows one DaemonSet or Deployment with a watch, restarted whenever it ends (as watchLease). Optional: without it
   * a rollout is followed by reading the workload every poll interval. Returns a stop function.
   */
  watchWorkload?(kind: WorkloadKind, namespace: string, name: string, handlers: WorkloadWatchHandlers): () => void;

  /**
   * Calls `onChange` soon after a Node's or kube-system pod's readiness, cordon or role changes; returns a
   * stop function. A hint for waking the loop early, never the truth. Optional: without it the loop polls.
   */
  watchChanges?(onChange: () => void): () => void;

  /**
   * Follows one Lease (the run lock) with a watch, restarted whenever it ends: `onLease` gets every version the API
   * server reports (undefined: deleted), `onConnection` whether a watch is open. Optional: without it the lock is
   * checked by a read before every step. Returns a stop function.
   */
  watchLease?(namespace: string, name: string, handlers: LeaseWatchHandlers): () => void;

  /**
   * Drops kept-alive connections: the next request opens a new one. Called after an API server left the
   * load balancer, whose existing connections would otherwise stay pinned to it until it dies.
   */
  reconnect?(): void;

  close(): void;
}
