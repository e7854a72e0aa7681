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

export type MachineState = 'pending' | 'running' | 'shutting-down' | 'terminated' | 'stopping' | 'stopped';

/** A VM as the provider sees it. */
export interface Machine {
  id: string;
  providerId: string;
  zone: string;
  subnetId?: string;
  imageId: string;
  launchTemplate?: { id: string; version: string };
  state: MachineState;
  launchedAt: Date;
  tags: Record<string, string>;
  /** Instance id this machine was created to replace (our tag), when we created it. */
  replaces?: string;
  /** Run that created it (our tag), when we created it. */
  runId?: string;
}

export type ApiTargetState = 'initial' | 'healthy' | 'unhealthy' | 'draining' | 'unused' | 'unavailable';
export interface ApiTarget {
  machineId: string;
  state: ApiTargetState;
}

/** What the run wants every control-plane machine to be. */
export interface Desired {
  /** Target Kubernetes version, `vX.Y.Z`. */
  version: string;
  /** Target machine image; when absent, the provider's image for `version`. */
  imageId: string;
  launchTemplate?: { id: string; version: string };
  /** Replace every machine even when it already matches (kops --force). */
  force: boolean;
}
