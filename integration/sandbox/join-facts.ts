// Reads what `kubeadm join` looks at in the cluster: kubeadm-config, the bootstrap token Secret, cluster-info and
// the uploaded control-plane certs. Read with admin rights; the checks themselves live in join-preflight.ts.
// Like kubeadm, a read that fails for a transient reason (the load balancer's backend just died, an apiserver
// restarting, etcd briefly without quorum) is retried every 500 ms (constants.APICallRetryInterval) for up to the
// v1beta4 default timeouts.kubernetesAPICall of 1 minute, instead of failing the machine at the first error.
import pRetry from 'p-retry';
import { parse } from 'yaml';
import type { JoinRequest } from './join.ts';
import type { ClusterFacts } from './join-preflight.ts';
import type { Runtime } from './runtime.ts';

export const KUBERNETES_API_CALL_TIMEOUT_MS = 60_000;
const API_CALL_RETRY_INTERVAL_MS = 500;

/** An answer, not an outage: not found, forbidden, unauthorized, invalid. */
function isDefinite(err: unknown): boolean {
  const code = (err as { code?: unknown }).code;
  return typeof code === 'number' && code >= 400 && code < 500 && code !== 429;
}

/** Runs one API call, retrying transient failures as kubeadm does; a definite answer ends the retries at once. */
export function apiCall<T>(call: () => Promise<T>): Promise<T> {
  return pRetry(call, {
    retries: Math.ceil(KUBERNETES_API_CALL_TIMEOUT_MS / API_CALL_RETRY_INTERVAL_MS),
    factor: 1,
    minTimeout: API_CALL_RETRY_INTERVAL_MS,
    maxRetryTime: KUBERNETES_API_CALL_TIMEOUT_MS,
    shouldRetry: ({ error }) => !isDefinite(error),
  });
}

export async function clusterFacts(
  rt: Runtime,
  request: JoinRequest | undefined,
  imageVersion: string,
  imageBringsCertificates = false,
): Promise<ClusterFacts> {
  const kubeadmConfig = await apiCall(() =>
    rt.core.readNamespacedConfigMap({ name: 'kubeadm-config', namespace: 'kube-system' }),
  );
  const clusterConfiguration = parse(kubeadmConfig.data?.['ClusterConfiguration'] ?? '') as {
    kubernetesVersion?: string;
  };
  const facts: ClusterFacts = {
    now: new Date(),
    kubernetesVersion: clusterConfiguration?.kubernetesVersion ?? 'unknown',
    imageVersion,
    imageBringsCertificates,
  };
  const tokenId = request?.token?.split('.')[0];
  if (tokenId) {
    facts.tokenSecret = decoded(await readSecret(rt, 'kube-system', `bootstrap-token-${tokenId}`));
    const info = await apiCall(() =>
      rt.core.readNamespacedConfigMap({ name: 'cluster-info', namespace: 'kube-public' }),
    ).catch(() => undefined);
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
    const secret = await apiCall(() => rt.core.readNamespacedSecret({ name, namespace }));
    return secret.data ?? {};
  } catch (err) {
    // Only "not found" means missing; an outage that outlasted the retries fails the join as kubeadm's would.
    if ((err as { code?: unknown }).code === 404) return undefined;
    throw err;
  }
}

function decoded(data: Record<string, string> | undefined): Record<string, string> | undefined {
  if (!data) return undefined;
  return Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')]));
}
