// Days left on the certificates an upgrade depends on: the cluster CA (cluster-info), the front-proxy CA, each
// apiserver's and etcd member's serving certificate (read from the TLS handshake), and kubeswap's own client
// certificate. Expired or expiring within the run's expected duration blocks; within --cert-warning-days warns.
// Machines replaced get new leaf certificates from kubeadm join (signed by the same CAs), so a leaf on a replaced
// machine only has to outlive the run; the CAs are copied to every replacement and must outlive it all.
import type { CertificateReport, ReadinessFinding, Severity } from '../../../domain/readiness/report.ts';
import type { ApiserverEndpoint, CertificateView, ReadinessPort } from '../../../ports/readiness.ts';

const DAY_MS = 86_400_000;

export interface CertificateCheckOptions {
  now: Date;
  /** Upper bound of the run (machines x (machine timeout + drain timeout)). */
  expectedRunMs: number;
  warningDays: number;
  /** Node names this run replaces. */
  replaced: string[];
}

export interface CertificateCheck {
  certificates: CertificateReport[];
  findings: ReadinessFinding[];
}

type Source = { name: string; node?: string; read: () => Promise<CertificateView | undefined> };

export async function checkCertificates(
  port: Pick<ReadinessPort, 'clusterCa' | 'frontProxyCa' | 'clientCertificate' | 'servingCertificate'>,
  apiservers: ApiserverEndpoint[],
  etcdMembers: { member: string; url: string }[],
  options: CertificateCheckOptions,
): Promise<CertificateCheck> {
  const sources: Source[] = [
    { name: 'cluster CA (kube-public/cluster-info)', read: () => port.clusterCa() },
    { name: 'front-proxy CA', read: () => port.frontProxyCa() },
    { name: 'kubeswap client certificate (kubeconfig)', read: async () => port.clientCertificate() },
    ...apiservers.map((a) => ({
      name: `apiserver ${a.node} serving`,
      node: a.node,
      read: () => port.servingCertificate(a.url),
    })),
    ...etcdMembers.map((m) => ({
      name: `etcd ${m.member} serving`,
      node: m.member,
      read: () => port.servingCertificate(m.url),
    })),
  ];
  const certificates: CertificateReport[] = [];
  const findings: ReadinessFinding[] = [];
  const results = await Promise.allSettled(sources.map((s) => s.read()));
  results.forEach((result, i) => {
    const source = sources[i]!;
    if (result.status === 'rejected') {
      findings.push({
        check: 'certificates',
        severity: 'skipped',
        code: 'cert.unreadable',
        subject: source.name,
        message: `not checked: ${result.reason instanceof Error ? result.reason.message : String(result.reason)}`,
      });
      return;
    }
    if (!result.value) return; // not present (no client certificate: token or exec auth)
    const cert = result.value;
    const msLeft = cert.notAfter.getTime() - options.now.getTime();
    const daysLeft = Math.floor(msLeft / DAY_MS);
    const severity = certificateSeverity(msLeft, options);
    const renewed = source.node !== undefined && options.replaced.includes(source.node);
    certificates.push({
      name: source.name,
      subject: cert.subject,
      notAfter: cert.notAfter.toISOString(),
      daysLeft,
      severity,
      ...(renewed ? { note: 'its machine is replaced: the replacement gets a new certificate from kubeadm join' } : {}),
    });
    if (severity === 'ok') return;
    findings.push({
      check: 'certificates',
      severity,
      code: msLeft <= 0 ? 'cert.expired' : 'cert.expiring',
      subject: source.name,
      message:
        msLeft <= 0
          ? `expired ${cert.notAfter.toISOString()}`
          : `expires ${cert.notAfter.toISOString()} (${daysLeft} days)${severity === 'block' ? ', within the run' : ''}`,
      hint:
        severity === 'block'
          ? 'renew it before upgrading (kubeadm certs renew; a CA needs a CA rotation)'
          : `renew it within ${options.warningDays} days (kubeadm certs renew)`,
    });
  });
  return { certificates, findings };
}

export function certificateSeverity(
  msLeft: number,
  options: Pick<CertificateCheckOptions, 'expectedRunMs' | 'warningDays'>,
): Severity {
  if (msLeft <= options.expectedRunMs) return 'block';
  if (msLeft <= options.warningDays * DAY_MS) return 'warn';
  return 'ok';
}
