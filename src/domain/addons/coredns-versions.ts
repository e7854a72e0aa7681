// The CoreDNS version each kubeadm minor deploys (constants.CoreDNSVersion), as data with its source.
// kubeadm's addon phase writes this version unless dns.imageTag overrides it.

export interface CoreDnsRelease {
  /** Kubernetes minor, `1.37`. */
  minor: string;
  /** CoreDNS version without `v`, as corefile-migration names versions. */
  coreDns: string;
  source: string;
}

/**
 * Read 2026-11-27. Rows marked "checked" are read from the kubeadm source in the Go module cache and compared
 * with `kubeadm config images list` of that binary by test/integration (integration/scenarios/addon-images.test.ts).
 */
export const COREDNS_BY_KUBEADM_MINOR: readonly CoreDnsRelease[] = [
  { minor: '1.22', coreDns: '1.8.4', source: 'coredns/deployment kubernetes/CoreDNS-k8s_version.md' },
  { minor: '1.23', coreDns: '1.8.6', source: 'coredns/deployment kubernetes/CoreDNS-k8s_version.md' },
  { minor: '1.24', coreDns: '1.8.6', source: 'coredns/deployment kubernetes/CoreDNS-k8s_version.md' },
  {
    minor: '1.25',
    coreDns: '1.9.3',
    source: 'recalled from the kubernetes 1.25 release notes, not re-read (unchecked)',
  },
  {
    minor: '1.26',
    coreDns: '1.9.3',
    source: 'recalled from the kubernetes 1.26 release notes, not re-read (unchecked)',
  },
  {
    minor: '1.27',
    coreDns: '1.10.1',
    source: 'recalled from the kubernetes 1.27 release notes, not re-read (unchecked)',
  },
  {
    minor: '1.28',
    coreDns: '1.10.1',
    source: 'recalled from the kubernetes 1.28 release notes, not re-read (unchecked)',
  },
  {
    minor: '1.29',
    coreDns: '1.11.1',
    source: 'kubernetes PR #120116 "Upgrade coredns to v1.11.1" in a CHANGELOG; minor inferred (unchecked)',
  },
  {
    minor: '1.30',
    coreDns: '1.11.1',
    source: 'recalled from the kubernetes 1.30 release notes, not re-read (unchecked)',
  },
  {
    minor: '1.31',
    coreDns: '1.11.3',
    source: 'kubernetes PR #126449 "Upgrade coreDNS to v1.11.3" in a CHANGELOG; minor inferred (unchecked)',
  },
  {
    minor: '1.32',
    coreDns: '1.11.3',
    source: 'recalled from the kubernetes 1.32 release notes, not re-read (unchecked)',
  },
  {
    minor: '1.33',
    coreDns: '1.12.0',
    source: 'kubernetes PR #128926 "Upgrade CoreDNS to v1.12.0" in a CHANGELOG; minor inferred (unchecked)',
  },
  {
    minor: '1.34',
    coreDns: '1.12.1',
    source: 'recalled from the kubernetes 1.34 release notes, not re-read (unchecked)',
  },
  {
    minor: '1.35',
    coreDns: '1.13.1',
    source: 'kubernetes PR #133968 "Update coredns to v1.13.1"; minor inferred (unchecked)',
  },
  {
    minor: '1.36',
    coreDns: '1.14.2',
    source: 'kubeadm v1.36.3 cmd/kubeadm/app/constants/constants.go CoreDNSVersion (checked)',
  },
  {
    minor: '1.37',
    coreDns: '1.14.6',
    source: 'kubeadm v1.37.2 cmd/kubeadm/app/constants/constants.go CoreDNSVersion (checked)',
  },
];

/** The CoreDNS version (`v1.14.6`) kubeadm of this Kubernetes version deploys; undefined for a minor we have no row for. */
export function coreDnsVersionFor(kubernetesVersion: string): string | undefined {
  const m = /^v?(\d+)\.(\d+)/.exec(kubernetesVersion.trim());
  if (!m) return undefined;
  const row = COREDNS_BY_KUBEADM_MINOR.find((r) => r.minor === `${m[1]}.${m[2]}`);
  return row ? `v${row.coreDns}` : undefined;
}
