import assert from 'node:assert/strict';
import sinon from 'sinon';
import { KUBE_RETRY, retryingOnLostConnections } from '../../../src/adapters/kube/client.ts';
import { KubeAuthError, KubeError, KubeUnavailableError } from '../../../src/adapters/kube/errors.ts';
import type { KubePort } from '../../../src/ports/kube.ts';

const NO_PAUSE = { minTimeout: 0 };

/** A port whose serverVersion throws the given errors in turn, then answers. */
function failing(errors: Error[]): { port: KubePort; calls: () => number } {
  let calls = 0;
  const port = {
    serverVersion: async () => {
      const err = errors[calls++];
      if (err) throw err;
      return 'v1.37.2';
    },
  } as unknown as KubePort;
  return { port, calls: () => calls };
}

const lost = () => new KubeUnavailableError('other side closed', { message: 'closed', network: 'UND_ERR_SOCKET' });
const throttled = () => new KubeUnavailableError('too many requests', { code: 429, message: 'throttled' });

describe('kube port retries on lost connections', () => {
  it('reconnects and repeats a call whose connection died', async () => {
    const { port: inner, calls } = failing([lost(), lost()]);
    let reconnects = 0;
    const port = retryingOnLostConnections(inner, () => reconnects++, { ...NO_PAUSE, retries: 3 });
    assert.equal(await port.serverVersion(), 'v1.37.2');
    assert.deepEqual([calls(), reconnects], [3, 2]);
  });

  it('repeats a 5xx answer after reconnecting', async () => {
    const { port: inner, calls } = failing([
      new KubeUnavailableError('etcdserver: leader changed', { code: 500, message: 'x' }),
    ]);
    let reconnects = 0;
    const port = retryingOnLostConnections(inner, () => reconnects++, NO_PAUSE);
    assert.equal(await port.serverVersion(), 'v1.37.2');
    assert.deepEqual([calls(), reconnects], [2, 1]);
  });

  it('repeats a throttled (429) call without dropping the connection', async () => {
    const { port: inner, calls } = failing([throttled()]);
    let reconnects = 0;
    const port = retryingOnLostConnections(inner, () => reconnects++, { ...NO_PAUSE, retries: 2 });
    assert.equal(await port.serverVersion(), 'v1.37.2');
    assert.deepEqual([calls(), reconnects], [2, 0]);
  });

  it('gives up after the last retry and passes the error on, without reconnecting for an attempt that never comes', async () => {
    const { port: inner, calls } = failing([lost(), lost(), lost(), lost()]);
    let reconnects = 0;
    const port = retryingOnLostConnections(inner, () => reconnects++, { ...NO_PAUSE, retries: 2 });
    await assert.rejects(port.serverVersion(), (err: unknown) => err instanceof KubeUnavailableError);
    assert.deepEqual([calls(), reconnects], [3, 2]);
  });

  it('retries: 0 makes one attempt only', async () => {
    const { port: inner, calls } = failing([lost(), lost()]);
    const port = retryingOnLostConnections(inner, () => assert.fail('no reconnect'), { retries: 0 });
    await assert.rejects(port.serverVersion(), /other side closed/);
    assert.equal(calls(), 1);
  });

  for (const [what, err] of [
    ['an authorization refusal (403)', new KubeAuthError('forbidden', { code: 403, message: 'forbidden' })],
    ['rejected credentials (401)', new KubeAuthError('unauthorized', { code: 401, message: 'unauthorized' })],
    ['bad input (400)', new KubeError('bad request', { code: 400, reason: 'BadRequest', message: 'bad' })],
    ['an invalid object (422)', new KubeError('invalid', { code: 422, reason: 'Invalid', message: 'invalid' })],
    ['a missing object (404)', new KubeError('not found', { code: 404, reason: 'NotFound', message: 'gone' })],
    ['a conflict (409)', new KubeError('conflict', { code: 409, reason: 'Conflict', message: 'conflict' })],
    ['a programming error', new TypeError('cannot read properties of undefined')],
    ['another error', new Error('something else')],
  ] as const) {
    it(`does not repeat a call that failed with ${what}`, async () => {
      const { port: inner, calls } = failing([err, err]);
      const port = retryingOnLostConnections(inner, () => assert.fail('no reconnect'), NO_PAUSE);
      await assert.rejects(port.serverVersion(), (thrown: unknown) => thrown === err);
      assert.equal(calls(), 1);
    });
  }

  describe('default schedule', () => {
    let clock: sinon.SinonFakeTimers;
    beforeEach(() => {
      clock = sinon.useFakeTimers();
    });
    afterEach(() => clock.restore());

    it('makes 4 attempts, pausing 0.2 s, 0.8 s and 3 s between them', async () => {
      assert.deepEqual(KUBE_RETRY, { retries: 3, minTimeout: 200, factor: 4, maxTimeout: 3000 });
      const at: number[] = [];
      const port = retryingOnLostConnections(
        {
          serverVersion: async () => {
            at.push(Date.now());
            throw lost();
          },
        } as unknown as KubePort,
        () => {},
      );
      const outcome = port.serverVersion().then(
        () => assert.fail('should fail'),
        (err: unknown) => err,
      );
      await clock.tickAsync(10_000);
      assert.ok((await outcome) instanceof KubeUnavailableError);
      assert.deepEqual(
        at.map((t, i) => t - (at[i - 1] ?? t)),
        [0, 200, 800, 3000],
      );
    });
  });

  it('passes non-function members (close) and results through unchanged', async () => {
    let closed = 0;
    const port = retryingOnLostConnections(
      { serverVersion: async () => 'v1', close: () => closed++ } as unknown as KubePort,
      () => {},
    );
    port.close();
    assert.equal(closed, 1);
    assert.equal(await port.serverVersion(), 'v1');
  });
});
