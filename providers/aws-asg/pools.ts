// Worker pools as Auto Scaling groups: a pool is one worker group (workerPools[].autoScalingGroup). Its swaps are the
// control-plane group's (swaps.ts: raise the desired capacity by one with the request's tags propagating, MaxSize
// raised for the run when at max; retire with TerminateInstanceInAutoScalingGroup and the capacity decremented), so
// the pool's maxSurge and maxUnavailable are the engine's to hold, one machine per call, as for the control plane.
// The group launches from its own launch template (a worker join): the target is a version of THAT template
// carrying the run's image, pointed at just before the pool's first launch, never earlier (a control-plane-only
// run, or the control plane still on FROM, must not let a scale-out boot a kubelet newer than the API servers).
import type { Desired } from '../../src/domain/model.ts';
import type { ProviderProblem } from '../../src/ports/machines.ts';
import { asProblem } from '../aws-ec2/desired.ts';
import type { Ec2Port } from '../aws-ec2/ec2-port.ts';
import { ProviderError } from '../aws-ec2/errors.ts';
import { type Ec2Machine, instanceIdOf, toMachine } from '../aws-ec2/instances.ts';
import { launchTemplateData, resolveLaunchTemplate } from '../aws-ec2/launch-template.ts';
import type { AsgPort } from './asg-port.ts';
import { type GroupFacts, groupFacts, groupProblems, isLeaving } from './group.ts';
import type { SwapContext } from './swaps.ts';

/** The tag Auto Scaling puts on every instance it launches. */
export const GROUP_TAG = 'aws:autoscaling:groupName';
/** The tag EC2 puts on every instance launched from a launch template. */
const TEMPLATE_TAG = 'aws:ec2launchtemplate:id';

export interface AsgPoolSelector {
  name: string;
  autoScalingGroup?: string;
}

export class AsgPools {
  /** pool -> its group's target launch template version (resolved at preflight). */
  private readonly targets = new Map<string, { id: string; version: string }>();
  /** group -> the facts last read, for checkMachines. */
  private readonly seen = new Map<string, GroupFacts>();
  /** instance id -> its worker group, from the listings: terminate goes through the right group. */
  private readonly groupOfInstance = new Map<string, string>();
  readonly groups: ReadonlyMap<string, string>;

  constructor(
    private readonly asg: AsgPort,
    private readonly ec2: Ec2Port,
    private readonly base: Omit<SwapContext, 'group'>,
    private readonly clusterName: string,
    selectors: readonly AsgPoolSelector[],
  ) {
    this.groups = new Map(
      selectors.filter((s) => s.autoScalingGroup).map((s) => [s.name, s.autoScalingGroup!] as [string, string]),
    );
  }

  has(pool: string): boolean {
    return this.groups.has(pool);
  }

  contextOf(pool: string): SwapContext {
    return { ...this.base, group: this.groups.get(pool)! };
  }

  /**
   * Each worker group exists, belongs to the cluster, launches from a template, and its newest template version
   * carries the image: the control plane's target image, or with --update-launch-template a version made from the
   * newest one with only the image changed (as for the control-plane group: inert until the group uses it).
   */
  async resolve(
    desired: Desired,
    wanted: { version: string },
    updateLaunchTemplate: boolean,
  ): Promise<ProviderProblem[]> {
    const problems: ProviderProblem[] = [];
    const templateOf = new Map<string, string>();
    for (const [pool, name] of this.groups) {
      const raw = await this.asg.describeGroup(name);
      const group = raw ? groupFacts(raw) : undefined;
      if (group) this.seen.set(name, group);
      const own = groupProblems(group, name, this.clusterName).map((p) => ({
        ...p,
        message: `pool ${pool}: ${p.message}`,
        hint: p.code === 'asg.not-found' ? 'check workerPools[].autoScalingGroup and the region' : p.hint,
      }));
      if (!group || own.length > 0) {
        problems.push(...own);
        continue;
      }
      // A retired instance may have lost its group tag (detached, or moto's termination): it is then known by its
      // template, which must therefore be the pool's alone.
      const other = templateOf.get(group.launchTemplate!.id);
      if (other) {
        problems.push({
          code: 'asg.pools-share-template',
          message: `pools ${other} and ${pool}: their groups launch from the same launch template ${group.launchTemplate!.id}`,
          hint: 'give each worker group its own launch template',
        });
      }
      templateOf.set(group.launchTemplate!.id, pool);
      try {
        this.targets.set(pool, await this.target(group, desired.imageId, wanted.version, updateLaunchTemplate));
      } catch (error) {
        const problem = asProblem(error);
        problems.push({ ...problem, message: `pool ${pool}: ${problem.message}` });
      }
    }
    return problems;
  }

