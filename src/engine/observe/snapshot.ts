// One immutable picture of the world per pass, and the links between its parts: a control-plane
// Node, the VM behind it (providerID) and its etcd member (kubeadm names members after their node).
import type { ApiTarget, EtcdEndpointHealth, EtcdMember, EtcdView, Machine, NodeView } from '../../domain/model.ts';
import type { PoolRollout } from '../../domain/rollouts.ts';
import type { RetiringRecord } from '../run/retiring.ts';

export interface ClusterConfigView {
  /** kubeadm.k8s.io/v1beta2 | v1beta3 | v1beta4 */
  apiVersion: string;
  kubernetesVersion: string;
  /** sha256 of the ClusterConfiguration text: a saved plan notices any change to it. */
  digest: string;
}

export interface Snapshot {
  at: Date;
  nodes: NodeView[];
  etcd: EtcdView;
  /** The etcd view is an earlier pass's (EtcdReads): no gate pass counts on it. */
  etcdReused?: true;
  /** The Nodes and static pods were read from the API server, not from the run's watched cache. */
  nodesFresh?: true;
  /** Every Node was read from the API server, not only those the decisions in scope count (nodesFresh). */
  everyNodeFresh?: true;
  /** Machines behind the control-plane Nodes plus every machine tagged for this cluster. */
  machines: Machine[];
  /** API load-balancer targets; undefined when no target group is configured. */
  apiTargets?: ApiTarget[];
  /** The provider drains a Node when its machine's deletion starts, and holds the machine (drainsOnDelete). */
  providerDrains?: boolean;
  /** The machine a --max-surge 0 swap removes before its replacement exists, while that swap runs. */
  retiring?: RetiringRecord;
  /** Machines of the worker pools the run works on (each carries its `pool`); undefined when it works on none. */
  workerMachines?: Machine[];
  /** Rollouts of the worker pools the provider rolls itself (capabilities.rollsPools); undefined otherwise. */
  poolRollouts?: PoolRollout[];
}

export interface ControlPlaneMachine {
  name: string;
  node: NodeView;
  machine?: Machine;
  member?: EtcdMember;
  health?: EtcdEndpointHealth;
}

const LIVE: ReadonlySet<string> = new Set(['provisioning', 'running']);
export const isLive = (m: Machine) => LIVE.has(m.phase);

export function controlPlaneMachines(s: Snapshot): ControlPlaneMachine[] {
  return s.nodes
    .filter((n) => n.controlPlane)
    .map((node) => {
      const machine = s.machines.find((m) => linksTo(m, node));
      const member = s.etcd.members.find((m) => m.name === node.name);
      const health = member ? s.etcd.endpoints.find((e) => e.memberId === member.id) : undefined;
      return { name: node.name, node, machine, member, health };
    });
}

export function nodeOf(s: Snapshot, machine: Machine): NodeView | undefined {
  return s.nodes.find((n) => linksTo(machine, n));
}

/** A machine is a Node's by providerID; one without a providerId by the Node its provider names (nodeName). */
export function linksTo(machine: Machine, node: Pick<NodeView, 'name' | 'providerId'>): boolean {
  if (machine.providerId) return machine.providerId === node.providerId;
  return machine.nodeName !== undefined && machine.nodeName === node.name;
}

export function memberOfNode(s: Snapshot, nodeName: string): EtcdMember | undefined {
  return s.etcd.members.find((m) => m.name === nodeName);
}

/** Members no control-plane Node accounts for: learners or unstarted members of a join, or orphans. */
export function unlinkedMembers(s: Snapshot): EtcdMember[] {
  const names = new Set(s.nodes.filter((n) => n.controlPlane).map((n) => n.name));
  return s.etcd.members.filter((m) => !m.name || !names.has(m.name));
}

export function targetOf(s: Snapshot, machineId: string): ApiTarget | undefined {
  return s.apiTargets?.find((t) => t.machineId === machineId);
}

export function memberHealth(s: Snapshot, memberId: string): EtcdEndpointHealth | undefined {
  return s.etcd.endpoints.find((e) => e.memberId === memberId);
}
