// The upgrade readiness report `plan` shows and `apply` enforces (issue 13 §1): what people check by hand before an
// upgrade (versions and skew, removed APIs, certificates, etcd, disruption budgets), as data the CLI renders.

/** `block`: apply refuses (exit 2); `warn`: shown, apply proceeds; `ok`: checked and fine; `skipped`: not checked. */
export type Severity = 'block' | 'warn' | 'ok' | 'skipped';

export type ReadinessCheck = 'versions' | 'apis' | 'certificates' | 'etcd' | 'disruption';

export interface ReadinessFinding {
  check: ReadinessCheck;
  severity: Severity;
  /** Stable code, e.g. `api.removed`, `cert.expiring`. */
  code: string;
  /** What it is about: `apiserver cp-1`, `Deployment default/web`, `etcd member cp-2`. */
  subject: string;
  message: string;
  hint?: string;
}

export interface ComponentVersion {
  component: string;
  /** Node name, or the object for cluster-wide add-ons (`kube-system/coredns`). */
  where: string;
  now: string;
  target: string;
  severity: Severity;
  /** The version-skew rule applied, in words (kubernetes.io "Version Skew Policy"). */
  rule: string;
  /**
   * Set when the row stands for this many Nodes (`where`: `4998 Nodes`): kubelets that are fine and left as they
   * are, grouped by version. A Node that blocks, warns, is replaced or runs the control plane has its own row.
   */
  nodes?: number;
}

export interface CertificateReport {
  name: string;
  subject: string;
  notAfter: string;
  daysLeft: number;
  severity: Severity;
  note?: string;
}

export interface ApiUseReport {
  /** Where it was seen: `metric`, `last-applied`, `helm`. */
  via: 'metric' | 'last-applied' | 'helm';
  /** Who uses it: `apiserver cp-1 (clients since it started)`, `Deployment default/web`, `helm release default/app v3`. */
  subject: string;
  apiVersion: string;
  kind: string;
  removedIn: string;
  replacement?: string;
  severity: Severity;
}

export interface ReadinessReport {
  target: string;
  components: ComponentVersion[];
  apis: ApiUseReport[];
  certificates: CertificateReport[];
  findings: ReadinessFinding[];
  /** Removed APIs were accepted (--accept-removed-apis): shown as warnings, not blockers. */
  acceptedRemovedApis: boolean;
}

export function blockers(report: ReadinessReport): ReadinessFinding[] {
  return report.findings.filter((f) => f.severity === 'block');
}

export function warnings(report: ReadinessReport): ReadinessFinding[] {
  return report.findings.filter((f) => f.severity === 'warn' || f.severity === 'skipped');
}
