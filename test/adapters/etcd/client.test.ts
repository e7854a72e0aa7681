import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { EtcdClient } from '../../../src/adapters/etcd/client.ts';
import { EtcdError } from '../../../src/adapters/etcd/errors.ts';
import { FakeEtcd } from './fake-etcd.ts';

const endpointsOf = (etcd: FakeEtcd) => etcd.members.flatMap((m) => m.clientUrls);
const client = (etcd: FakeEtcd, endpoints = endpointsOf(etcd)) => new EtcdClient(endpoints, etcd.connector());
const isEtcdError = (code: string) => (err: unknown) => err instanceof EtcdError && err.code === code;

describe('etcd port: health', () => {
  it('reports every endpoint healthy with its member id, the leader, and learner state', async () => {
    const etcd = new FakeEtcd(3);
    const health = await client(etcd).health(endpointsOf(etcd));
    assert.deepEqual(
      health.map(({ tookMs: _t, ...h }) => h),
      etcd.members.map((m) => ({
        endpoint: m.clientUrls[0],
        healthy: true,
        memberId: m.id,
        leaderId: etcd.leaderId,
        isLearner: false,
        // The alarm list each endpoint answered: observe takes the cluster's alarms from here (no second AlarmList).
        alarms: [],
      })),
    );
  });

  it('reports a down member unhealthy with the reason and keeps the others healthy', async () => {
    const etcd = new FakeEtcd(3);
    etcd.member(1).down = true;
    const health = await client(etcd).health(endpointsOf(etcd));
    assert.deepEqual(
      health.map((h) => h.healthy),
      [true, false, true],
    );
    assert.match(health[1]!.error!, /unreachable/);
    assert.equal(health[1]!.memberId, undefined);
  });

  it('retires the connection of an endpoint that did not answer, so the next check starts fresh', async () => {
    const etcd = new FakeEtcd(3);
    etcd.member(1).down = true;
    await client(etcd).health(endpointsOf(etcd));
    assert.deepEqual(etcd.closed, [etcd.member(1).clientUrls[0]]);
  });

  const alarms = [
    { alarm: 'CORRUPT' as const, error: 'active alarm(s): CORRUPT' },
    // etcdctl v3.6 (ep_command.go) marks the endpoint unhealthy on any alarm, NOSPACE included.
    { alarm: 'NOSPACE' as const, error: 'active alarm(s): NOSPACE' },
  ];
  for (const c of alarms) {
    it(`reports every endpoint unhealthy while a ${c.alarm} alarm is active`, async () => {
      const etcd = new FakeEtcd(3);
      etcd.alarms = [{ memberId: etcd.member(2).id, alarm: c.alarm }];
      const health = await client(etcd).health(endpointsOf(etcd));
      assert.deepEqual(
        health.map((h) => [h.healthy, h.error]),
        health.map(() => [false, c.error]),
      );
    });
  }

  it('reports a learner unhealthy (it refuses linearizable reads) but still says it is a learner', async () => {
    const etcd = new FakeEtcd(3);
    etcd.member(2).isLearner = true;
    const [, , learner] = await client(etcd).health(endpointsOf(etcd));
    assert.equal(learner!.healthy, false);
    assert.equal(learner!.isLearner, true);
    assert.equal(learner!.memberId, etcd.member(2).id);
  });
});

describe('etcd port: reads', () => {
  it('lists members through any endpoint that answers', async () => {
    const etcd = new FakeEtcd(3);
    etcd.member(0).down = true;
    assert.deepEqual(
      (await client(etcd).memberList()).map((m) => m.name),
      ['cp-a', 'cp-b', 'cp-c'],
    );
  });

  it('says etcd is unreachable when no endpoint answers', async () => {
    const etcd = new FakeEtcd(2);
    for (const m of etcd.members) m.down = true;
    await assert.rejects(client(etcd).memberList(), isEtcdError('etcd.unreachable'));
  });

  it('discovers the other members from one seed endpoint', async () => {
    const etcd = new FakeEtcd(3);
    const port = client(etcd, ['10.0.0.2:2379']);
    await port.memberList();
    assert.deepEqual(port.endpoints(), ['https://10.0.0.1:2379', 'https://10.0.0.2:2379', 'https://10.0.0.3:2379']);
  });

  it('follows membership: the endpoints of removed members are dropped, new members added', async () => {
    const etcd = new FakeEtcd(3);
    const port = client(etcd);
    await port.removeMember(etcd.member(0).id);
    await port.memberList();
    assert.deepEqual(port.endpoints(), ['https://10.0.0.2:2379', 'https://10.0.0.3:2379']);
  });
});

