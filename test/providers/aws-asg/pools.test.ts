import assert from 'node:assert/strict';
import { AsgPools } from '../../../providers/aws-asg/pools.ts';
import { baselinesOf, groupRunHooks } from '../../../providers/aws-asg/run-hooks.ts';
import { createReplacement, terminateInGroup } from '../../../providers/aws-asg/swaps.ts';
import { accountOf, FakeGroup } from './fake-group.ts';

const desired = { version: 'v1.37.2', imageId: 'ami-v2', template: { id: 'lt-1', version: '2' }, force: false };

function setup() {
  const cp = new FakeGroup(1, 'cp', 'lt-1');
  cp.version = '2';
  Object.assign(cp, { min: 1, max: 1, desired: 1 });
  const workers = new FakeGroup(3, 'workers', 'lt-w', 0x100);
  workers.latest = 1;
  workers.max = 4;
  const { asg, ec2 } = accountOf([cp, workers]);
  const base = { asg, ec2, pollIntervalMs: 1, launchTimeoutMs: 50 };
  const pools = new AsgPools(asg, ec2, base, 'c1', [{ name: 'blue', autoScalingGroup: 'workers' }]);
  const records: unknown[] = [];
  const hooks = groupRunHooks({ ...base, group: 'cp' }, new Map([['blue', 'workers']]));
  const begin = (saved?: unknown, pools?: string[]) =>
    hooks.begin({ runId: 'run-1', desired, saved, pools, record: async (state) => void records.push(state) });
  const end = (saved: unknown) => hooks.end({ runId: 'run-1', saved, finished: true });
  return { cp, workers, pools, records, begin, end };
}

