// The AWS Auto Scaling group provider: control-plane machines are the instances of one group, launched by the
// group from its launch template. The EC2 pieces (instance mapping, drift, the target group sub-port, the
// termination wait, image resolution) are the aws-ec2 provider's; what is the group's is here.
import { AutoScalingClient } from '@aws-sdk/client-auto-scaling';
import { EC2Client } from '@aws-sdk/client-ec2';
import { ElasticLoadBalancingV2Client } from '@aws-sdk/client-elastic-load-balancing-v2';
import { CONTROL_PLANE_POOL } from '../../src/domain/model.ts';
import {
  type LoadBalancerMembership,
  type MachineProvider,
  PROVIDER_CONTRACT_VERSION,
  type ProviderModule,
  type ProviderWait,
} from '../../src/ports/machines.ts';
import { ApiTargetGroup } from '../aws-ec2/api-targets.ts';
import { ec2Port } from '../aws-ec2/ec2-port.ts';
import { elbv2Port } from '../aws-ec2/elbv2-port.ts';
import { interruptedOr, wrapAwsError } from '../aws-ec2/errors.ts';
import { drift, type Ec2Machine, instanceIdOf, toMachine } from '../aws-ec2/instances.ts';
import { awsSettings, USER_AGENT } from '../aws-ec2/options.ts';
import { throttleRetrying } from '../aws-ec2/retry.ts';
import { asgPort } from './asg-port.ts';
import { resolveGroupDesired } from './desired.ts';
import { anyLeaving, asLeaving, type GroupFacts, groupFacts, groupProblems } from './group.ts';
import { type AwsAsgProviderOptions, resolveAsgOptions } from './options.ts';
import { AsgPools } from './pools.ts';
import { groupRunHooks } from './run-hooks.ts';
import {
  beginTerminationInGroup,
  completeLaunchHooks,
  completeLaunchHooksOfRun,
  createReplacement,
  terminateHookMs,
  terminateInGroup,
} from './swaps.ts';

export type { AwsAsgProviderOptions } from './options.ts';

const PROVIDER_ID_FORM = /^aws:\/\/\/[^/]*\/i-[0-9a-z]+$/;

