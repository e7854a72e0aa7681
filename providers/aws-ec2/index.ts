// The AWS EC2 machine provider: control-plane machines are EC2 instances launched from a launch
// template, linked to Nodes by providerID, behind an ELBv2 target group for the API endpoint.
import { EC2Client, type ResponseLaunchTemplateData } from '@aws-sdk/client-ec2';
import { ElasticLoadBalancingV2Client } from '@aws-sdk/client-elastic-load-balancing-v2';
import { CONTROL_PLANE_POOL } from '../../src/domain/model.ts';
import {
  type MachineProvider,
  PROVIDER_CONTRACT_VERSION,
  type ProviderModule,
  type ProviderWait,
  type ReplacementRequest,
} from '../../src/ports/machines.ts';
import { ApiTargetGroup } from './api-targets.ts';
import { resolveDesired } from './desired.ts';
import { ec2Port } from './ec2-port.ts';
import { elbv2Port } from './elbv2-port.ts';
import { interruptedOr, wrapAwsError } from './errors.ts';
import { ControlPlaneListing, checkClusterTags, drift, type Ec2Machine, instanceIdOf } from './instances.ts';
import { launchTemplateData, type ResolvedLaunchTemplate, resolveLaunchTemplate } from './launch-template.ts';
import { type AwsEc2ProviderOptions, awsSettings, resolveOptions, USER_AGENT } from './options.ts';
import { parameterStore } from './parameter-store.ts';
import { Ec2Pools } from './pools.ts';
import { createReplacement } from './replacement.ts';
import { throttleRetrying } from './retry.ts';
import { beginTermination, terminate } from './termination.ts';

export { ProviderError, type ProviderErrorCode } from './errors.ts';
export { formatProviderId, instanceIdOf } from './instances.ts';
export type { AwsEc2ProviderOptions } from './options.ts';

export interface AwsEc2Provider extends MachineProvider {
  listMachines(pool: string, providerIds: string[]): Promise<Ec2Machine[]>;
  createReplacement(request: ReplacementRequest): Promise<Ec2Machine>;
  /** Closes the SDK clients' sockets. */
  destroy(): void;
}

/** `aws:///<az>/<instance-id>`: the AWS cloud provider's form; a bare id on a Node is not ours to claim. */
const PROVIDER_ID_FORM = /^aws:\/\/\/[^/]*\/i-[0-9a-z]+$/;

export function createAwsEc2Provider(input: AwsEc2ProviderOptions): AwsEc2Provider {
  const options = resolveOptions(input);
  const clientConfig = {
    customUserAgent: USER_AGENT,
    ...(options.region ? { region: options.region } : {}),
    ...(options.endpoint ? { endpoint: options.endpoint } : {}),
    ...(options.credentials ? { credentials: options.credentials } : {}),
  };
  const ec2Client = new EC2Client(clientConfig);
  const elbClient = new ElasticLoadBalancingV2Client(clientConfig);
  const call = throttleRetrying(options.throttleRetry);
  const bootstrapSecrets = parameterStore(clientConfig, call, options.region, options.clusterName);
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
  const pools = new Ec2Pools(ec2, options.clusterName, options.pools ?? []);
  const controlPlane = new ControlPlaneListing(ec2, options.clusterName);
  const failing =
    (action: string, wait?: ProviderWait) =>
    (error: unknown): never => {
      throw interruptedOr(wait, error, () => wrapAwsError(action, error));
    };

  return {
    contractVersion: PROVIDER_CONTRACT_VERSION,
    name: 'aws-ec2',
    // ClientToken: EC2 returns the same reservation for the same token for >= 24 h, terminated or not.
    capabilities: { surge: true, ownsLoadBalancer: false, rendersBootstrap: false, idempotencyKey: 'client-token' },

    resolveDesired: (wanted) =>
      resolveDesired(ec2, options, wanted).catch(failing(`resolve image and launch template for ${wanted.version}`)),

    checkMachines: (machines) => checkClusterTags(machines, options.clusterName),
    listMachines: async (pool, providerIds) =>
      pool === CONTROL_PLANE_POOL
        ? controlPlane.list(providerIds).catch(failing('list control-plane instances'))
        : pools.list(pool, providerIds).catch(failing(`list the instances of pool ${pool}`)),
    machineIdOf: (providerId) => (PROVIDER_ID_FORM.test(providerId) ? instanceIdOf(providerId) : undefined),
    drift,

    async createReplacement(request) {
      // A control-plane launch (or an attempt at one) may add a replacement: the next listing looks them up by tag.
      const controlPlaneLaunch = request.pool === CONTROL_PLANE_POOL;
      if (controlPlaneLaunch) controlPlane.forget();
      try {
        const launchTemplate: ResolvedLaunchTemplate =
          request.pool !== CONTROL_PLANE_POOL
            ? await pools.launchTemplateFor(request.pool, request.replaces as Ec2Machine)
            : request.desired.template
              ? { ...request.desired.template, name: request.desired.template.id }
              : await resolveLaunchTemplate(ec2, options.launchTemplate, options.launchTemplateVersion);
        const data = await dataOf(launchTemplate);
        const created = await createReplacement(
          { ec2, clusterName: options.clusterName, launchTemplate, launchTemplateData: data },
          request,
        );
        if (controlPlaneLaunch) controlPlane.remember(created.id);
        return created;
      } catch (error) {
        throw wrapAwsError(`launch the replacement of ${request.replaces.id}`, error);
      } finally {
        if (controlPlaneLaunch) controlPlane.forget();
      }
    },

    terminate: (machineId, timeoutMs, wait) =>
      terminate(ec2, machineId, timeoutMs, options.pollIntervalMs, undefined, wait).catch(
        failing(`terminate ${machineId}`, wait),
      ),
    beginTermination: (machineId) =>
      beginTermination(ec2, machineId).then(() => undefined, failing(`terminate ${machineId}`)),

    // undefined without a target group: no load balancer is different from one with no members.
    loadBalancer: targetGroup && {
      name: options.targetGroupArn,
      changes:
        options.deregistrationDelaySeconds === undefined
          ? []
          : [
              `sets the target group's deregistration_delay.timeout_seconds to ${options.deregistrationDelaySeconds} before the first deregistration (kept after the run)`,
            ],
      targets: () => targetGroup.targets().catch(failing('list API targets')),
      register: (machineId) => targetGroup.register(machineId).catch(failing(`register ${machineId} as an API target`)),
      deregister: (machineId, timeoutMs, wait) =>
        targetGroup.deregister(machineId, timeoutMs, wait).catch(failing(`deregister API target ${machineId}`, wait)),
    },

    bootstrapSecrets,

    destroy() {
      ec2Client.destroy();
      elbClient.destroy();
      bootstrapSecrets.destroy();
    },
  };
}

/** The registry's entry (providers/index.ts): the `provider:` section of the configuration -> a provider. */
export const provider: ProviderModule = {
  contractVersion: PROVIDER_CONTRACT_VERSION,
  name: 'aws-ec2',
  create({ settings, pollIntervalMs, env }) {
    const { str, ...aws } = awsSettings(settings, env);
    return createAwsEc2Provider({
      ...aws,
      launchTemplate: str('launchTemplate') ?? '',
      launchTemplateVersion: str('launchTemplateVersion'),
      pollIntervalMs,
    });
  },
};
