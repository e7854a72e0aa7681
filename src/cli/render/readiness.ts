// The readiness report for people: plain text after the plan, and Markdown for --summary. The JSON form is the
// report itself (`readiness` in plan.report, `data.report` of the readiness.checked event).
import type { KubeswapEvent } from '../../domain/events.ts';
import {
  blockers,
  type ReadinessFinding,
  type ReadinessReport,
  type Severity,
  warnings,
} from '../../domain/readiness/report.ts';

const MARK: Record<Severity, string> = { block: 'BLOCK', warn: 'warn', ok: 'ok', skipped: 'skipped' };

function table(rows: string[][]): string[] {
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length))) ?? [];
  return rows.map((r) => `    ${r.map((cell, i) => cell.padEnd(widths[i] ?? 0)).join('  ')}`.trimEnd());
}

export function formatReadiness(report: ReadinessReport): string {
  const blocking = blockers(report);
  const warning = warnings(report);
  const lines = [
    '',
    `Readiness for ${report.target}: ${blocking.length} blocker(s), ${warning.length} warning(s)${report.acceptedRemovedApis ? ' (removed APIs accepted)' : ''}`,
    '  Versions (now -> target):',
    ...table(report.components.map((c) => [MARK[c.severity], c.component, c.where, `${c.now} -> ${c.target}`])),
    '  Skew rules applied:',
    ...[...new Map(report.components.map((c) => [c.component, c.rule])).entries()].map(
      ([component, rule]) => `    ${component}: ${rule}`,
    ),
  ];
  lines.push('  Removed and deprecated APIs:');
  if (report.apis.length === 0) lines.push('    none found');
  else
    lines.push(
      ...table(
        report.apis.map((a) => [
          MARK[a.severity],
          `${a.apiVersion} ${a.kind}`,
          `removed in ${a.removedIn}`,
          `${a.subject} [${a.via}]`,
          a.replacement ? `-> ${a.replacement}` : '',
        ]),
      ),
    );
  lines.push('  Certificates (days left):');
  lines.push(
    ...table(
      report.certificates.map((c) => [
        MARK[c.severity],
        c.name,
        `${c.daysLeft} days`,
        `until ${c.notAfter.slice(0, 10)}`,
        c.note ?? '',
      ]),
    ),
  );
  const etcd = report.findings.filter((f) => f.check === 'etcd');
  if (etcd.length > 0) {
    lines.push('  etcd:');
    lines.push(...table(etcd.map((f) => [MARK[f.severity], f.subject, f.message])));
  }
  if (blocking.length > 0) lines.push('  Blockers (apply refuses, exit 2):', ...blocking.map(findingLine));
  if (warning.length > 0) lines.push('  Warnings:', ...warning.map(findingLine));
  return `${lines.join('\n')}\n`;
}

function findingLine(f: ReadinessFinding): string {
  return `    - ${f.subject}: ${f.message}${f.hint ? ` (${f.hint})` : ''}`;
}

const md = (text: string) => text.replace(/\|/g, '\\|').replace(/\n/g, ' ');
const ICON: Record<Severity, string> = { block: '⛔ block', warn: '⚠️ warn', ok: '✅ ok', skipped: '➖ skipped' };

/** The Markdown section of --summary, from the last readiness.checked event of the run. */
export function markdownReadiness(events: KubeswapEvent[]): string {
  const event = events.findLast((e) => e.code === 'readiness.checked');
  const report = event?.data?.['report'] as ReadinessReport | undefined;
  if (!report) return '';
  const blocking = blockers(report);
  const warning = warnings(report);
  const lines = [
    '',
    `## Readiness for ${report.target}`,
    '',
    `${blocking.length} blocker(s), ${warning.length} warning(s)${report.acceptedRemovedApis ? ', removed APIs accepted' : ''}.`,
    '',
    '| | component | where | now | target | rule |',
    '|---|---|---|---|---|---|',
    ...report.components.map(
      (c) => `| ${ICON[c.severity]} | ${c.component} | ${md(c.where)} | ${c.now} | ${md(c.target)} | ${md(c.rule)} |`,
    ),
    '',
    '### APIs',
    '',
  ];
  if (report.apis.length === 0) lines.push('No removed or deprecated API in use found.');
  else
    lines.push(
      '| | API | removed in | used by | seen in | use instead |',
      '|---|---|---|---|---|---|',
      ...report.apis.map(
        (a) =>
          `| ${ICON[a.severity]} | ${a.apiVersion} ${a.kind} | ${a.removedIn} | ${md(a.subject)} | ${a.via} | ${a.replacement ?? ''} |`,
      ),
    );
  lines.push(
    '',
    '### Certificates',
    '',
    '| | certificate | days left | not after | note |',
    '|---|---|---|---|---|',
    ...report.certificates.map(
      (c) => `| ${ICON[c.severity]} | ${md(c.name)} | ${c.daysLeft} | ${c.notAfter} | ${md(c.note ?? '')} |`,
    ),
  );
  const rest = report.findings.filter(
    (f) => f.severity !== 'ok' && f.check !== 'apis' && f.check !== 'certificates' && f.check !== 'versions',
  );
  const others = [...rest, ...report.findings.filter((f) => f.check === 'etcd' && f.severity === 'ok')];
  if (others.length > 0 || blocking.length + warning.length > 0) {
    lines.push('', '### Findings', '');
    for (const f of [...blocking, ...warning, ...others.filter((o) => !blocking.includes(o) && !warning.includes(o))])
      lines.push(`- ${ICON[f.severity]} **${md(f.subject)}**: ${md(f.message)}${f.hint ? ` (${md(f.hint)})` : ''}`);
  }
  return `${lines.join('\n')}\n`;
}
