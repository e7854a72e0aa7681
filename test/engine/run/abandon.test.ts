import assert from 'node:assert/strict';
import { abandonRun } from '../../../src/engine/run/abandon.ts';
import { LOCK_NAME, LOCK_NAMESPACE } from '../../../src/engine/run/lock.ts';
import { readProgress } from '../../../src/engine/run/progress.ts';
import { apply } from '../../../src/engine/run/run.ts';
import { APPLY_OPTIONS, TO } from '../builders.ts';
import { FakeWorld, failure } from '../fake-world.ts';

const options = APPLY_OPTIONS;
const me = { host: 'ci-runner', pid: 4242 };

describe('kubeswap abandon', () => {
  it('after a rollback: closes the record, changes no machine, and a run with a fixed image then completes', async () => {
    const world = new FakeWorld(['cp-a', 'cp-b', 'cp-c']);
    world.pendingFault = 'never-boots';
    const err = await failure(apply(world.ports(), { version: TO, force: false }, options));
    assert.equal(err.failure, 'rolled-back');
    assert.match(err.hint!, /kubeswap abandon, then kubeswap apply --to v1\.37\.2 --image <fixed image>/);
    // Without abandon, another image is refused while the rolled-back run is open.
    const refused = await failure(apply(world.ports(), { version: TO, imageId: 'ami-fixed', force: false }, options));
    assert.equal(refused.code, 'run.other-target-in-progress');
    assert.match(refused.hint!, /kubeswap abandon/);

    const callsBefore = world.calls.length;
    const machinesBefore = JSON.stringify(world.machines);
    const result = await abandonRun(world.kube, world.clock, me);
    assert.equal(result.run?.state, 'running');
    assert.ok(result.left.some((l) => l.includes(`kubeswap.io/run-id=${result.run!.runId}`)));
    assert.equal((await readProgress(world.kube))?.state, 'abandoned');
    assert.equal(JSON.stringify(world.machines), machinesBefore, 'no machine changed');
    assert.deepEqual(
      world.calls.slice(callsBefore).filter((c) => !/^(get|replaceConfigMap|createConfigMap)/.test(c)),
      [],
    );

    const outcome = await apply(world.ports(), { version: TO, imageId: 'ami-fixed', force: false }, options);
    assert.equal(outcome.result, 'done');
    assert.notEqual(outcome.runId, result.run!.runId, 'a new run');
    assert.ok(world.machines.filter((m) => m.phase === 'running').every((m) => m.imageId === 'ami-fixed'));
  });

  it('releases a lock nobody renews, refuses one renewed within its TTL', async () => {
    const world = new FakeWorld(['cp-a']);
    const lease = (renewTime: Date) => ({
      namespace: LOCK_NAMESPACE,
      name: LOCK_NAME,
      holderIdentity: 'run-1@elsewhere#12',
      leaseDurationSeconds: 60,
      renewTime,
      resourceVersion: '7',
    });
    world.leases.set(`${LOCK_NAMESPACE}/${LOCK_NAME}`, lease(world.clock.now()));
    const live = await failure(abandonRun(world.kube, world.clock, me));
    assert.equal(live.failure, 'blocked');
    assert.equal(live.code, 'lock.held');
    assert.equal(world.leases.get(`${LOCK_NAMESPACE}/${LOCK_NAME}`)?.holderIdentity, 'run-1@elsewhere#12');

    world.leases.set(`${LOCK_NAMESPACE}/${LOCK_NAME}`, lease(new Date(world.clock.now().getTime() - 120_000)));
    const result = await abandonRun(world.kube, world.clock, me);
    assert.equal(result.releasedLock, 'run-1@elsewhere#12');
    assert.equal(result.run, undefined, 'no run was recorded');
    assert.equal(world.leases.get(`${LOCK_NAMESPACE}/${LOCK_NAME}`)?.holderIdentity, undefined);
  });
});
