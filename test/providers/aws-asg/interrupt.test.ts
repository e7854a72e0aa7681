// The aws-asg provider as the engine calls it, over the SDK clients mocked: an interrupt ends its waits with the
// signal's reason as it is, never wrapped as an AWS failure (the engine then exits 130 rather than 1).
import assert from 'node:assert/strict';
import {
  AutoScalingClient,
  DescribeAutoScalingGroupsCommand,
  DescribeLifecycleHooksCommand,
  TerminateInstanceInAutoScalingGroupCommand,
} from '@aws-sdk/client-auto-scaling';
import { DescribeInstancesCommand } from '@aws-sdk/client-ec2';
import { mockClient } from 'aws-sdk-client-mock';
import { createAwsAsgProvider } from '../../../providers/aws-asg/index.ts';
import { ec2Mock, instance } from '../aws-ec2/builders.ts';

const asg = mockClient(AutoScalingClient);

describe('aws-asg provider interrupted', () => {
  beforeEach(() => {
    asg.reset();
    ec2Mock.reset();
  });
  after(() => asg.restore());

  it('ends the wait for a termination held by a terminate hook with the reason as it is', async () => {
    const interrupt = new AbortController();
    const reason = new Error('interrupted');
    asg.on(DescribeAutoScalingGroupsCommand).resolves({
      AutoScalingGroups: [
        {
          AutoScalingGroupName: 'cp',
          MinSize: 2,
          MaxSize: 3,
          DesiredCapacity: 3,
          Instances: [{ InstanceId: 'i-0old', LifecycleState: 'InService' }],
        } as never,
      ],
    });
    asg.on(DescribeLifecycleHooksCommand).resolves({
      LifecycleHooks: [
        {
          LifecycleHookName: 'backup',
          LifecycleTransition: 'autoscaling:EC2_INSTANCE_TERMINATING',
          HeartbeatTimeout: 600,
        },
      ],
    });
    asg.on(TerminateInstanceInAutoScalingGroupCommand).resolves({});
    const described = (state: string) => ({
      Reservations: [{ Instances: [instance({ InstanceId: 'i-0old', State: { Name: state as 'running' } })] }],
    });
    ec2Mock
      .on(DescribeInstancesCommand)
      .resolvesOnce(described('running'))
      .callsFake(() => {
        interrupt.abort(reason);
        return described('running');
      });
    const provider = createAwsAsgProvider({
      region: 'us-east-1',
      credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' },
      clusterName: 'prod',
      autoScalingGroup: 'cp',
      pollIntervalMs: 60_000,
    });
    try {
      await assert.rejects(
        provider.terminate('i-0old', 3_600_000, { signal: interrupt.signal }),
        (err) => err === reason,
      );
      assert.equal(asg.commandCalls(TerminateInstanceInAutoScalingGroupCommand).length, 1);
      assert.equal(ec2Mock.commandCalls(DescribeInstancesCommand).length, 2, 'no look after the interrupt');
    } finally {
      provider.destroy();
    }
  });
});
