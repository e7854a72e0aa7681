// A run's timeline, derived from its events (issue 13 §3): each swap's phases with their start and end, and the
// measured boot and join times a later `plan` estimates its duration from. Pure: the events are the only input, so
// the report of a live run (--summary) and of a stored one (kubeswap report) are the same computation.
import type { EventCode, KubeswapEvent } from './events.ts';

/** What a run keeps of its events for `kubeswap report`: everything but the repeated waits and the plan listing. */
export const TIMELINE_DROPS: ReadonlySet<EventCode> = new Set(['wait', 'plan.machine', 'plan.orphan']);

export type PhaseName =
  | 'create'
  | 'join'
  | 'gate'
  | 'deregister'
  | 'drain'
  | 'member removal'
  | 'terminate'
  | 'rollback';

export interface Phase {
  name: PhaseName;
  start: number;
  end: number;
}

export interface SwapTimeline {
  /** Node name of the machine replaced. */
  machine: string;
  /** 1 for the first try; a rollback makes the next try 2. */
  attempt: number;
  oldMachine?: string;
  replacement?: string;
  start: number;
  end: number;
  outcome: 'replaced' | 'rolled-back' | 'unfinished';
  phases: Phase[];
}

/** Steps that take the old machine out, in the order the planner runs them (engine/plan/steps.ts). */
const RETIRE_STEPS = new Set(['mark-retiring', 'begin-retirement', 'deregister-target', 'drain', 'move-leader']);

const ms = (e: KubeswapEvent) => Date.parse(e.at);
const stepOf = (e: KubeswapEvent) => (e.code === 'plan.step' ? String(e.data?.['step'] ?? '') : undefined);

/** The swaps of a run, in the order they started; an attempt ends at swap.finished or replacement.rolled-back. */
export function swapTimelines(events: readonly KubeswapEvent[]): SwapTimeline[] {
  const byMachine = new Map<string, KubeswapEvent[][]>();
  for (const e of events) {
    if (!e.machine || TIMELINE_DROPS.has(e.code) || e.code === 'availability.swap') continue;
    const attempts = byMachine.get(e.machine) ?? [[]];
    byMachine.set(e.machine, attempts);
    const current = attempts[attempts.length - 1]!;
    const ended = attempts[attempts.length - 2];
    // A Node the provider left behind after a swap that ended with its machine (drainsOnDelete) is deleted after
    // swap.finished: that cleanup belongs to the finished swap, it is no new attempt.
    const cleanup = current.length === 0 && ended?.some((x) => x.code === 'swap.finished') && isLeftNodeCleanup(e);
    if (cleanup) ended!.push(e);
    else current.push(e);
    if (e.code === 'swap.finished' || e.code === 'replacement.rolled-back') attempts.push([]);
  }
  // A run that finished replaced every machine it started on (the planner said done): a swap whose last events
  // were lost with a killed process still counts as replaced.
  const runFinished = events.some((e) => e.code === 'run.finished');
  const swaps: SwapTimeline[] = [];
  for (const [machine, attempts] of byMachine) {
    let attempt = 0;
    for (const window of attempts) {
      // An attempt is a swap once it took a step (a gate.passed alone, before a swap, is not one).
      if (!window.some((e) => e.code !== 'gate.passed')) continue;
      attempt++;
      const swap = swapOf(machine, attempt, window);
      swaps.push(runFinished && swap.outcome === 'unfinished' ? { ...swap, outcome: 'replaced' } : swap);
    }
  }
  return swaps.sort((a, b) => a.start - b.start);
}

function swapOf(machine: string, attempt: number, window: KubeswapEvent[]): SwapTimeline {
  const last = window[window.length - 1]!;
  const started = window.find((e) => e.code === 'swap.started');
  const created = window.find((e) => e.code === 'replacement.created');
  const first = window.find((e) => e.code !== 'gate.passed') ?? window[0]!;
  return {
    machine,
    attempt,
    oldMachine: started?.data?.['oldMachine'] as string | undefined,
    replacement: created?.data?.['replacement'] as string | undefined,
    start: ms(first),
    end: ms(last),
    outcome: last.code === 'replacement.rolled-back' ? 'rolled-back' : finished(window) ? 'replaced' : 'unfinished',
    phases: phasesOf(window),
  };
}

/** The events of deleting an old Node after its swap ended (the delete-node step after a drains-on-delete swap). */
function isLeftNodeCleanup(e: KubeswapEvent): boolean {
  return stepOf(e) === 'delete-node' || e.code === 'node.deleted';
}

/**
 * swap.finished, or its last step done: a process killed between the swap's last step and its swap.finished leaves
 * a swap the re-run finds complete and never reports again. A surge swap's last step deletes the old Node; a
 * remove-first swap's (begin-retirement first) is its replacement joining; a drains-on-delete swap's (its machine's
 * deletion started by us) is the machine's termination, after which the provider deletes the Node.
 */
function finished(window: KubeswapEvent[]): boolean {
  if (window.some((e) => e.code === 'swap.finished')) return true;
  const deletedByProvider = window.some((e) => e.code === 'machine.deletion-started');
  if (deletedByProvider && window.some((e) => e.code === 'swap.started')) {
    return window.some((e) => e.code === 'machine.terminated' || e.code === 'node.deleted');
  }
  if (!window.some((e) => e.code === 'node.deleted')) return false;
  return !window.some((e) => stepOf(e) === 'begin-retirement') || window.some((e) => e.code === 'replacement.joined');
}

/** Finds the first event at or after `from` (by index) matching `test`. */
function after(window: KubeswapEvent[], from: number, test: (e: KubeswapEvent) => boolean): number {
  for (let i = Math.max(0, from); i < window.length; i++) if (test(window[i]!)) return i;
  return -1;
}

