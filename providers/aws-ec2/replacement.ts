// createReplacement: launch one control-plane instance from the launch template with the desired
// image, in the replaced machine's subnet, or find the one an earlier (killed) run already launched.
import { createHash } from 'node:crypto';
import type {
  InstanceNetworkInterfaceSpecification,
  ResponseLaunchTemplateData,
  RunInstancesCommandInput,
  Tag,
} from '@aws-sdk/client-ec2';
import { CONTROL_PLANE_POOL } from '../../src/domain/model.ts';
import type { ReplacementRequest } from '../../src/ports/machines.ts';
import type { Ec2Port } from './ec2-port.ts';
import { awsErrorName, ProviderError } from './errors.ts';
import { type Ec2Machine, ec2Facts, findReplacement, toMachine } from './instances.ts';
import type { ResolvedLaunchTemplate } from './launch-template.ts';
import { CONTROL_PLANE_ROLE, clusterTagKey, TAG, WORKER_ROLE } from './options.ts';
import { siblingSubnets } from './subnets.ts';

/** Errors that say "this subnet cannot take the instance now", worth trying the AZ's next subnet. */
const TRY_NEXT_SUBNET = new Set(['InsufficientInstanceCapacity', 'InsufficientFreeAddressesInSubnet']);

export interface ReplacementContext {
  ec2: Ec2Port;
  clusterName: string;
  launchTemplate: ResolvedLaunchTemplate;
  launchTemplateData: ResponseLaunchTemplateData;
}

export async function createReplacement(context: ReplacementContext, request: ReplacementRequest): Promise<Ec2Machine> {
  const { ec2, clusterName } = context;
  const old = request.replaces;
  // ClientToken idempotency lasts hours at most and only for identical parameters; the tags last as
  // long as the instance, so a re-run finds its replacement here first.
  const existing = await findReplacement(ec2, clusterName, {
    replaces: old.id,
    runId: request.runId,
    token: request.token,
    pool: request.pool,
  });
  if (existing) return existing;

  const tags = replacementTags(clusterName, request);
  // undefined = the launch template's own placement (the old machine's subnet is unknown).
  const subnets: (string | undefined)[] = [ec2Facts(old).subnetId];
  const failures: string[] = [];
  for (const [attempt, subnetId] of subnets.entries()) {
    const input = runInstancesInput(context, request, tags, subnetId);
    try {
      const [instance] = await ec2.runInstances(input);
      if (!instance?.InstanceId) {
        throw new ProviderError('replacement.not-returned', `RunInstances returned no instance for ${old.id}`);
      }
      const machine = toMachine({ ...instance, Tags: mergeTags(tags, instance.Tags) }, request.pool);
      if (machine.state === 'shutting-down' || machine.state === 'terminated') {
        // Same ClientToken within its window returns the original reservation, even a terminated one.
        throw new ProviderError(
          'replacement.token-reused',
          `token ${request.token} already launched ${machine.id}, now ${machine.state}`,
          {
            hint: 'a torn-down replacement needs a new token (for example the attempt number in it)',
          },
        );
      }
      return machine;
    } catch (error) {
      const name = awsErrorName(error) ?? '';
      // AWS: the same ClientToken with other parameters (another image, other user data) is refused.
      if (name === 'IdempotentParameterMismatch') {
        throw new ProviderError(
          'replacement.token-reused',
          `token ${request.token} was used before with other parameters`,
          {
            hint: 'a new attempt needs a new token',
            cause: error,
          },
        );
      }
      if (!TRY_NEXT_SUBNET.has(name)) throw error;
      failures.push(`${subnetId ?? 'launch template subnet'}: ${name}`);
      // Looked up only on the first failure: the common case launches without it.
      if (attempt === 0) subnets.push(...(await siblingSubnets(ec2, old, clusterName)));
    }
  }
  throw new ProviderError(
    'capacity.insufficient',
    `no capacity for the replacement of ${old.id} in ${old.zone} (${failures.join(', ')})`,
    {
      hint: 'retry later, or add a subnet in this availability zone, or change the instance type in the launch template',
    },
  );
}

