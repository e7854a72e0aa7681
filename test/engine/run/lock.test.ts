import assert from 'node:assert/strict';
import {
  acquireLock,
  breakLock,
  formatHolder,
  LOCK_NAME,
  LOCK_NAMESPACE,
  lockState,
  type ProcessProbe,
  parseHolder,
  releaseLock,
  renewLock,
} from '../../../src/engine/run/lock.ts';
import { LockKeeper } from '../../../src/engine/run/lock-keeper.ts';
import { ConflictError, type LeaseView } from '../../../src/ports/kube.ts';
import { FakeKube, fakeClock } from '../../adapters/kube/fake-kube.ts';

const t0 = new Date('2026-05-01T10:00:00Z');
const at = (seconds: number) => new Date(t0.getTime() + seconds * 1000);
/** Our process space: boot id `b1`, pid namespace 7; our pid 200 started at tick 500. */
const SPACE = 'b1.7';
const me = `run-b@ci-1#200/${SPACE}.500`;
const them = `run-a@ci-1#100/${SPACE}.300`;
const lease = (over: Partial<LeaseView>): LeaseView => ({
  namespace: LOCK_NAMESPACE,
  name: LOCK_NAME,
  holderIdentity: them,
  leaseDurationSeconds: 60,
  acquireTime: t0,
  renewTime: t0,
  resourceVersion: '1',
  ...over,
});
/** pid 100 runs, started at tick 300 (the holder `them`). */
const alive: ProcessProbe = {
  space: () => SPACE,
  startTicks: (pid) => (pid === 100 ? '300' : pid === 200 ? '500' : undefined),
};
/** pid 100 is gone. */
const dead: ProcessProbe = { space: () => SPACE, startTicks: (pid) => (pid === 200 ? '500' : undefined) };
/** pid 100 exists again, but started later: reused by another process. */
const reused: ProcessProbe = { space: () => SPACE, startTicks: (pid) => (pid === 100 ? '999' : '500') };

describe('holder identity', () => {
  it('round-trips <runId>@<host>#<pid>/<start>, allowing @ in the run id', () => {
    assert.equal(formatHolder({ runId: 'r1', host: 'ci-1', pid: 42, start: 'b1.7.9' }), 'r1@ci-1#42/b1.7.9');
    assert.deepEqual(parseHolder('user@example-run@ci-1.local#42/b1.7.9'), {
      runId: 'user@example-run',
      host: 'ci-1.local',
      pid: 42,
      start: 'b1.7.9',
    });
    assert.deepEqual(parseHolder('r@h#42'), { runId: 'r', host: 'h', pid: 42 }, 'holders of older kubeswaps');
  });

  it('does not parse holders written by other tools', () => {
    assert.equal(parseHolder('kube-controller-manager_1234'), undefined);
    assert.equal(parseHolder('r@h#notapid'), undefined);
  });
});

describe('lockState', () => {
  const cases: [string, LeaseView, Date, ProcessProbe, string][] = [
    ['an empty holder is free', lease({ holderIdentity: undefined }), at(1), alive, 'free'],
    ['our own holder is ours', lease({ holderIdentity: me }), at(1), alive, 'ours'],
    ['a fresh lease of a live process is held', lease({}), at(30), alive, 'held'],
    ['a lease past renewTime + duration only looks stale: it must be watched', lease({}), at(60), alive, 'stale'],
    [
      'a lease without renew or acquire time looks stale',
      lease({ renewTime: undefined, acquireTime: undefined }),
      at(0),
      alive,
      'stale',
    ],
    ['a fresh lease of a dead process in our process space is taken at once', lease({}), at(1), dead, 'dead-process'],
    [
      'a fresh lease whose pid was reused by a later process is taken at once',
      lease({}),
      at(1),
      reused,
      'dead-process',
    ],
    [
      'a dead-looking pid on another host is held',
      lease({ holderIdentity: `run-a@ci-2#100/${SPACE}.300` }),
      at(1),
      dead,
      'held',
    ],
    [
      'a dead-looking pid in another pid namespace (another container, same host name) is held',
      lease({ holderIdentity: 'run-a@ci-1#100/b1.8.300' }),
      at(1),
      dead,
      'held',
    ],
    [
      'our very pid under another holder, in another container, is held (not "reused")',
      lease({ holderIdentity: 'run-a@ci-1#200/b1.8.500' }),
      at(1),
      alive,
      'held',
    ],
    [
      'a holder of an older kubeswap (no start) is never judged dead',
      lease({ holderIdentity: 'run-a@ci-1#100' }),
      at(1),
      dead,
      'held',
    ],
    ['an unparseable fresh holder is held', lease({ holderIdentity: 'someone-else' }), at(1), dead, 'held'],
  ];
  for (const [name, l, now, probe, expected] of cases) {
    it(name, () => assert.equal(lockState(l, me, now, probe).kind, expected));
  }

  it('reports when a held lease expires', () => {
    assert.deepEqual(lockState(lease({ renewTime: at(10) }), me, at(20), alive), {
      kind: 'held',
      holder: them,
      expiresAt: at(70),
    });
  });
});