  private async target(group: GroupFacts, imageId: string, version: string, update: boolean) {
    const latest = await resolveLaunchTemplate(this.ec2, group.launchTemplate!.id, '$Latest');
    const latestImage = (await launchTemplateData(this.ec2, latest.id, latest.version)).ImageId ?? '';
    if (latestImage === imageId) return { id: latest.id, version: latest.version };
    if (!update) {
      throw new ProviderError(
        'launch-template.image-mismatch',
        `launch template ${latest.name} version ${latest.version} (the newest, of group ${group.name}) has image ${latestImage}, not ${imageId}`,
        { hint: 'create a launch template version with that image, or pass --update-launch-template' },
      );
    }
    const made = await this.ec2.createLaunchTemplateVersion({
      LaunchTemplateId: latest.id,
      SourceVersion: latest.version,
      VersionDescription: `kubeswap: ${version}`,
      LaunchTemplateData: { ImageId: imageId },
    });
    return { id: latest.id, version: String(made) };
  }

  /** The group's instances, plus those a worker Node points at that the group launched (any state), oldest first. */
  async list(pool: string, providerIds: string[]): Promise<Ec2Machine[]> {
    const name = this.groups.get(pool);
    if (!name) return [];
    const raw = await this.asg.describeGroup(name);
    const group = raw ? groupFacts(raw) : undefined;
    if (group) this.seen.set(name, group);
    const members = group?.instances ?? [];
    const linked = providerIds.map(instanceIdOf).filter((id): id is string => id !== undefined);
    const ids = [...new Set([...members.map((i) => i.id), ...linked])];
    if (ids.length === 0) return [];
    const instances = await this.ec2.describeInstances([{ Name: 'instance-id', Values: ids }]);
    const tagOf = (i: (typeof instances)[number], key: string) => i.Tags?.find((t) => t.Key === key)?.Value;
    // Launched by this group: its tag, or, once out of any group (retired), the group's launch template.
    const ours = (i: (typeof instances)[number]) =>
      tagOf(i, GROUP_TAG) === name ||
      (tagOf(i, GROUP_TAG) === undefined &&
        group?.launchTemplate !== undefined &&
        tagOf(i, TEMPLATE_TAG) === group.launchTemplate.id);
    return instances
      .filter(ours)
      .map((instance): Ec2Machine => {
        const machine = toMachine(instance, pool);
        this.groupOfInstance.set(machine.id, name);
        const member = members.find((i) => i.id === machine.id);
        return member && isLeaving(member) && machine.phase !== 'gone'
          ? { ...machine, phase: 'deleting', status: member.lifecycle }
          : machine;
      })
      .sort((a, b) => a.launchedAt.getTime() - b.launchedAt.getTime() || a.id.localeCompare(b.id));
  }

  /** The pool whose group an instance belongs to (as listed), if it is a worker's. */
  poolOfInstance(instanceId: string): string | undefined {
    const group = this.groupOfInstance.get(instanceId);
    return group ? [...this.groups].find(([, g]) => g === group)?.[0] : undefined;
  }

  /**
   * Before the pool's launches: the group launches from the target version from now on (any scale-out too), and
   * is refused when its template cannot serve the target (resolved at preflight).
   */
  async pointAtTarget(pool: string): Promise<void> {
    const target = this.targets.get(pool);
    const name = this.groups.get(pool)!;
    if (!target) {
      throw new ProviderError('options.invalid', `pool ${pool}: no target launch template version was resolved`);
    }
    const raw = await this.asg.describeGroup(name);
    const group = raw ? groupFacts(raw) : undefined;
    if (!group) throw new ProviderError('options.invalid', `Auto Scaling group ${name} does not exist`);
    // Refused at preflight (groupProblems); never a silent no-op that leaves the group on the old image.
    if (group.launchTemplate?.mixed) {
      throw new ProviderError(
        'options.invalid',
        `Auto Scaling group ${name} launches through a mixed instances policy`,
      );
    }
    if (group.launchTemplate?.id === target.id && group.launchTemplate.version === target.version) return;
    await this.asg.updateGroup({
      AutoScalingGroupName: name,
      LaunchTemplate: { LaunchTemplateId: target.id, Version: target.version },
    });
  }

  /** Worker machines listed that are no longer in their group (a person detached them): not ours to retire. */
  checkMachines(machines: readonly Ec2Machine[]): ProviderProblem[] {
    return machines
      .filter((m) => m.phase !== 'gone' && this.groups.has(m.pool))
      .filter((m) => {
        const group = this.seen.get(this.groups.get(m.pool)!);
        return group !== undefined && !group.instances.some((i) => i.id === m.id);
      })
      .map((m) => ({
        code: 'machine.not-in-group',
        message: `instance ${m.id} of pool ${m.pool} is not in Auto Scaling group ${this.groups.get(m.pool)}`,
        hint: 'put it back in the group or leave the pool out with --pools',
      }));
  }
}