export function replacementTags(clusterName: string, request: ReplacementRequest): Record<string, string> {
  return {
    ...request.tags,
    // Ours last: request.tags must not overwrite what find-by-tag relies on.
    [clusterTagKey(clusterName)]: 'owned',
    ...(request.pool === CONTROL_PLANE_POOL
      ? { [TAG.role]: CONTROL_PLANE_ROLE }
      : { [TAG.role]: WORKER_ROLE, [TAG.pool]: request.pool }),
    [TAG.runId]: request.runId,
    [TAG.replaces]: request.replaces.id,
    [TAG.token]: request.token,
  };
}

/**
 * <= 64 ASCII chars, stable for a request and a subnet. The subnet is part of it because the same
 * token with different parameters is refused (IdempotentParameterMismatch) when falling back.
 */
export function clientToken(token: string, subnetId: string | undefined): string {
  const digest = createHash('sha256')
    .update(`${token}\0${subnetId ?? ''}`)
    .digest('hex')
    .slice(0, 16);
  const readable = token.replace(/[^A-Za-z0-9._-]/g, '_').slice(0, 64 - 1 - digest.length);
  return `${readable}-${digest}`;
}

function runInstancesInput(
  context: ReplacementContext,
  request: ReplacementRequest,
  tags: Record<string, string>,
  subnetId: string | undefined,
): RunInstancesCommandInput {
  const tagList: Tag[] = Object.entries(tags).map(([Key, Value]) => ({ Key, Value }));
  const volumeTags = tagList.filter((t) => t.Key !== TAG.token && t.Key !== TAG.role && t.Key !== TAG.pool);
  return {
    MinCount: 1,
    MaxCount: 1,
    LaunchTemplate: { LaunchTemplateId: context.launchTemplate.id, Version: context.launchTemplate.version },
    ImageId: request.desired.imageId,
    ...placement(context.launchTemplateData, subnetId),
    ClientToken: clientToken(request.token, subnetId),
    TagSpecifications: [
      { ResourceType: 'instance', Tags: tagList },
      { ResourceType: 'volume', Tags: volumeTags },
    ],
    // The join token and certificate key travel in user data; IMDSv1 would hand them to any SSRF.
    MetadataOptions: { HttpTokens: 'required', HttpEndpoint: 'enabled' },
    // The SDK sends UserData as given (it does not base64-encode).
    ...(request.userData !== undefined ? { UserData: Buffer.from(request.userData, 'utf8').toString('base64') } : {}),
  };
}

/**
 * RunInstances refuses SubnetId next to a launch template that defines network interfaces; then the
 * subnet goes into interface 0, carrying over its other settings so a replace-not-merge reading keeps them.
 */
function placement(
  data: ResponseLaunchTemplateData,
  subnetId: string | undefined,
): Pick<RunInstancesCommandInput, 'SubnetId' | 'NetworkInterfaces'> {
  if (!subnetId) return {};
  const interfaces = data.NetworkInterfaces ?? [];
  if (interfaces.length === 0) return { SubnetId: subnetId };
  const primary = interfaces.find((n) => (n.DeviceIndex ?? 0) === 0) ?? interfaces[0]!;
  const nic: InstanceNetworkInterfaceSpecification = {
    DeviceIndex: 0,
    SubnetId: subnetId,
    ...(primary.Groups ? { Groups: primary.Groups } : {}),
    ...(primary.AssociatePublicIpAddress !== undefined
      ? { AssociatePublicIpAddress: primary.AssociatePublicIpAddress }
      : {}),
    ...(primary.DeleteOnTermination !== undefined ? { DeleteOnTermination: primary.DeleteOnTermination } : {}),
    ...(primary.Description ? { Description: primary.Description } : {}),
    ...(primary.InterfaceType ? { InterfaceType: primary.InterfaceType } : {}),
  };
  return { NetworkInterfaces: [nic] };
}

function mergeTags(requested: Record<string, string>, returned: Tag[] | undefined): Tag[] {
  const merged = { ...requested, ...Object.fromEntries((returned ?? []).map((t) => [t.Key ?? '', t.Value ?? ''])) };
  return Object.entries(merged).map(([Key, Value]) => ({ Key, Value }));
}
