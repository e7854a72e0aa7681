import assert from 'node:assert/strict';
import { markdownAvailability } from '../../../src/cli/render/availability.ts';
import { summarizeAvailability } from '../../../src/domain/availability.ts';
import type { Clock } from '../../../src/domain/clock.ts';
import { EventLog } from '../../../src/domain/events.ts';
import type { Ports } from '../../../src/engine/ports.ts';
import { withAvailability } from '../../../src/engine/run/availability.ts';

/** A clock whose sleeps advance time at once; each probe takes `latencyMs` of it. */
function fakeClock(start = 1_000_000): Clock & { t: number } {
  const clock = {
    t: start,
    now: () => new Date(clock.t),
    sleep: async (ms: number, signal?: AbortSignal) => {
      if (signal?.aborted) throw signal.reason;
      clock.t += ms;
      await new Promise((r) => setImmediate(r));
    },
  };
  return clock;
}

describe('availability measured during apply', () => {
  it('counts failures, the longest time without an answer, and latency percentiles', () => {
    const samples = [
      { at: 0, ok: true, latencyMs: 10 },
      { at: 250, ok: true, latencyMs: 30 },
      { at: 500, ok: false, latencyMs: 2000, error: 'ECONNRESET' },
      { at: 2750, ok: true, latencyMs: 20 },
      { at: 3000, ok: true, latencyMs: 100 },
    ];
    const stats = summarizeAvailability(samples, 0, 3200);
    assert.deepEqual(
      [stats.requests, stats.failed, stats.longestGapMs, stats.p50Ms, stats.p99Ms],
      [5, 1, 2770 - 280, 20, 100],
    );
    assert.match(stats.failures[0]!, /ECONNRESET/);
    assert.equal(summarizeAvailability(samples, 2700, 3200).failed, 0, 'only the window counts');
  });

  it('a window that ends in failures has its gap run to its end', () => {
    const stats = summarizeAvailability(
      [
        { at: 0, ok: true, latencyMs: 0 },
        { at: 100, ok: false, latencyMs: 0 },
      ],
      0,
      5000,
    );
    assert.equal(stats.longestGapMs, 5000);
  });

  it('emits the figures of each swap when it ends and of the run, from a probe beside the run', async () => {
    const clock = fakeClock();
    const log = new EventLog();
    let calls = 0;
    const probe = {
      probe: async () => {
        calls++;
        clock.t += 5;
        if (calls === 3) throw new Error('connection refused');
      },
      close: () => {},
    };
    const ports = { clock, emit: log.sink, probe } as unknown as Ports;
    const event = (code: 'swap.started' | 'swap.finished', machine: string) => ({
      code,
      at: clock.now().toISOString(),
      level: 'info' as const,
      message: code,
      machine,
    });
    await withAvailability(ports, 100, async (p) => {
      p.emit(event('swap.started', 'cp-a'));
      for (let i = 0; i < 10; i++) await clock.sleep(100);
      p.emit(event('swap.finished', 'cp-a'));
      return 'done';
    });
    const swap = log.events.find((e) => e.code === 'availability.swap');
    const run = log.events.find((e) => e.code === 'availability.run');
    assert.equal(swap?.machine, 'cp-a');
    assert.ok(Number(run?.data?.['requests']) >= 3, JSON.stringify(run));
    assert.equal(run?.data?.['failed'], 1);
    assert.equal(run?.level, 'warn');
    assert.match(markdownAvailability(log.events), /\| swap of cp-a \|.*\n\| \*\*whole run\*\* \|/);
  });

  it('measures nothing when no swap started (a refusal, a dry run) or without a probe', async () => {
    const log = new EventLog();
    const probe = { probe: async () => {}, close: () => {} };
    await withAvailability({ clock: fakeClock(), emit: log.sink, probe } as unknown as Ports, 100, async () => 1);
    await withAvailability({ clock: fakeClock(), emit: log.sink } as unknown as Ports, 100, async () => 1);
    assert.deepEqual(log.codes(), []);
  });
});
