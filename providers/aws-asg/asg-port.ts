// The narrow Auto Scaling port (after CDK's per-service interfaces): only the calls this provider makes,
// throttling retries inside, SDK shapes out.
import {
  type AutoScalingClient,
  type AutoScalingGroup,
  CompleteLifecycleActionCommand,
  CreateOrUpdateTagsCommand,
  DeleteTagsCommand,
  DescribeAutoScalingGroupsCommand,
  DescribeInstanceRefreshesCommand,
  DescribeLifecycleHooksCommand,
  type InstanceRefresh,
  type LifecycleHook,
  ResumeProcessesCommand,
  SetDesiredCapacityCommand,
  SetInstanceProtectionCommand,
  SuspendProcessesCommand,
  TerminateInstanceInAutoScalingGroupCommand,
  UpdateAutoScalingGroupCommand,
  type UpdateAutoScalingGroupCommandInput,
} from '@aws-sdk/client-auto-scaling';
import type { AwsCall } from '../aws-ec2/retry.ts';

export interface AsgPort {
  describeGroup(name: string): Promise<AutoScalingGroup | undefined>;
  describeInstanceRefreshes(name: string): Promise<InstanceRefresh[]>;
  suspendProcesses(name: string, processes: string[]): Promise<void>;
  resumeProcesses(name: string, processes: string[]): Promise<void>;
  updateGroup(input: UpdateAutoScalingGroupCommandInput): Promise<void>;
  setDesiredCapacity(name: string, capacity: number): Promise<void>;
  setInstanceProtection(name: string, instanceIds: string[], protect: boolean): Promise<void>;
  terminateInstance(instanceId: string, decrementDesired: boolean): Promise<void>;
  /** Group tags that propagate to the instances it launches from now on. */
  setPropagatingTags(name: string, tags: Record<string, string>): Promise<void>;
  deleteTags(name: string, keys: string[]): Promise<void>;
  describeLifecycleHooks(name: string): Promise<LifecycleHook[]>;
  completeLifecycleAction(
    name: string,
    hook: string,
    instanceId: string,
    result: 'CONTINUE' | 'ABANDON',
  ): Promise<void>;
}

export function asgPort(client: AutoScalingClient, call: AwsCall): AsgPort {
  const groupTag = (name: string, Key: string) => ({ ResourceId: name, ResourceType: 'auto-scaling-group', Key });
  return {
    async describeGroup(name) {
      const out = await call('describe auto scaling group', () =>
        client.send(new DescribeAutoScalingGroupsCommand({ AutoScalingGroupNames: [name] })),
      );
      return out.AutoScalingGroups?.find((g) => g.AutoScalingGroupName === name);
    },
    async describeInstanceRefreshes(name) {
      const out = await call('describe instance refreshes', () =>
        client.send(new DescribeInstanceRefreshesCommand({ AutoScalingGroupName: name })),
      );
      return out.InstanceRefreshes ?? [];
    },
    async suspendProcesses(name, processes) {
      if (processes.length === 0) return;
      await call('suspend processes', () =>
        client.send(new SuspendProcessesCommand({ AutoScalingGroupName: name, ScalingProcesses: processes })),
      );
    },
    async resumeProcesses(name, processes) {
      if (processes.length === 0) return;
      await call('resume processes', () =>
        client.send(new ResumeProcessesCommand({ AutoScalingGroupName: name, ScalingProcesses: processes })),
      );
    },
    async updateGroup(input) {
      await call('update auto scaling group', () => client.send(new UpdateAutoScalingGroupCommand(input)));
    },
    async setDesiredCapacity(name, capacity) {
      // HonorCooldown false: the run, not a cooldown, paces the launches.
      await call('set desired capacity', () =>
        client.send(
          new SetDesiredCapacityCommand({
            AutoScalingGroupName: name,
            DesiredCapacity: capacity,
            HonorCooldown: false,
          }),
        ),
      );
    },
    async setInstanceProtection(name, instanceIds, protect) {
      if (instanceIds.length === 0) return;
      await call('set instance protection', () =>
        client.send(
          new SetInstanceProtectionCommand({
            AutoScalingGroupName: name,
            InstanceIds: instanceIds,
            ProtectedFromScaleIn: protect,
          }),
        ),
      );
    },
    async terminateInstance(instanceId, decrementDesired) {
      await call('terminate instance in auto scaling group', () =>
        client.send(
          new TerminateInstanceInAutoScalingGroupCommand({
            InstanceId: instanceId,
            ShouldDecrementDesiredCapacity: decrementDesired,
          }),
        ),
      );
    },
    async setPropagatingTags(name, tags) {
      const Tags = Object.entries(tags).map(([Key, Value]) => ({
        ...groupTag(name, Key),
        Value,
        PropagateAtLaunch: true,
      }));
      if (Tags.length === 0) return;
      await call('tag auto scaling group', () => client.send(new CreateOrUpdateTagsCommand({ Tags })));
    },
    async deleteTags(name, keys) {
      if (keys.length === 0) return;
      await call('untag auto scaling group', () =>
        client.send(new DeleteTagsCommand({ Tags: keys.map((Key) => groupTag(name, Key)) })),
      );
    },
    async describeLifecycleHooks(name) {
      const out = await call('describe lifecycle hooks', () =>
        client.send(new DescribeLifecycleHooksCommand({ AutoScalingGroupName: name })),
      );
      return out.LifecycleHooks ?? [];
    },
    async completeLifecycleAction(name, hook, instanceId, result) {
      await call('complete lifecycle action', () =>
        client.send(
          new CompleteLifecycleActionCommand({
            AutoScalingGroupName: name,
            LifecycleHookName: hook,
            InstanceId: instanceId,
            LifecycleActionResult: result,
          }),
        ),
      );
    },
  };
}
