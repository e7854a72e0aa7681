// Deprecated and removed APIs, from what clients actually called (each apiserver's apiserver_requested_deprecated_apis,
// since that apiserver started) and from what the cluster stores about how objects were made (last-applied
// annotations, Helm 3 releases), judged against the removal table (api-removals.json). An API removed at or before the
// target blocks apply unless accepted; a deprecated one warns.
import {
  API_REMOVALS,
  type ApiRemoval,
  apiVersionOf,
  judgeApi,
  kindsToScan,
  verdictAt,
} from '../../../domain/readiness/api-removals.ts';
import { parseDeprecatedApis } from '../../../domain/readiness/deprecated-metric.ts';
import type { ApiUseReport, ReadinessFinding, Severity } from '../../../domain/readiness/report.ts';
import type { ApiserverEndpoint, ReadinessPort } from '../../../ports/readiness.ts';

export interface ApiCheckOptions {
  target: string;
  acceptRemovedApis: boolean;
  removals?: readonly ApiRemoval[];
}

export interface ApiCheck {
  apis: ApiUseReport[];
  findings: ReadinessFinding[];
}

const HINT_REMOVED =
  'migrate these to the replacement API first (kubectl convert, helm upgrade with updated charts, or helm mapkubeapis), or pass --accept-removed-apis';

export async function checkApis(
  port: Pick<ReadinessPort, 'apiserverMetrics' | 'storedObjects'>,
  apiservers: ApiserverEndpoint[],
  options: ApiCheckOptions,
): Promise<ApiCheck> {
  const removals = options.removals ?? API_REMOVALS.removals;
  const apis: ApiUseReport[] = [];
  const findings: ReadinessFinding[] = [];
  const severityOf = (verdict: 'removed' | 'deprecated'): Severity =>
    verdict === 'removed' && !options.acceptRemovedApis ? 'block' : 'warn';

  // 1. What clients called, per apiserver (read side by side with the stored manifests).
  const storedScan = port.storedObjects(kindsToScan(removals));
  storedScan.catch(() => undefined);
  const expositions = await Promise.allSettled(apiservers.map((endpoint) => port.apiserverMetrics(endpoint)));
  for (const [i, endpoint] of apiservers.entries()) {
    const read = expositions[i]!;
    if (read.status === 'rejected') {
      findings.push({
        check: 'apis',
        severity: 'skipped',
        code: 'api.metrics-unreadable',
        subject: `apiserver ${endpoint.node}`,
        message: `cannot read ${endpoint.url}/metrics: ${messageOf(read.reason)}`,
        hint: 'kubeswap needs get on nonResourceURLs ["/metrics"] (templates/rbac)',
      });
      continue;
    }
    for (const used of parseDeprecatedApis(read.value)) {
      const apiVersion = used.group ? `${used.group}/${used.version}` : used.version;
      const known = judgeApi({ apiVersion, resource: used.resource }, options.target, removals);
      const removedIn = known?.removal.removedIn ?? used.removedRelease;
      const verdict = known?.verdict ?? (removedIn ? verdictAt(removedIn, options.target) : 'deprecated');
      const resource = used.subresource ? `${used.resource}/${used.subresource}` : used.resource;
      apis.push({
        via: 'metric',
        subject: `clients of apiserver ${endpoint.node}`,
        apiVersion,
        kind: known?.removal.kind ?? resource,
        removedIn: removedIn || 'not announced',
        replacement: known?.removal.replacement ?? undefined,
        severity: severityOf(verdict),
      });
    }
  }

  // 2. What is stored: only kinds the table names can carry a removed apiVersion.
  const scan = await storedScan;
  for (const object of scan.objects) {
    const found = judgeApi({ apiVersion: object.apiVersion, kind: object.kind }, options.target, removals);
    if (!found) continue;
    const name = object.namespace ? `${object.namespace}/${object.name}` : object.name;
    apis.push({
      via: object.via,
      subject: object.via === 'helm' ? `${object.kind} ${name} in helm release ${object.owner}` : `${object.owner}`,
      apiVersion: apiVersionOf(found.removal),
      kind: found.removal.kind,
      removedIn: found.removal.removedIn,
      replacement: found.removal.replacement ?? undefined,
      severity: severityOf(found.verdict),
    });
  }
  for (const gap of scan.incomplete) {
    findings.push({
      check: 'apis',
      severity: 'skipped',
      code: 'api.scan-incomplete',
      subject: 'stored manifests',
      message: gap,
    });
  }

  for (const use of apis) {
    const removed = use.severity === 'block' || (options.acceptRemovedApis && isRemoved(use, options.target));
    findings.push({
      check: 'apis',
      severity: use.severity,
      code: removed ? 'api.removed' : 'api.deprecated',
      subject: use.subject,
      message: removed
        ? `${use.apiVersion} ${use.kind} is removed in ${use.removedIn} (target ${options.target})${use.replacement ? `; use ${use.replacement}` : ''}${options.acceptRemovedApis ? ' (accepted with --accept-removed-apis)' : ''}`
        : `${use.apiVersion} ${use.kind} is deprecated (removal: ${use.removedIn})${use.replacement ? `; use ${use.replacement}` : ''}`,
      ...(use.severity === 'block' ? { hint: HINT_REMOVED } : {}),
    });
  }
  return { apis, findings };
}

function isRemoved(use: ApiUseReport, target: string): boolean {
  return use.removedIn !== 'not announced' && verdictAt(use.removedIn, target) === 'removed';
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
