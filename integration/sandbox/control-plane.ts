// Flags of the control-plane static pods kubeadm writes, pointed at the state dir. Each kube-apiserver talks only
// to its own machine's etcd member, as kubeadm's stacked etcd does.
import { readFileSync } from 'node:fs';
import { request } from 'node:https';
import { join } from 'node:path';
import { SERVICE_SUBNET } from './kubeadm.ts';

export interface ApiServerSpec {
  port: number;
  etcdClientPort: number;
  /** The machine's pki dir. */
  pkiDir: string;
}

export function apiServerArgs(s: ApiServerSpec): string[] {
  const pki = (f: string) => join(s.pkiDir, f);
  return [
    '--advertise-address=127.0.0.1',
    '--bind-address=127.0.0.1',
    `--secure-port=${s.port}`,
    '--allow-privileged=true',
    '--authorization-mode=Node,RBAC',
    `--client-ca-file=${pki('ca.crt')}`,
    '--enable-admission-plugins=NodeRestriction',
    '--enable-bootstrap-token-auth=true',
    `--etcd-cafile=${pki('etcd/ca.crt')}`,
    `--etcd-certfile=${pki('apiserver-etcd-client.crt')}`,
    `--etcd-keyfile=${pki('apiserver-etcd-client.key')}`,
    `--etcd-servers=https://127.0.0.1:${s.etcdClientPort}`,
    `--kubelet-client-certificate=${pki('apiserver-kubelet-client.crt')}`,
    `--kubelet-client-key=${pki('apiserver-kubelet-client.key')}`,
    '--kubelet-preferred-address-types=InternalIP,ExternalIP,Hostname',
    `--proxy-client-cert-file=${pki('front-proxy-client.crt')}`,
    `--proxy-client-key-file=${pki('front-proxy-client.key')}`,
    '--requestheader-allowed-names=front-proxy-client',
    `--requestheader-client-ca-file=${pki('front-proxy-ca.crt')}`,
    '--requestheader-extra-headers-prefix=X-Remote-Extra-',
    '--requestheader-group-headers=X-Remote-Group',
    '--requestheader-username-headers=X-Remote-User',
    '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
    `--service-account-key-file=${pki('sa.pub')}`,
    `--service-account-signing-key-file=${pki('sa.key')}`,
    `--service-cluster-ip-range=${SERVICE_SUBNET}`,
    `--tls-cert-file=${pki('apiserver.crt')}`,
    `--tls-private-key-file=${pki('apiserver.key')}`,
    // Every apiserver advertises 127.0.0.1; the lease reconciler would make them overwrite each other's port.
    '--endpoint-reconciler-type=none',
  ];
}

export function controllerManagerArgs(pkiDir: string, kubeconfig: string, port: number): string[] {
  const pki = (f: string) => join(pkiDir, f);
  return [
    ...controllerArgs(kubeconfig, port),
    `--client-ca-file=${pki('ca.crt')}`,
    '--cluster-name=kubernetes',
    `--cluster-signing-cert-file=${pki('ca.crt')}`,
    `--cluster-signing-key-file=${pki('ca.key')}`,
    // bootstrapsigner signs cluster-info for token discovery; tokencleaner expires tokens (both off by default).
    '--controllers=*,bootstrapsigner,tokencleaner',
    `--requestheader-client-ca-file=${pki('front-proxy-ca.crt')}`,
    `--root-ca-file=${pki('ca.crt')}`,
    `--service-account-private-key-file=${pki('sa.key')}`,
    '--use-service-account-credentials=true',
  ];
}

/**
 * TO's controllers run against FROM apiservers (newer than the skew policy allows, as issue 2 asks). TO informs on
 * DeviceTaintRules, which FROM does not serve, and the scheduler waits for that informer before scheduling
 * anything: turn the two gates off so both behave like FROM there.
 */
export const SKEW_FEATURE_GATES = '--feature-gates=DRADeviceTaints=false,DRADeviceTaintRules=false';

export function schedulerArgs(kubeconfig: string, port: number): string[] {
  return controllerArgs(kubeconfig, port);
}

/** What kcm and the scheduler share: one kubeconfig for everything, loopback only, no leader election. */
function controllerArgs(kubeconfig: string, port: number): string[] {
  return [
    `--authentication-kubeconfig=${kubeconfig}`,
    `--authorization-kubeconfig=${kubeconfig}`,
    `--kubeconfig=${kubeconfig}`,
    '--bind-address=127.0.0.1',
    `--secure-port=${port}`,
    '--leader-elect=false',
    SKEW_FEATURE_GATES,
  ];
}

/** GET over TLS with a client cert from a kubeconfig-less identity (pki files); resolves status and body. */
export function httpsGet(
  url: string,
  tls: { ca: string; cert?: string; key?: string },
  timeoutMs = 3000,
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        ca: readFileSync(tls.ca),
        cert: tls.cert ? readFileSync(tls.cert) : undefined,
        key: tls.key ? readFileSync(tls.key) : undefined,
        timeout: timeoutMs,
      },
      (res) => {
        let body = '';
        res.on('data', (chunk) => {
          body += chunk;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on('timeout', () => req.destroy(new Error(`timeout after ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end();
  });
}

/** /readyz of one apiserver, asked as the machine's kubelet-client identity (system:masters in kubeadm). */
export async function apiServerReady(port: number, pkiDir: string): Promise<boolean> {
  const res = await httpsGet(`https://127.0.0.1:${port}/readyz`, {
    ca: join(pkiDir, 'ca.crt'),
    cert: join(pkiDir, 'apiserver-kubelet-client.crt'),
    key: join(pkiDir, 'apiserver-kubelet-client.key'),
  });
  return res.status === 200;
}
