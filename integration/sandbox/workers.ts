// Worker machines: EC2 instances launched from the workers' launch template (user data: a worker join), their
// Nodes kept Ready by kwok, no control-plane components and no etcd member. The simulator plays the worker join of
// a replacement the same way (WorkerSimulator below): the Node registers with its providerID and the image's
// kubelet version once the boot delay has passed, and goes NotReady when the instance is terminated.
import { CreateLaunchTemplateCommand, type Instance, RunInstancesCommand } from '@aws-sdk/client-ec2';
import { clusterTag, ROLE_TAG, tagValue } from './aws.ts';
import type { ArmedFault } from './faults.ts';
import { markNodeDead, registerMachine } from './nodes.ts';
import { sleep } from './processes.ts';
import type { Runtime } from './runtime.ts';

export const workerNodes: string[] = [];
/** The tag that puts a sandbox worker in a pool (kubeswap's `workerPools[].tag: kubeswap-sandbox/pool=<name>`). */
export const POOL_TAG = 'kubeswap-sandbox/pool';
/** The workers' launch template user data: the image joins as a worker with credentials it holds. */
export const WORKER_JOIN_MARKER = '# kubeswap-sandbox: worker-join';

/** instance id -> Node name, for every worker the sandbox runs (initial ones and joined replacements). */
const workers = new Map<string, { node: string; dead: boolean }>();

export async function startWorkers(rt: Runtime): Promise<void> {
  const pools = rt.plan.workerPools ?? (rt.plan.workers > 0 ? { workers: rt.plan.workers } : {});
  if (Object.keys(pools).length === 0) return;
  const { from } = rt.plan.versions;
  const template = await rt.aws.ec2.send(
    new CreateLaunchTemplateCommand({
      LaunchTemplateName: `${rt.plan.clusterName}-workers`,
      LaunchTemplateData: {
        ImageId: rt.topology.images[from],
        InstanceType: 't3.medium',
        UserData: Buffer.from(`#!/bin/bash\n${WORKER_JOIN_MARKER}\n`).toString('base64'),
        MetadataOptions: { HttpTokens: 'required' },
      },
    }),
  );
  rt.topology.workerLaunchTemplateId = template.LaunchTemplate!.LaunchTemplateId!;
  let i = 0;
  for (const [pool, count] of Object.entries(pools)) {
    for (let k = 0; k < count; k++, i++) {
      const out = await rt.aws.ec2.send(
        new RunInstancesCommand({
          MinCount: 1,
          MaxCount: 1,
          LaunchTemplate: { LaunchTemplateId: rt.topology.workerLaunchTemplateId, Version: '$Latest' },
          SubnetId: rt.topology.subnetIds[i % rt.topology.subnetIds.length],
          TagSpecifications: [
            {
              ResourceType: 'instance',
              Tags: [
                { Key: clusterTag(rt.plan.clusterName), Value: 'owned' },
                { Key: ROLE_TAG, Value: 'worker' },
                { Key: POOL_TAG, Value: pool },
              ],
            },
          ],
        }),
      );
      const instance = out.Instances![0]!;
      await registerWorker(rt, instance, from);
    }
  }
}

async function registerWorker(rt: Runtime, instance: Instance, version: string): Promise<void> {
  const node = instance.PrivateDnsName || `ip-${instance.InstanceId}`;
  workers.set(instance.InstanceId!, { node, dead: false });
  await registerMachine(
    rt.core,
    {
      node,
      instanceId: instance.InstanceId!,
      az: instance.Placement!.AvailabilityZone!,
      privateIp: instance.PrivateIpAddress!,
      instanceType: instance.InstanceType ?? 't3.medium',
      version,
      controlPlane: false,
    },
    { apiServerPort: 0, etcdClientUrl: '', etcdVersion: rt.etcdVersion },
  );
  if (!workerNodes.includes(node)) workerNodes.push(node);
}

/**
 * A worker instance the simulator sees: a new running one boots and joins (no etcd, no static pods) when its user
 * data is a worker join and its kubelet is not newer than the API servers (kubeadm join's preflight); a
 * terminated one's Node goes NotReady (kwok stops heartbeating it), as a powered-off kubelet's would.
 */
export async function observeWorker(
  rt: Runtime,
  instance: Instance,
  facts: {
    version: () => Promise<string>;
    userData: () => Promise<string>;
    apiServerVersion: () => Promise<string | undefined>;
    /** The launch fault armed for this instance, consumed (never-boot and slow-boot apply to a worker). */
    fault: () => ArmedFault | undefined;
    /** A kubeadm worker join (Cluster API's CABPK renders one): what kubeadm join would refuse (capi-workers.ts). */
    joinRefusals?: (raw: string, version: string) => Promise<string[]>;
  },
): Promise<void> {
  const id = instance.InstanceId!;
  const known = workers.get(id);
  const state = instance.State?.Name ?? '';
  if (known) {
    if (!known.dead && ['shutting-down', 'terminated', 'stopping', 'stopped'].includes(state)) {
      known.dead = true;
      rt.log(`simulator: worker ${id} (${known.node}) is ${state}`);
      const i = workerNodes.indexOf(known.node);
      if (i >= 0) workerNodes.splice(i, 1);
      await markNodeDead(rt.core, known.node).catch((err: unknown) => rt.log(`mark ${known.node} dead: ${err}`));
      rt.publish();
    }
    return;
  }
  if (state !== 'running' || tagValue(instance.Tags, ROLE_TAG) !== 'worker') return;
  const node = instance.PrivateDnsName || `ip-${id}`;
  workers.set(id, { node, dead: false });
  const fault = facts.fault();
  if (fault?.kind === 'never-boot') {
    rt.log(`simulator: worker ${id} with fault never-boot: the VM never finishes booting`);
    return;
  }
  await sleep((rt.plan.bootDelaySeconds + (fault?.kind === 'slow-boot' ? fault.seconds : 0)) * 1000);
  const raw = Buffer.from(await facts.userData(), 'base64').toString('utf8');
  const [version, apiServer] = await Promise.all([facts.version(), facts.apiServerVersion()]);
  if (!raw.includes(WORKER_JOIN_MARKER)) {
    const refusals = facts.joinRefusals
      ? await facts.joinRefusals(raw, version)
      : ['the user data holds no worker join'];
    if (refusals.length > 0) {
      rt.log(`simulator: worker ${id}: kubeadm join refused: ${refusals.join('; ')}`);
      return;
    }
  }
  if (apiServer && minor(version) > minor(apiServer)) {
    rt.log(`simulator: worker ${id}: kubeadm join refused: kubelet ${version} is newer than ${apiServer}`);
    return;
  }
  await registerWorker(rt, instance, version);
  rt.log(`simulator: worker ${id} joined as ${node} (${version})`);
  rt.publish();
}

const minor = (version: string) => Number(version.replace(/^v/, '').split('.')[1]);
