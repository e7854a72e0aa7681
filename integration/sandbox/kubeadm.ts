// Cluster state made by the REAL kubeadm of the FROM version: PKI, kubeconfigs and the init phases that work
// against a running apiserver. Every phase gets a config file and explicit dirs, so nothing touches /etc/kubernetes.
import { execFile } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type * as k8s from '@kubernetes/client-node';
import { parse, stringify } from 'yaml';
import { SHARED_CERTIFICATES } from './join.ts';

const run = promisify(execFile);

export interface KubeadmClusterSettings {
  clusterName: string;
  kubernetesVersion: string;
  /** host:port of the load balancer: what kubeconfigs and cluster-info point at. */
  controlPlaneEndpoint: string;
  bootstrapToken: string;
}

export interface KubeadmNodeSettings {
  nodeName: string;
  apiServerPort: number;
  /**
   * The instance's private IP: kubeadm refuses a loopback advertise address, and it only lands in cert SANs
   * here (the apiserver itself listens on 127.0.0.1, which certSANs adds).
   */
  advertiseAddress: string;
  /** kubeadm refuses --cert-dir next to --config, so each config names its own certificates dir. */
  certificatesDir: string;
}

export const SERVICE_SUBNET = '10.96.0.0/12';
export const POD_SUBNET = '10.244.0.0/16';
const CONTROL_PLANE_TAINT = { key: 'node-role.kubernetes.io/control-plane', effect: 'NoSchedule' };

/** InitConfiguration + ClusterConfiguration as `kubeadm init --config` takes them (v1beta4, kubeadm >= 1.31). */
export function renderInitConfig(cluster: KubeadmClusterSettings, node: KubeadmNodeSettings): string {
  const init = {
    apiVersion: 'kubeadm.k8s.io/v1beta4',
    kind: 'InitConfiguration',
    bootstrapTokens: [
      {
        token: cluster.bootstrapToken,
        ttl: '24h0m0s',
        usages: ['signing', 'authentication'],
        groups: ['system:bootstrappers:kubeadm:default-node-token'],
      },
    ],
    localAPIEndpoint: { advertiseAddress: node.advertiseAddress, bindPort: node.apiServerPort },
    nodeRegistration: {
      name: node.nodeName,
      criSocket: 'unix:///var/run/containerd/containerd.sock',
      taints: [CONTROL_PLANE_TAINT],
    },
  };
  const clusterConfig = {
    apiVersion: 'kubeadm.k8s.io/v1beta4',
    kind: 'ClusterConfiguration',
    clusterName: cluster.clusterName,
    kubernetesVersion: cluster.kubernetesVersion,
    controlPlaneEndpoint: cluster.controlPlaneEndpoint,
    imageRepository: 'registry.k8s.io',
    certificatesDir: node.certificatesDir,
    networking: { serviceSubnet: SERVICE_SUBNET, podSubnet: POD_SUBNET, dnsDomain: 'cluster.local' },
    // Every machine listens on loopback, so all serving certs carry 127.0.0.1 like each VM's would carry its IP.
    apiServer: { certSANs: ['127.0.0.1', 'localhost'] },
    etcd: { local: { serverCertSANs: ['127.0.0.1', 'localhost'], peerCertSANs: ['127.0.0.1', 'localhost'] } },
  };
  return `${stringify(init)}---\n${stringify(clusterConfig)}`;
}

export class Kubeadm {
  constructor(
    private readonly binary: string,
    private readonly log: (line: string) => void,
  ) {}

  async phase(args: string[]): Promise<string> {
    this.log(`kubeadm ${args.join(' ')}`);
    try {
      const { stdout } = await run(this.binary, [...args, '-v=1'], { maxBuffer: 16 * 1024 * 1024 });
      return stdout;
    } catch (err) {
      const e = err as { stderr?: string; message: string };
      throw new Error(`kubeadm ${args.slice(0, 4).join(' ')} failed: ${(e.stderr ?? e.message).trim().slice(-2000)}`);
    }
  }

  /** Cluster-wide authorities (CA, etcd CA, front-proxy CA, service-account key) and etcd client certs. */
  async createAuthorities(config: string): Promise<void> {
    for (const cert of ['ca', 'etcd-ca', 'front-proxy-ca', 'sa', 'apiserver-etcd-client', 'etcd-healthcheck-client']) {
      await this.phase(['init', 'phase', 'certs', cert, '--config', config]);
    }
  }

