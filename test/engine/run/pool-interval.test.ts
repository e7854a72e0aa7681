import assert from 'node:assert/strict';
import { readProgress } from '../../../src/engine/run/progress.ts';
import { apply } from '../../../src/engine/run/run.ts';
import { APPLY_OPTIONS, TO } from '../builders.ts';
import { FakeWorld } from '../fake-world.ts';

const MIN = 60_000;
const pools = [
  { name: 'blue', maxSurge: 1, maxUnavailable: 0 },
  { name: 'green', maxSurge: 1, maxUnavailable: 0 },
];
const options = { ...APPLY_OPTIONS, pools, poolIntervalMs: 30 * MIN };
const request = { version: TO, force: false };

function world(): FakeWorld {
  return new FakeWorld(['cp-a']).addWorker('w-1', 'blue').addWorker('w-2', 'green');
}

/** The fake clock's sleeps of at least a minute: the --pool-interval pauses (poll waits are a second). */
function recordPauses(w: FakeWorld, killAfterMs?: number): number[] {
  const pauses: number[] = [];
  const sleep = w.clock.sleep;
  let killed = killAfterMs === undefined;
  w.clock.sleep = async (ms, signal) => {
    if (ms < MIN) return sleep(ms, signal);
    pauses.push(ms);
    if (!killed) {
      // kill -9 part-way through the pause: the process is gone, the time went by.
      killed = true;
      w.now += killAfterMs!;
      throw new Error('simulated crash in the pause');
    }
    return sleep(ms, signal);
  };
  return pauses;
}

describe('--pool-interval', () => {
  it('pauses the full interval after the control plane and between pools in one run', async () => {
    const w = world();
    const pauses = recordPauses(w);
    const outcome = await apply(w.ports(), request, options);
    assert.equal(outcome.result, 'done');
    assert.equal(pauses.length, 2, `pauses ${pauses}`);
    // Counted from the last step's end; the addons and the gate passes in between take fake seconds.
    for (const ms of pauses) assert.ok(ms > 29 * MIN && ms <= 30 * MIN, `pause of ${ms} ms`);
    const record = await readProgress(w.kube);
    assert.equal(record?.lastPoolStep?.pool, 'green');
  });

  it('a run resumed after a kill -9 in the pause waits only what is left of it', async () => {
    const w = world();
    // The first pause (after the control plane) is cut short after 4 minutes.
    const first = recordPauses(w, 4 * MIN);
    await assert.rejects(apply(w.ports(), request, options), /simulated crash in the pause/);
    assert.equal(first.length, 1);
    assert.equal((await readProgress(w.kube))?.lastPoolStep?.pool, 'control-plane');
    // The dead process's lock expires.
    w.now += 10 * MIN;
    const pauses = recordPauses(w);
    const outcome = await apply(w.ports(), request, options);
    assert.equal(outcome.result, 'done');
    assert.equal(pauses.length, 2, `pauses ${pauses}`);
    // 30 - 4 - 10 minutes left before blue, less the seconds the re-run's gate took; the full interval before green.
    assert.ok(pauses[0]! > 15 * MIN && pauses[0]! <= 16 * MIN, `resumed pause of ${pauses[0]} ms`);
    assert.ok(pauses[1]! > 29 * MIN, `pause before green of ${pauses[1]} ms`);
    assert.equal(w.machines.filter((m) => m.replaces).length, 3, 'each machine replaced once');
  });

  it('a run resumed long after its last step does not pause at all', async () => {
    const w = world();
    recordPauses(w, 0);
    await assert.rejects(apply(w.ports(), request, options), /simulated crash in the pause/);
    w.now += 45 * MIN;
    const pauses = recordPauses(w);
    const outcome = await apply(w.ports(), request, options);
    assert.equal(outcome.result, 'done');
    assert.equal(pauses.length, 1, 'only the pause before green');
  });
});
