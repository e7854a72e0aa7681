import assert from 'node:assert/strict';
import {
  acquireLock,
  breakLock,
  formatHolder,
  LOCK_NAME,
  LOCK_NAMESPACE,
  lockState,
  parseHolder,
  releaseLock,
  renewLock,
} from '../../../src/engine/run/lock.ts';
import { ConflictError, type LeaseView } from '../../../src/ports/kube.ts';
import { FakeKube } from '../../adapters/kube/fake-kube.ts';

const t0 = new Date('2026-05-01T10:00:00Z');
const at = (seconds: number) => new Date(t0.getTime() + seconds * 1000);
const me = 'run-b@ci-1#200';
const lease = (over: Partial<LeaseView>): LeaseView => ({
  namespace: LOCK_NAMESPACE,
  name: LOCK_NAME,
  holderIdentity: 'run-a@ci-1#100',
  leaseDurationSeconds: 60,
  acquireTime: t0,
  renewTime: t0,
  resourceVersion: '1',
  ...over,
});
const alive = () => true;
const dead = () => false;

describe('holder identity', () => {
  it('round-trips <runId>@<host>#<pid>, allowing @ in the run id', () => {
    assert.equal(formatHolder({ runId: 'r1', host: 'ci-1', pid: 42 }), 'r1@ci-1#42');
    assert.deepEqual(parseHolder('user@example-run@ci-1.local#42'), {
      runId: 'user@example-run',
      host: 'ci-1.local',
      pid: 42,
    });
  });

  it('does not parse holders written by other tools', () => {
    assert.equal(parseHolder('kube-controller-manager_1234'), undefined);
    assert.equal(parseHolder('r@h#notapid'), undefined);
  });
});

describe('lockState', () => {
  const cases: [string, LeaseView, Date, (pid: number) => boolean, string][] = [
    ['an empty holder is free', lease({ holderIdentity: undefined }), at(1), alive, 'free'],
    ['our own holder is ours', lease({ holderIdentity: me }), at(1), alive, 'ours'],
    ['a fresh lease of a live process is held', lease({}), at(30), alive, 'held'],
    ['a lease past renewTime + duration is expired', lease({}), at(60), alive, 'expired'],
    [
      'a lease without renew or acquire time is expired',
      lease({ renewTime: undefined, acquireTime: undefined }),
      at(0),
      alive,
      'expired',
    ],
    ['a fresh lease of a dead process on this host is stale', lease({}), at(1), dead, 'dead-process'],
    [
      'a fresh lease of a dead-looking pid on another host is held',
      lease({ holderIdentity: 'run-a@ci-2#100' }),
      at(1),
      dead,
      'held',
    ],
    [
      'our pid under another run id means the pid was reused',
      lease({ holderIdentity: 'run-a@ci-1#200' }),
      at(1),
      alive,
      'dead-process',
    ],
    ['an unparseable fresh holder is held', lease({ holderIdentity: 'someone-else' }), at(1), dead, 'held'],
  ];
  for (const [name, l, now, pidAlive, expected] of cases) {
    it(name, () => assert.equal(lockState(l, me, now, pidAlive).kind, expected));
  }

  it('reports when a held lease expires', () => {
    assert.deepEqual(lockState(lease({ renewTime: at(10) }), me, at(20), alive), {
      kind: 'held',
      holder: 'run-a@ci-1#100',
      expiresAt: at(70),
    });
  });
});

