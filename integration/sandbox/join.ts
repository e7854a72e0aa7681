// What a machine's user data asks for, and the checks `kubeadm join --control-plane` makes before it touches etcd:
// token discovery (the Secret, its expiry, the cluster-info signature), the CA pin, the kubelet version skew and,
// with --certificate-key, that the uploaded control-plane certs decrypt. Pure functions: the simulator feeds facts.
import { createDecipheriv, createHash, createHmac, timingSafeEqual, X509Certificate } from 'node:crypto';
import { gunzipSync } from 'node:zlib';
import { parse, parseAllDocuments } from 'yaml';

/** The launch template's own user data: the image bootstraps itself with credentials it already holds. */
export const JOIN_RECIPE_MARKER = '# kubeswap-sandbox: self-join';

export function renderJoinRecipe(clusterName: string): string {
  return [
    '#!/bin/bash',
    JOIN_RECIPE_MARKER,
    `# The image fetches its join credentials for cluster ${clusterName} from the secret store at boot and runs`,
    '# kubeadm join --control-plane; the sandbox simulator plays that (version skew still checked).',
    '',
  ].join('\n');
}

export interface JoinRequest {
  token?: string;
  apiServerEndpoint?: string;
  caCertHashes: string[];
  unsafeSkipCAVerification: boolean;
  controlPlane: boolean;
  certificateKey?: string;
  nodeName?: string;
  /**
   * Shared control-plane certificates the user data writes before the join, by name relative to the certificates
   * dir (`ca.crt`, `etcd/ca.key`, ...): Cluster API's kubeadm bootstrap provider puts them in cloud-init write_files.
   */
  certificates?: Record<string, string>;
}

/**
 * The files a control-plane join without a certificate key needs on disk (kubeadm's CA, SA and etcd CA), and what
 * a joining control-plane machine copies from the cluster (kubeadm's `copycerts` list).
 */
export const SHARED_CERTIFICATES = [
  'ca.crt',
  'ca.key',
  'sa.key',
  'sa.pub',
  'front-proxy-ca.crt',
  'front-proxy-ca.key',
  'etcd/ca.crt',
  'etcd/ca.key',
];

export type UserDataIntent = { kind: 'recipe' } | { kind: 'join'; request: JoinRequest } | { kind: 'none' };

export function parseUserData(raw: string): UserDataIntent {
  if (raw.includes(JOIN_RECIPE_MARKER)) return { kind: 'recipe' };
  const certificates = certificatesIn(raw);
  const withCertificates = (request: JoinRequest): UserDataIntent => ({
    kind: 'join',
    request: Object.keys(certificates).length ? { ...request, certificates } : request,
  });
  for (const text of candidateTexts(raw)) {
    const fromYaml = joinConfigurationIn(text);
    if (fromYaml) return withCertificates(fromYaml);
  }
  for (const text of candidateTexts(raw)) {
    const fromCommand = joinCommandIn(text);
    if (fromCommand) return withCertificates(fromCommand);
  }
  return { kind: 'none' };
}

/** write_files under a `pki/` folder (kubeadm's certificatesDir, /etc/kubernetes/pki by default), by relative name. */
function certificatesIn(raw: string): Record<string, string> {
  const found: Record<string, string> = {};
  for (const doc of cloudConfigs(raw)) {
    for (const file of doc?.write_files ?? []) {
      const name = String(file?.path ?? '').match(/\/pki\/(.+)$/)?.[1];
      if (name) found[name] = decodeWriteFile(file);
    }
  }
  return found;
}

/**
 * cloud-init fills `{{ ds.meta_data.local_hostname }}` (and `{{ v1.local_hostname }}`) with the VM's hostname: on
 * EC2 its private DNS name. Cluster API providers' templates name nodes that way.
 */
export function renderHostnameTemplate(name: string | undefined, hostname: string): string | undefined {
  return name?.replace(/\{\{\s*(ds\.meta_data|v1)\.local_hostname\s*\}\}/g, hostname);
}

/**
 * A join script that fetches its JoinConfiguration from SSM Parameter Store at boot (`--bootstrap-secrets ssm`):
 * the parameter's name, and whether the machine asks for the decrypted value (without it, SecureString values come
 * back encrypted and the join cannot read them).
 */
export function ssmFetchIn(raw: string): { name: string; withDecryption: boolean } | undefined {
  for (const text of candidateTexts(raw)) {
    const line = text
      .split('\n')
      .find((l) => /\baws\s+ssm\s+get-parameter\b/.test(l) && !l.trimStart().startsWith('#'));
    const name = line?.match(/--name[= ]+'?([^'\s]+)'?/)?.[1];
    if (name) return { name, withDecryption: /--with-decryption\b/.test(line!) };
  }
  return undefined;
}

function mimeParts(raw: string): string[] {
  const boundary = raw.match(/boundary="?([^"\s;]+)"?/)?.[1];
  return boundary ? raw.split(`--${boundary}`).map((p) => p.replace(/^[\s\S]*?\r?\n\r?\n/, '')) : [raw];
}

