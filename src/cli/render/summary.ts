// The Markdown run summary (--summary FILE, e.g. $GITHUB_STEP_SUMMARY), rendered from events.
import type { KubeswapEvent } from '../../domain/events.ts';
import type { PlanReport } from '../../engine/run/run.ts';
import { formatPlan } from './plan-report.ts';
import { markdownReport } from './report.ts';

/** `apply --summary FILE`: the run report (report.ts) of the events this process saw. */
export function markdownSummary(events: KubeswapEvent[], outcome: { exitCode: number; error?: string }): string {
  return markdownReport(events, outcome);
}

/** `plan --summary FILE`: the plan itself, for a pull request's reviewers; undefined when there is none to show. */
export function markdownPlan(
  report: PlanReport | undefined,
  outcome: { exitCode: number; error?: string },
): string | undefined {
  if (!report) return undefined;
  const d = report.desired;
  const lines = [
    '# kubeswap plan',
    '',
    `- Upgrade: ${report.from} -> ${d.version}, image \`${d.imageId}\`${d.image?.name ? ` (${d.image.name})` : ''}`,
    `- Machines to replace: ${report.candidates.length}`,
    `- Result: ${outcome.exitCode === 0 || outcome.exitCode === 5 ? 'runnable' : `blocked (exit ${outcome.exitCode})`}`,
  ];
  if (outcome.error) lines.push(`- Error: ${outcome.error.replace(/\n/g, ' ')}`);
  lines.push('', '```', formatPlan(report).trimEnd(), '```');
  return `${lines.join('\n')}\n`;
}
