// A fresh check right after a renewal that proved the Lease ours relies on that proof (issue 15 §2): terminate
// follows the member's removal by ~0.1 s, and each wrote the Lease. Only a proof under PROOF_REUSE_MS old counts, only
// one whose outcome is known, and never over a foreign write the watch delivered.
import assert from 'node:assert/strict';
import { LOCK_NAME, LOCK_NAMESPACE } from '../../../src/engine/run/lock.ts';
import { LockKeeper, PROOF_REUSE_MS } from '../../../src/engine/run/lock-keeper.ts';
import { FakeKube, fakeClock } from '../../adapters/kube/fake-kube.ts';

const t0 = new Date('2026-05-01T10:00:00Z');
const me = 'run-b@ci-1#200/b1.7.500';
const KEY = `${LOCK_NAMESPACE}/${LOCK_NAME}`;

function keep(options: { watched?: boolean } = {}) {
  const kube = new FakeKube();
  if (options.watched !== false) kube.leaseWatch = { stalled: false };
  kube.leases.set(KEY, {
    namespace: LOCK_NAMESPACE,
    name: LOCK_NAME,
    holderIdentity: me,
    leaseDurationSeconds: 60,
    acquireTime: t0,
    renewTime: t0,
    resourceVersion: '1',
  });
  const acquired = kube.leases.get(KEY)!;
  const clock = fakeClock(t0);
  const port = kube.port();
  let writes = 0;
  const replace = port.replaceLease;
  port.replaceLease = (lease) => {
    writes++;
    return replace(lease);
  };
  const lost: string[] = [];
  const keeper = new LockKeeper(
    port,
    { holder: me, ttlSeconds: 60, resourceVersion: acquired.resourceVersion, lease: acquired },
    clock,
    (why) => lost.push(why),
  ).start();
  kube.leaseReads = 0;
  return { kube, port, clock, keeper, lost, writes: () => writes };
}

describe('LockKeeper: a fresh check right after a proving renewal', () => {
  it('relies on a renewal 0.1 s old that proved the Lease untouched: no write, no read', async () => {
    const { kube, clock, keeper, writes } = keep();
    await clock.sleep(5_000);
    await keeper.verify({ fresh: true }); // remove-member: the guarded renewal proves the Lease ours
    assert.equal(writes(), 1);
    await clock.sleep(100);
    await keeper.verify({ fresh: true }); // terminate, 0.1 s later
    assert.equal(writes(), 1, 'the proof of 0.1 s ago stands');
    assert.equal(kube.leaseReads, 0);
    keeper.stop();
  });

  it('does not rely on a proof without a trusted watch: a later foreign write would go unseen, so it writes again', async () => {
    const { clock, keeper, writes } = keep({ watched: false });
    await clock.sleep(5_000);
    await keeper.verify({ fresh: true });
    assert.equal(writes(), 1);
    await clock.sleep(100);
    await keeper.verify({ fresh: true });
    assert.equal(writes(), 2, 'no watch to deliver a write made after the proof');
    keeper.stop();
  });

  it('counts a periodic renewal as a proof too', async () => {
    const { clock, keeper, writes } = keep();
    await keeper.renew();
    assert.equal(writes(), 1);
    await clock.sleep(PROOF_REUSE_MS);
    await keeper.verify({ fresh: true });
    assert.equal(writes(), 1);
    keeper.stop();
  });

  it('renews again once the proof is older than PROOF_REUSE_MS, and so sees a foreign write a dead stream hid', async () => {
    const { kube, clock, keeper, writes, lost } = keep();
    await keeper.verify({ fresh: true });
    assert.equal(writes(), 1);
    kube.leaseWatch!.stalled = true;
    kube.bumpLease(LOCK_NAMESPACE, LOCK_NAME, {});
    await clock.sleep(PROOF_REUSE_MS + 1);
    await assert.rejects(keeper.verify({ fresh: true }), /written by someone else/);
    assert.equal(lost.length, 1);
  });

  it('never relies on a proof over a foreign write the watch delivered within the window', async () => {
    const { kube, clock, keeper, writes } = keep();
    await keeper.verify({ fresh: true });
    kube.bumpLease(LOCK_NAMESPACE, LOCK_NAME, { holderIdentity: 'run-c@ci-9#1/x.1.1' });
    await clock.sleep(100);
    await assert.rejects(keeper.verify({ fresh: true }), /now held by run-c/);
    assert.equal(writes(), 1);
  });

  it('does not rely on a renewal whose outcome is unknown (its answer lost): the next fresh check reads', async () => {
    const { kube, port, clock, keeper, writes } = keep({ watched: false });
    await keeper.verify({ fresh: true });
    assert.equal(writes(), 1);
    const replace = port.replaceLease;
    port.replaceLease = async () => {
      throw new Error('connection reset');
    };
    await clock.sleep(20_000);
    await keeper.renew(); // fails: whether it was written is unknown
    port.replaceLease = replace;
    kube.bumpLease(LOCK_NAMESPACE, LOCK_NAME, { holderIdentity: undefined });
    await clock.sleep(100);
    await assert.rejects(keeper.verify({ fresh: true }), /released by someone else/);
    assert.equal(kube.leaseReads, 1);
  });

  it('does not rely on the acquire: the first fresh check writes', async () => {
    const { clock, keeper, writes } = keep();
    await clock.sleep(100);
    await keeper.verify({ fresh: true });
    assert.equal(writes(), 1);
    keeper.stop();
  });
});