describe('acquireLock', () => {
  const options = (now: Date, probe = alive) => ({ holder: me, ttlSeconds: 60, clock: fakeClock(now), probe });
  const stored = (kube: FakeKube) => kube.leases.get('kube-system/kubeswap-lock')!;

  it('creates the lease when there is none', async () => {
    const kube = new FakeKube();
    const result = await acquireLock(kube.port(), options(t0));
    assert.equal(result.acquired, true);
    assert.equal(stored(kube).holderIdentity, me);
    assert.deepEqual(stored(kube).renewTime, t0);
    // The create's answer is the Lease: only the read that found none, none after the create.
    assert.equal(kube.leaseReads, 1);
    assert.equal(result.acquired && result.lease.resourceVersion, stored(kube).resourceVersion);
  });

  it('refuses while another live run holds a fresh lease, saying until when', async () => {
    const kube = new FakeKube();
    kube.leases.set('kube-system/kubeswap-lock', lease({}));
    assert.deepEqual(await acquireLock(kube.port(), options(at(30))), {
      acquired: false,
      holder: them,
      expiresAt: at(60),
    });
  });

  it('takes over a stale lease only after watching it unchanged for its whole duration, counting the transition', async () => {
    const kube = new FakeKube();
    kube.leases.set('kube-system/kubeswap-lock', lease({ leaseTransitions: 3 }));
    const o = options(at(61));
    const watched: number[] = [];
    const result = await acquireLock(kube.port(), { ...o, onWatch: (_h, s) => watched.push(s) });
    assert.equal(result.acquired, true);
    assert.deepEqual(result.acquired && result.tookOverFrom, { holder: them, because: 'expired' });
    assert.deepEqual(watched, [60]);
    assert.ok(o.clock.now().getTime() - at(61).getTime() >= 60_000, 'watched a full lease duration');
    assert.equal(stored(kube).holderIdentity, me);
    assert.equal(stored(kube).leaseTransitions, 4);
  });

  it('refuses a stale-looking lease that its holder renews while we watch (our clock was ahead)', async () => {
    const kube = new FakeKube();
    kube.leases.set('kube-system/kubeswap-lock', lease({}));
    const port = kube.port();
    let reads = 0;
    const get = port.getLease;
    port.getLease = async (ns, name) => {
      if (++reads === 5) kube.bumpLease(ns, name, { renewTime: at(20) });
      return get(ns, name);
    };
    const result = await acquireLock(port, options(at(61)));
    assert.equal(result.acquired, false);
    assert.equal(stored(kube).holderIdentity, them);
  });

  it("takes over a fresh lease of a kill -9'd run in our process space at once", async () => {
    const kube = new FakeKube();
    kube.leases.set('kube-system/kubeswap-lock', lease({}));
    const result = await acquireLock(kube.port(), options(at(5), dead));
    assert.equal(result.acquired, true);
    assert.deepEqual(result.acquired && result.tookOverFrom, { holder: them, because: 'dead-process' });
  });

  it('re-acquiring our own lease renews it without a transition', async () => {
    const kube = new FakeKube();
    kube.leases.set('kube-system/kubeswap-lock', lease({ holderIdentity: me, leaseTransitions: 1 }));
    assert.equal((await acquireLock(kube.port(), options(at(10)))).acquired, true);
    assert.equal(stored(kube).leaseTransitions, 1);
    assert.deepEqual(stored(kube).acquireTime, t0);
    assert.deepEqual(stored(kube).renewTime, at(10));
  });

  it('loses a take-over race to a run that renewed in between', async () => {
    const kube = new FakeKube();
    kube.leases.set('kube-system/kubeswap-lock', lease({}));
    const port = kube.port();
    const replace = port.replaceLease;
    port.replaceLease = async (l) => {
      // The holder renews right after our watch ended, just before our take-over write.
      kube.bumpLease('kube-system', 'kubeswap-lock', { renewTime: at(121) });
      port.replaceLease = replace;
      return replace(l);
    };
    const result = await acquireLock(port, options(at(61)));
    assert.deepEqual(result, { acquired: false, holder: them, expiresAt: at(181) });
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
    const result = await acquireLock(port, options(at(5), dead));
    assert.equal(result.acquired, false);
    assert.equal(writes, 3);
  });
});

