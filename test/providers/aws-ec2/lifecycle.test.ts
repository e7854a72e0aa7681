import assert from 'node:assert/strict';
import { DescribeInstancesCommand, TerminateInstancesCommand } from '@aws-sdk/client-ec2';
import {
  DeregisterTargetsCommand,
  DescribeTargetGroupAttributesCommand,
  DescribeTargetHealthCommand,
  ModifyTargetGroupAttributesCommand,
  RegisterTargetsCommand,
} from '@aws-sdk/client-elastic-load-balancing-v2';
import { awsError, ec2Mock, elbMock, instance, provider, TG_ARN } from './builders.ts';

const ec2 = ec2Mock;
const elb = elbMock;

function described(state: string) {
  return { Reservations: [{ Instances: [instance({ InstanceId: 'i-0old', State: { Name: state as 'running' } })] }] };
}
function health(state: string) {
  return {
    TargetHealthDescriptions: [{ Target: { Id: 'i-0old', Port: 6443 }, TargetHealth: { State: state as 'healthy' } }],
  };
}

describe('aws-ec2 terminate', () => {
  beforeEach(() => ec2.reset());

  it('terminates a running instance and polls until it is terminated', async () => {
    ec2
      .on(DescribeInstancesCommand)
      .resolvesOnce(described('running'))
      .resolvesOnce(described('shutting-down'))
      .resolvesOnce(described('shutting-down'))
      .resolves(described('terminated'));
    ec2.on(TerminateInstancesCommand).resolves({});
    await provider().terminate('i-0old', 1_000);
    assert.deepEqual(ec2.commandCalls(TerminateInstancesCommand)[0]!.args[0].input, { InstanceIds: ['i-0old'] });
    assert.equal(ec2.commandCalls(DescribeInstancesCommand).length, 4);
  });

  it('succeeds without a call when the instance is already terminated or gone', async () => {
    ec2.on(DescribeInstancesCommand).resolvesOnce(described('terminated')).resolves({ Reservations: [] });
    await provider().terminate('i-0old', 1_000);
    await provider().terminate('aws:///us-east-1a/i-0old', 1_000);
    assert.equal(ec2.commandCalls(TerminateInstancesCommand).length, 0);
  });

  it('treats InvalidInstanceID.NotFound from TerminateInstances as already done', async () => {
    ec2.on(DescribeInstancesCommand).resolves(described('running'));
    ec2.on(TerminateInstancesCommand).rejects(awsError('InvalidInstanceID.NotFound'));
    await provider().terminate('i-0old', 1_000);
  });

  it('fails with terminate.timeout when the instance stays up past the timeout', async () => {
    ec2.on(DescribeInstancesCommand).resolves(described('shutting-down'));
    await assert.rejects(provider({ pollIntervalMs: 5 }).terminate('i-0old', 30), { code: 'terminate.timeout' });
    assert.equal(ec2.commandCalls(TerminateInstancesCommand).length, 0);
  });

  it('names termination protection as the reason when EC2 refuses', async () => {
    ec2.on(DescribeInstancesCommand).resolves(described('running'));
    ec2.on(TerminateInstancesCommand).rejects(awsError('OperationNotPermitted'));
    await assert.rejects(provider().terminate('i-0old', 1_000), { code: 'terminate.protected' });
  });

  it('ends the wait on an interrupt with its reason as it is, the instance left shutting down', async () => {
    const interrupt = new AbortController();
    const reason = new Error('interrupted');
    ec2
      .on(DescribeInstancesCommand)
      .resolvesOnce(described('running'))
      .callsFake(() => {
        interrupt.abort(reason);
        return described('shutting-down');
      });
    ec2.on(TerminateInstancesCommand).resolves({});
    const terminating = provider({ pollIntervalMs: 60_000 }).terminate('i-0old', 3_600_000, {
      signal: interrupt.signal,
    });
    await assert.rejects(terminating, (err) => err === reason);
    assert.equal(ec2.commandCalls(TerminateInstancesCommand).length, 1);
    assert.equal(ec2.commandCalls(DescribeInstancesCommand).length, 2, 'no look after the interrupt');
  });

  it('retries a throttled describe and still terminates once', async () => {
    ec2
      .on(DescribeInstancesCommand)
      .rejectsOnce(awsError('RequestLimitExceeded'))
      .resolvesOnce(described('running'))
      .resolves(described('terminated'));
    ec2.on(TerminateInstancesCommand).resolves({});
    await provider().terminate('i-0old', 1_000);
    assert.equal(ec2.commandCalls(TerminateInstancesCommand).length, 1);
  });
});

