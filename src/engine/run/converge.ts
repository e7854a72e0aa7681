// The loop: observe -> plan -> act one step -> observe again, until done, blocked or failed.
// Waiting is a short poll of the live state (the plan says what it waits for), so the run reacts
// within one poll interval of the world changing.

import { formatDuration } from '../../domain/clock.ts';
import { KubeswapError } from '../../domain/errors.ts';
import type { EventCode } from '../../domain/events.ts';
import { act, type RunContext } from '../act/act.ts';
import { EtcdReads } from '../observe/etcd-reads.ts';
import { observe, readEtcdView } from '../observe/observe.ts';
import { ProviderReads } from '../observe/provider-reads.ts';
import type { Snapshot } from '../observe/snapshot.ts';
import type { PlanScope } from '../plan/decisions.ts';
import { plan } from '../plan/planner.ts';
import { type Decision, describeStep, finishesSwap, type Step, startsSwap } from '../plan/steps.ts';
import { gateFor, streakGate } from '../plan/swaps.ts';
import type { Ports } from '../ports.ts';
import { GateStreak } from './gate-streak.ts';
import type { LockKeeper } from './lock-keeper.ts';
import { type RetiringRecord, retiringReader } from './retiring.ts';
import { Wakeup } from './wakeup.ts';

export interface ConvergeHooks {
  /** The run's lock: checked before every step (and between observations) so a run that lost it stops acting. */
  lock?: Pick<LockKeeper, 'verify' | 'assertHeld'>;
  /** Called after each step completed (progress record). */
  afterStep?: (decision: Extract<Decision, { kind: 'step' }>) => Promise<void>;
  signal?: AbortSignal;
  /** What this loop replaces (default: the control plane, then the worker pools of ctx.options.pools). */
  scope?: PlanScope;
  /**
   * The pool of the run's last step and when it ended (ms), as the progress record has it: --pool-interval is
   * counted from there, so a resumed run waits only the rest (or a workers loop after the control plane's).
   */
  lastPool?: { name: string; at: number };
  /**
   * The streak of the health gate before the first change (healthy-start.ts), counted on: the loop's first swap
   * then starts on its next healthy pass instead of counting N passes anew (issue 15 §1). Its first pass reads the
   * Nodes afresh, as every pass that starts a swap must.
   */
  gateStreak?: GateStreak;
  /**
   * The Nodes the health gate before the first change last read from the API server, and when: the first pass stands
   * on them instead of listing every Node again when they are younger than FRESH_REUSE_MS (no Node is written between).
   */
  freshRead?: { at: number; nodes: Snapshot['nodes'] };
  /** The retiring record as the start gate read it under the lock (only our own steps write it). */
  retiring?: () => Promise<RetiringRecord | undefined>;
}

export interface ConvergeResult {
  steps: number;
  swaps: number;
  passes: number;
}

