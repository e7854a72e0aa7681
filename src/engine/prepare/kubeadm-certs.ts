// The control-plane certificates a joining machine downloads with `kubeadm join --certificate-key K`, uploaded the
// way `kubeadm init phase upload-certs` does (phases/copycerts/copycerts.go, util/crypto/crypto.go, v1.36/v1.37):
// each file AES-256-GCM sealed under the 32-byte key as nonce || ciphertext || tag, one Secret key per file ('/' in
// the file name becomes '-'), owned by a short-lived bootstrap token so the token cleaner and the garbage collector
// remove the Secret even if nobody else does. The key never leaves the caller's JoinCredentials.
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { KubeswapError, type Problem } from '../../domain/errors.ts';
import { caCertHash } from '../../domain/kubeadm/ca-pin.ts';
import type { KubePort, RbacObject } from '../../ports/kube.ts';
import type { SecretBytesPort } from '../../ports/secrets.ts';
import { createBootstrapToken, RUN_ID_LABEL, tokenSecretName } from './bootstrap-token.ts';
import { BOOTSTRAP_TOKEN_GROUP } from './join-rbac.ts';

export const KUBEADM_CERTS_SECRET = 'kubeadm-certs';
const NAMESPACE = 'kube-system';
// constants.CertificateKeySize; Go's cipher.NewGCM uses the standard 12-byte nonce and 16-byte tag.
const KEY_BYTES = 32;
const NONCE_BYTES = 12;
const TAG_BYTES = 16;

/** copycerts certsToTransfer for stacked etcd (external etcd certs are not part of a kubeswap cluster). */
export const SHARED_CERT_FILES = [
  'ca.crt',
  'ca.key',
  'front-proxy-ca.crt',
  'front-proxy-ca.key',
  'sa.pub',
  'sa.key',
  'etcd/ca.crt',
  'etcd/ca.key',
] as const;

/** copycerts certOrKeyNameToSecretName: `etcd/ca.crt` -> `etcd-ca.crt`. */
export const secretKeyFor = (file: string) => file.replaceAll('/', '-');

/** copycerts CreateCertificateKey: 32 random bytes, hex (what `--certificate-key` takes). */
export function createCertificateKey(): string {
  return randomBytes(KEY_BYTES).toString('hex');
}

export function isCertificateKey(key: string): boolean {
  return /^[0-9a-fA-F]{64}$/.test(key);
}

function keyBytes(certificateKey: string): Buffer {
  if (!isCertificateKey(certificateKey)) {
    throw new KubeswapError('invalid', 'certificate-key.invalid', 'the certificate key must be 64 hex characters', {
      hint: 'use the key printed by `kubeadm init phase upload-certs --upload-certs` or `kubeadm certs certificate-key`',
    });
  }
  return Buffer.from(certificateKey, 'hex');
}

/** crypto.EncryptBytes: gcm.Seal(nonce, nonce, data, nil), i.e. nonce || ciphertext || tag. */
export function sealCert(data: Buffer, certificateKey: string): Buffer {
  const nonce = randomBytes(NONCE_BYTES);
  const cipher = createCipheriv('aes-256-gcm', keyBytes(certificateKey), nonce);
  return Buffer.concat([nonce, cipher.update(data), cipher.final(), cipher.getAuthTag()]);
}

/** crypto.DecryptBytes; throws when the key is wrong or the bytes were altered (GCM authentication). */
export function openCert(sealed: Buffer, certificateKey: string): Buffer {
  if (sealed.length < NONCE_BYTES + TAG_BYTES) throw new Error('sealed data is shorter than nonce and tag');
  const decipher = createDecipheriv('aes-256-gcm', keyBytes(certificateKey), sealed.subarray(0, NONCE_BYTES));
  decipher.setAuthTag(sealed.subarray(sealed.length - TAG_BYTES));
  return Buffer.concat([decipher.update(sealed.subarray(NONCE_BYTES, sealed.length - TAG_BYTES)), decipher.final()]);
}

/**
 * Reads the shared certificates from a kubeadm PKI dir (/etc/kubernetes/pki layout). kubeadm uploads an empty value
 * for a missing file and the join then fails late on the new machine; we refuse up front, naming every missing file.
 */
