import assert from 'node:assert/strict';
import { Poller } from '../../integration/sandbox/poller.ts';

describe('sandbox Poller', () => {
  it('never runs two passes at once, and reports a failed pass and goes on', async () => {
    let running = 0;
    let most = 0;
    let passes = 0;
    const errors: string[] = [];
    const poller = new Poller(
      async () => {
        running++;
        most = Math.max(most, running);
        passes++;
        await new Promise((r) => setTimeout(r, 25));
        running--;
        if (passes === 1) throw new Error('first pass failed');
      },
      5,
      (err) => errors.push(err.message),
    );
    poller.start();
    await new Promise((r) => setTimeout(r, 150));
    poller.stop();
    await new Promise((r) => setTimeout(r, 40));
    assert.equal(most, 1);
    assert.ok(passes >= 2, `${passes} passes`);
    assert.deepEqual(errors, ['first pass failed']);
  });
});