export async function converge(ports: Ports, ctx: RunContext, hooks: ConvergeHooks = {}): Promise<ConvergeResult> {
  const emit = (code: EventCode, message: string, machine?: string, data?: Record<string, unknown>) =>
    ports.emit({ code, at: ports.clock.now().toISOString(), level: 'info', message, machine, data });
  // The start gate's streak is counted on only if this loop's first pass follows its last pass closely (GateStreak.
  // followsAt): the etcd copy, the provider's run setup and the kubeadm-config and kubelet writes in between may take
  // long, and passes with an unobserved gap between them are not consecutive.
  const carried = hooks.gateStreak?.followsAt(ports.clock.now().getTime()) ? hooks.gateStreak : undefined;
  const streaks = carried ?? new GateStreak(ctx.options.pollIntervalMs);
  let steps = 0;
  let swaps = 0;
  let passes = 0;
  let lastWait = '';
  let transientRetries = 0;
  /** When this process started each swap; a resumed swap has no start here. */
  const swapStarted = new Map<string, number>();
  /**
   * Machines whose swap this process finished: each counts once, even when a later step still cleans up after it
   * (a Node Cluster API left behind).
   */
  const swapFinished = new Set<string>();
  const withTargets = ports.provider.loadBalancer !== undefined;
  const providerReads = new ProviderReads();
  const etcdReads = new EtcdReads();
  // The retiring record is written only by our own begin-/finish-retirement steps (act.ts): read once, then again
  // after one of those (a resumed run reads what the earlier process left).
  const retiring = retiringReader(ports.kube, hooks.retiring?.());
  const scope = hooks.scope ?? 'all';
  const pools = scope === 'control-plane' ? [] : (ctx.options.pools ?? []);
  const poolNames = pools.length > 0 ? pools.map((p) => p.name) : undefined;
  /** The worker pool of the last step and when it ended: --pool-interval pauses before the next pool's first step. */
  let lastPool: { name: string; at: number } | undefined = hooks.lastPool;
  const wakeup = new Wakeup();
  const stopWatching = ports.kube.watchChanges?.(wakeup.notify);
  try {
    return await loop();
  } finally {
    stopWatching?.();
  }

  /** Rethrows anything but a transient failure (or too many in a row); otherwise reports it and pauses. */
  async function retryLater(err: unknown, what: string, machine: string | undefined, reason: string) {
    if (!isTransient(err) || ++transientRetries > MAX_TRANSIENT_RETRIES) throw err;
    // A pass that could not look breaks the run of healthy passes.
    streaks.restart();
    emit('wait', `${what}; retrying`, machine, { reason });
    await ports.clock.sleep(ctx.options.pollIntervalMs, hooks.signal);
  }

  async function loop(): Promise<ConvergeResult> {
    let previous: Snapshot | undefined;
    /** The next pass reads the Nodes from the API server (a swap is about to start on a cached view). */
    let freshNodes = hooks.gateStreak !== undefined;
    /** The Nodes of the last pass that read them afresh, while no step since wrote a Node (FRESH_REUSE_MS). */
    let lastFresh: { at: number; nodes: Snapshot['nodes'] } | undefined = hooks.freshRead;
    /** The next pass takes lastFresh's Nodes as its fresh read. */
    let reuseFresh =
      freshNodes && lastFresh !== undefined && ports.clock.now().getTime() - lastFresh.at < FRESH_REUSE_MS;
    if (reuseFresh) freshNodes = false;
    /** The next pass reads every Node from the API server (a worker pool's rollback, below). */
    let everyNode = false;
    for (;;) {
      if (hooks.signal?.aborted) throw interrupted();
      hooks.lock?.assertHeld();
      let snapshot: Awaited<ReturnType<typeof observe>>;
      try {
        wakeup.clear();
        const reused = reuseFresh && lastFresh ? lastFresh : undefined;
        snapshot = await observe(ports, {
          withTargets,
          previous,
          desired: ctx.desired,
          providerReads,
          pools: poolNames,
          etcdReads,
          retiring: retiring.read,
          // Worker decisions (readiness within maxUnavailable) rest on their pools' Nodes too: those are read afresh
          // by name, the rest of the workers come from the watch (observe/pool-nodes.ts).
          freshNodes: everyNode ? true : freshNodes || reused !== undefined ? 'in-scope' : false,
          ...(reused ? { nodes: Promise.resolve(reused.nodes) } : {}),
        });
        if (snapshot.nodesFresh && !reused) lastFresh = { at: snapshot.at.getTime(), nodes: snapshot.nodes };
        freshNodes = false;
        reuseFresh = false;
        everyNode = false;
      } catch (err) {
        // A member or API server restarting mid-swap: look again shortly rather than fail the run.
        await retryLater(err, `observing the cluster failed: ${(err as Error).message}`, undefined, 'observe.failed');
        continue;
      }
      passes++;
      previous = snapshot;
      const decide = (s: Snapshot) => {
        // The next swap's streak may count while an old VM terminates only once that machine provably counts for
        // nothing the gate judges (streakGate); the steps of a retirement need only `gate`. A pass on an earlier etcd
        // view (EtcdReads) is no gate pass: the streak stands as it was.
        const streak = s.etcdReused ? streaks.current() : streaks.observe(streakGate(s), s.at.getTime());
        const decision = plan({
          snapshot: s,
          desired: ctx.desired,
          runId: ctx.runId,
          gateStreak: streak,
          gatePasses: ctx.options.gatePasses,
          machineTimeoutMs: ctx.options.machineTimeoutMs,
          drainTimeoutMs: ctx.options.drainTimeoutMs,
          terminateTimeoutMs: ctx.options.terminateTimeoutMs,
          terminatesInBackground: ports.provider.beginTermination !== undefined,
          maxSurge: ctx.options.maxSurge,
          scope,
          pools,
        });
        return { streak, decision };
      };
      let { streak, decision } = decide(snapshot);
      // A plan from an earlier etcd view may only wait on Kubernetes or the provider: anything else (the join done, a
      // step, a rollback after the machine timeout, a wait on etcd) is planned again in this pass from etcd read
      // afresh (the Nodes and the provider's view as they are), so no decision but such a wait ever rests on a view
      // a join may have changed since, and a Node event that completes a join is judged on a fresh read at once.
      if (snapshot.etcdReused && !(decision.kind === 'wait' && decision.etcdIndependent === true)) {
        try {
          const { etcdReused: _earlier, ...rest } = snapshot;
          snapshot = { ...rest, etcd: await readEtcdView(ports) };
        } catch (err) {
          etcdReads.forget();
          await retryLater(err, `reading etcd failed: ${(err as Error).message}`, undefined, 'observe.failed');
          continue;
        }
        etcdReads.remember(snapshot.at.getTime(), snapshot.etcd);
        previous = snapshot;
        ({ streak, decision } = decide(snapshot));
      }
      const gate = gateFor(snapshot);
      // A swap starts only from Nodes read afresh: the watched cache may be stale for up to the watch's timeout if its
      // connection died silently (node-cache.ts), and the gate's Node and static-pod readiness is what lets a swap
      // begin. The pass is repeated with a fresh Node list (and a fresh etcd read); it counts as a gate pass like any.
      // The same before every step no second run may take (READS_LEASE_FIRST: a member removed, a machine terminated):
      // the Node readiness the gate judged before it is read from the API server, not from a watch that may be dead.
      const irreversible = decision.kind === 'step' && READS_LEASE_FIRST.has(decision.step.kind);
      // A worker pool's rollback rests on its replacement's Node being absent: one that registered while the watch
      // was silently dead has a name no read by name can ask for (observe/pool-nodes.ts), so every Node is read first.
      const everyNodeFirst =
        decision.kind === 'step' && decision.step.kind === 'rollback' && decision.pool !== undefined;
      // A worker's drain rests on its replacement counted Ready, or on the pool's unavailable machines: from Nodes read
      // afresh too (by name: a small read), not from a watch that may have gone silent.
      const drainsWorker = decision.kind === 'step' && decision.step.kind === 'drain-worker';
      if (
        decision.kind === 'step' &&
        (startsSwap(decision.step) || irreversible || drainsWorker) &&
        (!snapshot.nodesFresh || (everyNodeFirst && !snapshot.everyNodeFresh)) &&
        stopWatching !== undefined
      ) {
        // A read younger than FRESH_REUSE_MS, with no Node written by us since, stands for one now (issue 15 §2: terminate
        // follows the member's removal by a fraction of a second, and each read every Node and static pod): the pass is
        // repeated on those Nodes, as fresh as the pass of the step before was when that step acted.
        reuseFresh =
          !everyNodeFirst && lastFresh !== undefined && ports.clock.now().getTime() - lastFresh.at < FRESH_REUSE_MS;
        freshNodes = !reuseFresh;
        everyNode = everyNodeFirst;
        etcdReads.waiting(false);
        continue;
      }
      // The gate after a join must hold N times on the cluster the join left: passes before the join was done (a
      // booting replacement has no Node and no member yet, so the gate may pass) do not count towards it.
      const joining = decision.kind === 'wait' && decision.code === JOINING;
      if (joining) streaks.restart();
      // While the streak still needs passes (the next swap's gate while an old VM terminates), each poll is a gate
      // pass: a real read of every member, never a standing view.
      const gateDue = !joining && streak < ctx.options.gatePasses;
      etcdReads.waiting(decision.kind === 'wait' && decision.etcdIndependent === true && !gateDue);
      switch (decision.kind) {
        case 'done':
          return { steps, swaps, passes };
        case 'blocked':
          throw new KubeswapError(
            steps > 0 || ctx.changedBefore ? 'needs-person' : 'blocked',
            decision.code,
            decision.reason,
            {
              hint: decision.hint,
            },
          );
        case 'wait': {
          const key = `${decision.code}:${decision.reason}`;
          if (key !== lastWait) emit('wait', decision.reason, decision.machine, { reason: decision.code });
          lastWait = key;
          // Fixed rate: the next observation starts a poll interval after this one started, so the time
          // an observation takes is not added to every wait (and gate passes stay an interval apart).
          const due = snapshot.at.getTime() + ctx.options.pollIntervalMs - ports.clock.now().getTime();
          await wakeup.sleep(ports.clock, Math.max(0, due), hooks.signal).catch((err) => {
            if (hooks.signal?.aborted) throw interrupted();
            throw err;
          });
          continue;
        }
        case 'step': {
          const interval = ctx.options.poolIntervalMs ?? 0;
          if (decision.pool && lastPool && lastPool.name !== decision.pool && interval > 0) {
            // Counted from the end of the last step, which may be an earlier process's (the progress record).
            const due = lastPool.at + interval - ports.clock.now().getTime();
            lastPool = undefined;
            if (due > 0) {
              emit('wait', `pausing ${formatDuration(due)} before pool ${decision.pool} (--pool-interval)`, undefined, {
                reason: 'pool.interval',
              });
              await ports.clock.sleep(due, hooks.signal).catch((err) => {
                if (hooks.signal?.aborted) throw interrupted();
                throw err;
              });
              continue;
            }
          }
          lastWait = '';
          if (gate.ok && startsSwap(decision.step)) {
            emit('gate.passed', `health gate passed ${streak} consecutive times`, decision.machine);
          }
          emit('plan.step', describeStep(decision.step), decision.machine, {
            step: decision.step.kind,
            reason: decision.reason,
            ...(decision.pool ? { pool: decision.pool } : {}),
          });
          await hooks.lock?.verify({ fresh: READS_LEASE_FIRST.has(decision.step.kind) });
          // Whatever the step did (or half did) to machines or targets, the next pass reads them afresh; a step that
          // touches only Kubernetes or etcd leaves the provider's view standing (provider-reads.ts).
          providerReads.forgetAfter(decision.step.kind);
          etcdReads.forget();
          if (WRITES_RETIRING.has(decision.step.kind)) retiring.forget();
          // Before the step, not after it: a step that wrote a Node and then failed (its answer lost) must not leave
          // a read from before its write standing for a fresh one.
          if (!WRITES_NO_NODE.has(decision.step.kind)) lastFresh = undefined;
          try {
            await act(decision.step, ports, ctx, decision.machine, hooks.signal);
          } catch (err) {
            // etcd refuses membership changes for 5 s after the last one ("unhealthy cluster"), and
            // a member may be briefly unreachable while another restarts: observe again and re-plan.
            const what = `${describeStep(decision.step)}: ${(err as Error).message}`;
            await retryLater(err, what, decision.machine, (err as KubeswapError).code);
            continue;
          }
          transientRetries = 0;
          steps++;
          if (decision.pool) lastPool = { name: decision.pool, at: ports.clock.now().getTime() };
          if (startsSwap(decision.step)) {
            swapStarted.set(decision.machine, ports.clock.now().getTime());
            swapFinished.delete(decision.machine);
          }
          // The pass after a swap's end is the one that may start the next swap: its Nodes are read afresh at once,
          // rather than on a repeated pass (below).
          if (finishesSwap(decision.step)) freshNodes = true;
          if (finishesSwap(decision.step) && !swapFinished.has(decision.machine)) {
            swapFinished.add(decision.machine);
            swaps++;
            const started = swapStarted.get(decision.machine);
            const durationMs = started === undefined ? undefined : ports.clock.now().getTime() - started;
            emit(
              'swap.finished',
              `replaced ${decision.machine}${durationMs === undefined ? ' (resumed)' : ` in ${formatDuration(durationMs)}`}`,
              decision.machine,
              {
                durationMs,
              },
            );
          }
          // A membership change or a termination changes the world: the gate must hold anew on what it
          // left behind before the next swap starts (the steps of a retirement need only a healthy gate).
          if (RESTARTS_GATE.has(decision.step.kind)) streaks.restart();
          await hooks.afterStep?.(decision);
        }
      }
    }
  }
}

