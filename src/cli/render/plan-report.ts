// Human rendering of `kubeswap plan`: the ordered machines with the reason each is replaced
// (KCP "Machine X needs rollout: ..."), orphans, the health gate and what happens next.

import { describeStep } from '../../engine/plan/steps.ts';
import type { PlanReport } from '../../engine/run/run.ts';

export function formatPlan(report: PlanReport): string {
  const lines: string[] = [];
  const d = report.desired;
  lines.push(
    `Upgrade ${report.from} -> ${d.version}, image ${d.imageId}${d.template ? `, template ${d.template.id} v${d.template.version}` : ''}`,
  );
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
  lines.push(
    report.gate.ok
      ? 'Health gate: passing'
      : `Health gate: failing\n${report.gate.reasons.map((r) => `  - ${r}`).join('\n')}`,
  );
  const next = report.next;
  if (next.kind === 'step') lines.push(`Next: ${describeStep(next.step)}`);
  else if (next.kind === 'wait') lines.push(`Next: wait (${next.reason})`);
  else if (next.kind === 'blocked') lines.push(`Blocked: ${next.reason}${next.hint ? `\n  hint: ${next.hint}` : ''}`);
  else lines.push('Next: nothing to do');
  return `${lines.join('\n')}\n`;
}
