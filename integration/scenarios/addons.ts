// kube-proxy and CoreDNS as the real API server and the real kubeadm see them: the scenarios' independent check
// of the addon phase (what kubeswap reports is never used here).
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import * as k8s from '@kubernetes/client-node';
import { kubernetesBinary } from '../sandbox/binaries.ts';
import type { Sandbox } from '../sandbox/index.ts';

const run = promisify(execFile);

function clients(sb: Sandbox) {
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(sb.kubeconfig);
  return { core: kc.makeApiClient(k8s.CoreV1Api), apps: kc.makeApiClient(k8s.AppsV1Api) };
}

/** Images, rollout status and pods of both addons, their ConfigMaps, and the cluster's ClusterConfiguration. */
export async function addonTruth(sb: Sandbox) {
  const { core, apps } = clients(sb);
  const namespace = 'kube-system';
  const [ds, dep, kubeadm, corefile, proxyConfig, nodes] = await Promise.all([
    apps.readNamespacedDaemonSet({ namespace, name: 'kube-proxy' }),
    apps.readNamespacedDeployment({ namespace, name: 'coredns' }),
    core.readNamespacedConfigMap({ namespace, name: 'kubeadm-config' }),
    core.readNamespacedConfigMap({ namespace, name: 'coredns' }),
    core.readNamespacedConfigMap({ namespace, name: 'kube-proxy' }),
    core.listNode(),
  ]);
  const live = new Set(nodes.items.map((n) => n.metadata!.name!));
  const pods = async (app: string) =>
    (await core.listNamespacedPod({ namespace, labelSelector: `k8s-app=${app}` })).items
      .filter((p) => !p.metadata?.deletionTimestamp && live.has(p.spec?.nodeName ?? ''))
      .map((p) => ({
        image: p.spec!.containers[0]!.image!,
        ready: p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false,
      }));
  return {
    clusterConfiguration: kubeadm.data!['ClusterConfiguration']!,
    corefile: corefile.data?.['Corefile'],
    kubeProxyConfig: proxyConfig.data?.['config.conf'],
    kubeProxy: {
      image: ds.spec!.template.spec!.containers[0]!.image!,
      generation: ds.metadata?.generation ?? 0,
      observedGeneration: ds.status?.observedGeneration ?? 0,
      desired: ds.status?.desiredNumberScheduled ?? 0,
      updated: ds.status?.updatedNumberScheduled ?? 0,
      available: ds.status?.numberAvailable ?? 0,
      pods: await pods('kube-proxy'),
    },
    coreDns: {
      image: dep.spec!.template.spec!.containers[0]!.image!,
      generation: dep.metadata?.generation ?? 0,
      observedGeneration: dep.status?.observedGeneration ?? 0,
      desired: dep.spec?.replicas ?? 0,
      updated: dep.status?.updatedReplicas ?? 0,
      ready: dep.status?.readyReplicas ?? 0,
      replicas: dep.status?.replicas ?? 0,
      pods: await pods('kube-dns'),
    },
  };
}

/** `kubeadm config images list --config` of that version's real kubeadm, over the cluster's ClusterConfiguration. */
export async function kubeadmAddonImages(version: string, clusterConfiguration: string) {
  const dir = mkdtempSync(join(tmpdir(), 'kubeswap-images-'));
  try {
    const file = join(dir, 'cluster.yaml');
    writeFileSync(file, clusterConfiguration);
    const kubeadm = kubernetesBinary(version, 'kubeadm');
    const { stdout } = await run(kubeadm, ['config', 'images', 'list', '--config', file]);
    const images = stdout.trim().split('\n');
    return {
      kubeProxy: images.find((i) => /\/kube-proxy:/.test(i)),
      coreDns: images.find((i) => /\/coredns:/.test(i)),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Sets a container image directly (as a person with kubectl would), to put an addon back for a test. */
export async function setImage(sb: Sandbox, kind: 'Deployment' | 'DaemonSet', name: string, image: string) {
  const { apps } = clients(sb);
  const body = {
    spec: { template: { spec: { containers: [{ name: name === 'kube-proxy' ? 'kube-proxy' : 'coredns', image }] } } },
  };
  const strategic = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.StrategicMergePatch);
  if (kind === 'Deployment') await apps.patchNamespacedDeployment({ namespace: 'kube-system', name, body }, strategic);
  else await apps.patchNamespacedDaemonSet({ namespace: 'kube-system', name, body }, strategic);
}

export async function setCorefile(sb: Sandbox, corefile: string) {
  const { core } = clients(sb);
  await core.patchNamespacedConfigMap(
    { namespace: 'kube-system', name: 'coredns', body: { data: { Corefile: corefile } } },
    k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
  );
}
