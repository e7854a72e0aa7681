// Where a run's timeline is kept for `kubeswap report` and for `plan`'s duration estimate: one ConfigMap next to the
// progress record (kube-system/kubeswap-runs), one key per run, the last RUNS_KEPT runs. The cluster, not the machine
// that ran kubeswap, holds it: a CI job's runner is gone once the job ends, and a re-run after kill -9 from another
// host appends to the same run. Events carry no secrets (domain/events.ts), so neither does this.
import type { EventCode, EventSink, KubeswapEvent } from '../../domain/events.ts';
import { KUBEADM_NAMESPACE } from '../../domain/kubeadm/cluster-config.ts';
import { type MeasuredRun, measureRun, TIMELINE_DROPS } from '../../domain/run-timeline.ts';
import { type ConfigMapView, ConflictError, type KubePort } from '../../ports/kube.ts';
import { retryOnConflict } from '../conflicts.ts';

export const RUNS_CONFIGMAP = 'kubeswap-runs';
export const RUNS_KEPT = 5;
/** Per run, so that RUNS_KEPT runs stay well inside a ConfigMap's 1 MiB (etcd's request limit is 1.5 MiB). */
export const RUN_BYTES_MAX = 150_000;

export interface StoredRun {
  runId: string;
  /** Set when a process of the run ended (exit code and error); absent after a kill -9 until a re-run ends. */
  outcome?: { exitCode: number; error?: string; at: string };
  events: KubeswapEvent[];
}

/**
 * The events after which the stored timeline is written (issue 15: once per phase, not once per event). Between them,
 * events (the waits' and gate passes' repeats, what a step reports while it works) wait in memory and go with the next
 * write: a kill -9 loses at most the events of the step in progress, and a re-run (which appends to the stored
 * timeline) still shows every swap and its steps (integration/scenarios/kill-resume kills after each event code).
 * `kubeswap report` and plan's estimate measure a swap from swap.started to swap.finished, with its steps in between.
 */
export const PHASE_CHANGES: ReadonlySet<EventCode> = new Set([
  // Each step of a swap is a phase of it (the report draws them); the events inside a step go with the next write.
  'plan.step',
  'swap.started',
  'replacement.joined',
  'replacement.failed',
  'replacement.rolled-back',
  'swap.finished',
  'addon.rolled-out',
  'addon.blocked',
  'verify.passed',
  'verify.failed',
  'lock.lost',
  'run.finished',
  'run.failed',
  'run.interrupted',
  'run.nothing-to-do',
]);

/** How much of the error a run ended with is kept with its outcome. */
const ERROR_KEPT = 2_000;

/** Events worth keeping: the repeated waits go; messages are bounded. */
function kept(event: KubeswapEvent): KubeswapEvent | undefined {
  if (TIMELINE_DROPS.has(event.code)) return undefined;
  return event.message.length > 400 ? { ...event, message: `${event.message.slice(0, 400)}…` } : event;
}

/** Drops the largest payloads first (readiness report), then the oldest plan steps, until the run fits. */
function bounded(run: StoredRun): string {
  let text = JSON.stringify(run);
  if (text.length <= RUN_BYTES_MAX) return text;
  const events = run.events.map((e) =>
    e.code === 'readiness.checked' ? { ...e, data: { truncated: 'report too large to keep' } } : e,
  );
  while (true) {
    text = JSON.stringify({ ...run, events, truncated: true });
    if (text.length <= RUN_BYTES_MAX) return text;
    const i = events.findIndex((e) => e.code === 'plan.step' || e.code === 'gate.passed');
    if (i < 0) break;
    events.splice(i, 1);
  }
  return JSON.stringify({ ...run, events: events.slice(-200), truncated: true });
}

export async function readStoredRuns(kube: KubePort): Promise<StoredRun[]> {
  const cm = await kube.getConfigMap(KUBEADM_NAMESPACE, RUNS_CONFIGMAP);
  return cm ? runsOf(cm) : [];
}

function runsOf(cm: ConfigMapView): StoredRun[] {
  const runs: StoredRun[] = [];
  for (const text of Object.values(cm.data)) {
    try {
      runs.push(JSON.parse(text) as StoredRun);
    } catch {
      // Someone edited it by hand: that run is not shown.
    }
  }
  // Run ids start with their UTC start time (progress.ts newRunId), so they sort by age.
  return runs.sort((a, b) => a.runId.localeCompare(b.runId));
}

/** The last run of this cluster that replaced machines, measured, for `plan`'s estimate. */
export async function lastMeasuredRun(kube: KubePort): Promise<MeasuredRun | undefined> {
  const runs = await readStoredRuns(kube).catch(() => []);
  for (const run of runs.reverse()) {
    const measured = measureRun(run.runId, run.events);
    if (measured) return measured;
  }
  return undefined;
}