export async function readPkiDir(pkiDir: string): Promise<Map<string, Buffer>> {
  const files = new Map<string, Buffer>();
  const problems: Problem[] = [];
  for (const file of SHARED_CERT_FILES) {
    try {
      files.set(file, await readFile(join(pkiDir, file)));
    } catch (err) {
      problems.push({
        code: 'pki-dir.missing-file',
        message: `--pki-dir ${pkiDir}: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? 'error'})`,
        hint: 'point --pki-dir at a copy of a control-plane machine /etc/kubernetes/pki (ca, sa, front-proxy-ca, etcd/ca)',
      });
    }
  }
  if (problems.length > 0) {
    const message = problems.length === 1 ? problems[0]!.message : `${problems.length} files missing in ${pkiDir}`;
    throw new KubeswapError('invalid', 'pki-dir.missing-file', message, { problems, hint: problems[0]!.hint });
  }
  return files;
}

/** kubeadm's createRBAC: joining machines read kubeadm-certs with their bootstrap token. */
export const KUBEADM_CERTS_RBAC: RbacObject[] = [
  {
    kind: 'Role',
    namespace: NAMESPACE,
    name: 'kubeadm:kubeadm-certs',
    rules: [{ apiGroups: [''], resources: ['secrets'], verbs: ['get'], resourceNames: [KUBEADM_CERTS_SECRET] }],
  },
  {
    kind: 'RoleBinding',
    namespace: NAMESPACE,
    name: 'kubeadm:kubeadm-certs',
    roleRef: { kind: 'Role', name: 'kubeadm:kubeadm-certs' },
    subjects: [{ kind: 'Group', name: BOOTSTRAP_TOKEN_GROUP }],
  },
];

export interface UploadCertsOptions {
  pkiDir: string;
  runId: string;
  /** Lifetime of the TTL proxy token (kubeadm: DefaultCertTokenDuration, 2 h); we use the run's token TTL. */
  ttlSeconds: number;
  now: Date;
  /** Reuse a key (a resumed run); default: a fresh one. */
  certificateKey?: string;
  /** The cluster CA pin: a PKI dir of another cluster is refused before anything is uploaded. */
  expectedCaPin?: string;
}

/** The PKI dir's shared files, refused when they are not this cluster's (checked before anything is uploaded). */
export async function readClusterPki(pkiDir: string, expectedCaPin?: string): Promise<Map<string, Buffer>> {
  const files = await readPkiDir(pkiDir);
  if (expectedCaPin && caCertHash(files.get('ca.crt')!) !== expectedCaPin) {
    throw new KubeswapError('invalid', 'pki-dir.foreign-ca', `--pki-dir ${pkiDir}: ca.crt is not this cluster's CA`, {
      hint: 'copy the PKI of a control-plane machine of this cluster (its /etc/kubernetes/pki)',
    });
  }
  return files;
}

/** UploadCerts: proxy token, sealed files, Secret owned by the token, RBAC. Returns the key (never log it). */
export async function uploadKubeadmCerts(
  kube: KubePort,
  store: SecretBytesPort,
  options: UploadCertsOptions,
): Promise<{ certificateKey: string; proxyTokenId: string }> {
  const files = await readClusterPki(options.pkiDir, options.expectedCaPin);
  const certificateKey = options.certificateKey ?? createCertificateKey();
  const data: Record<string, Buffer> = {};
  for (const [file, bytes] of files) data[secretKeyFor(file)] = sealCert(bytes, certificateKey);
  const proxy = await createBootstrapToken(kube, { ...options, purpose: 'kubeadm-certs' });
  await store.putSecretBytes({
    namespace: NAMESPACE,
    name: KUBEADM_CERTS_SECRET,
    labels: { [RUN_ID_LABEL]: options.runId },
    data,
    ownerSecret: tokenSecretName(proxy.id),
  });
  await kube.ensureRbac(KUBEADM_CERTS_RBAC);
  return { certificateKey, proxyTokenId: proxy.id };
}

/**
 * Deletes kubeadm-certs only when kubeswap uploaded it: a Secret the user uploaded for `--certificate-key` has no
 * run label and stays. `runId` deletes that run's upload; `exceptRunId` deletes what any other (killed) run left.
 */
export async function deleteKubeadmCerts(
  kube: KubePort,
  which: { runId: string } | { exceptRunId: string },
): Promise<'deleted' | 'gone' | 'not-ours'> {
  const secret = await kube.getSecret(NAMESPACE, KUBEADM_CERTS_SECRET);
  if (!secret) return 'gone';
  const owner = secret.labels[RUN_ID_LABEL];
  const ours = 'runId' in which ? owner === which.runId : owner !== undefined && owner !== which.exceptRunId;
  if (!ours) return 'not-ours';
  return kube.deleteSecret(NAMESPACE, KUBEADM_CERTS_SECRET);
}