describe('aws-ec2 API targets', () => {
  beforeEach(() => elb.reset());

  it('deregisters the target and waits until it has finished draining', async () => {
    elb
      .on(DescribeTargetHealthCommand)
      .resolvesOnce(health('healthy'))
      .resolvesOnce(health('draining'))
      .resolvesOnce(health('draining'))
      .resolves(health('unused'));
    elb.on(DeregisterTargetsCommand).resolves({});
    await provider().loadBalancer!.deregister('i-0old', 1_000);
    assert.deepEqual(elb.commandCalls(DeregisterTargetsCommand)[0]!.args[0].input, {
      TargetGroupArn: TG_ARN,
      Targets: [{ Id: 'i-0old' }],
    });
    const polls = elb.commandCalls(DescribeTargetHealthCommand);
    assert.equal(polls.length, 4);
    // Always with Targets: without them healthy peers never turn unused.
    assert.ok(polls.every((c) => c.args[0].input.Targets?.[0]?.Id === 'i-0old'));
  });

  it('fails with api-target.draining-timeout while the target keeps draining', async () => {
    elb.on(DescribeTargetHealthCommand).resolves(health('draining'));
    elb.on(DeregisterTargetsCommand).resolves({});
    await assert.rejects(provider({ pollIntervalMs: 5 }).loadBalancer!.deregister('i-0old', 30), {
      code: 'api-target.draining-timeout',
    });
  });

  it('ends the wait on an interrupt with its reason as it is (not a wrapped AWS failure)', async () => {
    const interrupt = new AbortController();
    const reason = new Error('interrupted');
    elb
      .on(DescribeTargetHealthCommand)
      .resolvesOnce(health('healthy'))
      .callsFake(() => {
        interrupt.abort(reason);
        return health('draining');
      });
    elb.on(DeregisterTargetsCommand).resolves({});
    elb.on(DescribeTargetGroupAttributesCommand).resolves({
      Attributes: [{ Key: 'deregistration_delay.timeout_seconds', Value: '300' }],
    });
    const deregistering = provider({ pollIntervalMs: 60_000 }).loadBalancer!.deregister('i-0old', 3_600_000, {
      signal: interrupt.signal,
    });
    await assert.rejects(deregistering, (err) => err === reason);
    assert.equal(elb.commandCalls(DeregisterTargetsCommand).length, 1);
  });

  it('skips deregistration of a target that is not registered', async () => {
    elb.on(DescribeTargetHealthCommand).resolves(health('unused'));
    await provider().loadBalancer!.deregister('aws:///us-east-1a/i-0old', 1_000);
    assert.equal(elb.commandCalls(DeregisterTargetsCommand).length, 0);
  });

  it('sets the target group deregistration delay once when configured and different', async () => {
    elb.on(DescribeTargetHealthCommand).resolves(health('unused'));
    elb.on(DescribeTargetGroupAttributesCommand).resolves({
      Attributes: [{ Key: 'deregistration_delay.timeout_seconds', Value: '300' }],
    });
    elb.on(ModifyTargetGroupAttributesCommand).resolves({});
    const p = provider({ deregistrationDelaySeconds: 5 });
    await p.loadBalancer!.deregister('i-0old', 1_000);
    await p.loadBalancer!.deregister('i-0old', 1_000);
    assert.deepEqual(
      elb.commandCalls(ModifyTargetGroupAttributesCommand).map((c) => c.args[0].input),
      [{ TargetGroupArn: TG_ARN, Attributes: [{ Key: 'deregistration_delay.timeout_seconds', Value: '5' }] }],
    );
  });

  it('registers by instance id and lists the group membership as API targets', async () => {
    elb.on(RegisterTargetsCommand).resolves({});
    elb.on(DescribeTargetHealthCommand).resolves({
      TargetHealthDescriptions: [
        { Target: { Id: 'i-0a' }, TargetHealth: { State: 'healthy' } },
        { Target: { Id: 'i-0b' }, TargetHealth: { State: 'draining' } },
      ],
    });
    const p = provider();
    await p.loadBalancer!.register('aws:///us-east-1b/i-0new');
    assert.deepEqual(elb.commandCalls(RegisterTargetsCommand)[0]!.args[0].input.Targets, [{ Id: 'i-0new' }]);
    // ELBv2's words in the contract's generic ones.
    assert.deepEqual(await p.loadBalancer!.targets(), [
      { machineId: 'i-0a', state: 'serving' },
      { machineId: 'i-0b', state: 'draining' },
    ]);
  });

  it('has no load-balancer sub-port without a target group', async () => {
    const p = provider({ targetGroupArn: undefined });
    assert.equal(p.loadBalancer, undefined);
    assert.equal(elb.calls().length, 0);
  });
});
