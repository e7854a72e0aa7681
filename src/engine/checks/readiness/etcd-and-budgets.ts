// etcd's database against its space quota and its alarms (a NOSPACE alarm makes etcd refuse writes, member changes
// included), and the PodDisruptionBudgets that would stop the drain of a node this run retires.
import type { ReadinessFinding } from '../../../domain/readiness/report.ts';
import type { EtcdPort } from '../../../ports/etcd.ts';
import type { KubePort } from '../../../ports/kube.ts';
import type { EtcdMemberStatus, ReadinessPort } from '../../../ports/readiness.ts';
import { budgetsBlocking } from '../../act/budgets.ts';

/** Above this share of the quota, warn: defragmentation or compaction is due before adding members. */
export const ETCD_QUOTA_WARN_RATIO = 0.8;

export async function checkEtcd(
  port: Pick<ReadinessPort, 'etcdQuotaBytes'>,
  etcd: Pick<EtcdPort, 'alarms'>,
  statuses: EtcdMemberStatus[],
): Promise<ReadinessFinding[]> {
  const findings: ReadinessFinding[] = [];
  const quota = await port.etcdQuotaBytes();
  for (const s of statuses) {
    const subject = `etcd ${s.endpoint}`;
    if (s.dbSizeBytes === undefined) {
      findings.push({
        check: 'etcd',
        severity: 'skipped',
        code: 'etcd.status-unreadable',
        subject,
        message: `status not read: ${s.error ?? 'no answer'}`,
      });
      continue;
    }
    const ratio = s.dbSizeBytes / quota;
    findings.push({
      check: 'etcd',
      severity: ratio >= 1 ? 'block' : ratio >= ETCD_QUOTA_WARN_RATIO ? 'warn' : 'ok',
      code: 'etcd.db-size',
      subject,
      message: `database ${mib(s.dbSizeBytes)} of ${mib(quota)} quota (${Math.round(ratio * 100)}%)${s.dbSizeInUseBytes !== undefined ? `, ${mib(s.dbSizeInUseBytes)} in use` : ''}`,
      ...(ratio >= ETCD_QUOTA_WARN_RATIO ? { hint: 'compact and defragment (etcdctl defrag) before the upgrade' } : {}),
    });
  }
  const alarms = await etcd.alarms();
  for (const alarm of alarms) {
    findings.push({
      check: 'etcd',
      severity: 'block',
      code: 'etcd.alarm',
      subject: `etcd member ${BigInt(alarm.memberId).toString(16)}`,
      message: `active alarm ${alarm.alarm}`,
      hint: 'resolve it and disarm it (etcdctl alarm disarm) before the upgrade',
    });
  }
  if (alarms.length === 0) {
    findings.push({
      check: 'etcd',
      severity: 'ok',
      code: 'etcd.no-alarm',
      subject: 'etcd',
      message: 'no active alarm',
    });
  }
  return findings;
}

/**
 * A budget that allows zero disruptions now and covers a pod on a node the run drains would stop that drain (exit 4
 * mid-run): said before the run starts, as a warning, because the budget may allow a disruption by then.
 */
export async function checkBudgets(
  kube: Pick<KubePort, 'listDisruptionBudgets' | 'podsOnNode'>,
  drained: string[],
): Promise<ReadinessFinding[]> {
  if (drained.length === 0) return [];
  const stuck = (await kube.listDisruptionBudgets()).filter((b) => b.disruptionsAllowed <= 0);
  // Only a budget that allows no disruption can stop a drain: with none, no pod needs reading (issue 15 §2).
  if (stuck.length === 0) return [];
  // One read per drained node (a field selector, never every pod of the cluster), side by side.
  const podsByNode = await Promise.all(drained.map((node) => kube.podsOnNode(node)));
  const findings: ReadinessFinding[] = [];
  for (const [i, node] of drained.entries()) {
    const pods = podsByNode[i]!.filter((p) => !p.daemonSet && !p.mirror);
    const names = new Set(pods.flatMap((p) => budgetsBlocking(p, stuck)));
    for (const budget of names) {
      findings.push({
        check: 'disruption',
        severity: 'warn',
        code: 'pdb.zero-disruptions',
        subject: `PodDisruptionBudget ${budget}`,
        message: `allows 0 disruptions and covers pods on ${node}, which this run drains`,
        hint: 'scale the workload up or relax the budget, or the drain stops at --drain-timeout (exit 4)',
      });
    }
  }
  return findings;
}

function mib(bytes: number): string {
  return `${(bytes / 1048576).toFixed(1)} MiB`;
}
