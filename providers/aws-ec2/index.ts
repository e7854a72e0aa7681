// The AWS EC2 machine provider: control-plane machines are EC2 instances launched from a launch
// template, linked to Nodes by providerID, behind an ELBv2 target group for the API endpoint.
import { EC2Client, type ResponseLaunchTemplateData } from '@aws-sdk/client-ec2';
import { ElasticLoadBalancingV2Client } from '@aws-sdk/client-elastic-load-balancing-v2';
import { type MachineProvider, PROVIDER_CONTRACT_VERSION } from '../../src/ports/machines.ts';
import { ApiTargetGroup } from './api-targets.ts';
import { resolveDesired } from './desired.ts';
import { ec2Port } from './ec2-port.ts';
import { elbv2Port } from './elbv2-port.ts';
import { wrapAwsError } from './errors.ts';
import { checkClusterTags, listMachines } from './instances.ts';
import { launchTemplateData, type ResolvedLaunchTemplate, resolveLaunchTemplate } from './launch-template.ts';
import { type AwsEc2ProviderOptions, resolveOptions } from './options.ts';
import { createReplacement } from './replacement.ts';
import { throttleRetrying } from './retry.ts';
import { terminate } from './termination.ts';

export { ProviderError, type ProviderErrorCode } from './errors.ts';
export { formatProviderId, instanceIdOf } from './instances.ts';
export type { AwsEc2ProviderOptions } from './options.ts';

export interface AwsEc2Provider extends MachineProvider {
  /** Closes the SDK clients' sockets. */
  destroy(): void;
}

export function createAwsEc2Provider(input: AwsEc2ProviderOptions): AwsEc2Provider {
  const options = resolveOptions(input);
  const clientConfig = {
    region: options.region,
    ...(options.endpoint ? { endpoint: options.endpoint } : {}),
    ...(options.credentials ? { credentials: options.credentials } : {}),
  };
  const ec2Client = new EC2Client(clientConfig);
  const elbClient = new ElasticLoadBalancingV2Client(clientConfig);
  const call = throttleRetrying(options.throttleRetry);
  const ec2 = ec2Port(ec2Client, call);
  const targetGroup = options.targetGroupArn
    ? new ApiTargetGroup(
        elbv2Port(elbClient, call),
        options.targetGroupArn,
        options.pollIntervalMs,
        options.deregistrationDelaySeconds,
      )
    : undefined;
  // A launch template version never changes once created, so its data is cached for the run.
  const templateData = new Map<string, Promise<ResponseLaunchTemplateData>>();
  const dataOf = (lt: ResolvedLaunchTemplate) => {
    const key = `${lt.id}:${lt.version}`;
    let data = templateData.get(key);
    if (!data) {
      data = launchTemplateData(ec2, lt.id, lt.version);
      // A failed lookup (throttled, network) is not cached: the next call asks again.
      data.catch(() => templateData.delete(key));
      templateData.set(key, data);
    }
    return data;
  };
  const failing =
    (action: string) =>
    (error: unknown): never => {
      throw wrapAwsError(action, error);
    };

  return {
    contractVersion: PROVIDER_CONTRACT_VERSION,
    name: 'aws-ec2',

    resolveDesired: (wanted) =>
      resolveDesired(ec2, options, wanted).catch(failing(`resolve image and launch template for ${wanted.version}`)),

    checkMachines: (machines) => checkClusterTags(machines, options.clusterName),
    listMachines: (providerIds) =>
      listMachines(ec2, options.clusterName, providerIds).catch(failing('list control-plane instances')),

    async createReplacement(request) {
      try {
        const launchTemplate: ResolvedLaunchTemplate = request.desired.launchTemplate
          ? { ...request.desired.launchTemplate, name: request.desired.launchTemplate.id }
          : await resolveLaunchTemplate(ec2, options.launchTemplate, options.launchTemplateVersion);
        const data = await dataOf(launchTemplate);
        return await createReplacement(
          { ec2, clusterName: options.clusterName, launchTemplate, launchTemplateData: data },
          request,
        );
      } catch (error) {
        throw wrapAwsError(`launch the replacement of ${request.replaces.id}`, error);
      }
    },

    terminate: (machineId, timeoutMs) =>
      terminate(ec2, machineId, timeoutMs, options.pollIntervalMs).catch(failing(`terminate ${machineId}`)),

    // undefined, not []: no load balancer is different from one with no members.
    apiTargets: async () => (targetGroup ? targetGroup.list().catch(failing('list API targets')) : undefined),

    registerApiTarget: async (machineId) => {
      await targetGroup?.register(machineId).catch(failing(`register ${machineId} as an API target`));
    },

    deregisterApiTarget: async (machineId, timeoutMs) => {
      await targetGroup?.deregister(machineId, timeoutMs).catch(failing(`deregister API target ${machineId}`));
    },

    destroy() {
      ec2Client.destroy();
      elbClient.destroy();
    },
  };
}
