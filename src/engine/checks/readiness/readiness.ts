// The readiness report, as a commented checklist over the checks. Read-only: nothing here changes the cluster.
// `plan` shows it; `apply` refuses (exit 2, nothing changed) when it has blockers.
import { KubeswapError, type Problem } from '../../../domain/errors.ts';
import type { NodeView } from '../../../domain/model.ts';
import {
  blockers,
  type ComponentVersion,
  type ReadinessFinding,
  type ReadinessReport,
} from '../../../domain/readiness/report.ts';
import type { EtcdPort } from '../../../ports/etcd.ts';
import type { KubePort } from '../../../ports/kube.ts';
import type { ApiserverEndpoint, EtcdMemberStatus, ReadinessPort, StaticPodVersion } from '../../../ports/readiness.ts';
import { checkApis } from './apis.ts';
import { checkCertificates } from './certificates.ts';
import { checkBudgets, checkEtcd } from './etcd-and-budgets.ts';
import { componentVersions } from './versions.ts';

export interface ReadinessOptions {
  target: string;
  now: Date;
  /** Node names this run replaces (and drains). */
  replaced: string[];
  nodes: NodeView[];
  expectedRunMs: number;
  certWarningDays: number;
  acceptRemovedApis: boolean;
}

export interface ReadinessPorts {
  readiness: ReadinessPort;
  kube: Pick<KubePort, 'listDisruptionBudgets' | 'podsOnNode'>;
  etcd: Pick<EtcdPort, 'alarms' | 'endpoints'>;
}

export async function assessReadiness(ports: ReadinessPorts, options: ReadinessOptions): Promise<ReadinessReport> {
  const { readiness } = ports;
  const findings: ReadinessFinding[] = [];
  const skipped = (check: ReadinessFinding['check'], subject: string, err: unknown) =>
    findings.push({
      check,
      severity: 'skipped',
      code: `${check}.unreadable`,
      subject,
      message: `not checked: ${err instanceof Error ? err.message : String(err)}`,
    });

  // 1. Where each apiserver is, what it runs; the other components' versions.
  const { apiservers, components, staticPods, etcdStatus } = await observeVersions(readiness, options, skipped);
  for (const c of components.filter((c) => c.severity === 'block' || c.severity === 'warn')) {
    findings.push({
      check: 'versions',
      severity: c.severity,
      code: 'version.skew',
      subject: `${c.component} ${c.where}`,
      message: `${c.now} -> ${c.target}: outside the rule "${c.rule}"`,
    });
  }

  // 2. Removed and deprecated APIs: called by clients, stored in manifests.
  const apis = await checkApis(readiness, apiservers, {
    target: options.target,
    acceptRemovedApis: options.acceptRemovedApis,
  }).catch((err: unknown) => {
    skipped('apis', 'removed APIs', err);
    return { apis: [], findings: [] };
  });
  findings.push(...apis.findings);

  // 3. Certificates.
  const certs = await checkCertificates(
    readiness,
    apiservers,
    ports.etcd.endpoints().map((url) => ({ member: etcdMemberName(staticPods, url) ?? url, url })),
    {
      now: options.now,
      expectedRunMs: options.expectedRunMs,
      warningDays: options.certWarningDays,
      replaced: options.replaced,
    },
  );
  findings.push(...certs.findings);

  // 4. etcd size and alarms; budgets that would stop a drain.
  findings.push(
    ...(await checkEtcd(readiness, ports.etcd, etcdStatus).catch((err: unknown) => {
      skipped('etcd', 'etcd quota and alarms', err);
      return [];
    })),
  );
  findings.push(
    ...(await checkBudgets(ports.kube, options.replaced).catch((err: unknown) => {
      skipped('disruption', 'PodDisruptionBudgets', err);
      return [];
    })),
  );

  return {
    target: options.target,
    components,
    apis: apis.apis,
    certificates: certs.certificates,
    findings,
    acceptedRemovedApis: options.acceptRemovedApis,
  };
}

/** etcd endpoints carry no node name; the sandbox and kubeadm put one member per control-plane node. */
function etcdMemberName(
  staticPods: { node: string; component: string; endpoint?: string }[],
  endpoint: string,
): string | undefined {
  return staticPods.find((p) => p.component === 'etcd' && p.endpoint === endpoint)?.node;
}

/** Refuses the run with every blocker named (exit 2: nothing was changed). */
export function refuseUnlessReady(report: ReadinessReport): void {
  const blocking = blockers(report);
  if (blocking.length === 0) return;
  const problems: Problem[] = blocking.map((f) => ({
    code: f.code,
    message: `${f.subject}: ${f.message}`,
    ...(f.hint ? { hint: f.hint } : {}),
  }));
  const removedApis = blocking.some((f) => f.code === 'api.removed');
  throw new KubeswapError(
    'blocked',
    'readiness.blocked',
    `the upgrade to ${report.target} is not ready (${blocking.length} blocker${blocking.length === 1 ? '' : 's'}):\n${problems.map((p) => `  - ${p.message}`).join('\n')}`,
    {
      hint: removedApis
        ? 'nothing was changed; migrate the objects and clients named, or pass --accept-removed-apis to proceed anyway'
        : 'nothing was changed; fix what is named and run again',
      problems,
    },
  );
}

/**
 * Every component's version as the cluster reports it (each apiserver's /version, mirror pod images, add-on images,
 * etcd status), judged against the target: the readiness report's first part, and the verification pass's.
 */
export async function observeVersions(
  readiness: ReadinessPort,
  options: { target: string; nodes: NodeView[]; replaced: string[] },
  skipped: (check: ReadinessFinding['check'], subject: string, err: unknown) => void,
): Promise<{
  apiservers: ApiserverEndpoint[];
  components: ComponentVersion[];
  staticPods: StaticPodVersion[];
  etcdStatus: EtcdMemberStatus[];
}> {
  const apiservers: ApiserverEndpoint[] = await readiness.apiserverEndpoints().catch((err: unknown) => {
    skipped('versions', 'apiserver endpoints', err);
    return [];
  });
  const apiserverVersions = await Promise.all(
    apiservers.map((a) =>
      readiness.apiserverVersion(a).then(
        (version) => ({ node: a.node, version }),
        (err: unknown) => ({ node: a.node, error: err instanceof Error ? err.message : String(err) }),
      ),
    ),
  );
  const staticPods = await readiness.staticPodVersions().catch((err: unknown) => {
    skipped('versions', 'control-plane static pods', err);
    return [];
  });
  const addons = await readiness.addonVersions().catch((err: unknown) => {
    skipped('versions', 'kube-proxy and CoreDNS', err);
    return [];
  });
  const etcdStatus = await readiness.etcdStatus().catch((err: unknown) => {
    skipped('etcd', 'etcd status', err);
    return [];
  });
  const components = componentVersions({
    target: options.target,
    nodes: options.nodes,
    replaced: options.replaced,
    apiservers: apiserverVersions,
    staticPods,
    addons,
    etcd: etcdStatus.map((s) => ({ member: etcdMemberName(staticPods, s.endpoint) ?? s.endpoint, version: s.version })),
  });
  return { apiservers, components, staticPods, etcdStatus };
}
