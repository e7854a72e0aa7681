// The addon images kubeadm writes, computed the way kubeadm's own code does it
// (cmd/kubeadm/app/images/images.go and util/version.go of kubeadm v1.36/v1.37), from the cluster's
// ClusterConfiguration: imageRepository, dns.imageRepository / dns.imageTag, dns.disabled / proxy.disabled.
import { parseDocument } from 'yaml';

/** kubeadm's default image repository (kubeadmapiv1.DefaultImageRepository), used when imageRepository is empty. */
export const DEFAULT_IMAGE_REPOSITORY = 'registry.k8s.io';
/** constants.CoreDNSImageName and constants.KubeProxy. */
export const COREDNS_IMAGE_NAME = 'coredns';
export const KUBE_PROXY_IMAGE_NAME = 'kube-proxy';

/** The part of a ClusterConfiguration (v1beta2/3/4: same field names) that decides the addon images. */
export interface AddonImageConfig {
  imageRepository: string;
  dns: { imageRepository?: string; imageTag?: string; disabled: boolean };
  proxy: { disabled: boolean };
}

const text = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);

/** Reads the fields above; an absent or empty imageRepository takes kubeadm's default, as kubeadm's defaulting does. */
export function parseAddonImageConfig(clusterConfiguration: string): AddonImageConfig {
  const doc = (parseDocument(clusterConfiguration).toJS() ?? {}) as Record<string, any>;
  const dns = (doc['dns'] ?? {}) as Record<string, unknown>;
  const proxy = (doc['proxy'] ?? {}) as Record<string, unknown>;
  return {
    imageRepository: text(doc['imageRepository']) ?? DEFAULT_IMAGE_REPOSITORY,
    dns: {
      imageRepository: text(dns['imageRepository']),
      imageTag: text(dns['imageTag']),
      // `disabled` exists from v1beta4 (kubeadm 1.31); older configurations skip addons with phase flags only.
      disabled: dns['disabled'] === true,
    },
    proxy: { disabled: proxy['disabled'] === true },
  };
}

/** kubeadmutil.KubernetesVersionToImageTag: every character but `-`, word characters and `.` becomes `_` (`+` in CI builds). */
export function kubernetesImageTag(version: string): string {
  return version.replace(/[^-\w.]/g, '_');
}

/** GetKubernetesImage(constants.KubeProxy, cfg) for the target version. */
export function kubeProxyImage(config: AddonImageConfig, kubernetesVersion: string): string {
  return `${config.imageRepository}/${KUBE_PROXY_IMAGE_NAME}:${kubernetesImageTag(kubernetesVersion)}`;
}

/**
 * GetDNSImage: the DNS repository is dns.imageRepository, else imageRepository; under the default registry the
 * official image lives at registry.k8s.io/coredns/coredns (renamed in 1.21), under any other registry at
 * <repo>/coredns. The tag is dns.imageTag, else the CoreDNS version the target kubeadm ships.
 */
export function coreDnsImage(config: AddonImageConfig, coreDnsVersion: string): string {
  let repository = config.dns.imageRepository ?? config.imageRepository;
  if (repository === DEFAULT_IMAGE_REPOSITORY) repository = `${repository}/coredns`;
  return `${repository}/${COREDNS_IMAGE_NAME}:${config.dns.imageTag ?? coreDnsVersion}`;
}

/** `registry:5000/a/b:tag@sha256:..` -> { name: 'registry:5000/a/b', tag: 'tag' } (kubeadm's image.TagFromImage). */
export function splitImage(image: string): { name: string; tag?: string } {
  const withoutDigest = image.split('@')[0]!;
  const slash = withoutDigest.lastIndexOf('/');
  const colon = withoutDigest.lastIndexOf(':');
  if (colon > slash) return { name: withoutDigest.slice(0, colon), tag: withoutDigest.slice(colon + 1) };
  return { name: withoutDigest };
}
