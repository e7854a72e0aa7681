// Reads what `kubeadm join` looks at in the cluster: kubeadm-config, the bootstrap token Secret, cluster-info and
// the uploaded control-plane certs. Read with admin rights; the checks themselves live in join-preflight.ts.
import { parse } from 'yaml';
import type { JoinRequest } from './join.ts';
import type { ClusterFacts } from './join-preflight.ts';
import type { Runtime } from './runtime.ts';

export async function clusterFacts(
  rt: Runtime,
  request: JoinRequest | undefined,
  imageVersion: string,
  imageBringsCertificates = false,
): Promise<ClusterFacts> {
  const kubeadmConfig = await rt.core.readNamespacedConfigMap({ name: 'kubeadm-config', namespace: 'kube-system' });
  const clusterConfiguration = parse(kubeadmConfig.data?.['ClusterConfiguration'] ?? '') as {
    kubernetesVersion?: string;
  };
  const facts: ClusterFacts = {
    now: new Date(),
    kubernetesVersion: clusterConfiguration?.kubernetesVersion ?? 'unknown',
    clusterConfiguration: kubeadmConfig.data?.['ClusterConfiguration'],
    imageVersion,
    imageBringsCertificates,
  };
  const tokenId = request?.token?.split('.')[0];
  if (tokenId) {
    facts.tokenSecret = decoded(await readSecret(rt, 'kube-system', `bootstrap-token-${tokenId}`));
    const info = await rt.core
      .readNamespacedConfigMap({ name: 'cluster-info', namespace: 'kube-public' })
      .catch(() => undefined);
    facts.clusterInfo = info?.data ?? undefined;
  }
  if (request?.certificateKey) {
    const certs = await readSecret(rt, 'kube-system', 'kubeadm-certs');
    if (certs)
      facts.uploadedCerts = Object.fromEntries(Object.entries(certs).map(([k, v]) => [k, Buffer.from(v, 'base64')]));
  }
  return facts;
}

async function readSecret(rt: Runtime, namespace: string, name: string): Promise<Record<string, string> | undefined> {
  try {
    const secret = await rt.core.readNamespacedSecret({ name, namespace });
    return secret.data ?? {};
  } catch {
    return undefined;
  }
}

function decoded(data: Record<string, string> | undefined): Record<string, string> | undefined {
  if (!data) return undefined;
  return Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')]));
}
