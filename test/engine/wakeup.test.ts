import assert from 'node:assert/strict';
import { systemClock } from '../../src/domain/clock.ts';
import { DEFAULT_ENGINE_OPTIONS } from '../../src/engine/ports.ts';
import { FRESH_REUSE_MS } from '../../src/engine/run/converge.ts';
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
  it('starts each swap, removes each member and terminates each machine only from Nodes read afresh (younger than FRESH_REUSE_MS, no Node written since), never from the cache alone (a watch may die silently)', async () => {
    const world = new FakeWorld(['cp-a', 'cp-b', 'cp-c']);
    const ports = world.ports();
    const order: { what: string; at: number }[] = [];
    const now = () => ports.clock.now().getTime();
    ports.kube = {
      ...ports.kube,
      watchChanges: () => () => {},
      listNodes: async (options) => {
        order.push({ what: options?.fresh ? 'fresh' : 'cached', at: now() });
        return world.kube.listNodes();
      },
    };
    const emit = ports.emit;
    ports.emit = (event) => {
      if (event.code === 'plan.step') order.push({ what: `step ${String(event.data?.['step'])}`, at: now() });
      emit(event);
    };
    const options = { ...DEFAULT_ENGINE_OPTIONS, gatePasses: 2, pollIntervalMs: 1000, snapshotDir: '/tmp' };
    const outcome = await apply(ports, { version: TO, force: false }, options);
    assert.equal(outcome.swaps, 3);
    const irreversible = new Set(['step create-replacement', 'step remove-member', 'step terminate']);
    const starts = order.flatMap((o, i) => (irreversible.has(o.what) ? [i] : []));
    assert.equal(starts.length, 9);
    for (const i of starts) {
      const from = order.slice(0, i).findLastIndex((o) => o.what === 'fresh');
      const since = order.slice(from + 1, i);
      const context = order.slice(Math.max(0, i - 5), i + 1).map((o) => o.what);
      assert.ok(from >= 0 && order[i]!.at - order[from]!.at < FRESH_REUSE_MS, `no fresh read just before: ${context}`);
      // Between that read and the step: passes on the cache only when a step that writes no Node came between (the
      // member's removal before the termination, whose pass took the fresh read's Nodes).
      const stepsSince = since.filter((o) => o.what.startsWith('step ')).map((o) => o.what);
      assert.ok(
        stepsSince.every((x) => x === 'step remove-member' || x === 'step move-leader'),
        `a Node written since the fresh read: ${context}`,
      );
      if (stepsSince.length === 0)
        assert.ok(!since.some((o) => o.what === 'cached'), `planned from the cache: ${context}`);
    }
    // The termination right after the member's removal takes that pass's fresh read: per swap, the reads before its
    // start, before the removal and after its end (the pass that may start the next), not a fourth before termination;
    // the first swap's start stands on the start gate's last read (2 passes, before the loop watches); and the
    // verification's, which reads every Node from the API server, not from the run's cache.
    assert.equal(order.filter((o) => o.what === 'fresh').length, 2 + 9 - 1 + 1);
    assert.ok(order.filter((o) => o.what === 'cached').length > order.filter((o) => o.what === 'fresh').length);
  });

  it('keeps one watched cache from the start gate to the end of the run: each loop subscribes, none starts its own', async () => {
    const world = new FakeWorld(['cp-a', 'cp-b', 'cp-c']);
    const ports = world.ports();
    const trace: string[] = [];
    let active = 0;
    ports.kube = {
      ...ports.kube,
      watchChanges: () => {
        trace.push(active === 0 ? 'cache started' : 'subscribed');
        active++;
        return () => {
          active--;
          trace.push(active === 0 ? 'cache stopped' : 'unsubscribed');
        };
      },
      listNodes: async (options) => {
        if (options?.fresh === 'control-plane' && !trace.includes('start gate read')) trace.push('start gate read');
        return world.kube.listNodes();
      },
    };
    const options = { ...DEFAULT_ENGINE_OPTIONS, gatePasses: 2, pollIntervalMs: 1000, snapshotDir: '/tmp' };
    assert.equal((await apply(ports, { version: TO, force: false }, options)).swaps, 3);
    assert.deepEqual(
      trace.filter((t) => t !== 'subscribed' && t !== 'unsubscribed'),
      ['cache started', 'start gate read', 'cache stopped'],
      'one cache, started before the start gate reads and stopped once, at the end',
    );
    assert.ok(trace.includes('subscribed'), 'the loop subscribed to it');
  });

  it('reads the Nodes afresh again before a termination when the fresh read before the member removal is older than FRESH_REUSE_MS', async () => {
    const world = new FakeWorld(['cp-a']);
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
    // The member's removal takes 2 s (a slow etcd): the read before it no longer stands for one now.
    const removeMember = ports.etcd.removeMember;
    ports.etcd.removeMember = async (id) => {
      await ports.clock.sleep(2 * FRESH_REUSE_MS);
      return removeMember(id);
    };
    const emit = ports.emit;
    ports.emit = (event) => {
      if (event.code === 'plan.step') order.push(`step ${String(event.data?.['step'])}`);
      emit(event);
    };
    const options = { ...DEFAULT_ENGINE_OPTIONS, gatePasses: 2, pollIntervalMs: 1000, snapshotDir: '/tmp' };
    await apply(ports, { version: TO, force: false }, options);
    const terminate = order.indexOf('step terminate');
    assert.equal(
      order.slice(0, terminate).findLast((o) => o === 'fresh' || o === 'cached'),
      'fresh',
    );
    assert.ok(order.slice(order.indexOf('step remove-member'), terminate).includes('fresh'));
  });
});