export function createAwsAsgProvider(input: AwsAsgProviderOptions): MachineProvider & { destroy(): void } {
  const options = resolveAsgOptions(input);
  const clientConfig = {
    customUserAgent: USER_AGENT,
    region: options.region,
    ...(options.endpoint ? { endpoint: options.endpoint } : {}),
    ...(options.credentials ? { credentials: options.credentials } : {}),
  };
  const ec2Client = new EC2Client(clientConfig);
  const elbClient = new ElasticLoadBalancingV2Client(clientConfig);
  const asgClient = new AutoScalingClient(clientConfig);
  const call = throttleRetrying(options.throttleRetry);
  const ec2 = ec2Port(ec2Client, call);
  const asg = asgPort(asgClient, call);
  const context = {
    asg,
    ec2,
    group: options.autoScalingGroup,
    pollIntervalMs: options.pollIntervalMs,
    launchTimeoutMs: options.launchTimeoutMs,
  };
  // Worker pools: each a worker Auto Scaling group (workerPools[].autoScalingGroup).
  const pools = new AsgPools(asg, ec2, context, options.clusterName, options.pools ?? []);
  const failing =
    (action: string, wait?: ProviderWait) =>
    (error: unknown): never => {
      throw interruptedOr(wait, error, () => wrapAwsError(action, error));
    };
  // The group as last seen (resolveDesired, every listMachines): checkMachines and the target group read it.
  let seen: GroupFacts | undefined;
  /** The group's terminate hooks' longest heartbeat, read once the first instance leaves (one call per process). */
  let terminateHooks: Promise<number> | undefined;
  const look = async () => {
    const group = await asg.describeGroup(options.autoScalingGroup);
    seen = group ? groupFacts(group) : undefined;
    return seen;
  };
  let membership: LoadBalancerMembership | undefined;
  const targetGroup = (): LoadBalancerMembership | undefined => {
    const arn = options.targetGroupArn ?? (seen?.targetGroupArns.length === 1 ? seen.targetGroupArns[0] : undefined);
    if (!arn) return undefined;
    if (!membership) {
      const group = new ApiTargetGroup(
        elbv2Port(elbClient, call),
        arn,
        options.pollIntervalMs,
        options.deregistrationDelaySeconds,
      );
      membership = {
        targets: () => group.targets().catch(failing('list API targets')),
        // The group registered it at launch already; registering again is a no-op for ELBv2. The engine registers a
        // replacement once it has joined: the moment to let a launch lifecycle hook go (swaps.ts).
        register: async (id) => {
          await group.register(id).catch(failing(`register ${id} as an API target`));
          await completeLaunchHooks(context, id).catch(failing(`complete the launch lifecycle action of ${id}`));
        },
        // The old machine leaves only once its replacement joined and serves: its launch hook can go.
        deregister: async (id, timeoutMs, wait) => {
          await completeLaunchHooksOfRun(context, { replaces: id }).catch(
            failing(`complete the launch lifecycle action of the replacement of ${id}`),
          );
          await group.deregister(id, timeoutMs, wait).catch(failing(`deregister API target ${id}`, wait));
        },
      };
    }
    return membership;
  };

  return {
    contractVersion: PROVIDER_CONTRACT_VERSION,
    name: 'aws-asg',
    // The group launches the replacement, so its tags (propagated at launch) are the idempotency key. Membership
    // of the attached target group is the group's at launch, but the engine drives it for the old machine: the
    // old instance must leave the target group before its Node is drained, as with aws-ec2, which the group
    // only does at termination, after the drain.
    capabilities: {
      surge: true,
      ownsLoadBalancer: false,
      rendersBootstrap: false,
      // The group launches from its launch template: user data kubeswap rendered has no way onto the instance.
      acceptsUserData: false,
      idempotencyKey: 'tag',
    },

    async resolveDesired(wanted) {
      const group = await look().catch(failing(`describe Auto Scaling group ${options.autoScalingGroup}`));
      const problems = groupProblems(group, options.autoScalingGroup, options.clusterName);
      if (!group || problems.length > 0) return { problems };
      if (group.targetGroupArns.length > 1 && !options.targetGroupArn) {
        return {
          problems: [
            {
              code: 'asg.target-group-ambiguous',
              message: `${group.name} has ${group.targetGroupArns.length} target groups attached`,
              hint: 'name the API one with --target-group-arn',
            },
          ],
        };
      }
      const resolved = await resolveGroupDesired(ec2, group, options, wanted).catch(
        failing(`resolve the target launch template version of ${group.name}`),
      );
      if (!resolved.desired || pools.groups.size === 0) return resolved;
      const poolProblems = await pools
        .resolve(resolved.desired, wanted, options.updateLaunchTemplate === true)
        .catch(failing('resolve the worker groups'));
      return poolProblems.length > 0 ? { problems: [...resolved.problems, ...poolProblems] } : resolved;
    },

    async listMachines(pool, providerIds) {
      if (pool !== CONTROL_PLANE_POOL) {
        return pools.list(pool, providerIds).catch(failing(`list the instances of pool ${pool}`));
      }
      try {
        const group = await look();
        const linked = providerIds.map(instanceIdOf).filter((id): id is string => id !== undefined);
        const ids = [...new Set([...linked, ...(group?.instances.map((i) => i.id) ?? [])])];
        if (ids.length === 0) return [];
        const instances = await ec2.describeInstances([{ Name: 'instance-id', Values: ids }]);
        // A terminate hook may hold a leaving instance past --termination-timeout (beginTermination): read once,
        // when one is leaving (also when it is out of the group already, EC2 shutting it down: a resumed run).
        const machines = instances.map((instance) => toMachine(instance));
        const leaving = anyLeaving(machines, group);
        if (leaving && !terminateHooks) {
          terminateHooks = terminateHookMs(context);
          terminateHooks.catch(() => {
            terminateHooks = undefined;
          });
        }
        const allowance = leaving && terminateHooks ? await terminateHooks : 0;
        return asLeaving(machines, group, allowance).sort(
          (a, b) => a.launchedAt.getTime() - b.launchedAt.getTime() || a.id.localeCompare(b.id),
        );
      } catch (error) {
        throw wrapAwsError(`list the instances of ${options.autoScalingGroup}`, error);
      }
    },

    machineIdOf: (providerId) => (PROVIDER_ID_FORM.test(providerId) ? instanceIdOf(providerId) : undefined),
    drift,

    checkMachines: (machines) => [
      ...pools.checkMachines(machines as Ec2Machine[]),
      ...machines
        .filter((m) => m.pool === CONTROL_PLANE_POOL)
        .filter((m) => m.phase !== 'gone' && seen && !seen.instances.some((i) => i.id === m.id))
        .map((m) => ({
          code: 'machine.not-in-group',
          message: `instance ${m.id} is not in Auto Scaling group ${options.autoScalingGroup}`,
          hint: 'every control-plane machine must belong to the group; check provider.autoScalingGroup',
        })),
    ],

    async createReplacement(request, wait) {
      const launch = async () => {
        if (!pools.has(request.pool)) return createReplacement(context, request, wait);
        // The pool's group launches its target version from now on (preflight resolved it).
        await pools.pointAtTarget(request.pool);
        return createReplacement(pools.contextOf(request.pool), request, wait);
      };
      return launch().catch(failing(`launch the replacement of ${request.replaces.id}`, wait));
    },

    async terminate(machineId, timeoutMs, wait) {
      const pool = pools.poolOfInstance(machineId);
      const retire = async () => {
        if (!pool) return terminateInGroup(context, machineId, timeoutMs, wait);
        const group = pools.contextOf(pool);
        // The engine retires a worker once its replacement is Ready (surge) or before creating it (unavailable
        // slot): the replacement's launch hook, if any, can go now, as the control plane's does at deregistration.
        await completeLaunchHooksOfRun(group, { replaces: machineId });
        return terminateInGroup(group, machineId, timeoutMs, wait);
      };
      return retire().catch(failing(`terminate ${machineId}`, wait));
    },

    // The group's termination is asynchronous: start it and let the engine watch the instance leave (issue 15). Only
    // the control plane's retirement asks for it; a worker pool's instance goes through the same path as terminate.
    async beginTermination(machineId) {
      const pool = pools.poolOfInstance(machineId);
      const retire = async () => {
        if (!pool) return beginTerminationInGroup(context, machineId);
        const group = pools.contextOf(pool);
        await completeLaunchHooksOfRun(group, { replaces: machineId });
        return beginTerminationInGroup(group, machineId);
      };
      return retire().catch(failing(`terminate ${machineId}`));
    },

    get loadBalancer() {
      return targetGroup();
    },

    run: groupRunHooks(context, pools.groups),

    destroy() {
      ec2Client.destroy();
      elbClient.destroy();
      asgClient.destroy();
    },
  };
}

/** The registry's entry (providers/index.ts): the `provider:` section of the configuration -> a provider. */
export const provider: ProviderModule = {
  contractVersion: PROVIDER_CONTRACT_VERSION,
  name: 'aws-asg',
  create({ settings, pollIntervalMs, env }) {
    const { str, ...aws } = awsSettings(settings, env);
    return createAwsAsgProvider({
      ...aws,
      autoScalingGroup: str('autoScalingGroup') ?? '',
      updateLaunchTemplate: settings['updateLaunchTemplate'] === true,
      pools: (settings['pools'] as { name: string; autoScalingGroup?: string }[] | undefined) ?? [],
      pollIntervalMs,
    });
  },
};