describe('renewLock, releaseLock, breakLock', () => {
  it('renews our lease and reports a lost one with the new holder', async () => {
    const kube = new FakeKube();
    kube.leases.set('kube-system/kubeswap-lock', lease({ holderIdentity: me }));
    const renewed = await renewLock(kube.port(), { holder: me, ttlSeconds: 90, now: at(20) });
    assert.equal(renewed.renewed, true);
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
    const next = await acquireLock(kube.port(), {
      holder: 'next@h#2',
      ttlSeconds: 60,
      clock: fakeClock(at(2)),
      probe: alive,
    });
    assert.equal(next.acquired, true);
  });

  it('breaks a lock, but not one that changed hands since the person looked', async () => {
    const kube = new FakeKube();
    kube.leases.set('kube-system/kubeswap-lock', lease({}));
    assert.deepEqual(await breakLock(kube.port(), { now: at(1), expectHolder: 'old@h#1' }), {
      broken: false,
      holder: them,
    });
    assert.deepEqual(await breakLock(kube.port(), { now: at(1), expectHolder: them }), { broken: true, holder: them });
    assert.deepEqual(await breakLock(kube.port(), { now: at(2) }), { broken: false });
  });
});

describe('LockKeeper: a run that lost its lock stops acting', () => {
  const keep = async (kube: FakeKube, port = kube.port(), clock = fakeClock(t0)) => {
    kube.leases.set('kube-system/kubeswap-lock', lease({ holderIdentity: me }));
    const lost: string[] = [];
    const keeper = new LockKeeper(
      port,
      { holder: me, ttlSeconds: 60, resourceVersion: kube.leases.get('kube-system/kubeswap-lock')!.resourceVersion },
      clock,
      (why) => lost.push(why),
    );
    return { keeper, lost, clock };
  };

  it("passes while the lease is ours, renewing it on the run's clock", async () => {
    const kube = new FakeKube();
    const { keeper, lost, clock } = await keep(kube);
    await keeper.verify();
    await clock.sleep(25_000);
    await keeper.verify();
    assert.deepEqual(kube.leases.get('kube-system/kubeswap-lock')!.renewTime, at(25));
    assert.deepEqual(lost, []);
  });

  it('stops at the next step once someone broke the lock (unlock --force), and says so once', async () => {
    const kube = new FakeKube();
    const { keeper, lost } = await keep(kube);
    kube.bumpLease('kube-system', 'kubeswap-lock', { holderIdentity: undefined });
    await assert.rejects(
      keeper.verify(),
      (err: { code: string; failure: string }) => err.code === 'lock.lost' && err.failure === 'needs-person',
    );
    assert.throws(() => keeper.assertHeld(), /stopped acting/);
    await assert.rejects(keeper.verify());
    assert.equal(lost.length, 1);
    assert.match(lost[0]!, /released by someone else/);
  });

  it('stops when another run took the lock', async () => {
    const kube = new FakeKube();
    const { keeper } = await keep(kube);
    kube.bumpLease('kube-system', 'kubeswap-lock', { holderIdentity: 'run-c@ci-9#1/x.1.1' });
    await assert.rejects(keeper.verify(), /now held by run-c@ci-9#1/);
  });

  it('stops when the lease changed behind its back, even under the same holder', async () => {
    const kube = new FakeKube();
    const { keeper } = await keep(kube);
    kube.bumpLease('kube-system', 'kubeswap-lock', {});
    await assert.rejects(keeper.verify(), /written by someone else/);
  });

  it('stops when it could not renew within two thirds of the TTL', async () => {
    const kube = new FakeKube();
    const port = kube.port();
    let down = false;
    const get = port.getLease;
    port.getLease = async (ns, name) => {
      if (down) throw new Error('connection refused');
      return get(ns, name);
    };
    const { keeper, clock } = await keep(kube, port);
    down = true;
    await clock.sleep(41_000);
    await assert.rejects(keeper.verify(), /could not be renewed for 41 s .*connection refused/);
  });
});

describe('LockKeeper with a watched Lease: no read before each step, the same stops', () => {
  const keep = (kube: FakeKube, clock = fakeClock(t0), port = kube.port()) => {
    kube.leases.set('kube-system/kubeswap-lock', lease({ holderIdentity: me }));
    const acquired = kube.leases.get('kube-system/kubeswap-lock')!;
    const lost: string[] = [];
    const keeper = new LockKeeper(
      port,
      { holder: me, ttlSeconds: 60, resourceVersion: acquired.resourceVersion, lease: acquired },
      clock,
      (why) => lost.push(why),
    ).start();
    kube.leaseReads = 0;
    return { keeper, lost, clock };
  };

  it('checks steps from the watch and renews without reading, its own renewals not taken for foreign writes', async () => {
    const kube = new FakeKube();
    kube.leaseWatch = { stalled: false };
    const { keeper, lost, clock } = keep(kube);
    for (let i = 0; i < 4; i++) {
      await keeper.verify();
      await clock.sleep(8_000);
    }
    keeper.stop();
    // 32 s at a 60 s TTL: renewed once (every 20 s), a replace of our last write; no read at all.
    assert.equal(kube.leaseReads, 0);
    assert.deepEqual(kube.leases.get('kube-system/kubeswap-lock')!.renewTime, at(24));
    assert.deepEqual(lost, []);
  });

  it('stops on the event of unlock --force, before any step, and at the next step', async () => {
    const kube = new FakeKube();
    kube.leaseWatch = { stalled: false };
    const { keeper, lost } = keep(kube);
    await keeper.verify();
    kube.bumpLease('kube-system', 'kubeswap-lock', { holderIdentity: undefined });
    assert.throws(() => keeper.assertHeld(), /stopped acting/);
    await assert.rejects(keeper.verify(), (err: { code: string }) => err.code === 'lock.lost');
    assert.equal(kube.leaseReads, 0);
    assert.match(lost[0]!, /released by someone else/);
  });

  it('stops on a foreign write under our own holder name', async () => {
    const kube = new FakeKube();
    kube.leaseWatch = { stalled: false };
    const { keeper } = keep(kube);
    kube.bumpLease('kube-system', 'kubeswap-lock', {});
    await assert.rejects(keeper.verify(), /written by someone else/);
  });

  it('reads the Lease before a step once the stream did not deliver our renewal (a silently dead watch)', async () => {
    const kube = new FakeKube();
    kube.leaseWatch = { stalled: false };
    const { keeper, clock } = keep(kube);
    kube.leaseWatch.stalled = true;
    await clock.sleep(21_000);
    await keeper.verify(); // renews; the stream does not show it
    assert.equal(kube.leaseReads, 0, 'within WRITE_SEEN_MS the watch still stands');
    kube.bumpLease('kube-system', 'kubeswap-lock', { holderIdentity: undefined }); // not delivered either
    await clock.sleep(5_000);
    await assert.rejects(keeper.verify(), /released by someone else/);
    assert.equal(kube.leaseReads, 1);
  });

  it('trusts a long-open watch while events or bookmarks arrive, and reads once it went silent', async () => {
    const kube = new FakeKube();
    kube.leaseWatch = { stalled: false };
    kube.leases.set('kube-system/kubeswap-lock', lease({ holderIdentity: me }));
    const acquired = kube.leases.get('kube-system/kubeswap-lock')!;
    const clock = fakeClock(t0);
    // A 300 s TTL: renewals only every 100 s, so the server's bookmarks are what shows the stream alive.
    const keeper = new LockKeeper(
      kube.port(),
      { holder: me, ttlSeconds: 300, resourceVersion: acquired.resourceVersion, lease: acquired },
      clock,
      () => undefined,
    ).start();
    kube.leaseReads = 0;
    for (let i = 0; i < 3; i++) {
      await clock.sleep(30_000);
      kube.leaseWatch.handlers!.onAlive?.(); // a bookmark
      await keeper.verify();
    }
    assert.equal(kube.leaseReads, 0, '90 s open, never silent for 35 s: trusted');
    kube.leaseWatch.stalled = true; // dead without a word: neither the renewal nor a bookmark arrives now
    await clock.sleep(36_000);
    await keeper.verify();
    assert.equal(kube.leaseReads, 1, 'silent for 36 s: its connection may be dead, the Lease is read');
    keeper.stop();
  });

  it('reads the Lease before a membership or machine change even while the watch is trusted', async () => {
    const kube = new FakeKube();
    kube.leaseWatch = { stalled: false };
    const { keeper } = keep(kube);
    await keeper.verify();
    assert.equal(kube.leaseReads, 0);
    // A stream that died without closing: the break is not delivered, and the watch still looks healthy.
    kube.leaseWatch.stalled = true;
    kube.bumpLease('kube-system', 'kubeswap-lock', { holderIdentity: undefined });
    await keeper.verify();
    await assert.rejects(keeper.verify({ fresh: true }), /released by someone else/);
    assert.equal(kube.leaseReads, 1);
  });

  it('proves a fresh check by a guarded renewal, no read; the periodic renewal moves back', async () => {
    const kube = new FakeKube();
    kube.leaseWatch = { stalled: false };
    const { keeper, lost, clock } = keep(kube);
    await clock.sleep(5_000);
    await keeper.verify({ fresh: true });
    assert.equal(kube.leaseReads, 0, 'the replace over our own last write proves the Lease untouched');
    assert.deepEqual(kube.leases.get('kube-system/kubeswap-lock')!.renewTime, at(5));
    // Someone writes under our holder name while the stream is dead: the next fresh check must see it.
    kube.leaseWatch.stalled = true;
    kube.bumpLease('kube-system', 'kubeswap-lock', {});
    // Past PROOF_REUSE_MS (lock-keeper.test.ts): the earlier proof no longer stands for this check.
    await clock.sleep(2_000);
    await assert.rejects(keeper.verify({ fresh: true }), /written by someone else/);
    assert.equal(lost.length, 1);
    keeper.stop();
  });

  it('takes a first event older than our acquire (a lagging watch cache) for no loss: the next check reads', async () => {
    const kube = new FakeKube();
    kube.leaseWatch = { stalled: false };
    const port = kube.port();
    // The API server's watch cache may start a watch from before our acquire: the stale holder we took over from.
    port.watchLease = (_ns, _name, handlers) => {
      kube.leaseWatch!.handlers = handlers;
      handlers.onConnection(true);
      handlers.onLease(lease({ holderIdentity: 'run-old@ci-1#7/x.1.1', resourceVersion: '7' }));
      return () => {};
    };
    const { keeper, lost } = keep(kube, fakeClock(t0), port);
    await keeper.verify();
    assert.deepEqual(lost, []);
    assert.equal(kube.leaseReads, 1, 'not trusted after a first event that is not ours');
    // A later event is judged: a foreign write still stops the run.
    kube.bumpLease('kube-system', 'kubeswap-lock', { holderIdentity: undefined });
    assert.match(lost[0] ?? '', /released by someone else/);
  });

  it('does not take the lost answer of its own renewal, retried, for a foreign write', async () => {
    const kube = new FakeKube();
    kube.leaseWatch = { stalled: false };
    const port = kube.port();
    const replace = port.replaceLease.bind(port);
    let first = true;
    port.replaceLease = async (l) => {
      if (!first) return replace(l);
      first = false;
      await replace(l); // written, its event delivered; then the answer is lost and the stream lags
      kube.leaseWatch!.stalled = true;
      throw new ConflictError('the retried request met its own write');
    };
    const { keeper, lost, clock } = keep(kube, fakeClock(t0), port);
    await clock.sleep(21_000);
    await keeper.verify();
    assert.deepEqual(lost, []);
  });

  it('reads the Lease before a step while the watch is not connected', async () => {
    const kube = new FakeKube();
    kube.leaseWatch = { stalled: false };
    const { keeper } = keep(kube);
    kube.leaseWatch.handlers!.onConnection(false);
    await keeper.verify();
    assert.equal(kube.leaseReads, 1);
    kube.leaseWatch.stalled = true;
    kube.bumpLease('kube-system', 'kubeswap-lock', { holderIdentity: 'run-c@ci-9#1/x.1.1' });
    await assert.rejects(keeper.verify(), /now held by run-c@ci-9#1/);
  });

  it('stops when it could not renew within two thirds of the TTL, whatever the watch says', async () => {
    const kube = new FakeKube();
    kube.leaseWatch = { stalled: false };
    const port = kube.port();
    port.replaceLease = async () => {
      throw new Error('connection refused');
    };
    const { keeper, clock } = keep(kube, fakeClock(t0), port);
    await clock.sleep(30_000);
    await keeper.verify(); // the renewal fails, 30 s < 40 s
    await clock.sleep(11_000);
    await assert.rejects(keeper.verify(), /could not be renewed for 41 s .*connection refused/);
  });
});
