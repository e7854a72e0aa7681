// The daemon's shared view of the sandbox: its plan, processes, clients, and the machines it plays.

import { join } from 'node:path';
import type * as k8s from '@kubernetes/client-node';
import type { AwsClients, AwsTopology } from './aws.ts';
import type { AwsFront } from './aws-front.ts';
import type { EtcdTls } from './etcd.ts';
import { clientUrl } from './etcd.ts';
import type { ArmedFault } from './faults.ts';
import type { Kubeadm, KubeadmClusterSettings } from './kubeadm.ts';
import type { MirrorPodStatus } from './pod-status.ts';
import type { ProcessTable } from './processes.ts';
import type { SandboxPlan } from './state.ts';

export type MachineState =
  | 'booting' // instance running, boot delay not over
  | 'never-booted' // fault: the VM hangs in boot
  | 'joining' // playing kubeadm join
  | 'running' // member promoted, apiserver up, Node registered
  | 'refused' // kubeadm join refused it; it never becomes a Node
  | 'failed' // died mid-join (fault) or the join failed
  | 'terminated'; // the instance is gone; its processes are stopped

export interface Machine {
  instanceId: string;
  node: string;
  az: string;
  privateIp: string;
  instanceType: string;
  version: string;
  state: MachineState;
  detail: string;
  etcdMemberId: string;
  ports: { etcdClient: number; etcdPeer: number; apiServer: number };
  dir: string;
  pkiDir: string;
  etcdDataDir: string;
  fault?: ArmedFault;
  /** Its image brings the shared control-plane certificates (a control-plane join then needs no certificate key). */
  imageBringsCertificates?: boolean;
  /** Set while its processes are being stopped after the instance went away. */
  terminating?: boolean;
}

export interface Runtime {
  plan: SandboxPlan;
  stateDir: string;
  processes: ProcessTable;
  aws: AwsClients;
  /** What clients outside the daemon use: the AWS emulation in front of moto (aws-front.ts). */
  awsEndpoint: string;
  awsFront: AwsFront;
  topology: AwsTopology;
  /** By instance id. */
  machines: Map<string, Machine>;
  core: k8s.CoreV1Api;
  /** The mirror pods' readiness as the kubelets report it: the latest report of each pod wins (pod-status.ts). */
  podStatus: MirrorPodStatus;
  etcdTls: EtcdTls;
  kubeadm: (version: string) => Kubeadm;
  cluster: KubeadmClusterSettings;
  loadBalancerPort: number;
  etcdVersion: string;
  log: (line: string) => void;
  /** Rewrites sandbox.json, env and kubeswap.yaml from the current machines. */
  publish: () => void;
}

export function binaryOf(plan: SandboxPlan, version: string, name: string): string {
  const dir = plan.binaries.kubernetes[version];
  if (!dir) throw new Error(`no Kubernetes ${version} binaries in the plan`);
  return join(dir, name);
}

export const etcdProcess = (m: Machine) => `${m.node}.etcd`;
export const apiServerProcess = (m: Machine) => `${m.node}.kube-apiserver`;

export function machineOfProcess(rt: Runtime, name: string): { machine: Machine; component: string } | undefined {
  for (const machine of rt.machines.values()) {
    if (name === etcdProcess(machine)) return { machine, component: 'etcd' };
    if (name === apiServerProcess(machine)) return { machine, component: 'kube-apiserver' };
  }
  return undefined;
}

/** Client URLs of the etcd members of machines whose etcd runs (what a joining kubeadm dials). */
export function liveEtcdEndpoints(rt: Runtime): string[] {
  return [...rt.machines.values()]
    .filter((m) => rt.processes.has(etcdProcess(m)) && m.state === 'running')
    .map((m) => clientUrl(m.ports.etcdClient));
}
