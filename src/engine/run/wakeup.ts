// The loop's wait between observations: a poll interval, cut short when the kube port reports a
// change (a Node turned Ready, a static pod became Ready). Waking early only makes the next
// observation earlier; what counts is still decided from a full observation.
import type { Clock } from '../../domain/clock.ts';

const MIN_SLEEP_MS = 50;

export class Wakeup {
  private pending = false;
  private wake?: () => void;

  /** Called by the change watch; a notification while nobody sleeps is kept for the next sleep. */
  readonly notify = (): void => {
    if (this.wake) this.wake();
    else this.pending = true;
  };

  /** Forgets notifications older than the observation about to be made. */
  clear(): void {
    this.pending = false;
  }

  /**
   * Sleeps `ms`, or less if notified, but never less than `floorMs`: a stream of changes must not turn
   * the loop into a busy one. Rejects only when `signal` aborts.
   */
  async sleep(clock: Clock, ms: number, signal?: AbortSignal, floorMs = MIN_SLEEP_MS): Promise<void> {
    const start = clock.now().getTime();
    if (!this.pending) await this.race(clock, ms, signal);
    this.pending = false;
    const floor = floorMs - (clock.now().getTime() - start);
    if (floor > 0) await clock.sleep(floor, signal);
  }

  private async race(clock: Clock, ms: number, signal?: AbortSignal): Promise<void> {
    const cut = new AbortController();
    const both = signal ? AbortSignal.any([signal, cut.signal]) : cut.signal;
    const woken = new Promise<void>((resolve) => {
      this.wake = resolve;
    });
    const slept = clock.sleep(ms, both).catch((err: unknown) => {
      if (signal?.aborted) throw err;
    });
    try {
      await Promise.race([slept, woken]);
    } finally {
      this.wake = undefined;
      cut.abort();
    }
    await slept;
  }
}
