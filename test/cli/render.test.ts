import assert from 'node:assert/strict';
import { formatLine, jsonRenderer, textRenderer } from '../../src/cli/render/events.ts';
import { formatPlan } from '../../src/cli/render/plan-report.ts';
import { markdownPlan, markdownSummary } from '../../src/cli/render/summary.ts';
import type { KubeswapEvent } from '../../src/domain/events.ts';
import type { PlanReport } from '../../src/engine/run/run.ts';

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
    assert.match(md, /\| cp-a \| 1 \| replaced in 1m0s \|/);
    assert.match(md, /Duration: 1m5s/);
  });
});

describe('plan rendering', () => {
  const report = {
    from: 'v1.36.3',
    desired: {
      version: 'v1.37.2',
      imageId: 'ami-1',
      force: false,
      template: { id: 'lt-1', version: '4' },
      image: { name: 'k8s-1.37.2-build-7', owner: '111122223333', createdAt: '2026-05-30T10:00:00.000Z' },
    },
    runId: 'planned',
    candidates: [],
    upToDate: [],
    orphans: [],
    gate: { ok: true, reasons: [] },
    next: { kind: 'done' },
    fingerprint: { kubeadmConfig: 'x', machines: [], imageId: 'ami-1' },
    addons: [],
    scope: 'all',
    pools: [
      {
        name: 'blue',
        size: 2,
        fenceposts: { maxSurge: 1, maxUnavailable: 0 },
        configured: { maxSurge: '25%', maxUnavailable: 0 },
        machines: [
          {
            node: 'w-1',
            machineId: 'i-1',
            imageId: 'ami-0',
            reasons: [{ code: 'image', message: 'image ami-0 != ami-1' }],
          },
          { node: 'w-2', machineId: 'i-2', imageId: 'ami-1', reasons: [] },
        ],
      },
    ],
    changes: {
      kubeadmConfig: { from: 'v1.36.3', to: 'v1.37.2' },
      objects: ['ClusterRole kubeadm:get-nodes (when missing)'],
      loadBalancer: 'each replacement is registered with arn:tg',
      machines: 3,
      maxSurge: 1,
    },
  } as unknown as PlanReport;

  it('shows the image to review and every cluster-wide change, and how to run a saved plan', () => {
    const text = formatPlan(report, { snapshotDir: '/home/me/.kubeswap/snapshots/prod', savedTo: 'plan.json' });
    assert.match(text, /image: k8s-1\.37\.2-build-7, owner 111122223333, created 2026-05-30T10:00:00\.000Z/);
    assert.match(text, /3 machine\(s\), surge: each replacement joins before its old machine leaves/);
    assert.match(text, /etcd snapshot before the first change, to \/home\/me\/\.kubeswap\/snapshots\/prod/);
    assert.match(text, /kubeadm-config: kubernetesVersion v1\.36\.3 -> v1\.37\.2/);
    assert.match(text, /creates: ClusterRole kubeadm:get-nodes/);
    assert.match(text, /load balancer: each replacement is registered with arn:tg/);
    assert.match(text, /kubeswap apply plan\.json/);
    assert.match(text, /blue: 1 of 2 machine\(s\) to replace; maxSurge 25% -> 1, maxUnavailable 0 -> 0/);
    assert.match(text, /- w-1 \(i-1, ami-0\): image ami-0 != ami-1\n {4}- w-2 \(i-2, ami-1\): up to date/);
  });

  it('writes the plan itself as Markdown for plan --summary', () => {
    const md = markdownPlan(report, { exitCode: 5 })!;
    assert.match(md, /^# kubeswap plan/);
    assert.match(md, /Result: runnable/);
    assert.match(md, /```\nUpgrade v1\.36\.3 -> v1\.37\.2/);
  });
});
