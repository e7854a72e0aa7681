import assert from 'node:assert/strict';
import { type CapiPort, retryingCapiPort } from '../../../providers/cluster-api/capi-port.ts';
import { KubeswapError } from '../../../src/domain/errors.ts';

const failure = (retryable: boolean, message: string) =>
  new KubeswapError('internal', 'cluster-api.request-failed', message, { source: 'environment', retryable });

/** A port whose `list` fails with the given errors, in turn, before it answers. */
function flaky(errors: KubeswapError[]): { port: CapiPort; calls: () => number } {
  let calls = 0;
  const port = {
    list: async () => {
      const err = errors[calls++];
      if (err) throw err;
      return [];
    },
  } as unknown as CapiPort;
  return { port, calls: () => calls };
}

describe('cluster-api management port retries', () => {
  const fast = { minTimeout: 0, maxTimeout: 0, randomize: false };

  it('repeats a call the management cluster throttled (429) or dropped, until it answers', async () => {
    const { port, calls } = flaky([
      failure(true, 'failed to list Machine in default: HTTP 429'),
      failure(true, 'fetch failed'),
    ]);
    assert.deepEqual(await retryingCapiPort(port, fast).list('v', 'Machine', 's'), []);
    assert.equal(calls(), 3);
  });

  it('passes a failure looking again cannot fix on at once', async () => {
    const { port, calls } = flaky([failure(false, 'failed to list Machine in default: HTTP 403')]);
    await assert.rejects(retryingCapiPort(port, fast).list('v', 'Machine', 's'), /HTTP 403/);
    assert.equal(calls(), 1);
  });

  it('gives up after its last attempt with the last error', async () => {
    const { port, calls } = flaky(Array.from({ length: 9 }, (_, i) => failure(true, `HTTP 503 (${i})`)));
    await assert.rejects(retryingCapiPort(port, { ...fast, retries: 2 }).list('v', 'Machine', 's'), /HTTP 503 \(2\)/);
    assert.equal(calls(), 3);
  });
});
