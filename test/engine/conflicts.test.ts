import assert from 'node:assert/strict';
import { CONFLICT_RETRY, retryOnConflict } from '../../src/engine/conflicts.ts';
import { PROGRESS_CONFIGMAP, type ProgressRecord, readProgress, writeProgress } from '../../src/engine/run/progress.ts';
import { type ConfigMapView, ConflictError, type KubePort } from '../../src/ports/kube.ts';
import { FakeWorld } from './fake-world.ts';

describe('retry on conflict (read-modify-write)', () => {
  it('follows client-go retry.DefaultRetry: 5 attempts in all', () => {
    assert.equal(CONFLICT_RETRY.retries + 1, 5);
  });

  it('calls again after a conflict, and returns what the write returned', async () => {
    let calls = 0;
    const result = await retryOnConflict(async () => {
      if (++calls < 3) throw new ConflictError('changed since read');
      return 'written';
    });
    assert.deepEqual([result, calls], ['written', 3]);
  });

  it('passes any other error on at once', async () => {
    let calls = 0;
    const denied = new Error('forbidden');
    await assert.rejects(
      retryOnConflict(async () => {
        calls++;
        throw denied;
      }, 'exhausted'),
      (err) => err === denied,
    );
    assert.equal(calls, 1);
  });

  it('gives up after 5 conflicts: the given message with the conflict as cause, or the conflict itself', async () => {
    let calls = 0;
    const always = async () => {
      calls++;
      throw new ConflictError('changed since read');
    };
    await assert.rejects(retryOnConflict(always, 'could not write X after 5 conflicts'), (err: Error) => {
      assert.equal(err.message, 'could not write X after 5 conflicts');
      assert.ok(err.cause instanceof ConflictError);
      return true;
    });
    assert.equal(calls, 5);
    await assert.rejects(retryOnConflict(always), (err) => err instanceof ConflictError);
    assert.equal(calls, 10);
  });
});

describe('progress record writes', () => {
  const record: ProgressRecord = {
    runId: 'r1',
    version: 'v1.37.2',
    imageId: 'ami-new',
    state: 'running',
    startedAt: '2026-06-01T00:00:00Z',
    updatedAt: '2026-06-01T00:00:00Z',
    last: 'started',
    machines: {},
  };

  it('re-reads the record after a conflict and writes over the newer version', async () => {
    const world = new FakeWorld(['cp-a']);
    const first = await writeProgress(world.kube, record);
    assert.equal(first, undefined, 'created');
    const stale = await world.kube.getConfigMap('kube-system', PROGRESS_CONFIGMAP);
    // Someone else writes in between: our copy's resourceVersion is stale.
    await world.kube.replaceConfigMap({ ...stale!, data: { progress: '{}' } });
    const written = await writeProgress(world.kube, { ...record, last: 'second' }, stale as ConfigMapView);
    assert.ok(written);
    assert.equal((await readProgress(world.kube))?.last, 'second');
  });

  it('reads the record another writer created meanwhile, then replaces it', async () => {
    const world = new FakeWorld(['cp-a']);
    let gets = 0;
    const kube: KubePort = {
      ...world.kube,
      // The first read finds nothing; the create then answers "exists" (someone created it meanwhile).
      getConfigMap: async (namespace, name) => (gets++ === 0 ? undefined : world.kube.getConfigMap(namespace, name)),
    };
    await writeProgress(world.kube, { ...record, last: 'other writer' });
    assert.ok(await writeProgress(kube, { ...record, last: 'ours' }));
    assert.equal((await readProgress(world.kube))?.last, 'ours');
    assert.equal(gets, 2);
  });
});
