// The target's kubeadm must read the ClusterConfiguration kubeswap leaves in kubeadm-config: `kubeadm join`
// of a replacement downloads it. Which API versions each kubeadm reads, and the v1beta3 -> v1beta4 migration,
// follow kubeadm's own code (cmd/kubeadm/app/util/config/common.go validateSupportedVersion, and
// cmd/kubeadm/app/apis/kubeadm/v1beta3/conversion.go through the internal type to v1beta4).
import { type Document, isMap, isScalar, parseDocument } from 'yaml';
import { KubeswapError } from '../errors.ts';
import type { KubeadmApiVersion } from './cluster-config.ts';
import type { KubeVersion } from './versions.ts';

/**
 * The kubeadm minors that read each API version: v1beta2 from 1.15 until 1.26 ("v1.27: only v1beta3"),
 * v1beta3 from 1.22 until 1.36 ("v1.37: only v1beta4 config"), v1beta4 from 1.31.
 */
const READ_BY: Record<KubeadmApiVersion, { first: number; last?: number }> = {
  'kubeadm.k8s.io/v1beta2': { first: 15, last: 26 },
  'kubeadm.k8s.io/v1beta3': { first: 22, last: 36 },
  'kubeadm.k8s.io/v1beta4': { first: 31 },
};

export function kubeadmReads(apiVersion: KubeadmApiVersion, kubeadm: KubeVersion): boolean {
  const range = READ_BY[apiVersion];
  return (
    kubeadm.major === 1 && kubeadm.minor >= range.first && (range.last === undefined || kubeadm.minor <= range.last)
  );
}

/** The conversions kubeswap performs, each exactly as kubeadm's `config migrate` of the last kubeadm reading both. */
const MIGRATIONS: Partial<Record<KubeadmApiVersion, KubeadmApiVersion>> = {
  'kubeadm.k8s.io/v1beta3': 'kubeadm.k8s.io/v1beta4',
};

export type ApiVersionNeed =
  | { kind: 'keep' }
  | { kind: 'migrate'; from: KubeadmApiVersion; to: KubeadmApiVersion }
  | { kind: 'unsupported'; from: KubeadmApiVersion };

/** Keep the stored bytes while the target's kubeadm reads them; otherwise the newest version it reads. */
export function apiVersionNeed(stored: KubeadmApiVersion, target: KubeVersion): ApiVersionNeed {
  if (kubeadmReads(stored, target)) return { kind: 'keep' };
  const to = MIGRATIONS[stored];
  return to && kubeadmReads(to, target) ? { kind: 'migrate', from: stored, to } : { kind: 'unsupported', from: stored };
}

export interface Migrated {
  text: string;
  /** Settings that v1beta4 keeps outside ClusterConfiguration, so kubeadm-config no longer carries them. */
  moved: { setting: string; value: string; to: string }[];
}

// v1beta3 had no field for these; kubeadm's conversion fills the values the cluster has been using
// (constants.CertificateValidityPeriod, CACertificateValidityPeriod, EncryptionAlgorithmRSA2048).
const FILLED_BY_KUBEADM: [string, string][] = [
  ['encryptionAlgorithm', 'RSA-2048'],
  ['certificateValidityPeriod', '8760h0m0s'],
  ['caCertificateValidityPeriod', '87600h0m0s'],
];
const COMPONENTS = ['apiServer', 'controllerManager', 'scheduler'] as const;

/**
 * v1beta3 -> v1beta4 ClusterConfiguration, field by field as kubeadm converts it. Every other key, and
 * the comments, stay as written. Throws `invalid` for anything else.
 */
export function migrateClusterConfiguration(text: string, to: KubeadmApiVersion): Migrated {
  const doc = parseDocument(text);
  if (doc.errors.length > 0 || !isMap(doc.contents)) {
    throw new KubeswapError('invalid', 'kubeadm.config-invalid', 'kubeadm-config ClusterConfiguration is not YAML');
  }
  const from = String(doc.get('apiVersion'));
  if (from !== 'kubeadm.k8s.io/v1beta3' || to !== 'kubeadm.k8s.io/v1beta4') {
    throw new KubeswapError('invalid', 'kubeadm.api-version-unsupported', `no conversion from ${from} to ${to}`);
  }
  const moved: Migrated['moved'] = [];
  doc.set('apiVersion', to);
  // convertToArgs: extraArgs maps become lists of {name, value}, sorted by name, then value.
  for (const component of COMPONENTS) argsToList(doc, [component, 'extraArgs']);
  argsToList(doc, ['etcd', 'local', 'extraArgs']);
  // v1beta4 has no APIServer.TimeoutForControlPlane: kubeadm carries it into Init/JoinConfiguration
  // timeouts.controlPlaneComponentHealthCheck (GetConversionTimeoutControlPlane), never into kubeadm-config.
  const timeout = doc.getIn(['apiServer', 'timeoutForControlPlane']);
  if (doc.hasIn(['apiServer', 'timeoutForControlPlane'])) {
    doc.deleteIn(['apiServer', 'timeoutForControlPlane']);
    moved.push({
      setting: 'apiServer.timeoutForControlPlane',
      value: String(timeout),
      to: 'JoinConfiguration timeouts.controlPlaneComponentHealthCheck',
    });
  }
  for (const [key, value] of FILLED_BY_KUBEADM) if (!doc.has(key)) doc.set(key, value);
  // Convert_v1beta3_ExternalEtcd_To_kubeadm_ExternalEtcd: httpEndpoints = endpoints, for backwards compatibility.
  const external = doc.getIn(['etcd', 'external'], true);
  if (isMap(external) && external.has('endpoints') && !external.has('httpEndpoints')) {
    external.set('httpEndpoints', doc.createNode(doc.getIn(['etcd', 'external', 'endpoints']) as unknown));
  }
  return { text: doc.toString({ lineWidth: 0 }), moved };
}

function argsToList(doc: Document, path: string[]): void {
  const node = doc.getIn(path, true);
  if (!isMap(node)) return;
  const args = node.items
    .map((pair) => ({
      name: String(isScalar(pair.key) ? pair.key.value : pair.key),
      value: String(isScalar(pair.value) ? (pair.value.value ?? '') : (pair.value ?? '')),
    }))
    .sort((a, b) => (a.name === b.name ? cmp(a.value, b.value) : cmp(a.name, b.name)));
  const list = doc.createNode(args);
  list.commentBefore = node.commentBefore;
  list.comment = node.comment;
  doc.setIn(path, list);
}

const cmp = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