/** `#cloud-config`, also after cloud-init's Jinja header `## template: jinja` (Cluster API's bootstrap data has it). */
const isCloudConfig = (part: string) => /^(## template: jinja\s*\n)?#cloud-config/.test(part.trimStart());

function cloudConfigs(raw: string): any[] {
  const docs: any[] = [];
  for (const part of mimeParts(raw)) {
    if (!isCloudConfig(part)) continue;
    try {
      docs.push(parse(part));
    } catch {}
  }
  return docs;
}

/** The texts a kubeadm JoinConfiguration may hide in: MIME parts, cloud-config write_files/runcmd, or the whole. */
function candidateTexts(raw: string): string[] {
  const texts = [raw];
  for (const part of mimeParts(raw)) {
    if (!isCloudConfig(part)) texts.push(part);
  }
  for (const doc of cloudConfigs(raw)) {
    for (const file of doc?.write_files ?? []) texts.push(decodeWriteFile(file));
    for (const cmd of [...(doc?.runcmd ?? []), ...(doc?.bootcmd ?? [])]) {
      texts.push(Array.isArray(cmd) ? cmd.join(' ') : String(cmd));
    }
  }
  return texts;
}

function decodeWriteFile(file: { content?: string; encoding?: string }): string {
  const content = file.content ?? '';
  const encoding = (file.encoding ?? '').toLowerCase();
  if (['b64', 'base64'].includes(encoding)) return Buffer.from(content, 'base64').toString('utf8');
  if (['gz+b64', 'gzip+base64', 'gz+base64', 'gzip+b64'].includes(encoding)) {
    return gunzipSync(Buffer.from(content, 'base64')).toString('utf8');
  }
  return content;
}

function joinConfigurationIn(text: string): JoinRequest | undefined {
  if (!text.includes('JoinConfiguration')) return undefined;
  for (const doc of parseAllDocuments(text)) {
    let value: any;
    try {
      value = doc.toJS();
    } catch {
      continue;
    }
    if (value?.kind !== 'JoinConfiguration') continue;
    const bootstrap = value.discovery?.bootstrapToken ?? {};
    return {
      token: bootstrap.token ?? value.discovery?.tlsBootstrapToken,
      apiServerEndpoint: bootstrap.apiServerEndpoint,
      caCertHashes: bootstrap.caCertHashes ?? [],
      unsafeSkipCAVerification: Boolean(bootstrap.unsafeSkipCAVerification),
      controlPlane: value.controlPlane !== undefined && value.controlPlane !== null,
      certificateKey: value.controlPlane?.certificateKey,
      nodeName: value.nodeRegistration?.name,
    };
  }
  return undefined;
}

function joinCommandIn(text: string): JoinRequest | undefined {
  const line = text.split('\n').find((l) => /kubeadm\s+join\b/.test(l) && !l.trimStart().startsWith('#'));
  if (!line) return undefined;
  const flag = (name: string) => line.match(new RegExp(`--${name}[= ]+(\\S+)`))?.[1];
  const hashes = [...line.matchAll(/--discovery-token-ca-cert-hash[= ]+(\S+)/g)].map((m) => m[1]!);
  return {
    token: flag('token') ?? flag('discovery-token'),
    apiServerEndpoint: line.match(/kubeadm\s+join\s+([^-\s]\S*)/)?.[1],
    caCertHashes: hashes,
    unsafeSkipCAVerification: /--discovery-token-unsafe-skip-ca-verification/.test(line),
    controlPlane: /--control-plane\b/.test(line),
    certificateKey: flag('certificate-key'),
    nodeName: flag('node-name'),
  };
}

/** kubeadm's CA pin: sha256 of the CA certificate's DER SubjectPublicKeyInfo. */
export function caCertHash(caPem: string): string {
  const spki = new X509Certificate(caPem).publicKey.export({ type: 'spki', format: 'der' });
  return `sha256:${createHash('sha256').update(spki).digest('hex')}`;
}

/** Verifies a detached HS256 JWS as the bootstrap signer writes it into cluster-info (key = token secret). */
export function verifyDetachedJws(detached: string, content: string, tokenSecret: string): boolean {
  const [header, empty, signature] = detached.split('.');
  if (!header || empty !== '' || !signature) return false;
  const input = `${header}.${Buffer.from(content).toString('base64url')}`;
  const expected = createHmac('sha256', tokenSecret).update(input).digest();
  const given = Buffer.from(signature, 'base64url');
  return given.length === expected.length && timingSafeEqual(given, expected);
}

/** kubeadm copycerts: AES-256-GCM with the hex certificate key, nonce prepended to the sealed bytes. */
export function decryptUploadedCert(sealed: Buffer, certificateKeyHex: string): Buffer {
  const key = Buffer.from(certificateKeyHex, 'hex');
  if (key.length !== 32) throw new Error('certificate key must be 32 bytes of hex');
  const nonce = sealed.subarray(0, 12);
  const tag = sealed.subarray(sealed.length - 16);
  const decipher = createDecipheriv('aes-256-gcm', key, nonce);
  decipher.setAuthTag(tag);
  return Buffer.concat([decipher.update(sealed.subarray(12, sealed.length - 16)), decipher.final()]);
}

export const minorOf = (version: string) => Number(version.replace(/^v/, '').split('.')[1]);
