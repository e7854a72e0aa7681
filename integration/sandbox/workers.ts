// Optional worker Nodes: EC2 instances of the FROM image and kwok-kept Nodes, with no control-plane components.
import { RunInstancesCommand } from '@aws-sdk/client-ec2';
import { clusterTag, ROLE_TAG } from './aws.ts';
import { registerMachine } from './nodes.ts';
import type { Runtime } from './runtime.ts';

export const workerNodes: string[] = [];

export async function startWorkers(rt: Runtime): Promise<void> {
  const { from } = rt.plan.versions;
  for (let i = 0; i < rt.plan.workers; i++) {
    const out = await rt.aws.ec2.send(
      new RunInstancesCommand({
        MinCount: 1,
        MaxCount: 1,
        ImageId: rt.topology.images[from],
        InstanceType: 't3.medium',
        SubnetId: rt.topology.subnetIds[i % rt.topology.subnetIds.length],
        TagSpecifications: [
          {
            ResourceType: 'instance',
            Tags: [
              { Key: clusterTag(rt.plan.clusterName), Value: 'owned' },
              { Key: ROLE_TAG, Value: 'worker' },
            ],
          },
        ],
      }),
    );
    const instance = out.Instances![0]!;
    const node = instance.PrivateDnsName!;
    await registerMachine(
      rt.core,
      {
        node,
        instanceId: instance.InstanceId!,
        az: instance.Placement!.AvailabilityZone!,
        privateIp: instance.PrivateIpAddress!,
        instanceType: 't3.medium',
        version: from,
        controlPlane: false,
      },
      { apiServerPort: 0, etcdClientUrl: '', etcdVersion: rt.etcdVersion },
    );
    workerNodes.push(node);
  }
}
