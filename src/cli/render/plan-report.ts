// Human rendering of `kubeswap plan`: the image to review, the ordered machines with the reason each is replaced
// (KCP "Machine X needs rollout: ..."), the cluster-wide changes, orphans, the health gate and what happens next.

import { formatDuration } from '../../domain/clock.ts';
import { describeStep } from '../../engine/plan/steps.ts';
import type { PlanReport } from '../../engine/run/run.ts';

export interface PlanContext {
  /** Where the etcd snapshot will be written. */
  snapshotDir?: string;
  /** The file the plan was saved to (plan --out). */
  savedTo?: string;
  /** The git checkout the snapshot folder lies in, if any. */
  snapshotInCheckout?: string;
}

export function formatPlan(report: PlanReport, context: PlanContext = {}): string {
  const lines: string[] = [];
  const d = report.desired;
  lines.push(
    `Upgrade ${report.from} -> ${d.version}, image ${d.imageId}${d.template ? `, template ${d.template.id} v${d.template.version}` : ''}`,
  );
  if (d.image) {
    const i = d.image;
    lines.push(`  image: ${i.name ?? '(no name)'}, owner ${i.owner ?? 'unknown'}, created ${i.createdAt ?? 'unknown'}`);
  }
  if (report.kubeadmApi)
    lines.push(
      `kubeadm-config: ClusterConfiguration will be converted ${report.kubeadmApi.from} -> ${report.kubeadmApi.to} (the target's kubeadm no longer reads ${report.kubeadmApi.from}), as \`kubeadm config migrate\` does`,
    );
  if (report.inFlight) lines.push(`A replacement is in flight: ${report.inFlight} (an earlier run will be resumed)`);
  if (report.candidates.length === 0) lines.push('No control-plane machine needs replacement.');
  else lines.push(`Machines to replace, in order:`);
  report.candidates.forEach((c, i) => {
    lines.push(
      `  ${i + 1}. ${c.cp.name} (${c.cp.machine?.id ?? 'no machine'}): ${c.reasons.map((r) => r.message).join('; ')}`,
    );
  });
  if (report.upToDate.length > 0) lines.push(`Up to date: ${report.upToDate.join(', ')}`);
  for (const o of report.orphans) lines.push(`Orphan: ${o}`);
  lines.push(...changeLines(report, context));
  lines.push(
    report.gate.ok
      ? 'Health gate: passing'
      : `Health gate: failing\n${report.gate.reasons.map((r) => `  - ${r}`).join('\n')}`,
  );
  if (report.addons.length > 0) lines.push('Addons, after the control plane:');
  for (const a of report.addons) {
    const what = a.action === 'update' ? 'update' : a.action === 'current' ? 'up to date' : a.action;
    lines.push(`  - ${a.addon}: ${what}: ${a.reason}${a.hint ? `\n    hint: ${a.hint}` : ''}`);
    for (const note of a.notes) lines.push(`    note: ${note}`);
  }
  lines.push(...poolLines(report));
  const next = report.next;
  if (next.kind === 'step') lines.push(`Next: ${describeStep(next.step)}`);
  else if (next.kind === 'wait') lines.push(`Next: wait (${next.reason})`);
  else if (next.kind === 'blocked') lines.push(`Blocked: ${next.reason}${next.hint ? `\n  hint: ${next.hint}` : ''}`);
  else if (report.addons.some((a) => a.action === 'update' || a.action === 'wait' || a.action === 'blocked'))
    lines.push('Next: the addons');
  else lines.push('Next: nothing to do');
  if (context.savedTo)
    lines.push(
      `Plan saved to ${context.savedTo}; run exactly it with: kubeswap apply ${context.savedTo} (with the same --config or cluster access flags)`,
    );
  return `${lines.join('\n')}\n`;
}

/** Worker pools in the order they are rolled, each machine with why it is replaced (or that it matches). */
export function poolLines(report: PlanReport): string[] {
  if (report.pools.length === 0) return [];
  const lines = [
    report.scope === 'workers'
      ? 'Worker pools (--workers-only: the control plane must already run the target):'
      : 'Worker pools, after the control plane and addons, in this order:',
  ];
  for (const pool of report.pools) {
    const { maxSurge, maxUnavailable } = pool.fenceposts;
    const replaced = pool.machines.filter((m) => m.reasons.length > 0).length;
    lines.push(
      `  ${pool.name}: ${replaced} of ${pool.size} machine(s) to replace; maxSurge ${pool.configured.maxSurge} -> ${maxSurge}, maxUnavailable ${pool.configured.maxUnavailable} -> ${maxUnavailable} (batches of up to ${maxSurge + maxUnavailable})`,
    );
    if (pool.rolledBy) {
      lines.push(
        `    rolled by Cluster API: ${pool.rolledBy.objects.join(', ')} (kubeswap bumps the template and follows the rollout; strategy: ${pool.rolledBy.strategy === 'own' ? "the MachineDeployment's own, kept" : 'set from this pool'})`,
      );
    }
    for (const m of pool.machines) {
      const why = m.reasons.length > 0 ? m.reasons.map((r) => r.message).join('; ') : 'up to date';
      const inFlight = m.replacement ? ` [replacement ${m.replacement} in flight]` : '';
      lines.push(`    - ${m.node} (${m.machineId ?? 'no machine'}, ${m.imageId ?? '-'}): ${why}${inFlight}`);
    }
  }
  return lines;
}

/** The cluster-wide changes, one per line, headed "Cluster changes:" (kubeadm upgrade plan lists them too). */
export function changeLines(report: PlanReport, context: PlanContext): string[] {
  const c = report.changes;
  if (c.machines === 0 && !c.kubeadmConfig) return [];
  const lines = [
    `${c.machines} machine(s), ${c.maxSurge === 1 ? 'surge: each replacement joins before its old machine leaves (--max-surge 1)' : 'remove first: each old machine leaves before its replacement joins (--max-surge 0)'}`,
    `etcd snapshot before the first change${context.snapshotDir ? `, to ${context.snapshotDir}` : ''}${context.snapshotInCheckout ? ` (WARNING: inside the git checkout ${context.snapshotInCheckout}; the snapshot holds every Secret)` : ''}`,
  ];
  if (c.kubeadmConfig)
    lines.push(`kube-system/kubeadm-config: kubernetesVersion ${c.kubeadmConfig.from} -> ${c.kubeadmConfig.to}`);
  if (c.objects.length > 0) lines.push(`creates: ${c.objects.join(', ')}`);
  lines.push(`load balancer: ${c.loadBalancer}`);
  if (c.estimate) {
    lines.push(
      c.estimate.totalMs === undefined
        ? `estimated duration: ${c.estimate.basis}`
        : `estimated duration: ${formatDuration(c.estimate.totalMs)} (${c.estimate.perMachineMs === undefined ? '' : `${formatDuration(c.estimate.perMachineMs)} per machine; `}measured on ${c.estimate.basis})`,
    );
  }
  return ['Cluster changes:', ...lines.map((l) => `  ${l}`)];
}
