import assert from 'node:assert/strict';
import { formatLine, jsonRenderer, textRenderer } from '../../src/cli/render/events.ts';
import { markdownSummary } from '../../src/cli/render/summary.ts';
import type { KubeswapEvent } from '../../src/domain/events.ts';

const event = (
  code: KubeswapEvent['code'],
  at: string,
  message: string,
  over: Partial<KubeswapEvent> = {},
): KubeswapEvent => ({
  code,
  at,
  level: 'info',
  message,
  ...over,
});

describe('output renderers', () => {
  it('prints one JSON object per line with the stable code', () => {
    const out: string[] = [];
    jsonRenderer({ write: (t) => void out.push(t), isTTY: false })(
      event('swap.started', '2026-11-22T10:00:00.000Z', 'replacing cp-a'),
    );
    assert.equal(out.length, 1);
    assert.ok(out[0]!.endsWith('\n'));
    assert.equal(JSON.parse(out[0]!).code, 'swap.started');
  });

  it('prints one plain line per event without a TTY, no control characters', () => {
    const out: string[] = [];
    const r = textRenderer({ write: (t) => void out.push(t), isTTY: false });
    r.sink(event('wait', '2026-11-22T10:00:01.000Z', 'replacement i-1: Node not registered yet', { machine: 'cp-a' }));
    r.stop();
    assert.deepEqual(out, ['10:00:01 [cp-a] replacement i-1: Node not registered yet\n']);
  });

  it('marks warnings and errors in plain lines', () => {
    assert.equal(
      formatLine(event('node.drain-blocked', '2026-11-22T10:00:02.000Z', 'blocked', { level: 'warn' })),
      '10:00:02 WARN blocked',
    );
  });

  it('summarises a run as Markdown with the swaps and the snapshot path', () => {
    const md = markdownSummary(
      [
        event('etcd.snapshot-saved', '2026-11-22T10:00:00.000Z', 'saved', { data: { file: '/tmp/s.db' } }),
        event('swap.started', '2026-11-22T10:00:05.000Z', 'replacing cp-a', { machine: 'cp-a' }),
        event('swap.finished', '2026-11-22T10:01:05.000Z', 'replaced cp-a in 1m0s', { machine: 'cp-a' }),
      ],
      { exitCode: 0 },
    );
    assert.match(md, /^# kubeswap run/);
    assert.match(md, /Result: success/);
    assert.match(md, /`\/tmp\/s\.db`/);
    assert.match(md, /\| 10:01:05 \| cp-a \| replaced cp-a in 1m0s \|/);
    assert.match(md, /Duration: 1m5s/);
  });
});
