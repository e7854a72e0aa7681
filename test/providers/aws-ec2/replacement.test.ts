import assert from 'node:assert/strict';
import {
  DescribeInstancesCommand,
  DescribeLaunchTemplateVersionsCommand,
  DescribeSubnetsCommand,
  RunInstancesCommand,
  type RunInstancesCommandInput,
} from '@aws-sdk/client-ec2';
import { ProviderError } from '../../../providers/aws-ec2/errors.ts';
import { clientToken } from '../../../providers/aws-ec2/replacement.ts';
import { awsError, ec2Mock, instance, LT_ID, machine, provider, request } from './builders.ts';

const ec2 = ec2Mock;

function launched(): RunInstancesCommandInput[] {
  return ec2.commandCalls(RunInstancesCommand).map((c) => c.args[0].input);
}
function tagsOf(input: RunInstancesCommandInput, type = 'instance'): Record<string, string | undefined> {
  const spec = input.TagSpecifications?.find((t) => t.ResourceType === type);
  return Object.fromEntries((spec?.Tags ?? []).map((t) => [t.Key, t.Value]));
}

/** The old machine's subnet-a1 is in vpc-1/us-east-1a, next to `ids` (order as EC2 returns them). */
function subnetsInZone(ids: string[]) {
  ec2
    .on(DescribeSubnetsCommand)
    .callsFake((input) =>
      input.SubnetIds
        ? { Subnets: [{ SubnetId: 'subnet-a1', VpcId: 'vpc-1', AvailabilityZone: 'us-east-1a' }] }
        : { Subnets: ids.map((SubnetId) => ({ SubnetId, VpcId: 'vpc-1', AvailabilityZone: 'us-east-1a' })) },
    );
}

