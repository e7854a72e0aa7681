import assert from 'node:assert/strict';
import { DescribeInstancesCommand, type Filter, type Instance } from '@aws-sdk/client-ec2';
import type { Ec2Port } from '../../../providers/aws-ec2/ec2-port.ts';
import { instanceIdOf } from '../../../providers/aws-ec2/index.ts';
import { ControlPlaneListing, checkClusterTags, type Ec2Machine } from '../../../providers/aws-ec2/instances.ts';
import { checkProvider } from '../../../providers/index.ts';
import { ec2Mock, instance, provider } from './builders.ts';

const ec2 = ec2Mock;

describe('aws-ec2 machines', () => {
  beforeEach(() => ec2.reset());

  it('implements the provider contract', () => {
    checkProvider(provider(), 'aws-ec2');
  });

  for (const [input, expected] of [
    ['aws:///us-east-1a/i-0abc123', 'i-0abc123'],
    ['aws:////i-0abc123', 'i-0abc123'],
    ['i-0abc123', 'i-0abc123'],
    ['gce://project/zone/vm', undefined],
    ['aws:///us-east-1a/not-an-instance', undefined],
  ] as const) {
    it(`reads the instance id ${expected ?? 'nothing'} from ${input}`, () => {
      assert.equal(instanceIdOf(input), expected);
    });
  }

  it('lists linked instances and tagged replacements once each, oldest first, mapped to machines', async () => {
    const linked = instance({
      InstanceId: 'i-0old',
      State: { Name: 'running' },
      LaunchTime: new Date('2026-01-01T00:00:00Z'),
      Tags: [
        { Key: 'aws:ec2launchtemplate:id', Value: 'lt-1' },
        { Key: 'aws:ec2launchtemplate:version', Value: '2' },
      ],
    });
    const replacement = instance({
      InstanceId: 'i-0new',
      Tags: [
        { Key: 'kubeswap.io/replaces', Value: 'i-0old' },
        { Key: 'kubeswap.io/run-id', Value: 'run-1' },
      ],
    });
    ec2
      .on(DescribeInstancesCommand)
      .callsFake((input) =>
        input.Filters?.some((f: { Name: string }) => f.Name === 'instance-id')
          ? { Reservations: [{ Instances: [linked] }] }
          : { Reservations: [{ Instances: [replacement] }, { Instances: [linked] }] },
      );
    const machines = await provider().listMachines('control-plane', [
      'aws:///us-east-1a/i-0old',
      'aws:///us-east-1a/i-0old',
    ]);
    assert.deepEqual(
      machines.map((m) => [m.id, m.status, m.replaces, m.runId, (m as Ec2Machine).launchTemplate?.version]),
      [
        ['i-0old', 'running', undefined, undefined, '2'],
        ['i-0new', 'pending', 'i-0old', 'run-1', undefined],
      ],
    );
    assert.equal(machines[1]?.providerId, 'aws:///us-east-1a/i-0new');
  });

  it('follows NextToken through every page of instances', async () => {
    ec2
      .on(DescribeInstancesCommand)
      .resolvesOnce({ Reservations: [{ Instances: [instance({ InstanceId: 'i-01' })] }], NextToken: 'p2' })
      .resolves({ Reservations: [{ Instances: [instance({ InstanceId: 'i-02' })] }] });
    const machines = await provider().listMachines('control-plane', []);
    assert.deepEqual(
      machines.map((m) => m.id),
      ['i-01', 'i-02'],
    );
    assert.equal(ec2.commandCalls(DescribeInstancesCommand)[1]!.args[0].input.NextToken, 'p2');
  });
});

describe('aws-ec2 cluster ownership', () => {
  const m = (tags: Record<string, string>) =>
    ({
      id: 'i-1',
      providerId: 'aws:///a/i-1',
      zone: 'a',
      pool: 'control-plane',
      imageId: 'ami-1',
      phase: 'running',
      status: 'running',
      state: 'running',
      launchedAt: new Date(0),
      tags,
    }) as const satisfies Ec2Machine;
  it('accepts machines tagged owned or shared for the cluster', () => {
    assert.deepEqual(
      checkClusterTags(
        [{ ...m({ 'kubernetes.io/cluster/prod': 'owned' }) }, { ...m({ 'kubernetes.io/cluster/prod': 'shared' }) }],
        'prod',
      ),
      [],
    );
  });
  it('names a machine without the cluster tag, so a wrong --cluster-name is refused', () => {
    const problems = checkClusterTags([{ ...m({ 'kubernetes.io/cluster/prod': 'owned' }) }], 'staging');
    assert.equal(problems.length, 1);
    assert.equal(problems[0]!.code, 'machine.not-in-cluster');
    assert.match(problems[0]!.message, /i-1 is not tagged kubernetes\.io\/cluster\/staging=owned/);
  });
});

