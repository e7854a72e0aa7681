// Test-side helpers that do what an upgrader does before a join: a short-lived bootstrap token, the CA pin, and
// cloud-init user data holding a kubeadm JoinConfiguration.
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import * as k8s from '@kubernetes/client-node';
import { stringify } from 'yaml';
import { caCertHash } from './join.ts';
import { newBootstrapToken } from './kubeadm.ts';
import { waitFor } from './processes.ts';

export function kubeClients(kubeconfig: string) {
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(kubeconfig);
  return { kc, core: kc.makeApiClient(k8s.CoreV1Api) };
}

/** A bootstrap token Secret like `kubeadm token create --ttl`, once the bootstrap signer has signed cluster-info. */
export async function createBootstrapToken(core: k8s.CoreV1Api, ttlSeconds: number): Promise<string> {
  const token = newBootstrapToken(randomBytes);
  const [id, secret] = token.split('.') as [string, string];
  await core.createNamespacedSecret({
    namespace: 'kube-system',
    body: {
      metadata: { name: `bootstrap-token-${id}`, namespace: 'kube-system' },
      type: 'bootstrap.kubernetes.io/token',
      stringData: {
        'token-id': id,
        'token-secret': secret,
        expiration: new Date(Date.now() + ttlSeconds * 1000).toISOString().replace(/\.\d+Z$/, 'Z'),
        'usage-bootstrap-authentication': 'true',
        'usage-bootstrap-signing': 'true',
        'auth-extra-groups': 'system:bootstrappers:kubeadm:default-node-token',
      },
    },
  });
  await waitFor(
    `cluster-info signed for token ${id}`,
    async () => {
      const info = await core.readNamespacedConfigMap({ name: 'cluster-info', namespace: 'kube-public' });
      return info.data?.[`jws-kubeconfig-${id}`] ? true : undefined;
    },
    60_000,
    500,
  );
  return token;
}

export function caPinOf(kubeconfig: string): string {
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(kubeconfig);
  const cluster = kc.getCurrentCluster()!;
  const pem = cluster.caData
    ? Buffer.from(cluster.caData, 'base64').toString('utf8')
    : readFileSync(cluster.caFile!, 'utf8');
  return caCertHash(pem);
}

/** cloud-init user data as a kubeadm bootstrap provider renders it: the JoinConfiguration file plus the command. */
export function renderJoinUserData(opts: { apiServerEndpoint: string; token: string; caCertHash: string }): string {
  const joinConfiguration = stringify({
    apiVersion: 'kubeadm.k8s.io/v1beta4',
    kind: 'JoinConfiguration',
    discovery: {
      bootstrapToken: {
        apiServerEndpoint: opts.apiServerEndpoint,
        token: opts.token,
        caCertHashes: [opts.caCertHash],
      },
    },
    controlPlane: { localAPIEndpoint: { bindPort: 6443 } },
    nodeRegistration: { criSocket: 'unix:///var/run/containerd/containerd.sock' },
  });
  return `#cloud-config\n${stringify({
    write_files: [
      {
        path: '/run/kubeadm/kubeadm-join-config.yaml',
        owner: 'root:root',
        permissions: '0640',
        content: joinConfiguration,
      },
    ],
    runcmd: ['kubeadm join --config /run/kubeadm/kubeadm-join-config.yaml'],
  })}`;
}