describe('aws-ec2 createReplacement', () => {
  beforeEach(() => {
    ec2.reset();
    ec2.on(DescribeInstancesCommand).resolves({ Reservations: [] });
    ec2.on(DescribeLaunchTemplateVersionsCommand).resolves({
      LaunchTemplateVersions: [
        { LaunchTemplateId: LT_ID, VersionNumber: 3, LaunchTemplateData: { InstanceType: 'm7i.large' } },
      ],
    });
    ec2.on(RunInstancesCommand).resolves({ Instances: [instance()] });
  });

  it('derives the same ClientToken for the same request and subnet, at most 64 characters', () => {
    const long = 'r'.repeat(60) + '-i-0123456789abcdef0-attempt-1';
    assert.equal(clientToken(long, 'subnet-a1'), clientToken(long, 'subnet-a1'));
    assert.ok(clientToken(long, 'subnet-a1').length <= 64);
    assert.notEqual(clientToken(long, 'subnet-a1'), clientToken(long, 'subnet-a2'));
    assert.notEqual(clientToken(long, 'subnet-a1'), clientToken(`${long}x`, 'subnet-a1'));
    assert.match(clientToken('run 1/ü', undefined), /^[A-Za-z0-9._-]+$/);
  });

  it('sends the deterministic ClientToken on every launch of the same request', async () => {
    await provider().createReplacement(request());
    await provider().createReplacement(request());
    const [first, second] = launched();
    assert.equal(first?.ClientToken, second?.ClientToken);
    assert.equal(first?.ClientToken, clientToken(request().token, 'subnet-a1'));
  });

  it('tags the instance for the cluster, role, run, replaced instance and token, plus the request tags', async () => {
    await provider().createReplacement(request({ tags: { team: 'platform', 'kubeswap.io/run-id': 'spoofed' } }));
    const tags = tagsOf(launched()[0]!);
    assert.deepEqual(tags, {
      team: 'platform',
      'kubernetes.io/cluster/prod': 'owned',
      'kubeswap.io/role': 'control-plane',
      'kubeswap.io/run-id': 'run-20260101-abcd',
      'kubeswap.io/replaces': 'i-0old',
      'kubeswap.io/token': 'run-20260101-abcd-i-0old-1',
    });
    assert.equal(tagsOf(launched()[0]!, 'volume')['kubeswap.io/replaces'], 'i-0old');
  });

  it('launches from the resolved launch template version with the desired image and IMDSv2 required', async () => {
    const machine = await provider().createReplacement(request());
    const input = launched()[0]!;
    assert.deepEqual(input.LaunchTemplate, { LaunchTemplateId: LT_ID, Version: '3' });
    assert.equal(input.ImageId, 'ami-new');
    assert.equal(input.MetadataOptions?.HttpTokens, 'required');
    assert.equal(input.MinCount, 1);
    assert.equal(input.MaxCount, 1);
    assert.equal(machine.id, 'i-0new');
    assert.equal(machine.replaces, 'i-0old');
    assert.equal(machine.providerId, 'aws:///us-east-1a/i-0new');
  });

  it('leaves user data to the launch template unless the request renders it, then sends it base64', async () => {
    await provider().createReplacement(request());
    await provider().createReplacement(request({ userData: '#cloud-config\n' }));
    const [fromTemplate, rendered] = launched();
    assert.equal(fromTemplate?.UserData, undefined);
    assert.equal(rendered?.UserData, Buffer.from('#cloud-config\n').toString('base64'));
  });

  it('places the replacement in the replaced machine subnet with SubnetId', async () => {
    await provider().createReplacement(request());
    assert.equal(launched()[0]?.SubnetId, 'subnet-a1');
    assert.equal(launched()[0]?.NetworkInterfaces, undefined);
  });

  it('places the subnet into network interface 0 when the launch template defines interfaces', async () => {
    ec2.on(DescribeLaunchTemplateVersionsCommand).resolves({
      LaunchTemplateVersions: [
        {
          VersionNumber: 3,
          LaunchTemplateData: {
            NetworkInterfaces: [{ DeviceIndex: 0, Groups: ['sg-cp'], AssociatePublicIpAddress: false }],
          },
        },
      ],
    });
    await provider().createReplacement(request());
    const input = launched()[0]!;
    assert.equal(input.SubnetId, undefined);
    assert.deepEqual(input.NetworkInterfaces, [
      { DeviceIndex: 0, SubnetId: 'subnet-a1', Groups: ['sg-cp'], AssociatePublicIpAddress: false },
    ]);
  });

  it("tries the next of the cluster's subnets of the same VPC and AZ on InsufficientInstanceCapacity", async () => {
    subnetsInZone(['subnet-a3', 'subnet-a1', 'subnet-a2']);
    ec2.on(RunInstancesCommand, { SubnetId: 'subnet-a1' }).rejects(awsError('InsufficientInstanceCapacity'));
    ec2
      .on(RunInstancesCommand, { SubnetId: 'subnet-a2' })
      .resolves({ Instances: [instance({ SubnetId: 'subnet-a2' })] });

    const machine = await provider().createReplacement(request());
    assert.deepEqual(
      launched().map((i) => i.SubnetId),
      ['subnet-a1', 'subnet-a2'],
    );
    assert.equal(machine.subnetId, 'subnet-a2');
    const siblingQuery = ec2.commandCalls(DescribeSubnetsCommand)[1]!.args[0].input;
    assert.deepEqual(siblingQuery.Filters, [
      { Name: 'vpc-id', Values: ['vpc-1'] },
      { Name: 'availability-zone', Values: ['us-east-1a'] },
      // Only subnets the cluster declares (as the AWS cloud provider reads them), never any subnet of the zone.
      { Name: 'tag:kubernetes.io/cluster/prod', Values: ['owned', 'shared'] },
    ]);
    // A different subnet is a different request: the same token would be IdempotentParameterMismatch.
    assert.notEqual(launched()[0]?.ClientToken, launched()[1]?.ClientToken);
  });

  it('reports capacity.insufficient once every subnet of the AZ had no capacity', async () => {
    subnetsInZone(['subnet-a1', 'subnet-a2']);
    ec2.on(RunInstancesCommand).rejects(awsError('InsufficientInstanceCapacity'));

    await assert.rejects(provider().createReplacement(request()), (error: unknown) => {
      assert.ok(error instanceof ProviderError);
      assert.equal(error.code, 'capacity.insufficient');
      assert.match(error.message, /subnet-a1: InsufficientInstanceCapacity, subnet-a2: InsufficientInstanceCapacity/);
      assert.ok(error.hint);
      return true;
    });
    assert.equal(launched().length, 2);
  });

  it('returns the instance an earlier run launched for the same token instead of launching again', async () => {
    const earlier = instance({
      InstanceId: 'i-0earlier',
      State: { Name: 'running' },
      Tags: [
        { Key: 'kubeswap.io/replaces', Value: 'i-0old' },
        { Key: 'kubeswap.io/run-id', Value: 'run-20260101-abcd' },
      ],
    });
    ec2.on(DescribeInstancesCommand).resolves({ Reservations: [{ Instances: [earlier] }] });

    const machine = await provider().createReplacement(request());
    assert.equal(machine.id, 'i-0earlier');
    assert.equal(machine.runId, 'run-20260101-abcd');
    assert.equal(launched().length, 0);
    const filters = ec2.commandCalls(DescribeInstancesCommand)[0]!.args[0].input.Filters ?? [];
    assert.deepEqual(
      filters.find((f) => f.Name === 'tag:kubeswap.io/token'),
      { Name: 'tag:kubeswap.io/token', Values: ['run-20260101-abcd-i-0old-1'] },
    );
    assert.ok(!filters.find((f) => f.Name === 'instance-state-name')?.Values?.includes('terminated'));
  });

  it('refuses a ClientToken that hands back a terminated instance', async () => {
    ec2.on(RunInstancesCommand).resolves({ Instances: [instance({ State: { Name: 'terminated' } })] });
    await assert.rejects(provider().createReplacement(request()), { code: 'replacement.token-reused' });
  });

  it('calls a ClientToken used before with other parameters reused (IdempotentParameterMismatch)', async () => {
    ec2.on(RunInstancesCommand).rejects(awsError('IdempotentParameterMismatch'));
    await assert.rejects(provider().createReplacement(request()), { code: 'replacement.token-reused' });
  });

  it('retries a throttled launch with backoff and launches once', async () => {
    ec2
      .on(RunInstancesCommand)
      .rejectsOnce(awsError('RequestLimitExceeded'))
      .rejectsOnce(awsError('RequestLimitExceeded'))
      .resolves({ Instances: [instance()] });
    const machine = await provider().createReplacement(request());
    assert.equal(machine.id, 'i-0new');
    assert.equal(launched().length, 3);
    assert.equal(new Set(launched().map((i) => i.ClientToken)).size, 1);
  });

  it('gives up on throttling after the configured retries with aws.throttled', async () => {
    ec2.on(RunInstancesCommand).rejects(awsError('RequestLimitExceeded'));
    await assert.rejects(
      provider({ throttleRetry: { retries: 2, minTimeoutMs: 1, maxTimeoutMs: 1 } }).createReplacement(request()),
      {
        code: 'aws.throttled',
      },
    );
    assert.equal(launched().length, 3);
  });

  it('does not retry other AWS errors and wraps them with context', async () => {
    ec2.on(RunInstancesCommand).rejects(awsError('InvalidParameterValue', 'bad value'));
    await assert.rejects(provider().createReplacement(request()), (error: unknown) => {
      assert.ok(error instanceof ProviderError);
      assert.equal(error.code, 'aws.request-failed');
      assert.equal(error.failure, 'internal');
      assert.match(error.message, /failed to launch the replacement of i-0old: InvalidParameterValue/);
      return true;
    });
    assert.equal(launched().length, 1);
  });

  for (const name of ['UnauthorizedOperation', 'AccessDenied']) {
    it(`says a permission AWS refused (${name}) needs a person, naming the policy templates`, async () => {
      ec2.on(RunInstancesCommand).rejects(awsError(name, 'not authorized to perform: ec2:RunInstances'));
      await assert.rejects(provider().createReplacement(request()), (error: unknown) => {
        assert.ok(error instanceof ProviderError);
        assert.equal(error.code, 'aws.access-denied');
        assert.equal(error.failure, 'needs-person');
        assert.match(error.message, /not authorized to perform: ec2:RunInstances/);
        assert.match(error.hint ?? '', /templates\/iam/);
        return true;
      });
      assert.equal(launched().length, 1);
    });
  }

  it('launches without a subnet override when the replaced machine has no known subnet', async () => {
    await provider().createReplacement(request({ replaces: machine({ subnetId: undefined }) }));
    assert.equal(launched()[0]?.SubnetId, undefined);
    assert.equal(launched()[0]?.NetworkInterfaces, undefined);
  });
});
