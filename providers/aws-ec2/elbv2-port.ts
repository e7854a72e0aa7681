// The narrow ELBv2 port: target registration of the API target group, by instance id.
import {
  DeregisterTargetsCommand,
  DescribeTargetGroupAttributesCommand,
  DescribeTargetHealthCommand,
  type ElasticLoadBalancingV2Client,
  ModifyTargetGroupAttributesCommand,
  RegisterTargetsCommand,
  type TargetHealthDescription,
} from '@aws-sdk/client-elastic-load-balancing-v2';
import type { AwsCall } from './retry.ts';

export interface Elbv2Port {
  /** Health of the given instances, or of every registered target when none are given. */
  describeTargetHealth(targetGroupArn: string, instanceIds?: string[]): Promise<TargetHealthDescription[]>;
  registerTargets(targetGroupArn: string, instanceIds: string[]): Promise<void>;
  deregisterTargets(targetGroupArn: string, instanceIds: string[]): Promise<void>;
  targetGroupAttributes(targetGroupArn: string): Promise<Record<string, string>>;
  setTargetGroupAttributes(targetGroupArn: string, attributes: Record<string, string>): Promise<void>;
}

export function elbv2Port(client: ElasticLoadBalancingV2Client, call: AwsCall): Elbv2Port {
  const targets = (ids: string[]) => ids.map((Id) => ({ Id }));
  return {
    async describeTargetHealth(TargetGroupArn, instanceIds) {
      const input = instanceIds ? { TargetGroupArn, Targets: targets(instanceIds) } : { TargetGroupArn };
      const out = await call('describe target health', () => client.send(new DescribeTargetHealthCommand(input)));
      return out.TargetHealthDescriptions ?? [];
    },
    async registerTargets(TargetGroupArn, instanceIds) {
      await call('register targets', () =>
        client.send(new RegisterTargetsCommand({ TargetGroupArn, Targets: targets(instanceIds) })),
      );
    },
    async deregisterTargets(TargetGroupArn, instanceIds) {
      await call('deregister targets', () =>
        client.send(new DeregisterTargetsCommand({ TargetGroupArn, Targets: targets(instanceIds) })),
      );
    },
    async targetGroupAttributes(TargetGroupArn) {
      const out = await call('describe target group attributes', () =>
        client.send(new DescribeTargetGroupAttributesCommand({ TargetGroupArn })),
      );
      return Object.fromEntries((out.Attributes ?? []).map((a) => [a.Key ?? '', a.Value ?? '']));
    },
    async setTargetGroupAttributes(TargetGroupArn, attributes) {
      const Attributes = Object.entries(attributes).map(([Key, Value]) => ({ Key, Value }));
      await call('modify target group attributes', () =>
        client.send(new ModifyTargetGroupAttributesCommand({ TargetGroupArn, Attributes })),
      );
    },
  };
}
