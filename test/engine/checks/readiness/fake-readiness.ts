// A ReadinessPort over plain data. Its spec: every method answers from the fields below; a field set to an Error
// makes that call reject with it (an unreadable metric, a refused list); `calls` records what was read.
import type { CertificateView } from '../../../../src/domain/readiness/x509.ts';
import type {
  AddonVersion,
  ApiserverEndpoint,
  EtcdMemberStatus,
  ReadinessPort,
  StaticPodVersion,
  StoredScan,
} from '../../../../src/ports/readiness.ts';

const DAY = 86_400_000;
export const NOW = new Date('2026-06-01T00:00:00Z');

export function cert(daysLeft: number, subject = 'CN=test'): CertificateView {
  return {
    subject,
    issuer: 'CN=kubernetes',
    notBefore: new Date(NOW.getTime() - 365 * DAY),
    notAfter: new Date(NOW.getTime() + daysLeft * DAY),
  };
}

export const metricLine = (group: string, version: string, resource: string, removed: string) =>
  `apiserver_requested_deprecated_apis{group="${group}",removed_release="${removed}",resource="${resource}",subresource="",version="${version}"} 1`;

export class FakeReadiness implements ReadinessPort {
  endpoints: ApiserverEndpoint[] = [
    { node: 'cp-a', url: 'https://10.0.0.1:6443' },
    { node: 'cp-b', url: 'https://10.0.0.2:6443' },
  ];
  versions: Record<string, string | Error> = { 'cp-a': 'v1.36.3', 'cp-b': 'v1.36.3' };
  metrics: Record<string, string | Error> = {};
  stored: StoredScan = { objects: [], incomplete: [] };
  addons: AddonVersion[] = [
    { component: 'kube-proxy', object: 'kube-system/kube-proxy', version: 'v1.36.3' },
    { component: 'coredns', object: 'kube-system/coredns', version: 'v1.14.2' },
  ];
  staticPods: StaticPodVersion[] = [
    { node: 'cp-a', component: 'kube-controller-manager', version: 'v1.36.3' },
    { node: 'cp-a', component: 'kube-scheduler', version: 'v1.36.3' },
    { node: 'cp-a', component: 'etcd', version: '3.6.8-0', endpoint: 'https://10.0.0.1:2379' },
  ];
  certs: Record<string, CertificateView | Error | undefined> = {
    clusterCa: cert(3000, 'CN=kubernetes'),
    frontProxyCa: cert(3000, 'CN=front-proxy-ca'),
    client: cert(300, 'CN=kubernetes-admin'),
  };
  serving: Record<string, CertificateView | Error> = {};
  etcd: EtcdMemberStatus[] = [
    { endpoint: 'https://10.0.0.1:2379', version: '3.6.8', dbSizeBytes: 20 * 1048576, dbSizeInUseBytes: 10 * 1048576 },
  ];
  quota = 2 * 1024 ** 3;
  readonly calls: string[] = [];

  private answer<T>(value: T | Error): Promise<T> {
    return value instanceof Error ? Promise.reject(value) : Promise.resolve(value);
  }
  apiserverEndpoints() {
    return Promise.resolve(this.endpoints);
  }
  apiserverVersion(e: ApiserverEndpoint) {
    return this.answer(this.versions[e.node] ?? new Error('no answer'));
  }
  apiserverMetrics(e: ApiserverEndpoint) {
    this.calls.push(`metrics ${e.node}`);
    return this.answer(this.metrics[e.node] ?? '');
  }
  storedObjects(kinds: { apiVersion: string; kind: string; resource: string }[]) {
    this.calls.push(`stored ${kinds.length} kinds`);
    return Promise.resolve(this.stored);
  }
  addonVersions() {
    return Promise.resolve(this.addons);
  }
  staticPodVersions() {
    return Promise.resolve(this.staticPods);
  }
  clusterCa() {
    return this.answer(this.certs['clusterCa']);
  }
  frontProxyCa() {
    return this.answer(this.certs['frontProxyCa']);
  }
  clientCertificate() {
    const c = this.certs['client'];
    if (c instanceof Error) throw c;
    return c;
  }
  servingCertificate(url: string) {
    return this.answer(this.serving[url] ?? cert(365, `CN=${url}`));
  }
  etcdStatus() {
    return Promise.resolve(this.etcd);
  }
  etcdQuotaBytes() {
    return Promise.resolve(this.quota);
  }
}
