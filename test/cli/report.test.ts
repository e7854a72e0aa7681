import assert from 'node:assert/strict';
import { markdownReport } from '../../src/cli/render/report.ts';
import { availabilitySeries, type ProbeSample } from '../../src/domain/availability.ts';
import { fanOut, type KubeswapEvent } from '../../src/domain/events.ts';
import { estimateDuration, measureRun, swapTimelines } from '../../src/domain/run-timeline.ts';
import { apply, inspect } from '../../src/engine/run/run.ts';
import { RUNS_KEPT, RunRecorder, readStoredRuns } from '../../src/engine/run/run-record.ts';
import { APPLY_OPTIONS, TO } from '../engine/builders.ts';
import { FakeWorld } from '../engine/fake-world.ts';

const options = APPLY_OPTIONS;
const request = { version: TO, force: false };

/** The ```mermaid blocks of a Markdown text, each as its trimmed lines. */
function mermaidBlocks(markdown: string): string[][] {
  return [...markdown.matchAll(/```mermaid\n([\s\S]*?)```/g)].map((m) =>
    m[1]!
      .split('\n')
      .map((l) => l.trim())
      .filter(Boolean),
  );
}

interface GanttTask {
  section: string;
  name: string;
  tags: string[];
  start: number;
  end: number;
}

