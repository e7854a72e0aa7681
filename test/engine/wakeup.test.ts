import assert from 'node:assert/strict';
import { systemClock } from '../../src/domain/clock.ts';
import { DEFAULT_ENGINE_OPTIONS } from '../../src/engine/ports.ts';
import { apply } from '../../src/engine/run/run.ts';
import { Wakeup } from '../../src/engine/run/wakeup.ts';
import { TO } from './builders.ts';
import { FakeWorld } from './fake-world.ts';

const elapsed = async (fn: () => Promise<void>) => {
  const start = performance.now();
  await fn();
  return performance.now() - start;
};

describe('Wakeup', () => {
  it('cuts a sleep short when notified, after the floor', async () => {
    const w = new Wakeup();
    setTimeout(w.notify, 20);
    const ms = await elapsed(() => w.sleep(systemClock, 5000, undefined, 60));
    assert.ok(ms >= 55 && ms < 1000, `woke after ${ms} ms`);
  });

  it('keeps a notification made while nobody slept, and clear() forgets it', async () => {
    const w = new Wakeup();
    w.notify();
    assert.ok((await elapsed(() => w.sleep(systemClock, 5000, undefined, 10))) < 1000);
    w.notify();
    w.clear();
    assert.ok((await elapsed(() => w.sleep(systemClock, 150, undefined, 10))) >= 140);
  });

  it('rejects when the run is interrupted', async () => {
    const w = new Wakeup();
    const stop = new AbortController();
    setTimeout(() => stop.abort(new Error('interrupted')), 20);
    await assert.rejects(w.sleep(systemClock, 5000, stop.signal), /interrupted/);
  });
});

describe('converge with change notifications', () => {
  it('does not let a stream of wake-ups shorten the gate: passes stay a poll interval apart', async () => {
    const world = new FakeWorld(['cp-a', 'cp-b', 'cp-c']);
    const ports = world.ports();
    // Every Node list "changed something": the loop is woken before every single sleep.
    let notify = () => {};
    ports.kube = {
      ...ports.kube,
      watchChanges: (onChange) => {
        notify = onChange;
        return () => {};
      },
      listNodes: async () => {
        const nodes = await world.kube.listNodes();
        notify();
        return nodes;
      },
    };
    const options = { ...DEFAULT_ENGINE_OPTIONS, gatePasses: 3, pollIntervalMs: 1000, snapshotDir: '/tmp' };
    const outcome = await apply(ports, { version: TO, force: false }, options);
    assert.equal(outcome.swaps, 3);
    const events = world.log.events;
    for (const created of events.filter((e) => e.code === 'replacement.created')) {
      const next = events.find(
        (e) => e.code === 'plan.step' && Date.parse(e.at) > Date.parse(created.at) && e.data?.['step'] !== undefined,
      )!;
      const gap = Date.parse(next.at) - Date.parse(created.at);
      assert.ok(gap >= 2 * 900, `join to next step took ${gap} ms; 3 passes need >= 2 intervals`);
    }
  });
});

describe('converge with a watched Node cache', () => {
  it('starts each swap, removes each member and terminates each machine only from Nodes read afresh, never from the cache alone (a watch may die silently)', async () => {
    const world = new FakeWorld(['cp-a', 'cp-b', 'cp-c']);
    const ports = world.ports();
    const order: string[] = [];
    ports.kube = {
      ...ports.kube,
      watchChanges: () => () => {},
      listNodes: async (options) => {
        order.push(options?.fresh ? 'fresh' : 'cached');
        return world.kube.listNodes();
      },
    };
    const emit = ports.emit;
    ports.emit = (event) => {
      if (event.code === 'plan.step') order.push(`step ${String(event.data?.['step'])}`);
      emit(event);
    };
    const options = { ...DEFAULT_ENGINE_OPTIONS, gatePasses: 2, pollIntervalMs: 1000, snapshotDir: '/tmp' };
    const outcome = await apply(ports, { version: TO, force: false }, options);
    assert.equal(outcome.swaps, 3);
    const irreversible = new Set(['step create-replacement', 'step remove-member', 'step terminate']);
    const starts = order.flatMap((o, i) => (irreversible.has(o) ? [i] : []));
    assert.equal(starts.length, 9);
    for (const i of starts) {
      const read = order.slice(0, i).findLast((o) => o === 'fresh' || o === 'cached');
      assert.equal(
        read,
        'fresh',
        `the Node read before a swap's first step: ${order.slice(Math.max(0, i - 4), i + 1)}`,
      );
    }
    assert.ok(order.filter((o) => o === 'cached').length > order.filter((o) => o === 'fresh').length);
  });
});
