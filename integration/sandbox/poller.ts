// The sandbox's controllers (machine simulator, infrastructure provider) reconcile by polling: one pass every
// interval, never two at once (a slow pass skips ticks instead of piling up), a failed pass logged and retried on
// the next tick.
export class Poller {
  private timer?: NodeJS.Timeout;
  private running = false;

  constructor(
    private readonly pass: () => Promise<void>,
    private readonly intervalMs: number,
    private readonly onError: (err: Error) => void,
  ) {}

  start(): void {
    this.timer = setInterval(() => void this.tick(), this.intervalMs);
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }

  private async tick(): Promise<void> {
    if (this.running) return;
    this.running = true;
    try {
      await this.pass();
    } catch (err) {
      this.onError(err as Error);
    } finally {
      this.running = false;
    }
  }
}