/** The wait of a control-plane join (plan/decisions.ts joiningWait). */
const JOINING = 'replacement.joining';

/** The steps that write or clear the retiring record (act.ts writeRetiring/clearRetiring). */
const WRITES_RETIRING: ReadonlySet<Step['kind']> = new Set(['begin-retirement', 'finish-retirement']);

/** Steps that add or remove an etcd member or a machine (rollback does both). */
const RESTARTS_GATE: ReadonlySet<Step['kind']> = new Set([
  'create-replacement',
  'remove-member',
  'terminate',
  'rollback',
]);

/**
 * Steps no second run may ever take at the same time: a member added or removed, a machine launched or terminated, a
 * Machine's deletion started (its drain cannot be undone), a pool's rollout started. The lock reads the Lease before
 * them even while its watch looks healthy (lock-keeper.ts).
 */
const READS_LEASE_FIRST: ReadonlySet<Step['kind']> = new Set([...RESTARTS_GATE, 'start-deletion', 'bump-pool']);

/**
 * A fresh Node read younger than this stands for one before a step that needs it (READS_LEASE_FIRST, a swap's
 * start). One second: the span of a step and the pass after it, the same span by which any fresh read is older than
 * the step it decides; never a fraction of the watch's silence window (node-cache.ts), which a dead watch can hide.
 */
export const FRESH_REUSE_MS = 1_000;

/** Steps that write no Node (etcd only): a fresh Node read from before them still shows our own last Node write. */
const WRITES_NO_NODE: ReadonlySet<Step['kind']> = new Set(['move-leader', 'remove-member']);

/** About a minute at the default poll interval: longer than etcd's 5 s reconfiguration guard. */
const MAX_TRANSIENT_RETRIES = 60;
/** Each adapter marks what looking again may fix (KubeswapError.retryable); the loop does not keep code lists. */
function isTransient(err: unknown): boolean {
  return err instanceof KubeswapError && err.retryable;
}

export function interrupted(): KubeswapError {
  return new KubeswapError('interrupted', 'run.interrupted', 'interrupted', {
    hint: 're-run the same command to resume',
  });
}
