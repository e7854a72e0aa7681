// A fake of the provider's own ports (AsgPort, and the EC2 port's describeInstances) over one group, with the
// Auto Scaling behaviour the provider relies on: propagated tags at launch, capacity raises launch instances,
// TerminateInstanceInAutoScalingGroup with the decrement, MinSize <= desired <= MaxSize enforced as AWS does.
import type { AutoScalingGroup, InstanceRefresh } from '@aws-sdk/client-auto-scaling';
import type { Filter, Instance } from '@aws-sdk/client-ec2';
import type { AsgPort } from '../../../providers/aws-asg/asg-port.ts';
import type { Ec2Port } from '../../../providers/aws-ec2/ec2-port.ts';

interface FakeInstance {
  id: string;
  lifecycle: string;
  protected: boolean;
  state: 'running' | 'terminated';
  tags: Record<string, string>;
  version: string;
}

export class FakeGroup {
  min = 3;
  max = 3;
  desired = 3;
  suspended: string[] = [];
  version = '1';
  tags: Record<string, { value: string; propagate: boolean }> = {
    'kubernetes.io/cluster/c1': { value: 'owned', propagate: true },
  };
  refreshes: InstanceRefresh[] = [];
  /** Lifecycle hooks: a launch hook holds new instances in Pending:Wait, a terminate hook in Terminating:Wait. */
  lifecycleHooks: { name: string; transition: 'LAUNCHING' | 'TERMINATING'; heartbeatSeconds: number }[] = [];
  instances: FakeInstance[] = [];
  calls: string[] = [];
  /** The newest version of the group's launch template (its image: `ami-v<version>`). */
  latest = 2;
  /** Launches through a MixedInstancesPolicy (its template in the policy, no LaunchTemplate of its own). */
  mixed = false;
  private next = 0;

  constructor(
    count = 3,
    readonly name = 'cp',
    readonly template = 'lt-1',
    /** Instance ids start here (two fakes side by side must not share ids). */
    first = 0,
  ) {
    this.next = first;
    for (let i = 0; i < count; i++) this.launch();
  }

  private launch(): void {
    const tags = Object.fromEntries(
      Object.entries(this.tags)
        .filter(([, t]) => t.propagate)
        .map(([k, t]) => [k, t.value]),
    );
    const held = this.lifecycleHooks.some((h) => h.transition === 'LAUNCHING');
    this.instances.push({
      id: `i-${(this.next++).toString(16).padStart(4, '0')}`,
      lifecycle: held ? 'Pending:Wait' : 'InService',
      protected: false,
      state: 'running',
      tags: { ...tags, 'aws:autoscaling:groupName': this.name },
      version: this.version,
    });
  }

  private scale(): void {
    const live = () => this.instances.filter((i) => i.state === 'running');
    while (live().length < this.desired) this.launch();
  }

  private check(min: number, max: number, desired: number): void {
    if (!(min <= desired && desired <= max))
      throw Object.assign(new Error('ValidationError'), { name: 'ValidationError' });
  }

  group(): AutoScalingGroup {
    return {
      AutoScalingGroupName: this.name,
      MinSize: this.min,
      MaxSize: this.max,
      DesiredCapacity: this.desired,
      SuspendedProcesses: this.suspended.map((ProcessName) => ({ ProcessName })),
      ...(this.mixed
        ? {
            MixedInstancesPolicy: {
              LaunchTemplate: {
                LaunchTemplateSpecification: { LaunchTemplateId: this.template, Version: this.version },
              },
            },
          }
        : { LaunchTemplate: { LaunchTemplateId: this.template, Version: this.version } }),
      TargetGroupARNs: ['arn:tg'],
      Tags: Object.entries(this.tags).map(([Key, t]) => ({ Key, Value: t.value, PropagateAtLaunch: t.propagate })),
      Instances: this.instances
        .filter((i) => i.state === 'running')
        .map((i) => ({
          InstanceId: i.id,
          LifecycleState: i.lifecycle as never,
          ProtectedFromScaleIn: i.protected,
          LaunchTemplate: { LaunchTemplateId: this.template, Version: i.version },
        })),
    } as unknown as AutoScalingGroup;
  }

