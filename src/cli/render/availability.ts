// The availability figures of a run for --summary: one row per swap and one for the whole run.
import type { KubeswapEvent } from '../../domain/events.ts';

export function markdownAvailability(events: KubeswapEvent[]): string {
  const rows = events.filter((e) => e.code === 'availability.swap' || e.code === 'availability.run');
  if (rows.length === 0) return '';
  const lines = [
    '',
    '## API availability (probed through the cluster endpoint)',
    '',
    '| window | requests | failed | longest gap | p50 | p95 | p99 |',
    '|---|---|---|---|---|---|---|',
  ];
  for (const e of rows) {
    const d = e.data ?? {};
    lines.push(
      `| ${e.code === 'availability.run' ? '**whole run**' : `swap of ${e.machine ?? ''}`} | ${d['requests']} | ${d['failed']} | ${d['longestGapMs']} ms | ${d['p50Ms']} ms | ${d['p95Ms']} ms | ${d['p99Ms']} ms |`,
    );
  }
  return `${lines.join('\n')}\n`;
}
