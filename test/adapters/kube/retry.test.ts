import assert from 'node:assert/strict';
import { retryingOnLostConnections } from '../../../src/adapters/kube/client.ts';
import { KubeAuthError, KubeUnavailableError } from '../../../src/adapters/kube/errors.ts';
import type { KubePort } from '../../../src/ports/kube.ts';

describe('kube port retries on lost connections', () => {
  it('reconnects and repeats a call whose connection died', async () => {
    let calls = 0;
    let reconnects = 0;
    const port = retryingOnLostConnections(
      {
        serverVersion: async () => {
          calls++;
          if (calls < 3)
            throw new KubeUnavailableError('other side closed', { message: 'closed', network: 'UND_ERR_SOCKET' });
          return 'v1.37.2';
        },
      } as unknown as KubePort,
      () => reconnects++,
      [0, 0, 0],
    );
    assert.equal(await port.serverVersion(), 'v1.37.2');
    assert.deepEqual([calls, reconnects], [3, 2]);
  });

  it('repeats a throttled (429) call without dropping the connection', async () => {
    let calls = 0;
    let reconnects = 0;
    const port = retryingOnLostConnections(
      {
        serverVersion: async () => {
          if (++calls < 2) throw new KubeUnavailableError('too many requests', { code: 429, message: 'throttled' });
          return 'v1.37.2';
        },
      } as unknown as KubePort,
      () => reconnects++,
      [0, 0],
    );
    assert.equal(await port.serverVersion(), 'v1.37.2');
    assert.deepEqual([calls, reconnects], [2, 0]);
  });

  it('gives up after the last delay and passes the error on', async () => {
    const port = retryingOnLostConnections({
      serverVersion: async () =>
        Promise.reject(new KubeUnavailableError('down', { message: 'down', network: 'ECONNREFUSED' })),
    } as unknown as KubePort, () => {}, [0, 0]);
    await assert.rejects(port.serverVersion(), /down/);
  });

  it('does not repeat a call the server refused for authorization', async () => {
    let calls = 0;
    const port = retryingOnLostConnections({
      serverVersion: async () => {
        calls++;
        throw new KubeAuthError('forbidden', { code: 403, message: 'forbidden' });
      },
    } as unknown as KubePort, () => {}, [0, 0]);
    await assert.rejects(port.serverVersion(), /forbidden/);
    assert.equal(calls, 1);
  });
});
