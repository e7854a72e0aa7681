// Availability measured while apply runs (issue 13 §2): a probe through the cluster's endpoint at a light rate, its
// figures per swap (from swap.started to swap.finished or a rollback) and for the run, carried by events.
import {
  type AvailabilityStats,
  availabilitySeries,
  describeAvailability,
  type ProbeSample,
  summarizeAvailability,
} from '../../domain/availability.ts';
import type { EventSink } from '../../domain/events.ts';
import type { ApiProbePort } from '../../ports/probe.ts';
import type { Ports } from '../ports.ts';

export class AvailabilityMeter {
  readonly samples: ProbeSample[] = [];
  private stopped = false;
  private loop?: Promise<void>;
  private readonly abort = new AbortController();

  constructor(
    private readonly probe: ApiProbePort,
    private readonly clock: Ports['clock'],
    private readonly intervalMs: number,
  ) {}

  start(): this {
    this.loop = (async () => {
      while (!this.stopped) {
        const at = this.clock.now().getTime();
        try {
          await this.probe.probe();
          this.samples.push({ at, ok: true, latencyMs: this.clock.now().getTime() - at });
        } catch (err) {
          const error = err instanceof Error ? err.message : String(err);
          this.samples.push({ at, ok: false, latencyMs: this.clock.now().getTime() - at, error });
        }
        await this.clock.sleep(this.intervalMs, this.abort.signal).catch(() => {});
      }
    })();
    return this;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.abort.abort();
    await this.loop;
  }

  stats(from: number, to: number): AvailabilityStats {
    return summarizeAvailability(this.samples, from, to);
  }
}

/**
 * Runs `body` (apply) with the meter on: each swap's figures are emitted when it ends (availability.swap), the run's
 * when it ends (availability.run) if any swap started. Without a probe, or with interval 0, `body` runs alone.
 */
export async function withAvailability<T>(
  ports: Ports,
  intervalMs: number,
  body: (ports: Ports) => Promise<T>,
): Promise<T> {
  if (!ports.probe || intervalMs <= 0) return body(ports);
  const started = ports.clock.now().getTime();
  const meter = new AvailabilityMeter(ports.probe, ports.clock, intervalMs).start();
  const swaps = new Map<string, number>();
  let swapped = false;
  const emitStats = (code: 'availability.swap' | 'availability.run', from: number, machine?: string) => {
    const to = ports.clock.now().getTime();
    const stats = meter.stats(from, to);
    ports.emit({
      code,
      at: new Date(to).toISOString(),
      level: stats.failed > 0 ? 'warn' : 'info',
      message: `${machine ? `during the swap of ${machine}` : 'during the run'}: ${describeAvailability(stats)}`,
      ...(machine ? { machine } : {}),
      data: {
        ...stats,
        from: new Date(from).toISOString(),
        to: new Date(to).toISOString(),
        // The run's figures over time, for the report's chart (bounded: at most 30 buckets, so a chart's labels stay legible).
        ...(machine ? {} : { series: availabilitySeries(meter.samples, from, to) }),
      },
    });
  };
  const emit: EventSink = (event) => {
    ports.emit(event);
    const machine = event.machine ?? '';
    if (event.code === 'swap.started') {
      swapped = true;
      swaps.set(machine, Date.parse(event.at));
    } else if ((event.code === 'swap.finished' || event.code === 'replacement.rolled-back') && swaps.has(machine)) {
      emitStats('availability.swap', swaps.get(machine)!, machine || undefined);
      swaps.delete(machine);
    }
  };
  try {
    return await body({ ...ports, emit, availability: () => meter.stats(started, ports.clock.now().getTime()) });
  } finally {
    await meter.stop();
    if (swapped) emitStats('availability.run', started);
  }
}
