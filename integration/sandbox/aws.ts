// The sandbox's AWS account in moto: VPC, subnets in 3 AZs, one image per Kubernetes version, the control-plane
// launch template (its user data is the self-join recipe), the API target group, and the control-plane instances.

import {
  AutoScalingClient,
  CreateAutoScalingGroupCommand,
  DescribeAutoScalingGroupsCommand,
} from '@aws-sdk/client-auto-scaling';
import {
  CreateLaunchTemplateCommand,
  CreateSubnetCommand,
  CreateTagsCommand,
  CreateVpcCommand,
  DescribeInstancesCommand,
  EC2Client,
  type Instance,
  RegisterImageCommand,
  RunInstancesCommand,
  type Tag,
} from '@aws-sdk/client-ec2';
import {
  CreateTargetGroupCommand,
  DescribeTargetHealthCommand,
  ElasticLoadBalancingV2Client,
  ModifyTargetGroupAttributesCommand,
  RegisterTargetsCommand,
} from '@aws-sdk/client-elastic-load-balancing-v2';
import { SSMClient } from '@aws-sdk/client-ssm';
import { daemonCredentials } from './aws-iam.ts';
import { AWS_REGION } from './state.ts';

export const VERSION_TAG = 'kubernetes-version';
export const ROLE_TAG = 'kubeswap.io/role';
export const clusterTag = (clusterName: string) => `kubernetes.io/cluster/${clusterName}`;
export const AZS = ['us-east-1a', 'us-east-1b', 'us-east-1c'];

export interface AwsClients {
  ec2: EC2Client;
  elb: ElasticLoadBalancingV2Client;
  /** What a booting machine reads its join from with `--bootstrap-secrets ssm`. */
  ssm: SSMClient;
  asg: AutoScalingClient;
}

export function awsClients(endpoint: string): AwsClients {
  // The test credentials, or in the daemon once moto enforces IAM (sandbox option awsIam) its admin key.
  const common = { region: AWS_REGION, endpoint, credentials: daemonCredentials, maxAttempts: 5 };
  return {
    ec2: new EC2Client(common),
    elb: new ElasticLoadBalancingV2Client(common),
    ssm: new SSMClient(common),
    asg: new AutoScalingClient(common),
  };
}

/** A node image for `version` (tag kubernetes-version=<version>, plus `tags`); returns its id. */
export async function registerImage(ec2: EC2Client, name: string, version: string, tags: Tag[] = []): Promise<string> {
  const image = await ec2.send(
    new RegisterImageCommand({
      Name: name,
      Description: `control-plane image with kubelet and kubeadm ${version}`,
      Architecture: 'x86_64',
      RootDeviceName: '/dev/xvda',
      VirtualizationType: 'hvm',
    }),
  );
  // moto ignores TagSpecifications on RegisterImage, so tag it afterwards.
  await ec2.send(
    new CreateTagsCommand({ Resources: [image.ImageId!], Tags: [{ Key: VERSION_TAG, Value: version }, ...tags] }),
  );
  return image.ImageId!;
}

export interface AwsTopology {
  vpcId: string;
  subnetIds: string[];
  images: Record<string, string>;
  launchTemplateId: string;
  targetGroupArn: string;
  autoScalingGroup?: string;
  workerLaunchTemplateId?: string;
}

export async function createTopology(
  aws: AwsClients,
  clusterName: string,
  versions: string[],
  joinRecipe: string,
  deregistrationDelaySeconds: number,
): Promise<AwsTopology> {
  const clusterTags: Tag[] = [{ Key: clusterTag(clusterName), Value: 'owned' }];
  const vpc = await aws.ec2.send(new CreateVpcCommand({ CidrBlock: '10.0.0.0/16' }));
  const vpcId = vpc.Vpc!.VpcId!;
  const subnetIds: string[] = [];
  for (const [i, az] of AZS.entries()) {
    const subnet = await aws.ec2.send(
      new CreateSubnetCommand({ VpcId: vpcId, CidrBlock: `10.0.${i + 1}.0/24`, AvailabilityZone: az }),
    );
    subnetIds.push(subnet.Subnet!.SubnetId!);
  }
  const images: Record<string, string> = {};
  for (const version of versions) {
    images[version] = await registerImage(aws.ec2, `kubeswap-sandbox-node-${version}`, version, clusterTags);
  }
  const from = versions[0]!;
  const template = await aws.ec2.send(
    new CreateLaunchTemplateCommand({
      LaunchTemplateName: `${clusterName}-control-plane`,
      LaunchTemplateData: {
        ImageId: images[from],
        InstanceType: 't3.large',
        UserData: Buffer.from(joinRecipe).toString('base64'),
        MetadataOptions: { HttpTokens: 'required' },
        TagSpecifications: [
          { ResourceType: 'instance', Tags: [...clusterTags, { Key: ROLE_TAG, Value: 'control-plane' }] },
        ],
      },
    }),
  );
  const tg = await aws.elb.send(
    new CreateTargetGroupCommand({
      Name: `${clusterName}-api`.slice(0, 32),
      Protocol: 'TCP',
      Port: 6443,
      VpcId: vpcId,
      TargetType: 'instance',
      HealthCheckProtocol: 'TCP',
    }),
  );
  const targetGroupArn = tg.TargetGroups![0]!.TargetGroupArn!;
  await aws.elb.send(
    new ModifyTargetGroupAttributesCommand({
      TargetGroupArn: targetGroupArn,
      Attributes: [{ Key: 'deregistration_delay.timeout_seconds', Value: String(deregistrationDelaySeconds) }],
    }),
  );
  return { vpcId, subnetIds, images, launchTemplateId: template.LaunchTemplate!.LaunchTemplateId!, targetGroupArn };
}

