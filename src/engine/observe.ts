// Builds one Snapshot per pass. Reads run in parallel where they are independent; nothing here
// writes. A failure to read a system the plan depends on is an error, not an empty list.
import { agreedLeader } from '../etcd/members.ts';
import { parseClusterConfiguration } from '../kubeadm/cluster-config.ts';
import { KubeswapError } from './errors.ts';
import type { Ports } from './ports.ts';
import { readRetiring } from './retiring.ts';
import type { ClusterConfigView, Snapshot } from './snapshot.ts';

export const KUBEADM_NAMESPACE = 'kube-system';
export const KUBEADM_CONFIG = 'kubeadm-config';

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
  return { apiVersion: config.apiVersion, kubernetesVersion: config.kubernetesVersion };
}

export async function observe(ports: Ports, options: { withTargets: boolean }): Promise<Snapshot> {
  const at = ports.clock.now();
  const [kubeadm, nodes, members, alarms, retiring] = await Promise.all([
    readClusterConfig(ports),
    ports.kube.listNodes(),
    ports.etcd.memberList(),
    ports.etcd.alarms(),
    readRetiring(ports.kube),
  ]);
  const endpoints = [...new Set(members.flatMap((m) => m.clientUrls))];
  const providerIds = nodes.filter((n) => n.controlPlane && n.providerId).map((n) => n.providerId!);
  const [health, machines, apiTargets] = await Promise.all([
    ports.etcd.health(endpoints),
    ports.provider.listMachines(providerIds),
    options.withTargets ? ports.provider.apiTargets() : Promise.resolve(undefined),
  ]);
  return {
    at,
    kubeadm,
    nodes,
    etcd: {
      members,
      alarms,
      endpoints: health,
      leaderId: agreedLeader(health.filter((h) => h.healthy).map((h) => h.leaderId)),
    },
    machines,
    apiTargets,
    retiring,
  };
}