describe('acquireLock', () => {
  const options = (now: Date, pidAlive = alive) => ({ holder: me, ttlSeconds: 60, now, pidAlive });

  it('creates the lease when there is none', async () => {
    const kube = new FakeKube();
    assert.deepEqual(await acquireLock(kube.port(), options(t0)), { acquired: true });
    const stored = kube.leases.get('kube-system/kubeswap-lock')!;
    assert.equal(stored.holderIdentity, me);
    assert.deepEqual(stored.renewTime, t0);
  });

  it('refuses while another live run holds a fresh lease, saying until when', async () => {
    const kube = new FakeKube();
    kube.leases.set('kube-system/kubeswap-lock', lease({}));
    assert.deepEqual(await acquireLock(kube.port(), options(at(30))), {
      acquired: false,
      holder: 'run-a@ci-1#100',
      expiresAt: at(60),
    });
  });

  it('takes over an expired lease and counts the transition', async () => {
    const kube = new FakeKube();
    kube.leases.set('kube-system/kubeswap-lock', lease({ leaseTransitions: 3 }));
    assert.deepEqual(await acquireLock(kube.port(), options(at(61))), {
      acquired: true,
      tookOverFrom: { holder: 'run-a@ci-1#100', because: 'expired' },
    });
    const stored = kube.leases.get('kube-system/kubeswap-lock')!;
    assert.equal(stored.holderIdentity, me);
    assert.equal(stored.leaseTransitions, 4);
    assert.deepEqual(stored.acquireTime, at(61));
  });

  it("takes over a fresh lease of a kill -9'd run on this host", async () => {
    const kube = new FakeKube();
    kube.leases.set('kube-system/kubeswap-lock', lease({}));
    const result = await acquireLock(kube.port(), options(at(5), dead));
    assert.deepEqual(result, { acquired: true, tookOverFrom: { holder: 'run-a@ci-1#100', because: 'dead-process' } });
  });

  it('re-acquiring our own lease renews it without a transition', async () => {
    const kube = new FakeKube();
    kube.leases.set('kube-system/kubeswap-lock', lease({ holderIdentity: me, leaseTransitions: 1 }));
    assert.deepEqual(await acquireLock(kube.port(), options(at(10))), { acquired: true });
    const stored = kube.leases.get('kube-system/kubeswap-lock')!;
    assert.equal(stored.leaseTransitions, 1);
    assert.deepEqual(stored.acquireTime, t0);
    assert.deepEqual(stored.renewTime, at(10));
  });

  it('loses a take-over race to a run that renewed in between', async () => {
    const kube = new FakeKube();
    kube.leases.set('kube-system/kubeswap-lock', lease({}));
    const port = kube.port();
    const replace = port.replaceLease;
    port.replaceLease = async (l) => {
      kube.bumpLease('kube-system', 'kubeswap-lock', { renewTime: at(61) });
      port.replaceLease = replace;
      return replace(l);
    };
    assert.deepEqual(await acquireLock(port, options(at(61))), {
      acquired: false,
      holder: 'run-a@ci-1#100',
      expiresAt: at(121),
    });
  });

  it('refuses instead of spinning when every write loses a race', async () => {
    const kube = new FakeKube();
    kube.leases.set('kube-system/kubeswap-lock', lease({}));
    const port = kube.port();
    let writes = 0;
    port.replaceLease = async () => {
      writes++;
      throw new ConflictError('someone else wrote');
    };
    const result = await acquireLock(port, options(at(61)));
    assert.equal(result.acquired, false);
    assert.equal(writes, 3);
  });
});

describe('renewLock, releaseLock, breakLock', () => {
  it('renews our lease and reports a lost one with the new holder', async () => {
    const kube = new FakeKube();
    kube.leases.set('kube-system/kubeswap-lock', lease({ holderIdentity: me }));
    assert.deepEqual(await renewLock(kube.port(), { holder: me, ttlSeconds: 90, now: at(20) }), { renewed: true });
    const stored = kube.leases.get('kube-system/kubeswap-lock')!;
    assert.deepEqual([stored.renewTime, stored.leaseDurationSeconds], [at(20), 90]);
    kube.bumpLease('kube-system', 'kubeswap-lock', { holderIdentity: 'thief@x#1' });
    assert.deepEqual(await renewLock(kube.port(), { holder: me, ttlSeconds: 90, now: at(30) }), {
      renewed: false,
      holder: 'thief@x#1',
    });
  });

  it('releases only a lease we hold, leaving it free for the next run', async () => {
    const kube = new FakeKube();
    kube.leases.set('kube-system/kubeswap-lock', lease({ holderIdentity: me }));
    assert.equal(await releaseLock(kube.port(), { holder: 'other@h#1', now: at(1) }), 'not-held');
    assert.equal(await releaseLock(kube.port(), { holder: me, now: at(1) }), 'released');
    assert.equal(kube.leases.get('kube-system/kubeswap-lock')!.holderIdentity, undefined);
    assert.deepEqual(
      await acquireLock(kube.port(), { holder: 'next@h#2', ttlSeconds: 60, now: at(2), pidAlive: alive }),
      {
        acquired: true,
      },
    );
  });

  it('breaks a lock, but not one that changed hands since the person looked', async () => {
    const kube = new FakeKube();
    kube.leases.set('kube-system/kubeswap-lock', lease({}));
    assert.deepEqual(await breakLock(kube.port(), { now: at(1), expectHolder: 'old@h#1' }), {
      broken: false,
      holder: 'run-a@ci-1#100',
    });
    assert.deepEqual(await breakLock(kube.port(), { now: at(1), expectHolder: 'run-a@ci-1#100' }), {
      broken: true,
      holder: 'run-a@ci-1#100',
    });
    assert.deepEqual(await breakLock(kube.port(), { now: at(2) }), { broken: false });
  });
});