describe('etcd port: memberHealth (one pass, one round)', () => {
  it('checks the endpoints the last list named beside the list, and only endpoints it adds after it', async () => {
    const etcd = new FakeEtcd(3);
    const port = client(etcd, ['10.0.0.1:2379']);
    // The seed alone is known: it is checked beside the list, the two members the list adds after it.
    const first = await port.memberHealth();
    assert.deepEqual(
      first.members.map((m) => m.name),
      ['cp-a', 'cp-b', 'cp-c'],
    );
    assert.deepEqual(
      first.health.map((h) => [h.endpoint, h.healthy, h.memberId]),
      etcd.members.map((m) => [m.clientUrls[0], true, m.id]),
    );
    const lists = () => etcd.calls.filter((c) => c.startsWith('member list')).length;
    const statuses = () => etcd.calls.filter((c) => c.startsWith('status')).length;
    assert.equal(lists(), 1);
    assert.equal(statuses(), 3, 'each endpoint checked once');
    // A member removed since the last list: its endpoint was asked beside the list but is left out of the answer.
    await port.removeMember(etcd.member(2).id);
    etcd.calls.length = 0;
    const second = await port.memberHealth();
    assert.deepEqual(
      second.health.map((h) => h.endpoint),
      ['https://10.0.0.1:2379', 'https://10.0.0.2:2379'],
    );
  });

  it('throws as memberList does when no endpoint answers', async () => {
    const etcd = new FakeEtcd(2);
    for (const m of etcd.members) m.down = true;
    await assert.rejects(client(etcd).memberHealth(), isEtcdError('etcd.unreachable'));
  });
});

describe('etcd port: fallback endpoints (a re-run after every configured member was replaced)', () => {
  /** A cluster whose members all moved to new addresses, as after a run that replaced every machine. */
  const replaced = () => {
    const etcd = new FakeEtcd(3);
    etcd.members.forEach((m, i) => {
      m.clientUrls = [`https://10.0.1.${i + 1}:2379`];
    });
    return etcd;
  };
  const configured = ['https://10.0.0.1:2379', 'https://10.0.0.2:2379', 'https://10.0.0.3:2379'];

  it('asks the fallback once when no configured endpoint answers, then follows the members it finds', async () => {
    const etcd = replaced();
    let asked = 0;
    const port = new EtcdClient(configured, etcd.connector(), {
      fallback: {
        source: 'found on the etcd static pods',
        endpoints: async () => {
          asked++;
          return ['10.0.1.2:2379'];
        },
      },
    });
    // Member list and alarms concurrently, as every observe pass reads them.
    const [members, alarms] = await Promise.all([port.memberList(), port.alarms()]);
    assert.deepEqual(
      members.map((m) => m.name),
      ['cp-a', 'cp-b', 'cp-c'],
    );
    assert.deepEqual(alarms, []);
    assert.equal(asked, 1, 'one look-up for both reads');
    assert.deepEqual(port.endpoints(), ['https://10.0.1.1:2379', 'https://10.0.1.2:2379', 'https://10.0.1.3:2379']);
    await port.memberList();
    assert.equal(asked, 1, 'not asked again once the members answer');
  });

  it('names the configured endpoints and the fallback when neither answers', async () => {
    const etcd = replaced();
    for (const m of etcd.members) m.down = true;
    const port = new EtcdClient(configured, etcd.connector(), {
      fallback: { source: 'found on the etcd static pods', endpoints: async () => ['https://10.0.1.1:2379'] },
    });
    await assert.rejects(port.memberList(), (err: unknown) => {
      assert.ok(isEtcdError('etcd.unreachable')(err));
      const e = err as EtcdError;
      assert.match(e.message, /none of the etcd endpoints answered: https:\/\/10\.0\.0\.1:2379, .*10\.0\.0\.3:2379/);
      assert.match(e.message, /found on the etcd static pods \(https:\/\/10\.0\.1\.1:2379\) did not answer either/);
      assert.match(e.hint!, /--etcd-endpoints/);
      return true;
    });
    assert.deepEqual(port.endpoints(), configured, 'the configured endpoints stay the ones to try next');
  });

  it('says so when the fallback finds nothing new, or cannot be read', async () => {
    const etcd = replaced();
    const same = new EtcdClient(configured, etcd.connector(), {
      fallback: { source: 'found on the etcd static pods', endpoints: async () => [] },
    });
    await assert.rejects(same.memberList(), /static pods are the same or none \(\)/);
    const failing = new EtcdClient(configured, etcd.connector(), {
      fallback: {
        source: 'found on the etcd static pods',
        endpoints: async () => {
          throw new Error('the API server is unreachable');
        },
      },
    });
    await assert.rejects(failing.memberList(), /static pods could not be read \(the API server is unreachable\)/);
  });

  it('keeps the first failure when the fallback is not to be asked now (no upgrade in progress)', async () => {
    const etcd = replaced();
    const port = new EtcdClient(configured, etcd.connector(), {
      fallback: { source: 'found on the etcd static pods', endpoints: async () => undefined },
    });
    await assert.rejects(port.memberList(), (err: Error) => {
      assert.ok(err instanceof EtcdError);
      assert.doesNotMatch(err.message, /static pods/);
      return true;
    });
  });

  it('does not fall back on a certificate problem: that is the cause to fix', async () => {
    const etcd = new FakeEtcd(1);
    let asked = 0;
    const port = new EtcdClient(
      configured.slice(0, 1),
      () => {
        throw new EtcdError('etcd.tls', 'certificate signed by unknown authority');
      },
      {
        fallback: {
          source: 'found on the etcd static pods',
          endpoints: async () => {
            asked++;
            return etcd.members[0]!.clientUrls;
          },
        },
      },
    );
    await assert.rejects(port.memberList(), isEtcdError('etcd.tls'));
    assert.equal(asked, 0);
  });
});