describe('aws-ec2 control-plane listing within a run', () => {
  /** EC2 with the given instances; records each DescribeInstances' filter names. */
  function fakeEc2(instances: Instance[]) {
    const requests: string[][] = [];
    const port = {
      async describeInstances(filters: Filter[]) {
        requests.push(filters.map((f) => f.Name ?? ''));
        return instances.filter((i) =>
          filters.every((f) => {
            if (f.Name === 'instance-id') return f.Values!.includes(i.InstanceId!);
            if (f.Name === 'instance-state-name') return f.Values!.includes(i.State!.Name!);
            const key = f.Name!.replace(/^tag:/, '');
            return i.Tags?.some((t) => t.Key === key && f.Values!.includes(t.Value!));
          }),
        );
      },
    } as unknown as Ec2Port;
    return { port, requests };
  }
  const owned = [
    { Key: 'kubernetes.io/cluster/prod', Value: 'owned' },
    { Key: 'kubeswap.io/role', Value: 'control-plane' },
  ];

  it('lists by tag once, then sends ONE DescribeInstances per call for the linked and remembered machines', async () => {
    const old = instance({ InstanceId: 'i-0old', Tags: [] });
    const replacement = instance({ InstanceId: 'i-0new', Tags: owned, State: { Name: 'pending' } });
    const ec2 = fakeEc2([old, replacement]);
    let now = 0;
    const listing = new ControlPlaneListing(ec2.port, 'prod', 60_000, () => now);
    const first = await listing.list(['aws:///us-east-1a/i-0old']);
    assert.equal(ec2.requests.length, 2);
    now += 1000;
    const second = await listing.list(['aws:///us-east-1a/i-0old']);
    assert.equal(ec2.requests.length, 3);
    assert.deepEqual(ec2.requests[2], ['instance-id']);
    assert.deepEqual(
      second.map((m) => m.id),
      first.map((m) => m.id),
    );
    // The remembered replacement terminated with no Node linking it: dropped, as the tag lookup (live only) drops it.
    replacement.State = { Name: 'terminated' };
    now += 1000;
    assert.deepEqual(
      (await listing.list(['aws:///us-east-1a/i-0old'])).map((m) => m.id),
      ['i-0old'],
    );
    // After a launch (forget) and after the refresh interval, the tag lookup runs again.
    listing.forget();
    await listing.list(['aws:///us-east-1a/i-0old']);
    assert.equal(ec2.requests.length, 6);
    now += 60_000;
    await listing.list(['aws:///us-east-1a/i-0old']);
    assert.equal(ec2.requests.length, 8);
  });

  it('keeps a replacement it launched although a tag lookup right after the launch misses it (eventual consistency)', async () => {
    const old = instance({ InstanceId: 'i-0old', Tags: [] });
    const launched = instance({ InstanceId: 'i-0new', Tags: owned, State: { Name: 'pending' } });
    const instances = [old];
    const ec2 = fakeEc2(instances);
    const listing = new ControlPlaneListing(ec2.port, 'prod', 60_000, () => 0);
    const ids = async () => (await listing.list(['aws:///us-east-1a/i-0old'])).map((m) => m.id).sort();
    assert.deepEqual(await ids(), ['i-0old']);
    // Launched: EC2 answers it by id, but its tags are not searchable yet.
    instances.push({ ...launched, Tags: [] });
    listing.forget();
    listing.remember('i-0new');
    assert.deepEqual(await ids(), ['i-0new', 'i-0old'], 'the full listing asks for the pinned id it missed');
    assert.deepEqual(await ids(), ['i-0new', 'i-0old'], 'and the remembered listing keeps asking for it');
    // Not even answered by id yet (an older read replica): kept, not dropped.
    instances.pop();
    assert.deepEqual(await ids(), ['i-0old']);
    instances.push(launched);
    assert.deepEqual(await ids(), ['i-0new', 'i-0old'], 'pinned: asked for again once EC2 shows it');
    // Terminated: dropped, as the tag lookup drops it.
    launched.State = { Name: 'terminated' };
    assert.deepEqual(await ids(), ['i-0old']);
    launched.State = { Name: 'running' };
    assert.deepEqual(await ids(), ['i-0old'], 'no longer asked for once seen terminated');
  });
});
