// Polling at our own short interval, for the providers' waits (termination, deregistration): the AWS SDK
// waiters' minimum delay is 15 s, which would put up to 15 s of idle time into every swap.
import { type Clock, systemClock } from './clock.ts';

export interface PollOptions {
  /** Longest pause between checks. */
  intervalMs: number;
  timeoutMs: number;
  /** First pause; pauses double from here up to intervalMs (most transitions finish in well under a second). */
  firstIntervalMs?: number;
  /** Injected in tests (fake time); the system clock otherwise. */
  clock?: Clock;
  /** The run's interrupt: the poll rejects with its reason between checks, at once and not after the pause. */
  signal?: AbortSignal;
}

/**
 * Calls `check` until it returns true; returns false when the timeout passes first. Aborting `signal` rejects with
 * its reason; a check in flight finishes first.
 */
export async function pollUntil(check: () => Promise<boolean>, options: PollOptions): Promise<boolean> {
  const { signal } = options;
  const clock = options.clock ?? systemClock;
  const deadline = clock.now().getTime() + options.timeoutMs;
  let pause = Math.min(options.firstIntervalMs ?? 100, options.intervalMs);
  for (;;) {
    signal?.throwIfAborted();
    if (await check()) return true;
    const left = deadline - clock.now().getTime();
    if (left <= 0) return false;
    await clock.sleep(Math.min(pause, left), signal);
    pause = Math.min(pause * 2, options.intervalMs);
  }
}
