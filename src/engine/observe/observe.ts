// Builds one Snapshot per pass. Reads run in parallel where they are independent; nothing here
// writes. A failure to read a system the plan depends on is an error, not an empty list.

import { createHash } from 'node:crypto';
import { KubeswapError } from '../../domain/errors.ts';
import { agreedLeader } from '../../domain/etcd.ts';
import { KUBEADM_CONFIG, KUBEADM_NAMESPACE, parseClusterConfiguration } from '../../domain/kubeadm/cluster-config.ts';
import type { Desired } from '../../domain/model.ts';
import { CONTROL_PLANE_POOL } from '../../domain/model.ts';
import type { Ports } from '../ports.ts';
import { readRetiring } from '../run/retiring.ts';
import type { ClusterConfigView, Snapshot } from './snapshot.ts';

export async function readClusterConfig(ports: Pick<Ports, 'kube'>): Promise<ClusterConfigView> {
  const cm = await ports.kube.getConfigMap(KUBEADM_NAMESPACE, KUBEADM_CONFIG);
  const text = cm?.data['ClusterConfiguration'];
  if (!text) {
    throw new KubeswapError(
      'invalid',
      'cluster.not-kubeadm',
      'kube-system/kubeadm-config has no ClusterConfiguration',
      {
        hint: 'kubeswap upgrades clusters built by kubeadm; check --kubeconfig/--context point at one',
      },
    );
  }
  const config = parseClusterConfiguration(text);
  const digest = createHash('sha256').update(text).digest('hex');
  return { apiVersion: config.apiVersion, kubernetesVersion: config.kubernetesVersion, digest };
}

export interface ObserveOptions {
  withTargets: boolean;
  /** The run's target: each machine then carries its provider's drift reasons. */
  desired?: Desired;
  /** The previous pass: its control-plane Nodes let the machine listing start before the Nodes arrive. */
  previous?: Snapshot;
  /** Worker pools whose machines to list too (by the worker Nodes' providerIDs). */
  pools?: readonly string[];
}

export async function observe(ports: Ports, options: ObserveOptions): Promise<Snapshot> {
  const at = ports.clock.now();
  // Two independent chains run side by side (Nodes -> their machines, members -> their health), so
  // a pass costs the slower chain, not the sum of two rounds. The machines of last pass's Nodes are
  // asked for at once; only when the Nodes changed is the listing repeated for the new set.
  const guessed = options.previous ? controlPlaneProviderIds(options.previous.nodes) : undefined;
  const early = guessed ? ports.provider.listMachines(CONTROL_PLANE_POOL, guessed) : undefined;
  early?.catch(() => undefined);
  const nodesAndMachines = ports.kube.listNodes().then(async (nodes) => {
    const providerIds = controlPlaneProviderIds(nodes);
    const same = early && guessed!.length === providerIds.length && guessed!.every((id, i) => id === providerIds[i]);
    const pools = options.pools ?? [];
    const workerIds = pools.length > 0 ? workerProviderIds(nodes) : [];
    const [machines, ...perPool] = await Promise.all([
      same ? early : ports.provider.listMachines(CONTROL_PLANE_POOL, providerIds),
      ...pools.map((pool) => ports.provider.listMachines(pool, workerIds)),
    ]);
    return { nodes, machines: machines!, workerMachines: pools.length > 0 ? perPool.flat() : undefined };
  });
  const membersAndHealth = ports.etcd.memberList().then(async (members) => {
    const endpoints = [...new Set(members.flatMap((m) => m.clientUrls))];
    return { members, health: await ports.etcd.health(endpoints) };
  });
  const [{ nodes, machines, workerMachines }, { members, health }, alarms, apiTargets, retiring] = await Promise.all([
    nodesAndMachines,
    membersAndHealth,
    ports.etcd.alarms(),
    options.withTargets && ports.provider.loadBalancer
      ? ports.provider.loadBalancer.targets()
      : Promise.resolve(undefined),
    readRetiring(ports.kube),
  ]);
  const { provider } = ports;
  const desired = options.desired;
  return {
    at,
    nodes: nodes.map((n) => (n.providerId ? { ...n, machineId: provider.machineIdOf(n.providerId) } : n)),
    etcd: {
      members,
      alarms,
      endpoints: health,
      leaderId: agreedLeader(health.filter((h) => h.healthy).map((h) => h.leaderId)),
    },
    machines: desired ? machines.map((m) => ({ ...m, drift: provider.drift(m, desired) })) : machines,
    apiTargets,
    retiring,
    ...(workerMachines
      ? {
          workerMachines: desired
            ? workerMachines.map((m) => ({ ...m, drift: provider.drift(m, desired) }))
            : workerMachines,
        }
      : {}),
  };
}

function workerProviderIds(nodes: Snapshot['nodes']): string[] {
  return nodes
    .filter((n) => !n.controlPlane && n.providerId)
    .map((n) => n.providerId!)
    .sort();
}

function controlPlaneProviderIds(nodes: Snapshot['nodes']): string[] {
  return nodes
    .filter((n) => n.controlPlane && n.providerId)
    .map((n) => n.providerId!)
    .sort();
}
