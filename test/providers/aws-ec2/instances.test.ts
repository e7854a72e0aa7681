import assert from 'node:assert/strict';
import { DescribeInstancesCommand } from '@aws-sdk/client-ec2';
import { instanceIdOf } from '../../../providers/aws-ec2/index.ts';
import { checkClusterTags, type Ec2Machine } from '../../../providers/aws-ec2/instances.ts';
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