describe('etcd port: moveLeader', () => {
  it('sends MoveLeader to the current leader endpoint', async () => {
    const etcd = new FakeEtcd(3);
    await client(etcd).moveLeader(etcd.member(2).id);
    assert.equal(etcd.leaderId, etcd.member(2).id);
    assert.deepEqual(
      etcd.calls.filter((c) => c.startsWith('move leader')),
      [`move leader ${etcd.member(0).clientUrls[0]}`],
    );
  });

  it('does nothing when the target already leads', async () => {
    const etcd = new FakeEtcd(3);
    await client(etcd).moveLeader(etcd.member(0).id);
    assert.equal(etcd.calls.filter((c) => c.startsWith('move leader')).length, 0);
  });

  it('finds the leader through its advertised URL when only another endpoint is configured', async () => {
    const etcd = new FakeEtcd(3);
    await client(etcd, etcd.member(1).clientUrls).moveLeader(etcd.member(1).id);
    assert.equal(etcd.leaderId, etcd.member(1).id);
  });

  const refusals = [
    { name: 'refuses a target that is not a member', target: () => '42', code: 'etcd.member-not-found' },
    {
      name: 'refuses a learner as target',
      target: (e: FakeEtcd) => {
        e.member(2).isLearner = true;
        return e.member(2).id;
      },
      code: 'etcd.target-not-voter',
    },
    {
      name: 'says the leader is unknown when it does not answer',
      target: (e: FakeEtcd) => {
        e.member(0).down = true;
        return e.member(1).id;
      },
      code: 'etcd.leader-unknown',
    },
  ];
  for (const r of refusals) {
    it(r.name, async () => {
      const etcd = new FakeEtcd(3);
      const target = r.target(etcd);
      await assert.rejects(client(etcd).moveLeader(target), isEtcdError(r.code));
    });
  }
});

