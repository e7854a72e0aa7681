// The refusals of `kubeadm join --control-plane`, as one pure function over what the cluster holds. An empty list
// means the machine may join; any reason means it never becomes a Node (as a real VM whose kubeadm join failed).
import { parse } from 'yaml';
import {
  caCertHash,
  decryptUploadedCert,
  type JoinRequest,
  minorOf,
  SHARED_CERTIFICATES,
  verifyDetachedJws,
} from './join.ts';

export interface ClusterFacts {
  now: Date;
  /** Decoded data of Secret kube-system/bootstrap-token-<id>, if it exists. */
  tokenSecret?: Record<string, string>;
  /** Data of ConfigMap kube-public/cluster-info (kubeconfig plus jws-kubeconfig-<id> signatures). */
  clusterInfo?: Record<string, string>;
  /** kubernetesVersion of the ClusterConfiguration in kubeadm-config. */
  kubernetesVersion: string;
  /** The ClusterConfiguration in kubeadm-config as stored: the image's kubeadm must be able to read it. */
  clusterConfiguration?: string;
  /** The image's Kubernetes version (its kubelet and kubeadm). */
  imageVersion: string;
  /** The image brings the shared control-plane certificates (image tag `kubeswap-sandbox/brings-certificates`). */
  imageBringsCertificates?: boolean;
  /** Raw (still encrypted, base64-decoded) data of Secret kube-system/kubeadm-certs, if it exists. */
  uploadedCerts?: Record<string, Buffer>;
}

const TOKEN_FORMAT = /^([a-z0-9]{6})\.([a-z0-9]{16})$/;

export function joinRefusals(request: JoinRequest, facts: ClusterFacts): string[] {
  const refusals: string[] = [];
  refusals.push(...tokenRefusals(request, facts));
  refusals.push(...versionRefusals(facts));
  if (request.controlPlane && request.certificateKey) refusals.push(...certificateKeyRefusals(request, facts));
  // kubeadm's control-plane join preflight: without a certificate key the certificates must already be on disk.
  if (request.controlPlane && !request.certificateKey && !facts.imageBringsCertificates) {
    refusals.push(...writtenCertificateRefusals(request, facts));
  }
  return refusals;
}

/**
 * Certificates the user data writes (Cluster API's bootstrap provider): all of them must be there, and the CA must be
 * the cluster's, or the new apiserver's and etcd's certificates would not be trusted (kubeadm checks the CA on disk
 * against the discovered cluster CA: "the CA on disk does not match").
 */
function writtenCertificateRefusals(request: JoinRequest, facts: ClusterFacts): string[] {
  const written = request.certificates ?? {};
  if (Object.keys(written).length === 0) {
    return [
      'control-plane join without a certificate key, and the image brings no certificates: ca, sa, front-proxy-ca and etcd/ca are missing (kubeadm: "failure loading certificate for CA")',
    ];
  }
  const missing = SHARED_CERTIFICATES.filter((name) => !written[name]?.trim());
  if (missing.length)
    return [`control-plane join without a certificate key: the user data writes no ${missing.join(', ')}`];
  const clusterCa = facts.clusterInfo?.['kubeconfig'] ? caFromKubeconfig(facts.clusterInfo['kubeconfig']) : undefined;
  if (!clusterCa) return [];
  try {
    if (caCertHash(written['ca.crt']!) !== caCertHash(clusterCa))
      return ['the ca.crt the user data writes is not the cluster CA'];
  } catch {
    return ['the ca.crt the user data writes is not a certificate'];
  }
  return [];
}

function tokenRefusals(request: JoinRequest, facts: ClusterFacts): string[] {
  const match = request.token?.match(TOKEN_FORMAT);
  if (!match) return ['the bootstrap token is missing or malformed'];
  const [, id, secret] = match as unknown as [string, string, string];
  const stored = facts.tokenSecret;
  if (!stored) return [`bootstrap token ${id} does not exist`];
  if (stored['token-secret'] !== secret) return [`bootstrap token ${id} has a different secret`];
  const expiration = stored['expiration'];
  if (expiration && new Date(expiration).getTime() <= facts.now.getTime()) return [`bootstrap token ${id} expired`];
  if (stored['usage-bootstrap-authentication'] !== 'true') return [`bootstrap token ${id} cannot authenticate`];
  // Token discovery: cluster-info must carry this token's signature, made by the bootstrap signer.
  const kubeconfig = facts.clusterInfo?.['kubeconfig'];
  const signature = facts.clusterInfo?.[`jws-kubeconfig-${id}`];
  if (!kubeconfig) return ['kube-public/cluster-info is missing'];
  if (!signature) return [`cluster-info has no signature for token ${id} (no signing usage or no bootstrap signer)`];
  if (!verifyDetachedJws(signature, kubeconfig, secret)) return [`cluster-info signature for token ${id} is invalid`];
  if (request.unsafeSkipCAVerification) return [];
  const caPem = caFromKubeconfig(kubeconfig);
  const pin = caPem ? caCertHash(caPem) : undefined;
  if (request.caCertHashes.length === 0) return ['no CA cert hash given and unsafe skip of CA verification not set'];
  if (!pin || !request.caCertHashes.some((h) => h.toLowerCase() === pin)) {
    return [`none of the CA cert hashes matches the cluster CA (${pin ?? 'no CA in cluster-info'})`];
  }
  return [];
}

/**
 * kubeadm's KubeletVersion preflight: the kubelet may not be newer (by minor) than kubernetesVersion, nor older
 * than the minimum kubelet the control plane supports (one minor below, for a joining control-plane machine).
 */
export function versionRefusals(facts: ClusterFacts): string[] {
  const image = minorOf(facts.imageVersion);
  const cluster = minorOf(facts.kubernetesVersion);
  if (Number.isNaN(image)) return [`the image carries no usable kubernetes-version tag (${facts.imageVersion})`];
  if (Number.isNaN(cluster)) return [`kubeadm-config has no usable kubernetesVersion (${facts.kubernetesVersion})`];
  if (image > cluster) {
    return [
      `the kubelet version is higher than the control plane version (kubelet ${facts.imageVersion}, kubeadm-config kubernetesVersion ${facts.kubernetesVersion})`,
    ];
  }
  if (image < cluster - 1) {
    return [
      `kubelet ${facts.imageVersion} is older than kubeadm supports for control plane ${facts.kubernetesVersion}`,
    ];
  }
  return [];
}

function certificateKeyRefusals(request: JoinRequest, facts: ClusterFacts): string[] {
  const sealed = facts.uploadedCerts?.['ca.crt'];
  if (!sealed) return ['Secret kube-system/kubeadm-certs is missing (uploaded certs expire after 2 hours)'];
  try {
    decryptUploadedCert(sealed, request.certificateKey!);
    return [];
  } catch {
    return ['the certificate key does not decrypt kubeadm-certs'];
  }
}

export function caFromKubeconfig(kubeconfig: string): string | undefined {
  const doc = parse(kubeconfig) as { clusters?: { cluster?: Record<string, string> }[] };
  const data = doc?.clusters?.[0]?.cluster?.['certificate-authority-data'];
  return data ? Buffer.from(data, 'base64').toString('utf8') : undefined;
}
