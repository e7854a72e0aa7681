import assert from 'node:assert/strict';
import { groupRunHooks } from '../../../providers/aws-asg/run-hooks.ts';
import {
  beginTerminationInGroup,
  completeLaunchHooks,
  completeLaunchHooksOfRun,
  createReplacement,
  terminateHookMs,
  terminateInGroup,
} from '../../../providers/aws-asg/swaps.ts';
import { toMachine } from '../../../providers/aws-ec2/instances.ts';
import type { KubeswapError } from '../../../src/domain/errors.ts';
import { FakeGroup } from './fake-group.ts';

const desired = { version: 'v1.37.2', imageId: 'ami-v2', template: { id: 'lt-1', version: '2' }, force: false };

function setup(count = 3) {
  const fake = new FakeGroup(count);
  const context = { asg: fake.asg, ec2: fake.ec2, group: 'cp', pollIntervalMs: 1, launchTimeoutMs: 50 };
  const records: unknown[] = [];
  const hooks = groupRunHooks(context);
  const begin = (saved?: unknown) =>
    hooks.begin({
      runId: 'run-1',
      desired,
      saved,
      record: async (state) => {
        records.push(state);
        fake.calls.push('record');
      },
    });
  const end = (saved: unknown) => hooks.end({ runId: 'run-1', saved, finished: true });
  const machineOf = async (id: string) =>
    toMachine((await fake.ec2.describeInstances([{ Name: 'instance-id', Values: [id] }]))[0]!);
  const request = async (old: string, attempt = 1) => ({
    pool: 'control-plane',
    replaces: await machineOf(old),
    runId: 'run-1',
    token: `kubeswap-${old}-${attempt}`,
    desired,
  });
  return { fake, context, records, begin, end, request };
}

