// The kubeadm-config ConfigMap (kube-system): ClusterConfiguration in kubeadm.k8s.io/v1beta2|v1beta3|v1beta4
// and, up to kubeadm 1.21 only, ClusterStatus. We read a few fields and change exactly one value, leaving
// the API version, every other field, comment and quote as kubeadm (or a person) wrote them.
import { type Document, isMap, isScalar, parseDocument, type Scalar } from 'yaml';
import { KubeswapError } from '../errors.ts';
import { parseTargetVersion } from './versions.ts';

/** Where kubeadm keeps the cluster's configuration (kubeadm's constants.KubeadmConfigConfigMap). */
export const KUBEADM_NAMESPACE = 'kube-system';
export const KUBEADM_CONFIG = 'kubeadm-config';
export const CLUSTER_CONFIGURATION_KEY = 'ClusterConfiguration';
export const CLUSTER_STATUS_KEY = 'ClusterStatus';
export const KUBEADM_API_VERSIONS = [
  'kubeadm.k8s.io/v1beta2',
  'kubeadm.k8s.io/v1beta3',
  'kubeadm.k8s.io/v1beta4',
] as const;
export type KubeadmApiVersion = (typeof KUBEADM_API_VERSIONS)[number];

export interface ExtraArg {
  name: string;
  value: string;
}

export type EtcdTopology =
  | { mode: 'local'; dataDir?: string; imageTag?: string; extraArgs: ExtraArg[] }
  | { mode: 'external'; endpoints: string[]; caFile?: string; certFile?: string; keyFile?: string };

export interface ClusterConfiguration {
  apiVersion: KubeadmApiVersion;
  kubernetesVersion: string;
  controlPlaneEndpoint?: string;
  clusterName?: string;
  imageRepository?: string;
  certificatesDir?: string;
  networking: { dnsDomain?: string; podSubnet?: string; serviceSubnet?: string };
  /** kubeadm defaults to local (stacked) etcd when the section is absent. */
  etcd: EtcdTopology;
}

function invalid(code: string, message: string, cause?: unknown): KubeswapError {
  return new KubeswapError('invalid', code, message, {
    hint: 'kubeswap reads kube-system/kubeadm-config as kubeadm writes it; check it with `kubectl -n kube-system get cm kubeadm-config -o yaml`',
    cause,
  });
}

function parseYaml(text: string, what: string): Document.Parsed {
  const doc = parseDocument(text);
  if (doc.errors.length > 0)
    throw invalid('kubeadm.config-invalid', `${what} is not valid YAML: ${doc.errors[0]!.message}`);
  if (!isMap(doc.contents)) throw invalid('kubeadm.config-invalid', `${what} is not a YAML mapping`);
  return doc;
}

const str = (value: unknown): string | undefined =>
  typeof value === 'string' ? value : typeof value === 'number' ? String(value) : undefined;
const strings = (value: unknown): string[] => (Array.isArray(value) ? value.map(String) : []);

/** v1beta4 made extraArgs a list of {name, value} (repeatable); v1beta2/v1beta3 use a map. */
function extraArgs(value: unknown): ExtraArg[] {
  if (Array.isArray(value)) return value.map((a) => ({ name: String(a?.name ?? ''), value: String(a?.value ?? '') }));
  if (value && typeof value === 'object') return Object.entries(value).map(([name, v]) => ({ name, value: String(v) }));
  return [];
}

export function parseClusterConfiguration(text: string): ClusterConfiguration {
  const config = parseYaml(text, `kubeadm-config ${CLUSTER_CONFIGURATION_KEY}`).toJS() as Record<string, any>;
  const apiVersion = config['apiVersion'];
  if (!KUBEADM_API_VERSIONS.includes(apiVersion)) {
    throw invalid(
      'kubeadm.api-version-unsupported',
      `ClusterConfiguration apiVersion "${apiVersion}" is not one of ${KUBEADM_API_VERSIONS.join(', ')}`,
    );
  }
  if (config['kind'] !== undefined && config['kind'] !== 'ClusterConfiguration') {
    throw invalid('kubeadm.config-invalid', `kubeadm-config ${CLUSTER_CONFIGURATION_KEY} has kind "${config['kind']}"`);
  }
  const kubernetesVersion = str(config['kubernetesVersion']);
  if (!kubernetesVersion)
    throw invalid('kubeadm.no-kubernetes-version', 'ClusterConfiguration has no kubernetesVersion');
  const etcd = config['etcd'] ?? {};
  const networking = config['networking'] ?? {};
  return {
    apiVersion,
    kubernetesVersion,
    controlPlaneEndpoint: str(config['controlPlaneEndpoint']),
    clusterName: str(config['clusterName']),
    imageRepository: str(config['imageRepository']),
    certificatesDir: str(config['certificatesDir']),
    networking: {
      dnsDomain: str(networking.dnsDomain),
      podSubnet: str(networking.podSubnet),
      serviceSubnet: str(networking.serviceSubnet),
    },
    etcd: etcd.external
      ? {
          mode: 'external',
          endpoints: strings(etcd.external.endpoints),
          caFile: str(etcd.external.caFile),
          certFile: str(etcd.external.certFile),
          keyFile: str(etcd.external.keyFile),
        }
      : {
          mode: 'local',
          dataDir: str(etcd.local?.dataDir),
          imageTag: str(etcd.local?.imageTag),
          extraArgs: extraArgs(etcd.local?.extraArgs),
        },
  };
}

export interface VersionBump {
  text: string;
  changed: boolean;
  /** kubernetesVersion before the bump (undefined when the key was missing). */
  previous?: string;
}

/**
 * Sets kubernetesVersion to `to` (as `vX.Y.Z`). kubeadm join of version X fails its KubeletVersion
 * preflight unless this is X, so it is bumped before the first replacement joins. Only the scalar's
 * source range is rewritten, in its own quote style: the rest of the text stays byte for byte.
 */
export function bumpKubernetesVersion(text: string, to: string): VersionBump {
  const target = parseTargetVersion(to);
  if (!target) throw invalid('version.invalid', `target version "${to}" is not a Kubernetes version`);
  parseClusterConfiguration(text);
  const doc = parseYaml(text, `kubeadm-config ${CLUSTER_CONFIGURATION_KEY}`);
  const node = doc.get('kubernetesVersion', true);
  if (!isScalar(node) || !node.range) {
    doc.set('kubernetesVersion', target.text);
    return { text: doc.toString({ lineWidth: 0 }), changed: true };
  }
  const previous = String(node.value);
  if (previous === target.text) return { text, changed: false, previous };
  const [start, valueEnd] = node.range;
  return {
    text: text.slice(0, start) + quoted(target.text, node.type) + text.slice(valueEnd),
    changed: true,
    previous,
  };
}

function quoted(value: string, type: Scalar.Type | undefined): string {
  if (type === 'QUOTE_DOUBLE') return JSON.stringify(value);
  if (type === 'QUOTE_SINGLE') return `'${value}'`;
  return value;
}

// ClusterStatus lives in the same ConfigMap; its handling has its own file.
export { type ApiEndpoint, type ClusterStatus, parseClusterStatus, pruneClusterStatus } from './cluster-status.ts';
