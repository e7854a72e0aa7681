// The readiness report, as a commented checklist over the checks. Read-only: nothing here changes the cluster.
// `plan` shows it; `apply` refuses (exit 2, nothing changed) when it has blockers.
import { KubeswapError, type Problem } from '../../../domain/errors.ts';
import type { NodeView } from '../../../domain/model.ts';
import {
  blockers,
  type ComponentVersion,
  type ReadinessFinding,
  type ReadinessReport,
  type Severity,
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
  /** The run id of the run being resumed: what it checked when it started is not scanned again. */
  resumedRun?: string;
}

export interface ReadinessPorts {
  readiness: ReadinessPort;
  kube: Pick<KubePort, 'listDisruptionBudgets' | 'podsOnNode'>;
  etcd: Pick<EtcdPort, 'alarms' | 'endpoints'>;
}

export async function assessReadiness(ports: ReadinessPorts, options: ReadinessOptions): Promise<ReadinessReport> {
  const { readiness } = ports;
  // Each part's findings, concatenated in this order whatever order the reads answer in.
  const unreadable: ReadinessFinding[] = [];
  const skipped =
    <T>(check: ReadinessFinding['check'], subject: string, fallback: T) =>
    (err: unknown): T => {
      unreadable.push({
        check,
        severity: 'skipped',
        code: `${check}.unreadable`,
        subject,
        message: `not checked: ${err instanceof Error ? err.message : String(err)}`,
      });
      return fallback;
    };

  // Every read is independent of the others but for what the apiserver endpoints lead to: all go out together,
  // so the report costs its slowest chain of reads, not their sum.
  const endpointsRead = readiness.apiserverEndpoints();
  const report = (check: ReadinessFinding['check'], subject: string, err: unknown) =>
    void skipped(check, subject, undefined)(err);
  const [{ apiservers, components, staticPods, etcdStatus }, apis, budgets] = await Promise.all([
    // 1. Where each apiserver is, what it runs; the other components' versions.
    observeVersions(readiness, options, report, endpointsRead),
    // 2. Removed and deprecated APIs: called by clients, stored in manifests. A resumed run already passed this
    // check when it started, and nothing it finds now could stop it (a resumed run only reports): the scan, the
    // one part whose cost grows with the cluster's objects, is left out.
    options.resumedRun
      ? Promise.resolve<{ apis: ReadinessReport['apis']; findings: ReadinessFinding[] }>({
          apis: [],
          findings: [
            {
              check: 'apis',
              severity: 'skipped',
              code: 'api.resumed',
              subject: 'removed APIs',
              message: `not checked again: run ${options.resumedRun} checked them when it started`,
            },
          ],
        })
      : endpointsRead
          .catch(() => [] as ApiserverEndpoint[])
          .then((endpoints) =>
            checkApis(readiness, endpoints, { target: options.target, acceptRemovedApis: options.acceptRemovedApis }),
          )
          .catch(skipped('apis', 'removed APIs', { apis: [], findings: [] })),
    // 4b. Budgets that would stop a drain.
    checkBudgets(ports.kube, options.replaced).catch(skipped('disruption', 'PodDisruptionBudgets', [])),
  ]);
  const versionFindings: ReadinessFinding[] = components
    .filter((c) => c.severity === 'block' || c.severity === 'warn')
    .map((c) => ({
      check: 'versions',
      severity: c.severity as Severity,
      code: 'version.skew',
      subject: `${c.component} ${c.where}`,
      message: `${c.now} -> ${c.target}: outside the rule "${c.rule}"`,
    }));

  // 3. Certificates; 4. etcd size and alarms.
  const [certs, etcdFindings] = await Promise.all([
    checkCertificates(
      readiness,
      apiservers,
      ports.etcd.endpoints().map((url) => ({ member: etcdMemberName(staticPods, url) ?? url, url })),
      {
        now: options.now,
        expectedRunMs: options.expectedRunMs,
        warningDays: options.certWarningDays,
        replaced: options.replaced,
      },
    ),
    checkEtcd(readiness, ports.etcd, etcdStatus).catch(skipped('etcd', 'etcd quota and alarms', [])),
  ]);

  return {
    target: options.target,
    components,
    apis: apis.apis,
    certificates: certs.certificates,
    findings: [...unreadable, ...versionFindings, ...apis.findings, ...certs.findings, ...etcdFindings, ...budgets],
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
 * etcd status), judged against the target: the readiness report's first part, and the verification pass's. The reads
 * go out together; `endpointsRead` lets a caller share the apiserver endpoint read with its other checks.
 */
export async function observeVersions(
  readiness: ReadinessPort,
  options: {
    target: string;
    nodes: NodeView[];
    replaced: string[];
    /**
     * Leave out the mirror pods (and apiserver endpoints) of Nodes not in `nodes`. A mirror pod is the kubelet's
     * copy of a static pod on its own Node; once that Node is deleted (kubeswap deletes it only after its machine
     * is gone, and a live kubelet would register it again) the pod mirrors nothing that runs, and stays only until
     * pod GC deletes orphans, after a 40 s quarantine checked every 20 s (pkg/controller/podgc/gc_controller.go).
     */
    presentNodesOnly?: boolean;
  },
  skipped: (check: ReadinessFinding['check'], subject: string, err: unknown) => void,
  endpointsRead: Promise<ApiserverEndpoint[]> = readiness.apiserverEndpoints(),
): Promise<{
  apiservers: ApiserverEndpoint[];
  components: ComponentVersion[];
  staticPods: StaticPodVersion[];
  etcdStatus: EtcdMemberStatus[];
}> {
  const unreadable =
    <T>(check: ReadinessFinding['check'], subject: string, fallback: T) =>
    (err: unknown): T => {
      skipped(check, subject, err);
      return fallback;
    };
  const present = new Set(options.nodes.map((n) => n.name));
  const onNodes = <T extends { node: string }>(items: T[]) =>
    options.presentNodesOnly ? items.filter((i) => present.has(i.node)) : items;
  const endpointsOnNodes = endpointsRead.then(onNodes);
  const [apiservers, apiserverVersions, staticPods, addons, etcdStatus] = await Promise.all([
    endpointsOnNodes.catch(unreadable('versions', 'apiserver endpoints', [] as ApiserverEndpoint[])),
    endpointsOnNodes.then(
      (endpoints) =>
        Promise.all(
          endpoints.map((a) =>
            readiness.apiserverVersion(a).then(
              (version) => ({ node: a.node, version }),
              (err: unknown) => ({ node: a.node, error: err instanceof Error ? err.message : String(err) }),
            ),
          ),
        ),
      () => [],
    ),
    readiness
      .staticPodVersions()
      .then(onNodes)
      .catch(unreadable('versions', 'control-plane static pods', [] as StaticPodVersion[])),
    readiness.addonVersions().catch(unreadable('versions', 'kube-proxy and CoreDNS', [])),
    readiness.etcdStatus().catch(unreadable('etcd', 'etcd status', [] as EtcdMemberStatus[])),
  ]);
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