function phasesOf(window: KubeswapEvent[]): Phase[] {
  const phases: Phase[] = [];
  const add = (name: PhaseName, startIndex: number, endIndex: number) => {
    if (startIndex < 0 || endIndex < 0) return;
    phases.push({ name, start: ms(window[startIndex]!), end: ms(window[endIndex]!) });
  };
  const span = (name: PhaseName, start: (e: KubeswapEvent) => boolean, end: (e: KubeswapEvent) => boolean) => {
    const s = after(window, 0, start);
    add(name, s, s < 0 ? -1 : after(window, s, end));
  };
  // create: the RunInstances call (and its credentials); join: the machine boots, runs kubeadm join and its API
  // server serves, up to the first step the planner takes once it does.
  span(
    'create',
    (e) => stepOf(e) === 'create-replacement',
    (e) => e.code === 'replacement.created',
  );
  const created = after(window, 0, (e) => e.code === 'replacement.created');
  const joined =
    created < 0 ? -1 : after(window, created + 1, (e) => e.code === 'replacement.joined' || stepOf(e) !== undefined);
  add('join', created, joined);
  // gate: the health gate holding on the grown cluster before the old machine is touched (surge mode only).
  if (joined >= 0 && window[joined]!.code !== 'replacement.joined') {
    add(
      'gate',
      joined,
      after(window, joined, (e) => RETIRE_STEPS.has(stepOf(e) ?? '')),
    );
  }
  span(
    'deregister',
    (e) => stepOf(e) === 'deregister-target',
    (e) => e.code === 'target.deregistered',
  );
  span(
    'drain',
    (e) => e.code === 'node.drain-started',
    (e) => e.code === 'node.drained',
  );
  // A provider that drains on delete (Cluster API) drains from the deletion's start until it holds the machine,
  // which the next step (leadership or member) shows.
  if (!window.some((e) => e.code === 'node.drain-started')) {
    span(
      'drain',
      (e) => e.code === 'machine.deletion-started',
      (e) => stepOf(e) === 'move-leader' || stepOf(e) === 'remove-member',
    );
  }
  span(
    'member removal',
    (e) => stepOf(e) === 'move-leader' || stepOf(e) === 'remove-member',
    (e) => e.code === 'etcd.member-removed',
  );
  span(
    'terminate',
    (e) => stepOf(e) === 'terminate',
    (e) => e.code === 'node.deleted' || e.code === 'machine.terminated',
  );
  span(
    'rollback',
    (e) => e.code === 'replacement.failed',
    (e) => e.code === 'replacement.rolled-back',
  );
  return phases.sort((a, b) => a.start - b.start);
}

export interface MeasuredSwap {
  machine: string;
  /** create-replacement to joined: boot, kubeadm join, API server serving. */
  bootAndJoinMs?: number;
  /** The whole swap, gate and removal of the old machine included. */
  swapMs: number;
}

export interface MeasuredRun {
  runId: string;
  at: string;
  swaps: MeasuredSwap[];
  /** From the first event to the last: preparation, the swaps, the addons. */
  runMs: number;
}

/** The finished swaps of a run with their measured times: what `plan` estimates the next run's duration from. */
export function measureRun(runId: string, events: readonly KubeswapEvent[]): MeasuredRun | undefined {
  const swaps = swapTimelines(events).filter((s) => s.outcome === 'replaced');
  if (swaps.length === 0) return undefined;
  const runStart = events.find((e) => e.code === 'run.started' || e.code === 'run.resumed') ?? events[0]!;
  const runEnd = [...events].reverse().find((e) => e.code === 'run.finished') ?? events[events.length - 1]!;
  return {
    runId,
    at: runEnd.at,
    swaps: swaps.map((s) => {
      const create = s.phases.find((p) => p.name === 'create');
      const join = s.phases.find((p) => p.name === 'join');
      return {
        machine: s.machine,
        ...(create && join ? { bootAndJoinMs: join.end - create.start } : {}),
        swapMs: s.end - s.start,
      };
    }),
    runMs: ms(runEnd) - ms(runStart),
  };
}

export interface DurationEstimate {
  /** Undefined when no finished run of this cluster was measured. */
  totalMs?: number;
  perMachineMs?: number;
  basis: string;
}

/**
 * machines × the mean swap of the last measured run, plus that run's time outside its swaps (snapshot, preparation,
 * addons). A cluster's boot and join times depend on its image and instance type, so only its own run is a basis.
 */
export function estimateDuration(machines: number, last: MeasuredRun | undefined): DurationEstimate {
  if (!last) return { basis: 'unknown: no finished run of this cluster was recorded to measure from' };
  const mean = last.swaps.reduce((sum, s) => sum + s.swapMs, 0) / last.swaps.length;
  const outside = Math.max(0, last.runMs - last.swaps.reduce((sum, s) => sum + s.swapMs, 0));
  const boots = last.swaps.flatMap((s) => (s.bootAndJoinMs === undefined ? [] : [s.bootAndJoinMs]));
  const boot = boots.length > 0 ? boots.reduce((a, b) => a + b, 0) / boots.length : undefined;
  return {
    totalMs: machines === 0 ? outside : Math.round(machines * mean + outside),
    perMachineMs: Math.round(mean),
    basis: `run ${last.runId} (${last.at}): ${last.swaps.length} swap(s), mean ${Math.round(mean / 1000)} s each${boot === undefined ? '' : ` of which boot and join ${Math.round(boot / 1000)} s`}, ${Math.round(outside / 1000)} s outside the swaps`,
  };
}