describe('aws-asg swaps and run hooks over a fake group', () => {
  it('replaces 3 instances by surge and leaves the group exactly as recorded, the user-suspended process kept', async () => {
    const { fake, context, records, begin, end, request } = setup();
    fake.suspended = ['AZRebalance'];
    await begin();
    assert.deepEqual(records, [
      {
        groups: [
          {
            group: 'cp',
            minSize: 3,
            maxSize: 3,
            desiredCapacity: 3,
            userSuspended: ['AZRebalance'],
            newInstancesProtected: false,
          },
        ],
        runs: ['run-1'],
      },
    ]);
    assert.ok(fake.calls.indexOf('record') < fake.calls.findIndex((c) => c.startsWith('suspend')));
    assert.equal(fake.version, '2', 'the group launches the target version from now on');
    for (const old of fake.instances.filter((i) => i.state === 'running').map((i) => i.id)) {
      const replacement = await createReplacement(context, await request(old));
      assert.equal(replacement.imageId, 'ami-v2');
      assert.equal(replacement.replaces, old);
      assert.equal(fake.instances.find((i) => i.id === replacement.id)?.protected, true);
      await terminateInGroup(context, old, 1000);
    }
    assert.equal(fake.max, 4, 'MaxSize raised for the surge');
    const result = await end(records[0]);
    assert.equal(result.restored, true, result.message);
    assert.deepEqual([fake.min, fake.max, fake.desired], [3, 3, 3]);
    assert.deepEqual(fake.suspended, ['AZRebalance']);
    const live = fake.instances.filter((i) => i.state === 'running');
    assert.equal(live.length, 3);
    assert.ok(live.every((i) => i.version === '2' && !i.protected));
    assert.deepEqual(Object.keys(fake.tags), ['kubernetes.io/cluster/c1'], 'the propagated kubeswap tags are gone');
  });

  it('finds the replacement a killed run launched instead of raising the capacity again', async () => {
    const { fake, context, begin, request } = setup();
    await begin();
    const first = await createReplacement(context, await request('i-0000'));
    const again = await createReplacement(context, await request('i-0000'));
    assert.equal(again.id, first.id);
    assert.equal(fake.desired, 4);
    assert.equal(fake.calls.filter((c) => c.startsWith('desired')).length, 1);
  });

  it('removes first at MinSize: lowers MinSize for the run, and the end restores it', async () => {
    const { fake, context, records, begin, end, request } = setup();
    await begin();
    const req = await request('i-0000');
    await terminateInGroup(context, 'i-0000', 1000);
    assert.deepEqual([fake.min, fake.desired], [2, 2]);
    await createReplacement(context, req);
    assert.equal(fake.desired, 3);
    assert.equal((await end(records[0])).restored, true);
    assert.deepEqual([fake.min, fake.max, fake.desired], [3, 3, 3]);
  });

  it('leaves the group held when the end comes with a swap in flight; the resumed run restores it', async () => {
    const { fake, context, records, begin, end, request } = setup();
    await begin();
    await createReplacement(context, await request('i-0000'));
    const held = await end(records[0]);
    assert.equal(held.restored, false);
    assert.ok(fake.suspended.includes('ReplaceUnhealthy'));
    // The re-run: begin with the recorded state re-suspends nothing new and records the same baseline.
    await begin(records[0]);
    assert.deepEqual(records[1], records[0]);
    await terminateInGroup(context, 'i-0000', 1000);
    assert.equal((await end(records[0])).restored, true);
    assert.deepEqual(fake.suspended, []);
  });

  it('codes a permission AWS refused in begin and end as aws.access-denied (exit 4), not a raw SDK error', async () => {
    const { fake, records, begin, end } = setup();
    const denied = (action: string) => async () => {
      throw Object.assign(new Error(`User is not authorized to perform: autoscaling:${action}`), {
        name: 'AccessDenied',
      });
    };
    const asg = fake.asg as unknown as Record<string, unknown>;
    const isDenied = (err: KubeswapError) => err.code === 'aws.access-denied' && err.failure === 'needs-person';
    const refreshes = asg['describeInstanceRefreshes'];
    asg['describeInstanceRefreshes'] = denied('DescribeInstanceRefreshes');
    await assert.rejects(begin(), isDenied);
    asg['describeInstanceRefreshes'] = refreshes;
    const suspend = asg['suspendProcesses'];
    asg['suspendProcesses'] = denied('SuspendProcesses');
    await assert.rejects(
      begin(),
      (err: KubeswapError) => isDenied(err) && /suspend the scaling processes of cp/.test(err.message),
    );
    asg['suspendProcesses'] = suspend;
    asg['updateGroup'] = denied('UpdateAutoScalingGroup');
    await assert.rejects(begin(), isDenied);
    asg['resumeProcesses'] = denied('ResumeProcesses');
    await assert.rejects(
      end(records[0]),
      (err: KubeswapError) => isDenied(err) && /resume the scaling processes/.test(err.message),
    );
  });

  it('refuses a busy group before recording anything (nothing changed)', async () => {
    const { fake, records, begin } = setup();
    fake.refreshes = [{ Status: 'InProgress', InstanceRefreshId: 'r-1' }];
    await assert.rejects(
      begin(),
      (err: KubeswapError) => err.failure === 'blocked' && err.code === 'asg.instance-refresh',
    );
    assert.deepEqual(records, []);
    assert.deepEqual(fake.calls, []);
  });

  it('completes a launch lifecycle hook with CONTINUE once the replacement serves, and only then', async () => {
    const { fake, context, request } = setup();
    fake.lifecycleHooks = [{ name: 'bootstrap', transition: 'LAUNCHING', heartbeatSeconds: 3600 }];
    const replacement = await createReplacement(context, await request('i-0000'));
    assert.equal(fake.instances.find((i) => i.id === replacement.id)?.lifecycle, 'Pending:Wait');
    assert.ok(!fake.calls.some((c) => c.startsWith('complete')), 'not while it joins');
    assert.deepEqual(await completeLaunchHooks(context, replacement.id), ['bootstrap']);
    assert.equal(fake.instances.find((i) => i.id === replacement.id)?.lifecycle, 'InService');
    // Completed already (by kubeswap or the hook's own consumer): nothing more.
    assert.deepEqual(await completeLaunchHooks(context, replacement.id), []);
    assert.equal(fake.calls.filter((c) => c.startsWith('complete')).length, 1);
  });

  it('honours a terminate lifecycle hook: waits in Terminating:Wait for its consumer, never around it', async () => {
    const { fake, context } = setup();
    fake.min = 2;
    fake.lifecycleHooks = [{ name: 'backup', transition: 'TERMINATING', heartbeatSeconds: 1 }];
    const done = terminateInGroup(context, 'i-0000', 10);
    // Longer than the machine timeout given (10 ms), within the hook's heartbeat timeout (1 s).
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(fake.instances[0]!.lifecycle, 'Terminating:Wait');
    assert.equal(fake.instances[0]!.state, 'running', 'the hook holds it');
    fake.completeTermination('i-0000');
    await done;
    assert.deepEqual(
      fake.calls.filter((c) => c.startsWith('terminate')),
      ['terminate i-0000 true'],
      'through the group only',
    );
    assert.ok(!fake.calls.some((c) => c.startsWith('complete')), 'kubeswap never completes a terminate hook');
  });

  it('ends the wait for a held termination on an interrupt, with its reason; the instance goes on leaving', async () => {
    const { fake, context } = setup();
    fake.min = 2;
    fake.lifecycleHooks = [{ name: 'backup', transition: 'TERMINATING', heartbeatSeconds: 600 }];
    const interrupt = new AbortController();
    const reason = new Error('interrupted');
    const done = terminateInGroup(context, 'i-0000', 60_000, { signal: interrupt.signal });
    await new Promise((resolve) => setTimeout(resolve, 20));
    interrupt.abort(reason);
    await assert.rejects(done, (err) => err === reason);
    assert.equal(fake.instances[0]!.lifecycle, 'Terminating:Wait', 'left to its hook and the group');
  });

  it('ends the wait for the group to launch on an interrupt; the re-run finds the launch instead of raising again', async () => {
    const { fake, context, request } = setup();
    const req = await request('i-0000');
    // The group takes its time: the launched instance is not visible yet.
    const describe = fake.ec2.describeInstances;
    let visible = false;
    fake.ec2.describeInstances = async (filters) =>
      !visible && filters.some((f) => f.Values?.includes(req.token)) ? [] : describe(filters);
    const interrupt = new AbortController();
    const reason = new Error('interrupted');
    const launching = createReplacement({ ...context, launchTimeoutMs: 60_000 }, req, { signal: interrupt.signal });
    await new Promise((resolve) => setTimeout(resolve, 20));
    interrupt.abort(reason);
    await assert.rejects(launching, (err) => err === reason);
    assert.equal(fake.desired, 4, 'the capacity raised once');
    visible = true;
    const found = await createReplacement(context, req);
    assert.equal(fake.desired, 4, 'not raised again');
    assert.equal(found.id, fake.instances.at(-1)!.id);
  });

  it('begins a retirement through the group and returns while a terminate hook holds it (beginTermination)', async () => {
    const { fake, context } = setup();
    fake.min = 2;
    fake.lifecycleHooks = [{ name: 'backup', transition: 'TERMINATING', heartbeatSeconds: 600 }];
    await beginTerminationInGroup(context, 'i-0000');
    assert.equal(fake.instances[0]!.lifecycle, 'Terminating:Wait', 'returned at once, the hook holding it');
    assert.equal(fake.instances[0]!.state, 'running');
    assert.equal(await terminateHookMs(context), 600_000, 'its allowance beyond --termination-timeout');
    // Idempotent: a re-run finds it leaving (or gone) and starts nothing again.
    await beginTerminationInGroup(context, 'i-0000');
    fake.completeTermination('i-0000');
    await beginTerminationInGroup(context, 'i-0000');
    assert.deepEqual(
      fake.calls.filter((c) => c.startsWith('terminate')),
      ['terminate i-0000 true'],
      'once, through the group only, the capacity decremented',
    );
    assert.ok(!fake.calls.some((c) => c.startsWith('complete')), 'kubeswap never completes a terminate hook');
  });

  it("lets a run's replacement go from its launch hook once the engine moves past it: next swap, old machine leaving, run end", async () => {
    const { fake, context, request } = setup();
    fake.max = 5;
    fake.lifecycleHooks = [{ name: 'bootstrap', transition: 'LAUNCHING', heartbeatSeconds: 3600 }];
    const lifecycle = (id: string) => fake.instances.find((i) => i.id === id)?.lifecycle;
    const first = await createReplacement(context, await request('i-0000'));
    // Starting the same swap again (a re-run) does not let its own replacement go.
    await createReplacement(context, await request('i-0000'));
    assert.equal(lifecycle(first.id), 'Pending:Wait');
    // The old machine leaving (deregistration) means its replacement serves.
    assert.deepEqual(await completeLaunchHooksOfRun(context, { replaces: 'i-0000' }), [first.id]);
    assert.equal(lifecycle(first.id), 'InService');
    const second = await createReplacement(context, await request('i-0001'));
    const third = await createReplacement(context, await request('i-0002'));
    assert.equal(lifecycle(second.id), 'InService', 'the next swap let the previous replacement go');
    assert.equal(lifecycle(third.id), 'Pending:Wait');
    assert.deepEqual(await completeLaunchHooksOfRun(context, { runId: 'run-1' }), [third.id], 'the run end');
    assert.equal(fake.calls.filter((c) => c.startsWith('complete')).length, 3);
  });
});
