// The Markdown run summary (--summary FILE, e.g. $GITHUB_STEP_SUMMARY), rendered from events.
import { formatDuration } from '../../domain/clock.ts';
import type { KubeswapEvent } from '../../domain/events.ts';
import type { PlanReport } from '../../engine/run/run.ts';
import { markdownAvailability } from './availability.ts';
import { formatPlan } from './plan-report.ts';
import { markdownReadiness } from './readiness.ts';

export function markdownSummary(events: KubeswapEvent[], outcome: { exitCode: number; error?: string }): string {
  const lines = ['# kubeswap run', ''];
  const first = events[0];
  const last = events[events.length - 1];
  const duration = first && last ? Date.parse(last.at) - Date.parse(first.at) : 0;
  lines.push(`- Result: ${outcome.exitCode === 0 ? 'success' : `failed (exit ${outcome.exitCode})`}`);
  if (outcome.error) lines.push(`- Error: ${outcome.error.replace(/\n/g, ' ')}`);
  lines.push(`- Duration: ${formatDuration(duration)}`);
  const snapshot = events.find((e) => e.code === 'etcd.snapshot-saved');
  if (snapshot) lines.push(`- etcd snapshot: \`${String(snapshot.data?.['file'])}\``);
  const swaps = events.filter(
    (e) => e.code === 'swap.started' || e.code === 'swap.finished' || e.code === 'replacement.rolled-back',
  );
  if (swaps.length > 0) {
    lines.push('', '| time | machine | event |', '|---|---|---|');
    for (const e of swaps)
      lines.push(`| ${e.at.slice(11, 19)} | ${e.machine ?? ''} | ${e.message.replace(/\|/g, '\\|')} |`);
  }
  return `${lines.join('\n')}\n${markdownReadiness(events)}${markdownAvailability(events)}`;
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
