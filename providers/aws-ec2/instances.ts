// Instances as Machines: the providerID link (`aws:///<az>/<instance-id>`, what the AWS cloud
// provider writes into Node.spec.providerID), the mapping to our type, and the listing queries.
import type { Filter, Instance } from '@aws-sdk/client-ec2';
import type { Desired, DriftReason, Machine, MachinePhase } from '../../src/domain/model.ts';
import { CONTROL_PLANE_POOL } from '../../src/domain/model.ts';
import type { ProviderProblem } from '../../src/ports/machines.ts';
import type { Ec2Port } from './ec2-port.ts';
import { CONTROL_PLANE_ROLE, clusterTagKey, TAG, WORKER_ROLE } from './options.ts';

const PROVIDER_ID = /^aws:\/\/\/([^/]*)\/(i-[0-9a-z]+)$/;
export type InstanceState = 'pending' | 'running' | 'shutting-down' | 'terminated' | 'stopping' | 'stopped';

/** EC2 instance states in the contract's phases. A stopped control-plane instance serves nothing: failed. */
const PHASES: Record<InstanceState, MachinePhase> = {
  pending: 'provisioning',
  running: 'running',
  'shutting-down': 'deleting',
  stopping: 'deleting',
  terminated: 'gone',
  stopped: 'failed',
};
/** Everything but terminated: a terminating instance is still "ours" until it is gone. */
export const LIVE_STATES: InstanceState[] = ['pending', 'running', 'shutting-down', 'stopping', 'stopped'];

/** A Machine with what only this provider reads back: the engine hands these objects back unchanged. */
export interface Ec2Machine extends Machine {
  state: InstanceState;
  subnetId?: string;
  launchTemplate?: { id: string; version: string };
  tags: Record<string, string>;
}

/** The EC2 fields of a machine the engine handed back (a retiring record read from JSON keeps them too). */
export function ec2Facts(machine: Machine): Partial<Pick<Ec2Machine, 'subnetId' | 'launchTemplate' | 'tags'>> {
  return machine as Partial<Ec2Machine>;
}

export function formatProviderId(zone: string, instanceId: string): string {
  return `aws:///${zone}/${instanceId}`;
}

/** Instance id from a providerID; also accepts a bare instance id. Undefined for anything else. */
export function instanceIdOf(providerIdOrInstanceId: string): string | undefined {
  if (/^i-[0-9a-z]+$/.test(providerIdOrInstanceId)) return providerIdOrInstanceId;
  return PROVIDER_ID.exec(providerIdOrInstanceId)?.[2];
}