describe('aws-asg worker pools (a worker Auto Scaling group per pool)', () => {
  it('rolls a worker group by surge within its MaxSize headroom, then restores it as recorded', async () => {
    const { workers, pools, records, begin, end } = setup();
    workers.suspended = ['AZRebalance'];
    // Preflight: the worker template's newest version has another image; --update-launch-template makes one.
    assert.deepEqual(await pools.resolve(desired, desired, true), []);
    assert.equal(workers.latest, 2);
    await begin();
    assert.deepEqual(baselinesOf(records[0]).groups.slice(1), [
      {
        group: 'workers',
        minSize: 3,
        maxSize: 4,
        desiredCapacity: 3,
        userSuspended: ['AZRebalance'],
        newInstancesProtected: false,
      },
    ]);
    assert.ok(workers.suspended.includes('ReplaceUnhealthy'), 'the worker group stops fighting the run');
    assert.equal(workers.version, '1', 'begin does not point the worker group at the target: the first launch does');
    const machines = await pools.list('blue', []);
    assert.deepEqual(
      machines.map((m) => [m.pool, m.imageId]),
      [
        ['blue', 'ami-v1'],
        ['blue', 'ami-v1'],
        ['blue', 'ami-v1'],
      ],
    );
    for (const old of machines) {
      await pools.pointAtTarget('blue');
      const r = await createReplacement(pools.contextOf('blue'), {
        pool: 'blue',
        replaces: old,
        runId: 'run-1',
        token: `kubeswap-${old.id}-1`,
        desired,
      });
      assert.equal(r.imageId, 'ami-v2');
      await pools.list('blue', []);
      assert.equal(pools.poolOfInstance(old.id), 'blue', 'terminate goes through the worker group');
      await terminateInGroup(pools.contextOf('blue'), old.id, 1000);
    }
    assert.equal(workers.max, 4, 'MaxSize headroom was enough: not raised');
    const result = await end(records[0]);
    assert.equal(result.restored, true, result.message);
    assert.match(result.message, /workers restored/);
    assert.deepEqual([workers.min, workers.max, workers.desired], [3, 4, 3]);
    assert.deepEqual(workers.suspended, ['AZRebalance']);
    const live = workers.instances.filter((i) => i.state === 'running');
    assert.ok(live.every((i) => i.version === '2' && !i.protected));
  });

  it('refuses at preflight a worker template without the target image (no --update-launch-template), naming the pool', async () => {
    const { pools, workers } = setup();
    const problems = await pools.resolve(desired, desired, false);
    assert.deepEqual(
      problems.map((p) => p.code),
      ['launch-template.image-mismatch'],
    );
    assert.match(problems[0]!.message, /^pool blue: .*group workers.*ami-v1, not ami-v2/);
    assert.equal(workers.latest, 1, 'nothing made');
  });

  it('refuses at preflight a worker group with a mixed instances policy, naming the pool, and never launches from it', async () => {
    const { pools, workers } = setup();
    workers.mixed = true;
    const problems = await pools.resolve(desired, desired, true);
    assert.deepEqual(
      problems.map((p) => p.code),
      ['asg.mixed-instances-policy'],
    );
    assert.match(
      problems[0]!.message,
      /^pool blue: Auto Scaling group workers launches through a mixed instances policy/,
    );
    assert.equal(workers.latest, 1, 'no launch template version made');
    await assert.rejects(pools.pointAtTarget('blue'), /no target launch template version/);
  });

  it('a resumed run with a narrower --pools keeps the left-out worker group in the record and restores it at the end', async () => {
    const { cp, workers, records } = setup();
    const other = new FakeGroup(2, 'green-workers', 'lt-g', 0x200);
    Object.assign(other, { min: 2, max: 2, desired: 2 });
    const { asg, ec2 } = accountOf([cp, workers, other]);
    const base = { asg, ec2, pollIntervalMs: 1, launchTimeoutMs: 50 };
    const hooks = groupRunHooks(
      { ...base, group: 'cp' },
      new Map([
        ['blue', 'workers'],
        ['green', 'green-workers'],
      ]),
    );
    const begin = (saved: unknown, pools: string[]) =>
      hooks.begin({ runId: 'run-1', desired, saved, pools, record: async (state) => void records.push(state) });
    // The first attempt: both worker groups.
    await begin(undefined, ['control-plane', 'blue', 'green']);
    const first = baselinesOf(records[0]);
    assert.deepEqual(
      first.groups.map((w) => w.group),
      ['cp', 'workers', 'green-workers'],
    );
    other.max = 3; // raised by the first attempt's surge, as swaps.ts does at MaxSize
    assert.ok(other.suspended.includes('ReplaceUnhealthy'));
    // The re-run with --pools blue only: the green group's baseline must survive the new record.
    await begin(records[0], ['control-plane', 'blue']);
    assert.deepEqual(records[1], records[0], 'nothing recorded is lost');
    const result = await hooks.end({ runId: 'run-1', saved: records[1], finished: true });
    assert.equal(result.restored, true, result.message);
    assert.equal(other.max, 2, 'the left-out group gets its MaxSize back');
    assert.deepEqual(other.suspended, [], 'and its processes resumed');
  });

  it('a --control-plane-only run leaves the worker groups alone; a --workers-only run the control-plane group', async () => {
    const { cp, workers, records, begin, end } = setup();
    workers.suspended = ['AZRebalance'];
    await begin(undefined, ['control-plane']);
    assert.deepEqual(
      baselinesOf(records[0]).groups.map((b) => b.group),
      ['cp'],
    );
    assert.deepEqual(workers.suspended, ['AZRebalance'], 'the worker group is not suspended');
    assert.ok(!workers.calls.some((c) => /^(suspend|update)/.test(c)), workers.calls.join(', '));
    assert.ok(cp.suspended.includes('ReplaceUnhealthy'));
    assert.equal((await end(records[0])).restored, true);
    assert.deepEqual(cp.suspended, [], 'the control-plane group resumed at the end');

    cp.calls.length = 0;
    await begin(undefined, ['blue']);
    assert.deepEqual(
      baselinesOf(records[1]).groups.map((b) => b.group),
      ['workers'],
    );
    assert.deepEqual(cp.suspended, [], 'the control-plane group is not suspended');
    assert.ok(!cp.calls.some((c) => /^(suspend|update)/.test(c)), cp.calls.join(', '));
    assert.ok(workers.suspended.includes('ReplaceUnhealthy'));
    const result = await end(records[1]);
    assert.equal(result.restored, true, result.message);
    assert.deepEqual(workers.suspended, ['AZRebalance'], "every run-suspended process resumed, the user's kept");
  });

  it("restores an abandoned run's groups in the next run (new run id): the user's processes stay the user's", async () => {
    const { cp, workers, records } = setup();
    const { asg, ec2 } = accountOf([cp, workers]);
    const hooks = groupRunHooks(
      { asg, ec2, pollIntervalMs: 1, launchTimeoutMs: 50, group: 'cp' },
      new Map([['blue', 'workers']]),
    );
    workers.suspended = ['AZRebalance'];
    await hooks.begin({ runId: 'run-1', desired, saved: undefined, record: async (s) => void records.push(s) });
    // run-1 is abandoned with its changes in place; run-2 (another target) is handed run-1's record.
    await hooks.begin({
      runId: 'run-2',
      desired,
      saved: records[0],
      pools: ['control-plane'],
      record: async (s) => void records.push(s),
    });
    const second = baselinesOf(records[1]);
    assert.deepEqual(second.runs, ['run-1', 'run-2']);
    assert.deepEqual(second.groups.find((b) => b.group === 'workers')?.userSuspended, ['AZRebalance']);
    const result = await hooks.end({ runId: 'run-2', saved: records[1], finished: true });
    assert.equal(result.restored, true, result.message);
    assert.deepEqual(workers.suspended, ['AZRebalance']);
    assert.deepEqual(cp.suspended, []);
  });

  it('reads the record an earlier kubeswap wrote (the control-plane baseline with `workers`)', () => {
    const main = {
      group: 'cp',
      minSize: 1,
      maxSize: 1,
      desiredCapacity: 1,
      userSuspended: [],
      newInstancesProtected: false,
    };
    const worker = { ...main, group: 'workers' };
    assert.deepEqual(baselinesOf({ ...main, workers: [worker] }), { groups: [main, worker], runs: [] });
    assert.deepEqual(baselinesOf(main), { groups: [main], runs: [] });
  });

  it('lists only instances the group launched: a linked terminated one stays listed (gone), another group’s never', async () => {
    const { cp, workers, pools } = setup();
    const gone = workers.instances[0]!;
    gone.state = 'terminated';
    const ids = [gone.id, cp.instances[0]!.id].map((id) => `aws:///us-east-1a/${id}`);
    const listed = await pools.list('blue', ids);
    assert.deepEqual(
      listed.map((m) => [m.id, m.phase]),
      [
        [gone.id, 'gone'],
        [workers.instances[1]!.id, 'running'],
        [workers.instances[2]!.id, 'running'],
      ],
    );
    assert.deepEqual(await pools.list('green', ids), [], 'not a configured pool');
  });

  it('knows a retired instance that lost its group tag by the group’s template, and refuses pools sharing one', async () => {
    const { cp, workers, pools } = setup();
    const gone = workers.instances[0]!;
    gone.state = 'terminated';
    delete gone.tags['aws:autoscaling:groupName'];
    const cpGone = cp.instances[0]!;
    delete cpGone.tags['aws:autoscaling:groupName'];
    const ids = [gone.id, cpGone.id].map((id) => `aws:///us-east-1a/${id}`);
    assert.deepEqual(
      (await pools.list('blue', ids)).map((m) => m.id),
      [gone.id, workers.instances[1]!.id, workers.instances[2]!.id],
    );
    const shared = new FakeGroup(1, 'workers-2', 'lt-w', 0x200);
    const both = accountOf([cp, workers, shared]);
    const two = new AsgPools(both.asg, both.ec2, { ...both, pollIntervalMs: 1, launchTimeoutMs: 50 }, 'c1', [
      { name: 'blue', autoScalingGroup: 'workers' },
      { name: 'green', autoScalingGroup: 'workers-2' },
    ]);
    const problems = await two.resolve(desired, desired, true);
    assert.deepEqual(
      problems.map((p) => p.code),
      ['asg.pools-share-template'],
    );
  });

  it('the end defers a worker group with a swap in flight, and says so', async () => {
    const { pools, records, begin, end } = setup();
    await pools.resolve(desired, desired, true);
    await begin();
    const [old] = await pools.list('blue', []);
    await pools.pointAtTarget('blue');
    await createReplacement(pools.contextOf('blue'), {
      pool: 'blue',
      replaces: old!,
      runId: 'run-1',
      token: 'kubeswap-x-1',
      desired,
    });
    const result = await end(records[0]);
    assert.equal(result.restored, false);
    assert.match(result.message, /workers holds 4 instance\(s\), recorded 3/);
  });
});