  /**
   * A machine's own serving and client certs, signed by the shared authorities, as `kubeadm join --control-plane`
   * makes them on the new VM once it holds the CA keys.
   */
  async createMachineCerts(config: string, clusterCertDir: string, machineCertDir: string): Promise<void> {
    mkdirSync(join(machineCertDir, 'etcd'), { recursive: true });
    for (const file of SHARED_CERTIFICATES) {
      const target = join(machineCertDir, file);
      if (!existsSync(target)) copyFileSync(join(clusterCertDir, file), target);
    }
    await this.phase(['init', 'phase', 'certs', 'all', '--config', config]);
  }

  async createKubeconfig(
    which: 'admin' | 'super-admin' | 'controller-manager' | 'scheduler',
    config: string,
    kubeconfigDir: string,
  ): Promise<string> {
    await this.phase(['init', 'phase', 'kubeconfig', which, '--config', config, '--kubeconfig-dir', kubeconfigDir]);
    return join(kubeconfigDir, `${which}.conf`);
  }

  /**
   * The init phases that only talk to the API, in `kubeadm init`'s own order. mark-control-plane is not among
   * them: it has no --kubeconfig flag and, under --rootfs, kubeadm init dials the local advertise address, which
   * kubeadm refuses to be loopback; nodes.ts applies the same label and taint.
   */
  async uploadClusterState(config: string, kubeconfig: string): Promise<void> {
    await this.phase(['init', 'phase', 'upload-config', 'kubeadm', '--config', config, '--kubeconfig', kubeconfig]);
    await this.phase(['init', 'phase', 'upload-config', 'kubelet', '--config', config, '--kubeconfig', kubeconfig]);
    await this.phase([
      'init',
      'phase',
      'bootstrap-token',
      '--config',
      config,
      '--kubeconfig',
      kubeconfig,
      '--skip-token-print',
    ]);
    await this.phase(['init', 'phase', 'addon', 'coredns', '--config', config, '--kubeconfig', kubeconfig]);
    await this.phase(['init', 'phase', 'addon', 'kube-proxy', '--config', config, '--kubeconfig', kubeconfig]);
  }
}

export function writeConfig(file: string, text: string): string {
  writeFileSync(file, text, { mode: 0o600 });
  return file;
}

/** kubeadm bootstrap token: `[a-z0-9]{6}.[a-z0-9]{16}`. */
export function newBootstrapToken(random: (n: number) => Buffer): string {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789';
  const pick = (n: number) => [...random(n)].map((b) => alphabet[b % alphabet.length]).join('');
  return `${pick(6)}.${pick(16)}`;
}

/**
 * Rewrites kubeadm-config's ClusterConfiguration (v1beta4, as kubeadm 1.36 uploads it) the way kubeadm <= 1.30
 * stored it: v1beta3, as kubeadm's internal -> v1beta3 conversion writes it (cmd/kubeadm/app/apis/kubeadm/v1beta3/
 * conversion.go: extraArgs lists -> maps, no encryptionAlgorithm, certificate validity periods, proxy, dns.disabled,
 * httpEndpoints; apiServer.timeoutForControlPlane as 1.30 defaulted it).
 */
export async function storeAsV1beta3(core: k8s.CoreV1Api): Promise<void> {
  const cm = await core.readNamespacedConfigMap({ name: 'kubeadm-config', namespace: 'kube-system' });
  const config = parse(cm.data!['ClusterConfiguration']!) as Record<string, any>;
  config.apiVersion = 'kubeadm.k8s.io/v1beta3';
  for (const key of ['encryptionAlgorithm', 'certificateValidityPeriod', 'caCertificateValidityPeriod', 'proxy'])
    delete config[key];
  if (config.dns) delete config.dns.disabled;
  if (config.etcd?.external) delete config.etcd.external.httpEndpoints;
  const asMap = (args: { name: string; value: string }[] | undefined) =>
    args ? Object.fromEntries(args.map((a) => [a.name, a.value])) : undefined;
  for (const component of [config.apiServer, config.controllerManager, config.scheduler, config.etcd?.local]) {
    if (!component) continue;
    if (component.extraArgs) component.extraArgs = asMap(component.extraArgs);
    delete component.extraEnvs;
  }
  config.apiServer = { ...config.apiServer, timeoutForControlPlane: '4m0s' };
  cm.data!['ClusterConfiguration'] = stringify(config);
  await core.replaceNamespacedConfigMap({ name: 'kubeadm-config', namespace: 'kube-system', body: cm });
}