  readonly asg: AsgPort = {
    describeGroup: async (name) => (name === this.name ? this.group() : undefined),
    describeInstanceRefreshes: async () => this.refreshes,
    suspendProcesses: async (_, processes) => {
      this.calls.push(`suspend ${processes.join(',')}`);
      this.suspended = [...new Set([...this.suspended, ...processes])];
    },
    resumeProcesses: async (_, processes) => {
      this.calls.push(`resume ${processes.join(',')}`);
      this.suspended = this.suspended.filter((p) => !processes.includes(p));
    },
    updateGroup: async (input) => {
      this.calls.push(`update ${JSON.stringify({ ...input, AutoScalingGroupName: undefined })}`);
      const min = input.MinSize ?? this.min;
      const max = input.MaxSize ?? this.max;
      const desired = input.DesiredCapacity ?? this.desired;
      this.check(min, max, desired);
      Object.assign(this, { min, max, desired });
      if (input.LaunchTemplate?.Version) this.version = input.LaunchTemplate.Version;
      this.scale();
    },
    setDesiredCapacity: async (_, capacity) => {
      this.calls.push(`desired ${capacity}`);
      this.check(this.min, this.max, capacity);
      this.desired = capacity;
      this.scale();
    },
    setInstanceProtection: async (_, ids, protect) => {
      this.calls.push(`protect ${ids.join(',')} ${protect}`);
      for (const i of this.instances) if (ids.includes(i.id)) i.protected = protect;
    },
    terminateInstance: async (id, decrement) => {
      this.calls.push(`terminate ${id} ${decrement}`);
      if (decrement) this.check(this.min, this.max, this.desired - 1);
      const instance = this.instances.find((i) => i.id === id)!;
      if (decrement) this.desired--;
      if (this.lifecycleHooks.some((h) => h.transition === 'TERMINATING')) {
        // Held until the hook's consumer completes it (completeTermination); the EC2 instance keeps running.
        instance.lifecycle = 'Terminating:Wait';
        return;
      }
      instance.state = 'terminated';
      this.scale();
    },
    describeLifecycleHooks: async () =>
      this.lifecycleHooks.map((h) => ({
        LifecycleHookName: h.name,
        LifecycleTransition: `autoscaling:EC2_INSTANCE_${h.transition}`,
        HeartbeatTimeout: h.heartbeatSeconds,
      })),
    completeLifecycleAction: async (_, hook, id, result) => {
      this.calls.push(`complete ${hook} ${id} ${result}`);
      const instance = this.instances.find((i) => i.id === id);
      if (instance?.lifecycle !== 'Pending:Wait')
        throw new Error(`No active Lifecycle Action found with instance ID ${id}`);
      instance.lifecycle = 'InService';
    },
    setPropagatingTags: async (_, tags) => {
      this.calls.push(`tag ${Object.keys(tags).join(',')}`);
      for (const [k, value] of Object.entries(tags)) this.tags[k] = { value, propagate: true };
    },
    deleteTags: async (_, keys) => {
      this.calls.push(`untag ${keys.join(',')}`);
      for (const k of keys) delete this.tags[k];
    },
  };

  /** The terminate hook's consumer is done: the termination proceeds. */
  completeTermination(id: string): void {
    const instance = this.instances.find((i) => i.id === id)!;
    instance.state = 'terminated';
    this.scale();
  }

