// The providers' polling wait (termination, deregistration, a group's launch) and the run's interrupt.
import assert from 'node:assert/strict';
import { pollUntil } from '../../src/domain/poll.ts';
import { fakeClock } from '../adapters/kube/fake-kube.ts';

describe('pollUntil', () => {
  it('rejects with the signal reason at the pause after an interrupt, without looking again', async () => {
    const clock = fakeClock();
    const interrupt = new AbortController();
    const reason = new Error('interrupted');
    let checks = 0;
    const polled = pollUntil(
      async () => {
        checks++;
        // Ctrl-C arrives while a look is in flight: that look finishes, the wait ends before the next.
        interrupt.abort(reason);
        return false;
      },
      { intervalMs: 2000, timeoutMs: 600_000, clock, signal: interrupt.signal },
    );
    await assert.rejects(polled, (err) => err === reason);
    assert.equal(checks, 1);
    assert.deepEqual(clock.slept, []);
  });

  it('does not start when the run is interrupted already', async () => {
    const interrupt = new AbortController();
    interrupt.abort(new Error('interrupted'));
    let checks = 0;
    await assert.rejects(
      pollUntil(async () => ++checks > 0, { intervalMs: 10, timeoutMs: 1000, signal: interrupt.signal }),
      /interrupted/,
    );
    assert.equal(checks, 0);
  });
});
