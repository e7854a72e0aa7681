// The narrow EC2 port (after CDK's IEC2Client): only the calls this provider makes, paging and
// throttling retries inside, SDK shapes out. Everything above it speaks Machine and Desired.
import {
  CreateLaunchTemplateVersionCommand,
  type CreateLaunchTemplateVersionCommandInput,
  DescribeImagesCommand,
  type DescribeImagesCommandInput,
  DescribeInstancesCommand,
  type DescribeInstancesCommandInput,
  DescribeLaunchTemplatesCommand,
  type DescribeLaunchTemplatesCommandInput,
  DescribeLaunchTemplateVersionsCommand,
  type DescribeLaunchTemplateVersionsCommandInput,
  DescribeSubnetsCommand,
  type DescribeSubnetsCommandInput,
  type EC2Client,
  type Filter,
  type Image,
  type Instance,
  type LaunchTemplate,
  type LaunchTemplateVersion,
  RunInstancesCommand,
  type RunInstancesCommandInput,
  type Subnet,
  TerminateInstancesCommand,
} from '@aws-sdk/client-ec2';
import type { AwsCall } from './retry.ts';

export interface Ec2Port {
  describeInstances(filters: Filter[]): Promise<Instance[]>;
  runInstances(input: RunInstancesCommandInput): Promise<Instance[]>;
  terminateInstances(instanceIds: string[]): Promise<void>;
  describeImages(input: DescribeImagesCommandInput): Promise<Image[]>;
  describeLaunchTemplates(input: DescribeLaunchTemplatesCommandInput): Promise<LaunchTemplate[]>;
  describeLaunchTemplateVersions(input: DescribeLaunchTemplateVersionsCommandInput): Promise<LaunchTemplateVersion[]>;
  describeSubnets(input: DescribeSubnetsCommandInput): Promise<Subnet[]>;
  /** Returns the new version number. */
  createLaunchTemplateVersion(input: CreateLaunchTemplateVersionCommandInput): Promise<number>;
}

export function ec2Port(client: EC2Client, call: AwsCall): Ec2Port {
  return {
    async describeInstances(filters) {
      // Filters, never InstanceIds: one unknown id in InstanceIds fails the whole call with
      // InvalidInstanceID.NotFound, while an instance-id filter just matches nothing.
      const input: DescribeInstancesCommandInput = { Filters: filters, MaxResults: 100 };
      const instances: Instance[] = [];
      let NextToken: string | undefined;
      do {
        const page = await call('describe instances', () =>
          client.send(new DescribeInstancesCommand({ ...input, NextToken })),
        );
        for (const reservation of page.Reservations ?? []) instances.push(...(reservation.Instances ?? []));
        NextToken = page.NextToken;
      } while (NextToken);
      return instances;
    },
    async runInstances(input) {
      const out = await call('run instances', () => client.send(new RunInstancesCommand(input)));
      return out.Instances ?? [];
    },
    async terminateInstances(instanceIds) {
      await call('terminate instances', () => client.send(new TerminateInstancesCommand({ InstanceIds: instanceIds })));
    },
    async describeImages(input) {
      const out = await call('describe images', () => client.send(new DescribeImagesCommand(input)));
      return out.Images ?? [];
    },
    async describeLaunchTemplates(input) {
      const out = await call('describe launch templates', () => client.send(new DescribeLaunchTemplatesCommand(input)));
      return out.LaunchTemplates ?? [];
    },
    async describeLaunchTemplateVersions(input) {
      const out = await call('describe launch template versions', () =>
        client.send(new DescribeLaunchTemplateVersionsCommand(input)),
      );
      return out.LaunchTemplateVersions ?? [];
    },
    async describeSubnets(input) {
      const out = await call('describe subnets', () => client.send(new DescribeSubnetsCommand(input)));
      return out.Subnets ?? [];
    },
    async createLaunchTemplateVersion(input) {
      const out = await call('create launch template version', () =>
        client.send(new CreateLaunchTemplateVersionCommand(input)),
      );
      return out.LaunchTemplateVersion?.VersionNumber ?? 0;
    },
  };
}
