// Polling at our own short interval, for the providers' waits (termination, deregistration): the AWS SDK
// waiters' minimum delay is 15 s, which would put up to 15 s of idle time into every swap.
import { setTimeout as sleep } from 'node:timers/promises';

export interface PollOptions {
  /** Longest pause between checks. */
  intervalMs: number;
  timeoutMs: number;
  /** First pause; pauses double from here up to intervalMs (most transitions finish in well under a second). */
  firstIntervalMs?: number;
}

/** Calls `check` until it returns true; returns false when the timeout passes first. */
export async function pollUntil(check: () => Promise<boolean>, options: PollOptions): Promise<boolean> {
  const deadline = Date.now() + options.timeoutMs;
  let pause = Math.min(options.firstIntervalMs ?? 100, options.intervalMs);
  for (;;) {
    if (await check()) return true;
    const left = deadline - Date.now();
    if (left <= 0) return false;
    await sleep(Math.min(pause, left));
    pause = Math.min(pause * 2, options.intervalMs);
  }
}
