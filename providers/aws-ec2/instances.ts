// Instances as Machines: the providerID link (`aws:///<az>/<instance-id>`, what the AWS cloud
// provider writes into Node.spec.providerID), the mapping to our type, and the listing queries.
import type { Filter, Instance } from '@aws-sdk/client-ec2';
import type { Machine, MachineState } from '../../src/domain/model.ts';
import type { ProviderProblem } from '../../src/ports/machines.ts';
import type { Ec2Port } from './ec2-port.ts';
import { CONTROL_PLANE_ROLE, clusterTagKey, TAG } from './options.ts';

const PROVIDER_ID = /^aws:\/\/\/([^/]*)\/(i-[0-9a-z]+)$/;
const MACHINE_STATES: readonly MachineState[] = [
  'pending',
  'running',
  'shutting-down',
  'terminated',
  'stopping',
  'stopped',
];
/** Everything but terminated: a terminating instance is still "ours" until it is gone. */
export const LIVE_STATES: MachineState[] = ['pending', 'running', 'shutting-down', 'stopping', 'stopped'];

export function formatProviderId(zone: string, instanceId: string): string {
  return `aws:///${zone}/${instanceId}`;
}

/** Instance id from a providerID; also accepts a bare instance id. Undefined for anything else. */
export function instanceIdOf(providerIdOrInstanceId: string): string | undefined {
  if (/^i-[0-9a-z]+$/.test(providerIdOrInstanceId)) return providerIdOrInstanceId;
  return PROVIDER_ID.exec(providerIdOrInstanceId)?.[2];
}

export function toMachine(instance: Instance): Machine {
  const tags = Object.fromEntries((instance.Tags ?? []).map((t) => [t.Key ?? '', t.Value ?? '']));
  const id = instance.InstanceId ?? '';
  const zone = instance.Placement?.AvailabilityZone ?? '';
  const stateName = instance.State?.Name as MachineState | undefined;
  const ltId = tags[TAG.launchTemplateId];
  const ltVersion = tags[TAG.launchTemplateVersion];
  return {
    id,
    providerId: formatProviderId(zone, id),
    zone,
    ...(instance.SubnetId ? { subnetId: instance.SubnetId } : {}),
    imageId: instance.ImageId ?? '',
    ...(ltId && ltVersion ? { launchTemplate: { id: ltId, version: ltVersion } } : {}),
    state: stateName && MACHINE_STATES.includes(stateName) ? stateName : 'pending',
    launchedAt: instance.LaunchTime ?? new Date(0),
    tags,
    ...(tags[TAG.replaces] ? { replaces: tags[TAG.replaces] } : {}),
    ...(tags[TAG.runId] ? { runId: tags[TAG.runId] } : {}),
  };
}

/** Filters for the control-plane machines kubeswap created for this cluster (replacements). */
export function replacementFilters(clusterName: string): Filter[] {
  return [
    { Name: `tag:${clusterTagKey(clusterName)}`, Values: ['owned'] },
    { Name: `tag:${TAG.role}`, Values: [CONTROL_PLANE_ROLE] },
  ];
}

/**
 * Machines linked by providerID (in any state, so the engine sees a terminated one) plus every live
 * control-plane machine kubeswap tagged for the cluster, each once, ordered by launch time.
 */
export async function listMachines(ec2: Ec2Port, clusterName: string, providerIds: string[]): Promise<Machine[]> {
  const ids = [...new Set(providerIds.map(instanceIdOf).filter((id): id is string => id !== undefined))];
  const [linked, tagged] = await Promise.all([
    ids.length > 0 ? ec2.describeInstances([{ Name: 'instance-id', Values: ids }]) : Promise.resolve([]),
    ec2.describeInstances([...replacementFilters(clusterName), { Name: 'instance-state-name', Values: LIVE_STATES }]),
  ]);
  const byId = new Map<string, Machine>();
  for (const instance of [...linked, ...tagged]) {
    const machine = toMachine(instance);
    byId.set(machine.id, machine);
  }
  return [...byId.values()].sort((a, b) => a.launchedAt.getTime() - b.launchedAt.getTime() || a.id.localeCompare(b.id));
}

/** The instance one replacement request already launched, if any is still alive. */
export async function findReplacement(
  ec2: Ec2Port,
  clusterName: string,
  request: { replaces: string; runId: string; token: string },
): Promise<Machine | undefined> {
  const found = await ec2.describeInstances([
    ...replacementFilters(clusterName),
    { Name: `tag:${TAG.replaces}`, Values: [request.replaces] },
    { Name: `tag:${TAG.runId}`, Values: [request.runId] },
    { Name: `tag:${TAG.token}`, Values: [request.token] },
    // shutting-down too is excluded: a torn-down replacement must not be handed back as the new one.
    { Name: 'instance-state-name', Values: ['pending', 'running', 'stopping', 'stopped'] },
  ]);
  return found.map(toMachine).sort((a, b) => a.launchedAt.getTime() - b.launchedAt.getTime())[0];
}

/** Every machine must carry `kubernetes.io/cluster/<name>`: it is how replacements are tagged and found again. */
export function checkClusterTags(machines: Machine[], clusterName: string): ProviderProblem[] {
  const key = clusterTagKey(clusterName);
  return machines
    .filter((m) => m.tags[key] !== 'owned' && m.tags[key] !== 'shared')
    .map((m) => ({
      code: 'machine.not-in-cluster',
      message: `instance ${m.id} is not tagged ${key}=owned`,
      hint: 'check --cluster-name (replacements are tagged with it and found by it on a re-run), or tag the instance',
    }));
}
