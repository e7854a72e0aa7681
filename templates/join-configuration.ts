// A kubeadm JoinConfiguration in the API version the TARGET kubeadm reads (util/config/common.go
// validateSupportedVersion): v1beta3 from 1.22 (v1beta2 went read-only), v1beta4 from 1.31 (v1beta3 deprecated,
// then refused by 1.37). Pure: the same input gives the same document, so snapshots can hold it.
import { stringify } from 'yaml';
import { KubeswapError } from '../src/domain/errors.ts';
import { parseKubeVersion } from '../src/domain/kubeadm/versions.ts';

export type JoinApiVersion = 'kubeadm.k8s.io/v1beta3' | 'kubeadm.k8s.io/v1beta4';

/** Where the join file lands on the machine; `kubeadm join --config` reads it. */
export const JOIN_CONFIG_PATH = '/etc/kubeadm/join.yaml';

/** The secrets and pins of a join; JoinCredentials (src/engine/prepare/bootstrap-token.ts) has this shape. */
export interface JoinSecrets {
  readonly token: string;
  readonly caCertHashes: readonly string[];
  readonly certificateKey?: string;
}

export interface JoinSettings {
  /** Target Kubernetes version of the machine (its kubeadm): picks the API version. */
  kubernetesVersion: string;
  /** host:port of the API load balancer (token discovery and TLS bootstrap go there). */
  apiServerEndpoint: string;
  credentials: JoinSecrets;
  /** nodeRegistration.name; unset = kubeadm's default (the hostname) or `--node-name` at boot. */
  nodeName?: string;
  /** Extra kubelet flags without the leading `--`, e.g. {'node-labels': 'pool=a'}; order kept. */
  kubeletExtraArgs?: Record<string, string>;
  criSocket?: string;
  ignorePreflightErrors?: string[];
}

export interface ControlPlaneSettings {
  /** The new apiserver's own endpoint; unset lets kubeadm pick the default-route address and port 6443. */
  localAPIEndpoint?: { advertiseAddress?: string; bindPort?: number };
}

export function joinApiVersion(kubernetesVersion: string): JoinApiVersion {
  const v = parseKubeVersion(kubernetesVersion);
  if (v?.major !== 1 || v.minor < 22) {
    throw new KubeswapError(
      'invalid',
      'render.version-unsupported',
      `cannot render a kubeadm JoinConfiguration for ${kubernetesVersion}: render mode needs a target >= v1.22`,
      { hint: 'use launch-template user data for older clusters' },
    );
  }
  return v.minor >= 31 ? 'kubeadm.k8s.io/v1beta4' : 'kubeadm.k8s.io/v1beta3';
}

/** The JoinConfiguration object; `controlPlane` present (even empty) makes it a control-plane join. */
export function joinConfiguration(
  settings: JoinSettings,
  controlPlane?: ControlPlaneSettings,
): Record<string, unknown> {
  const apiVersion = joinApiVersion(settings.kubernetesVersion);
  const { credentials } = settings;
  const nodeRegistration: Record<string, unknown> = {};
  if (settings.nodeName) nodeRegistration.name = settings.nodeName;
  if (settings.criSocket) nodeRegistration.criSocket = settings.criSocket;
  const args = Object.entries(settings.kubeletExtraArgs ?? {});
  if (args.length > 0) {
    // v1beta4 turned the map into a list of {name, value} (repeatable flags); v1beta3 keeps map[string]string.
    nodeRegistration.kubeletExtraArgs =
      apiVersion === 'kubeadm.k8s.io/v1beta4'
        ? args.map(([name, value]) => ({ name, value }))
        : Object.fromEntries(args);
  }
  if (settings.ignorePreflightErrors?.length) nodeRegistration.ignorePreflightErrors = settings.ignorePreflightErrors;

  const config: Record<string, unknown> = {
    apiVersion,
    kind: 'JoinConfiguration',
    discovery: {
      bootstrapToken: {
        apiServerEndpoint: settings.apiServerEndpoint,
        token: credentials.token,
        caCertHashes: [...credentials.caCertHashes],
      },
    },
  };
  if (Object.keys(nodeRegistration).length > 0) config.nodeRegistration = nodeRegistration;
  if (controlPlane) {
    const plane: Record<string, unknown> = {};
    const local = controlPlane.localAPIEndpoint;
    if (local && (local.advertiseAddress || local.bindPort)) plane.localAPIEndpoint = { ...local };
    if (credentials.certificateKey) plane.certificateKey = credentials.certificateKey;
    config.controlPlane = plane;
  }
  return config;
}

/**
 * kubeadm reads the file with sigs.k8s.io/yaml (YAML 1.1 rules via go-yaml): emit 1.1 so a kubelet flag value
 * such as `true`, `on` or `1.30` stays a string instead of turning into a bool or a number.
 */
export function renderJoinConfiguration(settings: JoinSettings, controlPlane?: ControlPlaneSettings): string {
  return stringify(joinConfiguration(settings, controlPlane), { version: '1.1', lineWidth: 0 });
}
