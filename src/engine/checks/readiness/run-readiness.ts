// The readiness report as `plan` and `apply` take it: the Nodes the plan read, the run's expected duration bounded
// by its timeouts, one `readiness.checked` event carrying the whole report (the summary renders it).
import type { NodeView } from '../../../domain/model.ts';
import { blockers, type ReadinessReport, warnings } from '../../../domain/readiness/report.ts';
import type { ReadinessPort } from '../../../ports/readiness.ts';
import type { Ports } from '../../ports.ts';
import { assessReadiness } from './readiness.ts';

export interface ReadinessRequest {
  /** APIs the target removed warn instead of blocking (--accept-removed-apis). */
  acceptRemovedApis: boolean;
  /** Certificates expiring within this many days warn (--cert-warning-days). */
  certWarningDays: number;
}

export const DEFAULT_READINESS_REQUEST: ReadinessRequest = { acceptRemovedApis: false, certWarningDays: 30 };

export interface ReadinessScope {
  target: string;
  /** Node names the run replaces, in order. */
  replaced: string[];
  machineTimeoutMs: number;
  drainTimeoutMs: number;
  /** The run id when a run of this target is resumed (its progress record is there): its scan is narrowed. */
  resumedRun?: string;
  /** Every Node, as the plan just read them: one list instead of two (issue 15 §3). Listed here when absent. */
  nodes?: NodeView[];
}

/**
 * An upper bound of the run: each machine may take its whole join timeout and its whole drain timeout. A certificate
 * that expires within it could expire mid-run, which blocks.
 */
export function expectedRunMs(scope: Pick<ReadinessScope, 'replaced' | 'machineTimeoutMs' | 'drainTimeoutMs'>) {
  return scope.replaced.length * (scope.machineTimeoutMs + scope.drainTimeoutMs);
}

export async function checkReadiness(
  ports: Pick<Ports, 'kube' | 'etcd' | 'clock' | 'emit'> & { readiness: ReadinessPort },
  scope: ReadinessScope,
  request: ReadinessRequest,
): Promise<ReadinessReport> {
  const now = ports.clock.now();
  const report = await assessReadiness(
    { readiness: ports.readiness, kube: ports.kube, etcd: ports.etcd },
    {
      target: scope.target,
      now,
      replaced: scope.replaced,
      nodes: scope.nodes ?? (await ports.kube.listNodes()),
      expectedRunMs: expectedRunMs(scope),
      certWarningDays: request.certWarningDays,
      acceptRemovedApis: request.acceptRemovedApis,
      ...(scope.resumedRun ? { resumedRun: scope.resumedRun } : {}),
    },
  );
  const blocking = blockers(report).length;
  const warning = warnings(report).length;
  ports.emit({
    code: 'readiness.checked',
    at: now.toISOString(),
    level: blocking > 0 ? 'error' : warning > 0 ? 'warn' : 'info',
    message: `readiness for ${scope.target}: ${blocking} blocker(s), ${warning} warning(s)`,
    data: { report },
  });
  return report;
}