describe('etcd port: removeMember', () => {
  it('removes a member through an endpoint of another member', async () => {
    const etcd = new FakeEtcd(3);
    const removed = etcd.member(0);
    await client(etcd).removeMember(removed.id);
    assert.deepEqual(
      etcd.members.map((m) => m.name),
      ['cp-b', 'cp-c'],
    );
    const via = etcd.calls.find((c) => c.startsWith('remove'));
    assert.equal(via, `remove ${removed.id} via ${etcd.member(0).clientUrls[0]}`);
  });

  it('never sends the removal to the member being removed, even when it is the only configured endpoint', async () => {
    const etcd = new FakeEtcd(3);
    const removed = etcd.member(1);
    await client(etcd, removed.clientUrls).removeMember(removed.id);
    assert.ok(!etcd.calls.some((c) => c.startsWith('remove') && c.endsWith(removed.clientUrls[0]!)));
    assert.equal(etcd.members.length, 2);
  });

  it('succeeds when the member is already gone', async () => {
    const etcd = new FakeEtcd(3);
    await client(etcd).removeMember('12345');
    assert.equal(etcd.members.length, 3);
  });

  it('skips a dead member and removes through the next one', async () => {
    const etcd = new FakeEtcd(3);
    etcd.member(1).down = true;
    await client(etcd).removeMember(etcd.member(0).id);
    assert.deepEqual(
      etcd.members.map((m) => m.name),
      ['cp-b', 'cp-c'],
    );
  });

  it('refuses to remove the last member', async () => {
    const etcd = new FakeEtcd(1);
    await assert.rejects(client(etcd).removeMember(etcd.member(0).id), isEtcdError('etcd.last-member'));
    assert.equal(etcd.members.length, 1);
  });

  it('says so when no other member answers', async () => {
    const etcd = new FakeEtcd(2);
    etcd.member(0).down = true;
    await assert.rejects(client(etcd).removeMember(etcd.member(1).id), isEtcdError('etcd.no-other-member'));
  });
});

describe('etcd port: snapshot', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'kubeswap-snapshot-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('writes the streamed snapshot under the final name and leaves no temporary file', async () => {
    const etcd = new FakeEtcd(3);
    const file = path.join(dir, 'nested', 'etcd.db');
    const result = await client(etcd).snapshot(file);
    assert.deepEqual(result, { file, bytes: 9, revision: '42' });
    assert.equal(await readFile(file, 'utf8'), 'snap-shot');
    assert.deepEqual(await readdir(path.dirname(file)), ['etcd.db']);
  });

  it('takes the snapshot from a healthy member when the first endpoint is down', async () => {
    const etcd = new FakeEtcd(3);
    etcd.member(0).down = true;
    await client(etcd).snapshot(path.join(dir, 'etcd.db'));
    assert.ok(etcd.calls.includes(`snapshot ${etcd.member(1).clientUrls[0]}`));
    assert.ok(!etcd.calls.includes(`snapshot ${etcd.member(0).clientUrls[0]}`));
  });

  const withTrailer = (db: Buffer, corrupt = false) => {
    const sha = createHash('sha256').update(db).digest();
    if (corrupt) sha[0]! ^= 0xff;
    return [db.subarray(0, 300), Buffer.concat([db.subarray(300), sha.subarray(0, 10)]), sha.subarray(10)];
  };

  it('accepts a stream whose SHA-256 trailer matches the data, as etcd sends it', async () => {
    const etcd = new FakeEtcd(1);
    etcd.snapshotChunks = withTrailer(Buffer.alloc(1024, 7));
    const result = await client(etcd).snapshot(path.join(dir, 'etcd.db'));
    assert.equal(result.bytes, 1024 + 32);
  });

  it('rejects a stream whose SHA-256 trailer does not match and keeps no file', async () => {
    const etcd = new FakeEtcd(1);
    etcd.snapshotChunks = withTrailer(Buffer.alloc(1024, 7), true);
    await assert.rejects(client(etcd).snapshot(path.join(dir, 'etcd.db')), /SHA-256/);
    assert.deepEqual(await readdir(dir), []);
  });

  it('fails without leaving a file when the stream is empty everywhere', async () => {
    const etcd = new FakeEtcd(1);
    etcd.snapshotChunks = [];
    await assert.rejects(client(etcd).snapshot(path.join(dir, 'etcd.db')), isEtcdError('etcd.snapshot-failed'));
    assert.deepEqual(await readdir(dir), []);
  });
});