/** Parses the gantt syntax we emit (`name :tag, start, end` under `section`), refusing anything else. */
function parseGantt(lines: string[]): { dateFormat: string; tasks: GanttTask[] } {
  assert.equal(lines[0], 'gantt');
  let dateFormat = '';
  let section = '';
  const tasks: GanttTask[] = [];
  for (const line of lines.slice(1)) {
    if (line.startsWith('dateFormat ')) dateFormat = line.slice(11);
    else if (line.startsWith('axisFormat ')) continue;
    else if (line.startsWith('section ')) section = line.slice(8);
    else {
      const m = /^([^:#;]+) :(.*)$/.exec(line);
      assert.ok(m, `not a gantt task: ${line}`);
      const parts = m[2]!.split(',').map((p) => p.trim());
      const [start, end] = parts.slice(-2).map(Number) as [number, number];
      tasks.push({ section, name: m[1]!.trim(), tags: parts.slice(0, -2), start, end });
    }
  }
  return { dateFormat, tasks };
}

/** `key [a, b, c]` of an xychart line, as numbers (x-axis labels too). */
function xyArray(lines: string[], prefix: string): number[] {
  const line = lines.find((l) => l.startsWith(prefix));
  assert.ok(line, `no ${prefix} line`);
  return /\[(.*)\]/
    .exec(line)![1]!
    .split(',')
    .map((v) => Number(v.trim()));
}

async function recordedRun(world: FakeWorld) {
  const ports = world.ports();
  const warnings: string[] = [];
  const recorder = new RunRecorder(ports.kube, (m) => warnings.push(m));
  const outcome = await apply({ ...ports, emit: fanOut(ports.emit, recorder.sink) }, request, options);
  await recorder.finish({ exitCode: 0 });
  assert.deepEqual(warnings, []);
  return { outcome, ports };
}

describe('the run report (kubeswap report, apply --summary)', () => {
  it('draws each swap of a real run over the fake world as a gantt section, phases in order, ids as the world has them', async () => {
    const world = new FakeWorld(['cp-a', 'cp-b', 'cp-c']);
    const before = world.machines.map((m) => m.id);
    const { ports } = await recordedRun(world);
    const [stored] = await readStoredRuns(ports.kube);
    assert.ok(stored);
    assert.equal(stored.outcome?.exitCode, 0);
    const markdown = markdownReport(stored.events, stored.outcome!);

    const blocks = mermaidBlocks(markdown);
    const gantt = parseGantt(blocks.find((b) => b[0] === 'gantt')!);
    assert.equal(gantt.dateFormat, 'x');
    // One section per machine replaced, naming the old instance and its replacement as the world knows them.
    const sections = [...new Set(gantt.tasks.map((t) => t.section))];
    assert.equal(sections.length, 3);
    const after = world.machines.filter((m) => m.phase === 'running').map((m) => m.id);
    for (const [i, name] of ['cp-a', 'cp-b', 'cp-c'].entries()) {
      const section = sections.find((s) => s === name);
      assert.ok(section, `a section for ${name}: ${sections.join(' / ')}`);
      // The machines table names the old machine and the replacement the world runs now.
      const row = new RegExp(`^\\| ${name} \\| ${before[i]} \\| (\\S+) \\| replaced \\|$`, 'm').exec(markdown);
      assert.ok(row && after.includes(row[1]!), `${name}: old ${before[i]}, a new one of ${after.join(', ')}`);
      const tasks = gantt.tasks.filter((t) => t.section === section);
      assert.deepEqual(
        tasks.map((t) => t.name),
        ['create', 'join', 'gate', 'deregister', 'drain', 'member removal', 'terminate'],
      );
      for (const t of tasks) {
        assert.deepEqual(t.tags, ['done']);
        assert.ok(t.end > t.start, `${name} ${t.name} has a width`);
      }
      for (let k = 1; k < tasks.length; k++) assert.ok(tasks[k]!.start >= tasks[k - 1]!.start);
    }
    // Swaps do not overlap: one machine in flight at a time.
    const spans = sections.map((s) => gantt.tasks.filter((t) => t.section === s));
    for (let k = 1; k < spans.length; k++) {
      assert.ok(spans[k]![0]!.start >= spans[k - 1]![spans[k - 1]!.length - 1]!.end - 1);
    }
    // The gantt times are the events' own.
    const created = stored.events.filter((e) => e.code === 'replacement.created').map((e) => Date.parse(e.at));
    // (The fake cloud creates instantly: a 0 ms phase is drawn 1 ms wide.)
    const creates = gantt.tasks.filter((t) => t.name === 'create');
    assert.equal(creates.length, created.length);
    for (const [i, t] of creates.entries()) assert.ok(t.end - created[i]! >= 0 && t.end - created[i]! <= 1);
    assert.match(markdown, /## Verification after the run: passed/);
    assert.match(markdown, /\| etcd\.members \| ok \|/);
    for (const id of after) assert.match(markdown, new RegExp(`\\| ${id} \\|`));
  });

  it('says the verification failed, and why, when a replacement is left without a Node (exit 4)', async () => {
    const world = new FakeWorld(['cp-a']);
    const ports = world.ports();
    // An instance of the cluster nobody accounts for, appearing while the run ends (the addons phase).
    const extra = {
      ...world.machines[0]!,
      id: 'i-stray',
      providerId: 'aws:///eu-west-1a/i-stray',
      replaces: undefined,
    };
    let added = false;
    const emit = (e: KubeswapEvent) => {
      ports.emit(e);
      if (e.code === 'swap.finished' && !added) {
        added = true;
        world.machines.push(extra);
      }
    };
    const err = (await apply({ ...ports, emit }, request, options).then(
      () => assert.fail('apply should fail'),
      (e: unknown) => e,
    )) as { code: string; failure: string };
    assert.equal(err.code, 'verify.failed');
    assert.equal(err.failure, 'needs-person');
    const markdown = markdownReport(world.log.events, { exitCode: 4 });
    assert.match(markdown, /Verification after the run: FAILED/);
    assert.match(markdown, /\| machines \| \*\*failed\*\* \| machine i-stray .* has no control-plane Node \|/);
  });

  it('charts the probe series: one x label per bucket, bars plus failures adding up to the requests', () => {
    const from = Date.parse('2026-06-01T00:00:00Z');
    const samples: ProbeSample[] = Array.from({ length: 400 }, (_, i) => ({
      at: from + i * 250,
      ok: i % 97 !== 5,
      latencyMs: 10 + (i % 7),
    }));
    const series = availabilitySeries(samples, from, from + 100_000);
    const event: KubeswapEvent = {
      code: 'availability.run',
      at: new Date(from + 100_000).toISOString(),
      level: 'warn',
      message: 'during the run',
      data: { requests: 400, failed: 5, longestGapMs: 500, p50Ms: 13, p95Ms: 16, p99Ms: 16, failures: [], series },
    };
    const [requests, latency] = mermaidBlocks(markdownReport([event], { exitCode: 0 }));
    assert.equal(requests![0], 'xychart-beta');
    const xs = xyArray(requests!, 'x-axis');
    const bars = xyArray(requests!, 'bar');
    const failed = xyArray(requests!, 'line');
    assert.ok(xs.length <= 30 && xs.length === bars.length && xs.length === failed.length);
    assert.equal(xs[1]! - xs[0]!, series.bucketMs / 1000);
    assert.equal(bars.reduce((a, b) => a + b, 0) + failed.reduce((a, b) => a + b, 0), samples.length);
    assert.equal(
      failed.reduce((a, b) => a + b, 0),
      samples.filter((s) => !s.ok).length,
    );
    assert.equal(Math.max(...xyArray(latency!, 'line')), 16);
  });

  it('counts a swap as replaced when its process was killed between the last step and swap.finished', () => {
    const e = (code: KubeswapEvent['code'], s: number, step?: string): KubeswapEvent => ({
      code,
      at: new Date(Date.UTC(2026, 5, 1, 0, 0, s)).toISOString(),
      level: 'info',
      message: code,
      machine: 'cp-a',
      data: step ? { step } : undefined,
    });
    const surge = [e('plan.step', 0, 'create-replacement'), e('replacement.created', 1), e('node.deleted', 50)];
    assert.equal(swapTimelines(surge)[0]!.outcome, 'replaced');
    assert.equal(swapTimelines(surge.slice(0, 2))[0]!.outcome, 'unfinished');
    // Its events lost with the killed process, but the run finished: the planner found every machine replaced.
    const finished = { ...e('run.finished', 90), machine: undefined };
    assert.equal(swapTimelines([...surge.slice(0, 2), finished])[0]!.outcome, 'replaced');
    assert.equal(swapTimelines([e('plan.step', 0, 'register-target')]).length, 1, 'a step alone is a swap');
    assert.equal(swapTimelines([e('gate.passed', 0)]).length, 0, 'a gate alone is not');
    // Remove first: the old Node goes before the replacement exists; done once the replacement joined.
    const first = [e('plan.step', 0, 'begin-retirement'), e('swap.started', 0), e('node.deleted', 20)];
    assert.equal(swapTimelines(first)[0]!.outcome, 'unfinished');
    assert.equal(swapTimelines([...first, e('replacement.joined', 60)])[0]!.outcome, 'replaced');
  });

  it('draws a rolled-back attempt as a critical bar and the retry as attempt 2', () => {
    const at = (s: number) => new Date(Date.UTC(2026, 5, 1, 0, 0, s)).toISOString();
    const e = (code: KubeswapEvent['code'], s: number, data?: Record<string, unknown>): KubeswapEvent => ({
      code,
      at: at(s),
      level: 'info',
      message: code,
      machine: 'cp-a',
      data,
    });
    const events = [
      e('plan.step', 0, { step: 'create-replacement' }),
      e('swap.started', 1, { oldMachine: 'i-a' }),
      e('replacement.created', 1, { replacement: 'i-r1' }),
      e('replacement.failed', 30),
      e('replacement.rolled-back', 35),
      e('plan.step', 40, { step: 'create-replacement' }),
      e('swap.started', 41, { oldMachine: 'i-a' }),
      e('replacement.created', 41, { replacement: 'i-r2' }),
    ];
    const swaps = swapTimelines(events);
    assert.deepEqual(
      swaps.map((s) => [s.attempt, s.outcome, s.replacement]),
      [
        [1, 'rolled-back', 'i-r1'],
        [2, 'unfinished', 'i-r2'],
      ],
    );
    const gantt = parseGantt(mermaidBlocks(markdownReport(events, {}))[0]!);
    const rollback = gantt.tasks.find((t) => t.name === 'rollback');
    assert.deepEqual(rollback?.tags, ['crit']);
    assert.equal(rollback!.end - rollback!.start, 5000);
    assert.ok(gantt.tasks.some((t) => t.section.endsWith('attempt 2') && t.tags[0] === 'active'));
    assert.match(markdownReport(events, {}), /Result: unfinished/);
  });
});

describe('the stored timeline and the duration estimate', () => {
  it('a resumed run appends to its stored timeline, and only the last runs are kept', async () => {
    const world = new FakeWorld(['cp-a']);
    const kube = world.ports().kube;
    const event = (runId: string, code: KubeswapEvent['code'], s: number): KubeswapEvent => ({
      code,
      at: new Date(Date.UTC(2026, 5, 1, 0, 0, s)).toISOString(),
      level: 'info',
      message: code,
      data: code === 'run.started' || code === 'run.resumed' ? { runId } : undefined,
    });
    const first = new RunRecorder(kube, assert.fail);
    first.sink(event('20260601t000000-aaaaaa', 'preflight.passed', 0));
    first.sink(event('20260601t000000-aaaaaa', 'run.started', 1));
    first.sink(event('20260601t000000-aaaaaa', 'wait', 2));
    await first.finish({ exitCode: 130 });
    // kill -9 of a later process: it stored up to its last flush, then a re-run of the same id resumes.
    const again = new RunRecorder(kube, assert.fail);
    again.sink(event('20260601t000000-aaaaaa', 'run.resumed', 10));
    again.sink(event('20260601t000000-aaaaaa', 'run.finished', 20));
    await again.finish({ exitCode: 0 });
    const [run] = await readStoredRuns(kube);
    assert.deepEqual(
      run!.events.map((e) => e.code),
      ['preflight.passed', 'run.started', 'run.resumed', 'run.finished'],
    );
    assert.equal(run!.outcome?.exitCode, 0);
    for (let i = 0; i < RUNS_KEPT + 2; i++) {
      const r = new RunRecorder(kube, assert.fail);
      r.sink(event(`20260602t00000${i}-bbbbbb`, 'run.started', i));
      await r.finish({ exitCode: 0 });
    }
    const kept = await readStoredRuns(kube);
    assert.equal(kept.length, RUNS_KEPT);
    assert.equal(kept[kept.length - 1]!.runId, `20260602t00000${RUNS_KEPT + 1}-bbbbbb`);
  });

  it("keeps the run's final error bounded, so the record fits its ConfigMap", async () => {
    const kube = new FakeWorld(['cp-a']).ports().kube;
    const r = new RunRecorder(kube, assert.fail);
    r.sink({ code: 'run.started', at: new Date().toISOString(), level: 'info', message: 'x', data: { runId: 'r1' } });
    await r.finish({
      exitCode: 4,
      error: `verification failed: ${'kube-system/kube-proxy-x is Pending; '.repeat(30_000)}`,
    });
    const [run] = await readStoredRuns(kube);
    assert.ok(run!.outcome!.error!.startsWith('verification failed: kube-system/kube-proxy-x'));
    assert.ok(run!.outcome!.error!.length <= 2_001, `${run!.outcome!.error!.length} characters kept`);
    // Cut at a character, never inside one (a surrogate pair split at the bound).
    const split = new RunRecorder(kube, assert.fail);
    split.sink({
      code: 'run.started',
      at: new Date().toISOString(),
      level: 'info',
      message: 'x',
      data: { runId: 'r2' },
    });
    await split.finish({ exitCode: 1, error: `${'a'.repeat(1_999)}${'🙂'.repeat(10)}` });
    const cut = (await readStoredRuns(kube)).find((r) => r.runId === 'r2')!.outcome!.error!;
    assert.equal(cut, `${'a'.repeat(1_999)}…`);
  });

  it('writes the timeline at phase changes only (steps, swap start/join/finish, run end), not once per event', async () => {
    const world = new FakeWorld(['cp-a', 'cp-b', 'cp-c']);
    const ports = world.ports();
    let writes = 0;
    const kube = {
      ...ports.kube,
      replaceConfigMap: (cm: Parameters<typeof ports.kube.replaceConfigMap>[0]) => {
        if (cm.name === 'kubeswap-runs') writes++;
        return ports.kube.replaceConfigMap(cm);
      },
    };
    let events = 0;
    const recorder = new RunRecorder(kube, assert.fail);
    const counted = (e: Parameters<typeof recorder.sink>[0]) => {
      events++;
      recorder.sink(e);
    };
    await apply({ ...ports, kube, emit: fanOut(ports.emit, counted) }, request, options);
    await recorder.finish({ exitCode: 0 });
    const [stored] = await readStoredRuns(kube);
    // Nothing of what report needs is lost: every swap is there, started and finished.
    assert.equal(stored!.events.filter((e) => e.code === 'swap.finished').length, 3);
    assert.ok(stored!.events.some((e) => e.code === 'plan.step'));
    // One write per step, per swap start/join/finish, plus the run's start and end and the process's outcome.
    const steps = stored!.events.filter((e) => e.code === 'plan.step').length;
    assert.ok(writes <= steps + 3 * 3 + 4, `${writes} writes for ${events} events, ${steps} steps`);
    assert.ok(events > 2 * writes, `${writes} writes for ${events} events`);
  });

  it('plan estimates from the last measured run of this cluster, and says unknown before one', async () => {
    const world = new FakeWorld(['cp-a', 'cp-b', 'cp-c']);
    const first = await inspect(world.ports(), request);
    assert.equal(first.changes.estimate?.totalMs, undefined);
    assert.match(first.changes.estimate!.basis, /^unknown/);
    const { ports } = await recordedRun(world);
    const [stored] = await readStoredRuns(ports.kube);
    const measured = measureRun(stored!.runId, stored!.events)!;
    assert.equal(measured.swaps.length, 3);
    for (const s of measured.swaps) assert.ok(s.bootAndJoinMs! > 0 && s.swapMs >= s.bootAndJoinMs!);
    const estimate = estimateDuration(2, measured);
    const mean = measured.swaps.reduce((a, s) => a + s.swapMs, 0) / 3;
    const outside = measured.runMs - 3 * mean;
    assert.equal(estimate.totalMs, Math.round(2 * mean + outside));
    assert.equal(estimateDuration(0, undefined).totalMs, undefined);
  });
});

describe('run report: versions of grouped kubelets', () => {
  it('counts a row that stands for many Nodes as that many', () => {
    const row = (where: string, now: string, nodes?: number) => ({
      component: 'kubelet',
      where,
      now,
      target: now,
      severity: 'ok' as const,
      rule: 'r',
      ...(nodes ? { nodes } : {}),
    });
    const report = {
      target: TO,
      components: [row('cp-1 (control plane)', 'v1.36.3'), row('4998 Nodes', 'v1.36.3', 4998), row('w-x', 'v1.35.0')],
      apis: [],
      certificates: [],
      findings: [],
      acceptedRemovedApis: false,
    };
    const at = new Date(0).toISOString();
    const text = markdownReport(
      [{ code: 'readiness.checked', at, level: 'info', message: 'readiness', data: { report } }],
      {},
    );
    assert.match(text, /\| kubelet \| v1\.36\.3 ×4999, v1\.35\.0 ×1 \| - \|/);
    assert.match(text, /\| 4998 Nodes \|/);
  });
});