  private instanceOf(i: FakeInstance): Instance {
    return {
      InstanceId: i.id,
      ImageId: `ami-v${i.version}`,
      State: { Name: i.state },
      Placement: { AvailabilityZone: 'us-east-1a' },
      LaunchTime: new Date(Number.parseInt(i.id.slice(2), 16) * 1000),
      Tags: Object.entries({
        ...i.tags,
        'aws:ec2launchtemplate:id': this.template,
        'aws:ec2launchtemplate:version': i.version,
      }).map(([Key, Value]) => ({ Key, Value })),
    };
  }

  /** describeInstances with the filters the provider uses (instance-id, tag:KEY, instance-state-name). */
  readonly ec2 = {
    describeInstances: async (filters: Filter[]) =>
      this.instances
        .filter((i) =>
          filters.every((f) => {
            const values = f.Values ?? [];
            if (f.Name === 'instance-id') return values.includes(i.id);
            if (f.Name === 'instance-state-name') return values.includes(i.state);
            if (f.Name?.startsWith('tag:')) return values.includes(i.tags[f.Name.slice(4)] ?? '\0');
            return true;
          }),
        )
        .map((i) => this.instanceOf(i)),
    terminateInstances: async (ids: string[]) => {
      for (const i of this.instances) if (ids.includes(i.id)) i.state = 'terminated';
    },
    describeLaunchTemplates: async () => [
      { LaunchTemplateId: this.template, LaunchTemplateName: this.template, LatestVersionNumber: this.latest },
    ],
    describeLaunchTemplateVersions: async (input: { Versions?: string[] }) =>
      (input.Versions ?? []).map((v) => ({ VersionNumber: Number(v), LaunchTemplateData: { ImageId: `ami-v${v}` } })),
    createLaunchTemplateVersion: async () => {
      this.calls.push('create-version');
      return ++this.latest;
    },
  } as unknown as Ec2Port;
}

/** Two or more fake groups behind one pair of ports, as the provider sees one account. */
export function accountOf(groups: FakeGroup[]): { asg: AsgPort; ec2: Ec2Port } {
  const by = (name: string) => groups.find((g) => g.name === name);
  const asg = Object.fromEntries(
    Object.keys(groups[0]!.asg).map((method) => [
      method,
      // Every AsgPort method takes the group name first, except terminateInstance (an instance id) and updateGroup.
      (first: string | { AutoScalingGroupName?: string }, ...rest: unknown[]) => {
        const group =
          typeof first === 'object'
            ? by(first.AutoScalingGroupName ?? '')
            : method === 'terminateInstance'
              ? groups.find((g) => g.instances.some((i) => i.id === first))
              : by(first);
        if (!group) return method === 'describeGroup' ? Promise.resolve(undefined) : Promise.resolve([]);
        return (group.asg as unknown as Record<string, (...a: unknown[]) => unknown>)[method]!(first, ...rest);
      },
    ]),
  ) as unknown as AsgPort;
  const ec2 = {
    describeInstances: async (filters: Filter[]) =>
      (await Promise.all(groups.map((g) => g.ec2.describeInstances(filters)))).flat(),
    terminateInstances: async (ids: string[]) => {
      for (const g of groups) await g.ec2.terminateInstances(ids);
    },
    describeLaunchTemplates: async (input: { LaunchTemplateIds?: string[]; LaunchTemplateNames?: string[] }) => {
      const ref = input.LaunchTemplateIds?.[0] ?? input.LaunchTemplateNames?.[0];
      return groups.find((g) => g.template === ref)?.ec2.describeLaunchTemplates(input as never) ?? [];
    },
    describeLaunchTemplateVersions: async (input: { LaunchTemplateId?: string }) =>
      groups.find((g) => g.template === input.LaunchTemplateId)!.ec2.describeLaunchTemplateVersions(input as never),
    createLaunchTemplateVersion: async (input: { LaunchTemplateId?: string }) =>
      groups.find((g) => g.template === input.LaunchTemplateId)!.ec2.createLaunchTemplateVersion(input as never),
  } as unknown as Ec2Port;
  return { asg, ec2 };
}