/**
 * Writes the run into the runs ConfigMap. `last`, what this process wrote there before, is replaced directly (its
 * resourceVersion guards it: a write of anyone else since then answers 409, and the ConfigMap is read again), so a
 * phase change costs one request, not a read and a write. Returns what was written, for the next call.
 */
async function writeRun(kube: KubePort, run: StoredRun, last?: ConfigMapView): Promise<ConfigMapView | undefined> {
  const value = bounded(run);
  let cm = last;
  return retryOnConflict(async () => {
    cm ??= await kube.getConfigMap(KUBEADM_NAMESPACE, RUNS_CONFIGMAP);
    if (!cm) {
      const created = await kube.createConfigMap({
        namespace: KUBEADM_NAMESPACE,
        name: RUNS_CONFIGMAP,
        data: { [run.runId]: value },
        labels: { 'app.kubernetes.io/managed-by': 'kubeswap' },
        annotations: {},
      });
      if (created === 'created') return undefined;
      throw new ConflictError(`${RUNS_CONFIGMAP} was created meanwhile`);
    }
    const data = { ...cm.data, [run.runId]: value };
    for (const old of Object.keys(data).sort().slice(0, -RUNS_KEPT)) delete data[old];
    try {
      return await kube.replaceConfigMap({ ...cm, data });
    } catch (err) {
      if (err instanceof ConflictError) cm = undefined;
      throw err;
    }
  }, `could not write ${RUNS_CONFIGMAP} after 5 conflicts`);
}

/**
 * The sink that keeps a run's timeline in the cluster. Events before the run has an id (preflight, readiness) are
 * held until `run.started`/`run.resumed` names it; a resumed run appends to what the earlier process stored.
 * The timeline is written when the run starts, at each phase change (PHASE_CHANGES) and when the process ends: a few
 * writes per swap instead of one per event. Writes are serialized and never fail the run: a store that cannot be written is reported once
 * through `warn`.
 */
export class RunRecorder {
  private pending: KubeswapEvent[] = [];
  private run?: StoredRun;
  private chain: Promise<void> = Promise.resolve();
  private warned = false;
  /** The runs ConfigMap as this process last wrote it (writeRun). */
  private written?: ConfigMapView;

  constructor(
    private readonly kube: KubePort,
    private readonly warn: (message: string) => void,
  ) {}

  readonly sink: EventSink = (event) => {
    const e = kept(event);
    if (e) this.pending.push(e);
    const runId = event.data?.['runId'];
    if (!this.run && (event.code === 'run.started' || event.code === 'run.resumed') && typeof runId === 'string') {
      this.run = { runId, events: [] };
      this.enqueue(true);
    } else if (this.run && e && PHASE_CHANGES.has(e.code)) this.enqueue(false);
  };

  /** The run's timeline as stored (earlier processes' events included); undefined before the run started. */
  events(): KubeswapEvent[] | undefined {
    return this.run?.events;
  }

  /** The process ends: its exit code goes with the timeline. */
  async finish(outcome: { exitCode: number; error?: string }): Promise<void> {
    if (!this.run) return;
    // The error as the run printed it, bounded as an event's message is (kept): the record must fit its ConfigMap.
    const error =
      outcome.error && outcome.error.length > ERROR_KEPT
        ? `${outcome.error.slice(0, ERROR_KEPT).replace(/[\uD800-\uDBFF]$/, '')}…`
        : outcome.error;
    this.run.outcome = { ...outcome, ...(error !== undefined ? { error } : {}), at: new Date().toISOString() };
    this.enqueue(false);
    await this.chain;
  }

  /** A write is queued: events arriving meanwhile go with it (one write at a time, none left waiting). */
  private queued = false;

  private enqueue(first: boolean): void {
    if (this.queued && !first) return;
    this.queued = true;
    this.chain = this.chain
      .then(async () => {
        this.queued = false;
        const run = this.run!;
        if (first) {
          // A re-run of the same run id (resume after a kill -9 or a rollback) continues the stored timeline.
          const earlier = (await readStoredRuns(this.kube)).find((r) => r.runId === run.runId);
          run.events = earlier ? [...earlier.events] : [];
        }
        run.events.push(...this.pending);
        this.pending = [];
        this.written = await writeRun(this.kube, run, this.written);
      })
      .catch((err: unknown) => {
        this.written = undefined;
        if (this.warned) return;
        this.warned = true;
        this.warn(`the run's timeline could not be stored for kubeswap report: ${(err as Error).message}`);
      });
  }
}
