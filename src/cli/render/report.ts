// The run report people look at (issue 13 §3): Markdown with Mermaid diagrams that GitHub renders (and so
// $GITHUB_STEP_SUMMARY): the swaps' phases as a gantt chart, the API availability over time, the verification,
// versions and machines before and after. Rendered from events only, so a live run (`apply --summary`) and a stored
// one (`kubeswap report`) give the same report.
import type { AvailabilitySeries } from '../../domain/availability.ts';
import { formatDuration } from '../../domain/clock.ts';
import type { KubeswapEvent } from '../../domain/events.ts';
import type { ComponentVersion } from '../../domain/readiness/report.ts';
import { type SwapTimeline, swapTimelines } from '../../domain/run-timeline.ts';
import { markdownAvailability } from './availability.ts';
import { markdownReadiness } from './readiness.ts';

export interface ReportOutcome {
  exitCode?: number;
  error?: string;
}

const cell = (text: unknown) =>
  String(text ?? '')
    .replace(/\|/g, '\\|')
    .replace(/\n/g, ' ');
/** Mermaid task and section names end at `:`, `#` starts an entity and `;` ends a statement. */
const mermaidText = (text: string) => text.replace(/[:#;]/g, ' ').trim();

export function markdownReport(events: readonly KubeswapEvent[], outcome: ReportOutcome): string {
  const sections = [
    header(events, outcome),
    swapChart(swapTimelines(events)),
    availabilityCharts(events),
    markdownAvailability([...events]).trim(),
    verification(events),
    versions(events),
    machines(events),
    markdownReadiness([...events]).trim(),
  ];
  return `${sections.filter((s) => s.length > 0).join('\n\n')}\n`;
}

function header(events: readonly KubeswapEvent[], outcome: ReportOutcome): string {
  const first = events[0];
  const last = events[events.length - 1];
  const started = events.find((e) => e.code === 'run.started' || e.code === 'run.resumed');
  const runId = started?.data?.['runId'];
  const preflight = events.find((e) => e.code === 'preflight.passed');
  const lines = [`# kubeswap run${typeof runId === 'string' ? ` ${runId}` : ''}`, ''];
  const result =
    outcome.exitCode === undefined
      ? 'unfinished: no process of this run has ended yet (still running, or killed; a re-run resumes it)'
      : outcome.exitCode === 0
        ? 'success'
        : `failed (exit ${outcome.exitCode})`;
  lines.push(`- Result: ${result}`);
  if (outcome.error) lines.push(`- Error: ${outcome.error.replace(/\n/g, ' ')}`);
  if (preflight?.data?.['from'])
    lines.push(
      `- Upgrade: ${preflight.data['from']} -> ${preflight.data['to']}, image \`${preflight.data['imageId']}\``,
    );
  if (first && last) {
    lines.push(`- Started: ${first.at}`);
    lines.push(`- Duration: ${formatDuration(Date.parse(last.at) - Date.parse(first.at))}`);
  }
  const snapshot = events.find((e) => e.code === 'etcd.snapshot-saved');
  if (snapshot) lines.push(`- etcd snapshot: \`${String(snapshot.data?.['file'])}\``);
  return lines.join('\n');
}

/** A Mermaid gantt chart: one section per machine replaced, one bar per phase; times are Unix ms (`dateFormat x`). */
export function swapChart(swaps: readonly SwapTimeline[]): string {
  if (swaps.length === 0) return '';
  const lines = [
    '## Timeline of the swaps',
    '',
    'Each machine replaced, with its phases (times in your time zone).',
    '',
    '```mermaid',
    'gantt',
    '  dateFormat x',
    '  axisFormat %H:%M:%S',
  ];
  for (const s of swaps) {
    // Node name only: Mermaid draws section titles over the bars, so the machine ids go to the tables below.
    const title = `${s.machine}${s.attempt > 1 ? ` attempt ${s.attempt}` : ''}`;
    lines.push(`  section ${mermaidText(title)}`);
    for (const p of s.phases) {
      const tag = p.name === 'rollback' ? 'crit' : s.outcome === 'unfinished' ? 'active' : 'done';
      // A bar needs a width to be seen: a phase shorter than 1 ms (an "already done" step) is drawn as 1 ms.
      lines.push(`  ${mermaidText(p.name)} :${tag}, ${p.start}, ${Math.max(p.end, p.start + 1)}`);
    }
  }
  lines.push('```', '');
  lines.push('| machine | attempt | outcome | phases |', '|---|---|---|---|');
  for (const s of swaps) {
    const phases = s.phases.map((p) => `${p.name} ${formatDuration(p.end - p.start)}`).join(', ');
    lines.push(
      `| ${cell(s.machine)} | ${s.attempt} | ${s.outcome} in ${formatDuration(s.end - s.start)} | ${cell(phases)} |`,
    );
  }
  return lines.join('\n');
}

/** Two Mermaid xy charts from the probe's series: requests answered and failed, and the slowest answer, per bucket. */
export function availabilityCharts(events: readonly KubeswapEvent[]): string {
  const run = [...events].reverse().find((e) => e.code === 'availability.run');
  const series = run?.data?.['series'] as AvailabilitySeries | undefined;
  if (!series || series.requests.length === 0) return '';
  const seconds = series.bucketMs / 1000;
  const xs = series.requests.map((_, i) => i * seconds);
  const answered = series.requests.map((n, i) => n - series.failed[i]!);
  const top = Math.max(1, ...series.requests);
  const slowest = Math.max(1, ...series.maxLatencyMs);
  return [
    '## API availability over time',
    '',
    `Requests kubeswap sent through the cluster endpoint, per ${seconds} s from ${new Date(series.startMs).toISOString()}: bars are answered requests, the line is failed ones.`,
    '',
    '```mermaid',
    'xychart-beta',
    '  title "API requests per interval"',
    `  x-axis "seconds since the probe started" [${xs.join(', ')}]`,
    `  y-axis "requests" 0 --> ${top}`,
    `  bar [${answered.join(', ')}]`,
    `  line [${series.failed.join(', ')}]`,
    '```',
    '',
    '```mermaid',
    'xychart-beta',
    '  title "Slowest answer per interval (ms)"',
    `  x-axis "seconds since the probe started" [${xs.join(', ')}]`,
    `  y-axis "ms" 0 --> ${slowest}`,
    `  line [${series.maxLatencyMs.join(', ')}]`,
    '```',
  ].join('\n');
}

interface VerifyData {
  ok: boolean;
  checks: { check: string; ok: boolean; level: string; detail: string }[];
  components: ComponentVersion[];
  machines: { node: string; machine?: string; imageId?: string; kubelet: string; zone?: string }[];
}

const verifyData = (events: readonly KubeswapEvent[]) =>
  [...events].reverse().find((e) => e.code === 'verify.passed' || e.code === 'verify.failed')?.data as
    | VerifyData
    | undefined;

function verification(events: readonly KubeswapEvent[]): string {
  const v = verifyData(events);
  if (!v) return '';
  const lines = [
    `## Verification after the run: ${v.ok ? 'passed' : 'FAILED'}`,
    '',
    '| check | result | detail |',
    '|---|---|---|',
  ];
  for (const c of v.checks)
    lines.push(
      `| ${cell(c.check)} | ${c.ok ? 'ok' : c.level === 'warn' ? 'warning' : '**failed**'} | ${cell(c.detail)} |`,
    );
  return lines.join('\n');
}

/** `v1.36.3 ×2, v1.37.2 ×1` */
function tally(rows: readonly ComponentVersion[] | undefined, component: string): string {
  const counts = new Map<string, number>();
  for (const r of rows ?? [])
    if (r.component === component) counts.set(r.now, (counts.get(r.now) ?? 0) + (r.nodes ?? 1));
  return [...counts].map(([version, n]) => `${version} ×${n}`).join(', ') || '-';
}

function versions(events: readonly KubeswapEvent[]): string {
  const before = (
    events.find((e) => e.code === 'readiness.checked')?.data?.['report'] as
      | { components?: ComponentVersion[] }
      | undefined
  )?.components;
  const after = verifyData(events)?.components;
  if (!before?.length && !after?.length) return '';
  const components = [...new Set([...(before ?? []), ...(after ?? [])].map((c) => c.component))];
  const lines = ['## Versions before and after', '', '| component | before | after |', '|---|---|---|'];
  for (const c of components) lines.push(`| ${cell(c)} | ${tally(before, c)} | ${tally(after, c)} |`);
  return lines.join('\n');
}

function machines(events: readonly KubeswapEvent[]): string {
  const swaps = swapTimelines(events);
  const after = verifyData(events)?.machines;
  if (swaps.length === 0 && !after?.length) return '';
  const lines: string[] = ['## Machines'];
  if (swaps.length > 0) {
    lines.push('', '| replaced | old machine | replacement | outcome |', '|---|---|---|---|');
    for (const s of swaps)
      lines.push(
        `| ${cell(s.machine)} | ${cell(s.oldMachine ?? '-')} | ${cell(s.replacement ?? '-')} | ${s.outcome} |`,
      );
  }
  if (after?.length) {
    lines.push('', 'After the run:', '', '| node | machine | image | kubelet | zone |', '|---|---|---|---|---|');
    for (const m of after)
      lines.push(
        `| ${cell(m.node)} | ${cell(m.machine ?? '-')} | ${cell(m.imageId ?? '-')} | ${cell(m.kubelet)} | ${cell(m.zone ?? '-')} |`,
      );
  }
  return lines.join('\n');
}
