// What must be true before the first replacement joins (notes/kubernetes.md §2 and §4 "Before the
// first swap"). Each step is create-if-missing or compare-and-set, so repeating it is harmless.

import type { EventCode } from '../../domain/events.ts';
import { bumpKubernetesVersion, KUBEADM_CONFIG, KUBEADM_NAMESPACE } from '../../domain/kubeadm/cluster-config.ts';
import { pruneClusterStatus } from '../../domain/kubeadm/cluster-status.ts';
import { ConflictError } from '../../ports/kube.ts';
import type { Ports } from '../ports.ts';
import { ensureKubeletConfigAndRbac, kubeletConfigPlan } from './kubelet-config.ts';

export async function prepareCluster(ports: Ports, from: string, to: string): Promise<void> {
  const emit = (code: EventCode, message: string, data?: Record<string, unknown>) =>
    ports.emit({ code, at: ports.clock.now().toISOString(), level: 'info', message, data });
  // kubeadm join of version X fails its KubeletVersion preflight unless kubernetesVersion is X.
  const nodeNames = (await ports.kube.listNodes()).map((n) => n.name);
  for (let attempt = 0; ; attempt++) {
    const cm = await ports.kube.getConfigMap(KUBEADM_NAMESPACE, KUBEADM_CONFIG);
    if (!cm) throw new Error('kube-system/kubeadm-config disappeared');
    const data = { ...cm.data };
    const bumped = bumpKubernetesVersion(data['ClusterConfiguration'] ?? '', to);
    // ClusterStatus exists only up to kubeadm 1.21; from 1.22 endpoints live on the static pods.
    const pruned = data['ClusterStatus'] ? pruneClusterStatus(data['ClusterStatus'], nodeNames) : undefined;
    if (!bumped.changed && !pruned?.changed) break;
    data['ClusterConfiguration'] = bumped.text;
    if (pruned) data['ClusterStatus'] = pruned.text;
    try {
      await ports.kube.replaceConfigMap({ ...cm, data });
      if (bumped.changed) {
        emit('kubeadm-config.version-bumped', `kubeadm-config kubernetesVersion ${bumped.previous} -> ${to}`, {
          from: bumped.previous,
          to,
        });
      }
      if (pruned?.changed)
        emit('kubeadm-config.endpoints-reconciled', `ClusterStatus.apiEndpoints pruned to live nodes`);
      break;
    } catch (err) {
      if (!(err instanceof ConflictError) || attempt >= 4) throw err;
    }
  }
  const plan = kubeletConfigPlan(from, to, { configMaps: await kubeletConfigMaps(ports, from, to) });
  const created = await ensureKubeletConfigAndRbac(ports.kube, plan);
  emit('kubelet-config.ensured', created.length ? `created ${created.join(', ')}` : 'kubelet config and RBAC present', {
    created,
  });
}

/** Which of the kubelet-config ConfigMaps of both versions exist (kubeletConfigPlan decides from them). */
export async function kubeletConfigMaps(ports: Pick<Ports, 'kube'>, from: string, to: string): Promise<string[]> {
  const names = ['kubelet-config', `kubelet-config-${minorOf(from)}`, `kubelet-config-${minorOf(to)}`];
  const found = await Promise.all(
    names.map(async (name) => ((await ports.kube.getConfigMap(KUBEADM_NAMESPACE, name)) ? name : undefined)),
  );
  return found.filter((n): n is string => n !== undefined);
}

function minorOf(version: string): string {
  const m = /^v?(\d+)\.(\d+)/.exec(version);
  return m ? `${m[1]}.${m[2]}` : version;
}