/** The initial control-plane VMs, one per subnet in turn, launched from the template like any later one. */
export async function launchInitialInstances(aws: AwsClients, topo: AwsTopology, count: number): Promise<Instance[]> {
  const instances: Instance[] = [];
  for (let i = 0; i < count; i++) {
    const out = await aws.ec2.send(
      new RunInstancesCommand({
        MinCount: 1,
        MaxCount: 1,
        LaunchTemplate: { LaunchTemplateId: topo.launchTemplateId, Version: '$Latest' },
        SubnetId: topo.subnetIds[i % topo.subnetIds.length],
      }),
    );
    instances.push(out.Instances![0]!);
  }
  return instances;
}

/**
 * The control-plane VMs as an Auto Scaling group (--provider aws-asg): launched by moto's group from launch
 * template version 1 across the subnets, the API target group attached (the group registers its instances).
 */
export async function createControlPlaneGroup(
  aws: AwsClients,
  topo: AwsTopology,
  clusterName: string,
  count: number,
): Promise<Instance[]> {
  const name = `${clusterName}-control-plane`;
  await aws.asg.send(
    new CreateAutoScalingGroupCommand({
      AutoScalingGroupName: name,
      LaunchTemplate: { LaunchTemplateId: topo.launchTemplateId, Version: '1' },
      MinSize: count,
      MaxSize: count,
      DesiredCapacity: count,
      VPCZoneIdentifier: topo.subnetIds.join(','),
      TargetGroupARNs: [topo.targetGroupArn],
      Tags: [{ Key: clusterTag(clusterName), Value: 'owned', PropagateAtLaunch: true }],
    }),
  );
  topo.autoScalingGroup = name;
  const group = await aws.asg.send(new DescribeAutoScalingGroupsCommand({ AutoScalingGroupNames: [name] }));
  const ids = (group.AutoScalingGroups?.[0]?.Instances ?? []).map((i) => i.InstanceId!);
  const out = await aws.ec2.send(new DescribeInstancesCommand({ InstanceIds: ids }));
  return (out.Reservations ?? [])
    .flatMap((r) => r.Instances ?? [])
    .sort((a, b) => ids.indexOf(a.InstanceId!) - ids.indexOf(b.InstanceId!));
}

export async function registerTargets(aws: AwsClients, targetGroupArn: string, instanceIds: string[]): Promise<void> {
  await aws.elb.send(
    new RegisterTargetsCommand({ TargetGroupArn: targetGroupArn, Targets: instanceIds.map((Id) => ({ Id })) }),
  );
}

/** Instance ids the target group would send traffic to (registered and not draining or unused). */
export async function servingTargets(aws: AwsClients, targetGroupArn: string): Promise<string[]> {
  const out = await aws.elb.send(new DescribeTargetHealthCommand({ TargetGroupArn: targetGroupArn }));
  return (out.TargetHealthDescriptions ?? [])
    .filter((t) => ['healthy', 'initial', 'unhealthy'].includes(t.TargetHealth?.State ?? ''))
    .map((t) => t.Target!.Id!);
}

export async function clusterInstances(aws: AwsClients, clusterName: string): Promise<Instance[]> {
  const instances: Instance[] = [];
  let NextToken: string | undefined;
  do {
    const out = await aws.ec2.send(
      new DescribeInstancesCommand({ Filters: [{ Name: 'tag-key', Values: [clusterTag(clusterName)] }], NextToken }),
    );
    for (const r of out.Reservations ?? []) instances.push(...(r.Instances ?? []));
    NextToken = out.NextToken;
  } while (NextToken);
  return instances;
}

export const tagValue = (tags: Tag[] | undefined, key: string) => tags?.find((t) => t.Key === key)?.Value;