export function toMachine(instance: Instance, pool: string = CONTROL_PLANE_POOL): Ec2Machine {
  const tags = Object.fromEntries((instance.Tags ?? []).map((t) => [t.Key ?? '', t.Value ?? '']));
  const id = instance.InstanceId ?? '';
  const zone = instance.Placement?.AvailabilityZone ?? '';
  const stateName = instance.State?.Name as InstanceState | undefined;
  const state: InstanceState = stateName && stateName in PHASES ? stateName : 'pending';
  const ltId = tags[TAG.launchTemplateId];
  const ltVersion = tags[TAG.launchTemplateVersion];
  return {
    id,
    providerId: formatProviderId(zone, id),
    zone,
    ...(instance.SubnetId ? { subnetId: instance.SubnetId } : {}),
    imageId: instance.ImageId ?? '',
    ...(ltId && ltVersion ? { launchTemplate: { id: ltId, version: ltVersion } } : {}),
    pool,
    phase: PHASES[state],
    status: state,
    state,
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
 * How long the set of kubeswap's own live replacements found by their tags stands before it is looked up again: only
 * kubeswap launches them, under the run's lock, and each launch looks them up again, so this only bounds how long a
 * replacement from outside the run (none expected) goes unseen.
 */
export const TAGGED_REFRESH_MS = 300_000;

/**
 * The control plane's machines: those linked by providerID (in any state, so the engine sees a terminated one) plus
 * every live control-plane machine kubeswap tagged for the cluster, each once, ordered by launch time.
 *
 * In ONE DescribeInstances per call where it can: the engine reads the control plane every
 * pass while a machine leaves (the next swap waits on it), and the two-part listing sent two requests each time. The
 * tag lookup (kubeswap's live replacements) only finds something new after a launch, and only kubeswap launches
 * them under the run's lock; so its ids are remembered and asked for by id together with the linked ones, and the tag
 * lookup runs again after each createReplacement (whatever its outcome: a launch whose answer was lost still counts)
 * and every `refreshMs`. A remembered replacement that is no longer live drops out, as the tag lookup (live states
 * only) would drop it, unless a Node links it.
 * A replacement launched by this process is pinned (`remember`): EC2's API is eventually consistent (EC2 API
 * Reference, "Eventual consistency in the Amazon EC2 API"), so a tag lookup right after the launch may not return it
 * yet, and were it then forgotten until the next lookup, the engine would see no replacement for minutes and plan
 * another. A pinned id is asked for by id until it is seen no longer live.
 */
export class ControlPlaneListing {
  private tagged?: { at: number; ids: Set<string> };
  private readonly pinned = new Set<string>();

  constructor(
    private readonly ec2: Ec2Port,
    private readonly clusterName: string,
    private readonly refreshMs = TAGGED_REFRESH_MS,
    private readonly now: () => number = Date.now,
  ) {}

  /** The next call looks replacements up by their tags again. */
  forget(): void {
    this.tagged = undefined;
  }

  /** A replacement this process launched: listed by id from now on, whatever a tag lookup returns. */
  remember(id: string): void {
    this.pinned.add(id);
    this.tagged?.ids.add(id);
  }

  async list(providerIds: string[]): Promise<Ec2Machine[]> {
    const linked = linkedIds(providerIds);
    const at = this.now();
    const tagged = this.tagged;
    if (!tagged || at - tagged.at >= this.refreshMs) {
      const listing = await listFully(this.ec2, this.clusterName, linked);
      this.tagged = { at, ids: new Set([...listing.taggedIds, ...this.pinned]) };
      const missed = [...this.pinned].filter((id) => !listing.machines.some((m) => m.id === id));
      if (missed.length === 0) return listing.machines;
      // A pinned replacement the tag lookup did not return (yet): asked for by id, as every later call does.
      return byLaunch([...listing.machines, ...(await this.byId(missed, linked))]);
    }
    const ids = [...new Set([...linked, ...tagged.ids])];
    if (ids.length === 0) return [];
    return byLaunch(await this.byId(ids, linked));
  }

  /**
   * These instances by id, the linked ones in any state and the others only while live. An id answered in a state no
   * longer live drops out of the remembered ones; one not answered at all drops out too unless pinned (a just-launched
   * instance EC2 may not show yet).
   */
  private async byId(ids: string[], linked: string[]): Promise<Ec2Machine[]> {
    const live = new Set<string>(LIVE_STATES);
    const answered = (await this.ec2.describeInstances([{ Name: 'instance-id', Values: ids }])).map((instance) =>
      toMachine(instance),
    );
    for (const id of ids) {
      const m = answered.find((x) => x.id === id);
      if (m ? !live.has(m.state) : !this.pinned.has(id)) {
        this.tagged?.ids.delete(id);
        this.pinned.delete(id);
      }
    }
    return answered.filter((m) => linked.includes(m.id) || live.has(m.state));
  }
}

function linkedIds(providerIds: string[]): string[] {
  return [...new Set(providerIds.map(instanceIdOf).filter((id): id is string => id !== undefined))];
}

async function listFully(
  ec2: Ec2Port,
  clusterName: string,
  ids: string[],
): Promise<{ machines: Ec2Machine[]; taggedIds: Set<string> }> {
  const [linked, tagged] = await Promise.all([
    ids.length > 0 ? ec2.describeInstances([{ Name: 'instance-id', Values: ids }]) : Promise.resolve([]),
    ec2.describeInstances([...replacementFilters(clusterName), { Name: 'instance-state-name', Values: LIVE_STATES }]),
  ]);
  const byId = new Map<string, Ec2Machine>();
  for (const instance of [...linked, ...tagged]) {
    const machine = toMachine(instance);
    byId.set(machine.id, machine);
  }
  return {
    machines: byLaunch([...byId.values()]),
    taggedIds: new Set(tagged.map((i) => i.InstanceId ?? '').filter((id) => id !== '')),
  };
}

function byLaunch(machines: Ec2Machine[]): Ec2Machine[] {
  return machines.sort((a, b) => a.launchedAt.getTime() - b.launchedAt.getTime() || a.id.localeCompare(b.id));
}

/** The instance one replacement request already launched, if any is still alive. */
export async function findReplacement(
  ec2: Ec2Port,
  clusterName: string,
  request: { replaces: string; runId: string; token: string; pool?: string },
): Promise<Ec2Machine | undefined> {
  const worker = request.pool !== undefined && request.pool !== CONTROL_PLANE_POOL;
  const found = await ec2.describeInstances([
    ...(worker
      ? [
          { Name: `tag:${clusterTagKey(clusterName)}`, Values: ['owned'] },
          { Name: `tag:${TAG.role}`, Values: [WORKER_ROLE] },
          { Name: `tag:${TAG.pool}`, Values: [request.pool!] },
        ]
      : replacementFilters(clusterName)),
    { Name: `tag:${TAG.replaces}`, Values: [request.replaces] },
    { Name: `tag:${TAG.runId}`, Values: [request.runId] },
    { Name: `tag:${TAG.token}`, Values: [request.token] },
    // shutting-down too is excluded: a torn-down replacement must not be handed back as the new one.
    { Name: 'instance-state-name', Values: ['pending', 'running', 'stopping', 'stopped'] },
  ]);
  return found
    .map((i) => toMachine(i, request.pool))
    .sort((a, b) => a.launchedAt.getTime() - b.launchedAt.getTime())[0];
}

/** Every machine must carry `kubernetes.io/cluster/<name>`: it is how replacements are tagged and found again. */
export function checkClusterTags(machines: Machine[], clusterName: string): ProviderProblem[] {
  const key = clusterTagKey(clusterName);
  return machines
    .filter((m) => {
      const tag = ec2Facts(m).tags?.[key];
      return tag !== 'owned' && tag !== 'shared';
    })
    .map((m) => ({
      code: 'machine.not-in-cluster',
      message: `instance ${m.id} is not tagged ${key}=owned`,
      hint: 'check --cluster-name (replacements are tagged with it and found by it on a re-run), or tag the instance',
    }));
}

/** Why an instance differs from what a launch now would create: its image, its launch template version. */
export function drift(machine: Machine, desired: Desired): DriftReason[] {
  const reasons: DriftReason[] = [];
  if (machine.imageId !== desired.imageId) {
    reasons.push({ code: 'image', message: `image ${machine.imageId} != ${desired.imageId}` });
  }
  const lt = ec2Facts(machine).launchTemplate;
  // The desired template is the control plane's; a worker pool launches from its own.
  const want = machine.pool === CONTROL_PLANE_POOL ? desired.template : undefined;
  if (lt && want && (lt.id !== want.id || lt.version !== want.version)) {
    reasons.push({
      code: 'launch-template',
      message: `launch template ${lt.id}:${lt.version} != ${want.id}:${want.version}`,
    });
  }
  return reasons;
}
