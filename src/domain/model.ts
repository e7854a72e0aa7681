// The engine's own vocabulary. Ports (kube, etcd, providers) translate outside systems into these
// types, so the planner never sees a library object. Everything here is plain data: snapshots are
// built once per pass and never mutated.

/** Static pods kubeadm runs on every control-plane node (mirror pods `<component>-<node>`). */
export const CONTROL_PLANE_COMPONENTS = [
  'etcd',
  'kube-apiserver',
  'kube-controller-manager',
  'kube-scheduler',
] as const;
export type ControlPlaneComponent = (typeof CONTROL_PLANE_COMPONENTS)[number];

export interface StaticPodView {
  component: ControlPlaneComponent;
  name: string;
  ready: boolean;
}

export interface NodeView {
  name: string;
  /** `aws:///<az>/<instance-id>` on AWS: the link from a Node to its machine. */
  providerId?: string;
  /** The machine the providerID points at, as the provider reads it (contract v2 `machineIdOf`). */
  machineId?: string;
  ready: boolean;
  unschedulable: boolean;
  controlPlane: boolean;
  kubeletVersion: string;
  createdAt: Date;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  /** Mirror pods of the control-plane static pods found on this node, by component. */
  staticPods: Partial<Record<ControlPlaneComponent, StaticPodView>>;
}

export interface EtcdMember {
  /** uint64 as a decimal string: never a JS number (precision loss). */
  id: string;
  /** Empty until the member has started (an unstarted member). kubeadm names members after their node. */
  name: string;
  peerUrls: string[];
  clientUrls: string[];
  isLearner: boolean;
}

export interface EtcdEndpointHealth {
  endpoint: string;
  /** Member answering at this endpoint, when it answered. */
  memberId?: string;
  /** As `etcdctl endpoint health` (3.6): a linearizable read within the deadline and no active alarm. */
  healthy: boolean;
  leaderId?: string;
  isLearner?: boolean;
  error?: string;
  tookMs: number;
  /** The cluster's active alarms as this endpoint listed them (the health check reads them), when it could. */
  alarms?: EtcdAlarm[];
}

export type EtcdAlarmType = 'NOSPACE' | 'CORRUPT';
export interface EtcdAlarm {
  memberId: string;
  alarm: EtcdAlarmType;
}

export interface EtcdView {
  members: EtcdMember[];
  leaderId?: string;
  alarms: EtcdAlarm[];
  endpoints: EtcdEndpointHealth[];
}

/**
 * Where a machine is in its life, in every provider's words (contract v2): each provider maps its own
 * states (EC2 pending/running/shutting-down/terminated/stopped, a Cluster API Machine's phase, ...).
 */
export type MachinePhase = 'provisioning' | 'running' | 'deleting' | 'gone' | 'failed';

/** The pool of the control plane; worker pools carry their own names. */
export const CONTROL_PLANE_POOL = 'control-plane';

/**
 * A machine as a provider sees it. Providers may return objects with more fields of their own (a
 * subnet, tags): the engine never reads them, but hands the same objects back (e.g. `replaces`).
 */
export interface Machine {
  id: string;
  /** What the machine's Node carries in spec.providerID. */
  providerId: string;
  pool: string;
  phase: MachinePhase;
  /** The provider's own word for the state (EC2 `shutting-down`), for people. */
  status: string;
  /** Failure domain (availability zone), when the provider has one. */
  zone: string;
  /** What the machine was built from (an AMI id, a template), as the plan shows it. */
  imageId: string;
  /**
   * The Node its provider's system linked it to (Cluster API `status.nodeRef`): links it to that Node when the
   * machine has no providerId (empty).
   */
  nodeName?: string;
  launchedAt: Date;
  /** Id of the machine this one was created to replace, when kubeswap created it. */
  replaces?: string;
  /** Run that created it, when kubeswap created it. */
  runId?: string;
  /** Why it differs from the run's desired machine, as its provider says (set when a pass knows the target). */
  drift?: DriftReason[];
  /**
   * Deleting, its Node drained by the provider's system, and held until `terminate` releases it (providers with
   * `drainsOnDelete`: a Cluster API Machine waiting on kubeswap's pre-terminate hook).
   */
  held?: boolean;
  /** When the provider's system started deleting it (providers with `drainsOnDelete`): its drain is timed from here. */
  deletionStartedAt?: Date;
  /**
   * Deleting without kubeswap's hold (providers with `drainsOnDelete`: someone else deleted it): after its drain the
   * provider's system would take it down with its etcd member still in the cluster, unless `startDeletion` holds it.
   */
  unheld?: boolean;
  /**
   * Deleting: how much longer than --termination-timeout its termination may take by its provider's own rules (an
   * Auto Scaling group's terminate lifecycle hook holds it for up to the hook's heartbeat timeout). Absent: none.
   */
  terminationAllowanceMs?: number;
}

/** Load-balancer membership of a machine, in generic words (ELBv2: initial, healthy, unhealthy, draining, unused, unavailable). */
export type ApiTargetState = 'registering' | 'serving' | 'unhealthy' | 'draining' | 'absent' | 'unmonitored';
export interface ApiTarget {
  machineId: string;
  state: ApiTargetState;
}

/** Why a machine differs from what the provider would create now: data the plan shows, never parsed. */
export interface DriftReason {
  /** Stable code, e.g. `image`, `launch-template`. */
  code: string;
  message: string;
}

/** What the run wants every control-plane machine to be. */
export interface Desired {
  /** Target Kubernetes version, `vX.Y.Z`. */
  version: string;
  /** Target machine image; when absent, the provider's image for `version`. */
  imageId: string;
  /** The provider's template revision machines are created from (a launch template version), when it has one. */
  template?: { id: string; version: string };
  /** Replace every machine even when it already matches (kops --force). */
  force: boolean;
  /** What the provider knows of the image, for the operator to check before approving (never compared). */
  image?: ImageFacts;
}

export interface ImageFacts {
  name?: string;
  /** The account (or project) that owns it: another one for an image shared from a build account. */
  owner?: string;
  createdAt?: string;
}
