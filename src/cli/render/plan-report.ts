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
  if (report.addons.length > 0) lines.push('Addons, after the control plane:');
  for (const a of report.addons) {
    const what = a.action === 'update' ? 'update' : a.action === 'current' ? 'up to date' : a.action;
    lines.push(`  - ${a.addon}: ${what}: ${a.reason}${a.hint ? `\n    hint: ${a.hint}` : ''}`);
    for (const note of a.notes) lines.push(`    note: ${note}`);
  }
  const next = report.next;
  if (next.kind === 'step') lines.push(`Next: ${describeStep(next.step)}`);
  else if (next.kind === 'wait') lines.push(`Next: wait (${next.reason})`);
  else if (next.kind === 'blocked') lines.push(`Blocked: ${next.reason}${next.hint ? `\n  hint: ${next.hint}` : ''}`);
  else if (report.addons.some((a) => a.action === 'update' || a.action === 'wait' || a.action === 'blocked'))
    lines.push('Next: the addons');
  else lines.push('Next: nothing to do');
  return `${lines.join('\n')}\n`;
}
