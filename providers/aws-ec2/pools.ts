// Worker pools of EC2 instances: a pool is the instances carrying a tag (`Key=Value`) or launched from a launch
// template (the `aws:ec2launchtemplate:id` tag EC2 puts on every instance it launches from one). Replacements are
// tagged with the pool and the `worker` role so a re-run finds them; they launch from the pool's launch template
// (or the old instance's) with the desired image, and join with that template's own (worker) user data.
import type { Filter } from '@aws-sdk/client-ec2';
import type { Ec2Port } from './ec2-port.ts';
import { ProviderError } from './errors.ts';
import { type Ec2Machine, instanceIdOf, LIVE_STATES, toMachine } from './instances.ts';
import { type ResolvedLaunchTemplate, resolveLaunchTemplate } from './launch-template.ts';
import { clusterTagKey, TAG, WORKER_ROLE } from './options.ts';

export interface Ec2PoolSelector {
  name: string;
  /** `Key=Value`: the pool's instances carry it (takes precedence over the launch template for selection). */
  tag?: string;
  /** Launch template id or name: the pool's instances came from it, and its replacements launch from it. */
  launchTemplate?: string;
}

export function poolReplacementFilters(clusterName: string, pool: string): Filter[] {
  return [
    { Name: `tag:${clusterTagKey(clusterName)}`, Values: ['owned'] },
    { Name: `tag:${TAG.role}`, Values: [WORKER_ROLE] },
    { Name: `tag:${TAG.pool}`, Values: [pool] },
  ];
}

/** Whether an instance is in the pool by its selector (a template given by name is resolved to its id first). */
function selects(selector: Ec2PoolSelector, templateId: string | undefined, m: Ec2Machine): boolean {
  if (m.tags[TAG.pool] === selector.name) return true;
  if (selector.tag) {
    const at = selector.tag.indexOf('=');
    return m.tags[selector.tag.slice(0, at)] === selector.tag.slice(at + 1);
  }
  return templateId !== undefined && m.tags[TAG.launchTemplateId] === templateId;
}

export class Ec2Pools {
  private readonly templates = new Map<string, Promise<ResolvedLaunchTemplate>>();

  constructor(
    private readonly ec2: Ec2Port,
    private readonly clusterName: string,
    private readonly selectors: readonly Ec2PoolSelector[],
  ) {}

  has(pool: string): boolean {
    return this.selectors.some((s) => s.name === pool);
  }

  /** The pool's instances among the Nodes' (any state) plus its live replacements, each once, oldest first. */
  async list(pool: string, providerIds: string[]): Promise<Ec2Machine[]> {
    const selector = this.selectors.find((s) => s.name === pool);
    if (!selector) return [];
    const templateId =
      selector.launchTemplate && !selector.tag ? (await this.template(selector.launchTemplate)).id : undefined;
    const ids = [...new Set(providerIds.map(instanceIdOf).filter((id): id is string => id !== undefined))];
    const [linked, replacements] = await Promise.all([
      ids.length > 0 ? this.ec2.describeInstances([{ Name: 'instance-id', Values: ids }]) : Promise.resolve([]),
      this.ec2.describeInstances([
        ...poolReplacementFilters(this.clusterName, pool),
        { Name: 'instance-state-name', Values: LIVE_STATES },
      ]),
    ]);
    const byId = new Map<string, Ec2Machine>();
    for (const m of linked.map((i) => toMachine(i, pool))) if (selects(selector, templateId, m)) byId.set(m.id, m);
    for (const m of replacements.map((i) => toMachine(i, pool))) byId.set(m.id, m);
    return [...byId.values()].sort(
      (a, b) => a.launchedAt.getTime() - b.launchedAt.getTime() || a.id.localeCompare(b.id),
    );
  }

  /** The template a worker replacement launches from: the pool's, else the one the old instance came from. */
  async launchTemplateFor(pool: string, old: Ec2Machine): Promise<ResolvedLaunchTemplate> {
    const selector = this.selectors.find((s) => s.name === pool);
    if (selector?.launchTemplate) return this.template(selector.launchTemplate);
    const own = old.tags?.[TAG.launchTemplateId];
    if (own) return this.template(own);
    throw new ProviderError(
      'pool.no-launch-template',
      `pool ${pool}: instance ${old.id} was not launched from a launch template, so there is nothing to launch its replacement from`,
      { hint: `give the pool a launchTemplate (workerPools[].launchTemplate) whose user data joins a worker` },
    );
  }

  private template(ref: string): Promise<ResolvedLaunchTemplate> {
    let found = this.templates.get(ref);
    if (!found) {
      // $Default: what the pool's owners launch new workers from today.
      found = resolveLaunchTemplate(this.ec2, ref, '$Default');
      found.catch(() => this.templates.delete(ref));
      this.templates.set(ref, found);
    }
    return found;
  }
}
