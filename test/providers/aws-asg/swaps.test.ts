import assert from 'node:assert/strict';
import { groupRunHooks } from '../../../providers/aws-asg/run-hooks.ts';
import { createReplacement, terminateInGroup } from '../../../providers/aws-asg/swaps.ts';
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
        group: 'cp',
        minSize: 3,
        maxSize: 3,
        desiredCapacity: 3,
        userSuspended: ['AZRebalance'],
        newInstancesProtected: false,
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
});
