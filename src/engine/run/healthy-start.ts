// Nothing in the cluster changes until the gate has held N consecutive passes (design.md "Safety
// rules"): a cluster that is already unhealthy is refused, bounded by --gate-timeout, with every
// unhealthy machine and component named, instead of being changed and then waited on for ever.
import { KubeswapError } from '../../domain/errors.ts';
import type { Desired } from '../../domain/model.ts';
import { observe } from '../observe/observe.ts';
import type { Snapshot } from '../observe/snapshot.ts';
import type { GateResult } from '../plan/gate.ts';
import { gateFor } from '../plan/swaps.ts';
import type { EngineOptions, Ports } from '../ports.ts';
import { interrupted } from './converge.ts';
import { GateStreak } from './gate-streak.ts';
import { type readRetiring, retiringReader } from './retiring.ts';

export interface HealthyStartOptions {
  desired: Desired;
  /** exit class when the gate never holds: `blocked` (2) when this upgrade changed nothing yet, else `needs-person`. */
  failure: 'blocked' | 'needs-person';
  signal?: AbortSignal;
  /** The retiring record, read once under the lock for these passes and the loop's first (run.ts). */
  retiring?: () => ReturnType<typeof readRetiring>;
  /** Each pass's Nodes, read from the API server: the loop's first pass may stand on the last (converge.ts). */
  onFreshNodes?: (read: { at: number; nodes: Snapshot['nodes'] }) => void;
}

/**
 * Returns the streak it counted: the loop goes on counting it (run.ts), since what comes in between (the etcd
 * snapshot, the provider's run-wide changes, kubeadm-config and kubelet config) adds or removes no member or machine,
 * the only changes after which the gate must hold anew (design.md "Safety rules").
 */
export async function awaitHealthyStart(
  ports: Ports,
  options: Pick<EngineOptions, 'gatePasses' | 'gateTimeoutMs' | 'pollIntervalMs'>,
  start: HealthyStartOptions,
): Promise<GateStreak> {
  const emit = (code: 'wait' | 'gate.passed', message: string, reason?: string) =>
    ports.emit({
      code,
      at: ports.clock.now().toISOString(),
      level: 'info',
      message,
      data: reason ? { reason } : undefined,
    });
  const deadline = ports.clock.now().getTime() + options.gateTimeoutMs;
  const streaks = new GateStreak(options.pollIntervalMs);
  const withTargets = ports.provider.loadBalancer !== undefined;
  let last: GateResult | undefined;
  let lastError: string | undefined;
  let lastReported = '';
  // The retiring record is written only by a run's own steps (act.ts), and this one holds the lock and has taken
  // none yet: read once for all the passes (a failed read is tried again).
  const readRetiringOnce = start.retiring ?? retiringReader(ports.kube).read;
  for (;;) {
    const at = ports.clock.now().getTime();
    try {
      const snapshot = await observe(ports, {
        withTargets,
        desired: start.desired,
        retiring: readRetiringOnce,
        // The gate judges the control plane alone; a workers-only run's loop does not start from this read.
        freshNodes: 'control-plane',
      });
      start.onFreshNodes?.({ at: snapshot.at.getTime(), nodes: snapshot.nodes });
      last = gateFor(snapshot);
      lastError = undefined;
    } catch (err) {
      last = undefined;
      lastError = (err as Error).message;
      // A pass that could not look breaks the run of healthy passes: ok, error, ok is not two in a row.
      streaks.restart();
    }
    const streak = last ? streaks.observe(last, at) : 0;
    if (last?.ok && streak >= options.gatePasses) {
      emit('gate.passed', `health gate passed ${streak} consecutive times before the first change`);
      return streaks;
    }
    const why = last ? last.reasons.join('; ') || `passed ${streak} of ${options.gatePasses} times` : lastError!;
    if (ports.clock.now().getTime() >= deadline) throw unhealthy(start.failure, last, lastError, options.gateTimeoutMs);
    if (why !== lastReported)
      emit('wait', `waiting for a healthy cluster before the first change: ${why}`, 'gate.start');
    lastReported = why;
    await ports.clock
      .sleep(Math.max(0, at + options.pollIntervalMs - ports.clock.now().getTime()), start.signal)
      .catch((err: unknown) => {
        throw start.signal?.aborted ? interrupted() : err;
      });
  }
}

function unhealthy(
  failure: HealthyStartOptions['failure'],
  gate: GateResult | undefined,
  error: string | undefined,
  timeoutMs: number,
): KubeswapError {
  const reasons = gate?.reasons.length ? gate.reasons : [error ?? 'the gate did not hold long enough'];
  const problems = reasons.map((message) => ({ code: 'gate.unhealthy', message }));
  return new KubeswapError(
    failure,
    'gate.unhealthy',
    `the cluster did not stay healthy for ${Math.round(timeoutMs / 1000)} s before the first change:\n${reasons.map((r) => `  - ${r}`).join('\n')}`,
    {
      problems,
      hint:
        failure === 'blocked'
          ? 'nothing was changed; restore the machines and components named above, then re-run (or raise --gate-timeout)'
          : 'the run stopped between swaps; restore the machines and components named above and re-run to continue',
    },
  );
}
