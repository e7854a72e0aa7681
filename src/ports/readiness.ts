// What the readiness checks read that the run itself does not need: per-apiserver metrics and versions, stored
// manifests (last-applied annotations, Helm 3 releases), certificates (CA bundles, TLS handshakes, our own client
// certificate), add-on images and etcd member status. Implemented in src/adapters/kube/readiness.ts,
// src/adapters/tls/peer-certificate.ts and the etcd adapter; every call may fail alone (the check then says
// "skipped" with the reason) without failing the others.
import type { ManifestObject } from '../domain/readiness/stored-manifests.ts';
import type { CertificateView } from '../domain/readiness/x509.ts';

export type { CertificateView } from '../domain/readiness/x509.ts';

export interface ApiserverEndpoint {
  node: string;
  /** `https://host:port` of that apiserver itself, never the load balancer. */
  url: string;
}

export interface StoredObject extends ManifestObject {
  /** Where the apiVersion was read: the object's last-applied annotation, or a Helm release. */
  via: 'last-applied' | 'helm';
  /** For Helm: `namespace/release vN`. For last-applied: `Kind namespace/name` of the live object. */
  owner: string;
}

export interface StoredScan {
  objects: StoredObject[];
  /** Kinds or namespaces not read in full (a list refused, the per-kind bound reached), with the reason. */
  incomplete: string[];
}

export interface AddonVersion {
  component: 'kube-proxy' | 'coredns';
  /** `kube-system/kube-proxy` */
  object: string;
  /** Image tag, e.g. `v1.36.3`. */
  version: string;
}

export interface StaticPodVersion {
  node: string;
  component: 'kube-apiserver' | 'kube-controller-manager' | 'kube-scheduler' | 'etcd';
  /** Image tag of the mirror pod, e.g. `v1.36.3`. */
  version: string;
  /** etcd only: its client URL (kubeadm.kubernetes.io/etcd.advertise-client-urls). */
  endpoint?: string;
}

export interface EtcdMemberStatus {
  endpoint: string;
  memberId?: string;
  version?: string;
  dbSizeBytes?: number;
  dbSizeInUseBytes?: number;
  error?: string;
}

export interface ReadinessPort {
  /** Each apiserver as kubeadm annotates its static pod (`kube-apiserver.advertise-address.endpoint`). */
  apiserverEndpoints(): Promise<ApiserverEndpoint[]>;
  /** gitVersion that apiserver itself reports on /version. */
  apiserverVersion(endpoint: ApiserverEndpoint): Promise<string>;
  /**
   * Prometheus text of that apiserver's /metrics (RBAC: nonResourceURLs ["/metrics"], verb get): at least every line
   * of the apiserver_requested_deprecated_apis gauge; an adapter may leave the other metrics out.
   */
  apiserverMetrics(endpoint: ApiserverEndpoint): Promise<string>;
  /** Objects whose stored manifests name an apiVersion, from the kinds given, bounded and paged. */
  storedObjects(kinds: { apiVersion: string; kind: string; resource: string }[]): Promise<StoredScan>;
  addonVersions(): Promise<AddonVersion[]>;
  /** Image tags of the control-plane mirror pods in kube-system. */
  staticPodVersions(): Promise<StaticPodVersion[]>;
  /** The cluster CA from kube-public/cluster-info; undefined when that ConfigMap is missing. */
  clusterCa(): Promise<CertificateView | undefined>;
  /** The front-proxy CA (kube-system/extension-apiserver-authentication requestheader-client-ca-file). */
  frontProxyCa(): Promise<CertificateView | undefined>;
  /** The client certificate of our kubeconfig; undefined when it authenticates otherwise (token, exec). */
  clientCertificate(): CertificateView | undefined;
  /** The leaf certificate a TLS server presents at `url` (read from the handshake; nothing is sent). */
  servingCertificate(url: string): Promise<CertificateView>;
  /** Each etcd endpoint's status: version and database size. */
  etcdStatus(): Promise<EtcdMemberStatus[]>;
  /** etcd's space quota in bytes (`--quota-backend-bytes` of the etcd static pods, else etcd's 2 GiB default). */
  etcdQuotaBytes(): Promise<number>;
}
