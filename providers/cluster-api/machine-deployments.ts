// Worker pools of the Cluster API provider: a pool is one or more MachineDeployments of the cluster, whose
// Machines Cluster API's own MachineSet controller replaces. kubeswap does not swap those Machines: it clones the
// MachineDeployment's infrastructure template with the image and the user's patches (the same RFC 6902 machinery as
// the control plane's clones) and its KubeadmConfigTemplate with the user's bootstrapPatches (as the control plane's
// KubeadmConfig clones get them), points spec.template at the target version and the new templates, sets the rolling
// update strategy from the pool (or keeps the MachineDeployment's own), and follows the rollout Cluster API runs
// (core/reconcilers/machinedeployment, rolling update: new MachineSet scaled up within maxSurge, old one down
// within maxUnavailable as new Machines become available, each old Machine drained by the Machine controller).
//
// A template is never edited in place (Cluster API treats infrastructure templates as immutable: a rollout happens
// only when the MachineDeployment's template reference changes). The clone's name derives from its content, so a
// re-run after kill -9 finds the one it created and the bump is a no-op once done.
import { createHash } from 'node:crypto';
import { KubeswapError } from '../../src/domain/errors.ts';
import type { Desired, DriftReason } from '../../src/domain/model.ts';
import type { IntOrPercent } from '../../src/domain/pools.ts';
import type { PoolRollout, RolloutMachine, RolloutStrategy } from '../../src/domain/rollouts.ts';
import type { RolledPools } from '../../src/ports/machines.ts';
import type { CapiPort, KubeObject } from './capi-port.ts';
import { type JsonPatch, patched, withImage } from './clone.ts';
import {
  CLUSTER_NAME_LABEL,
  CONTROL_PLANE_LABEL,
  CORE_API,
  imageOf,
  type ObjectRef,
  PATCHES_ANNOTATION,
  phaseOf,
  RUN_ANNOTATION,
} from './machines.ts';

/** Labels Cluster API puts on the Machines of a MachineDeployment (api/core/v1beta2 machine_types.go). */
export const DEPLOYMENT_NAME_LABEL = 'cluster.x-k8s.io/deployment-name';
export const SET_NAME_LABEL = 'cluster.x-k8s.io/set-name';
/** Cluster API's pause annotation (api/core/v1beta2 common_types.go PausedAnnotation). */
export const PAUSED_ANNOTATION = 'cluster.x-k8s.io/paused';
/** On a template kubeswap cloned: the template it was cloned from. */
export const CLONED_FROM_TEMPLATE = 'kubeswap.io/cloned-from';
/** On a template kubeswap cloned: the --image it set (absent: the source template's own image kept). */
export const CLONE_IMAGE_ANNOTATION = 'kubeswap.io/image';
/**
 * On a MachineDeployment kubeswap pointed at a KubeadmConfigTemplate clone (bootstrapPatches): the template it was
 * cloned from. Read without fetching the template, so a run without bootstrapPatches reads no bootstrap template and
 * still sees (and undoes) an earlier run's patched clone.
 */
export const BOOTSTRAP_CLONED_FROM = 'kubeswap.io/bootstrap-cloned-from';
/** When kubeswap last pointed a MachineDeployment at the target (ISO 8601): bounds the wait for its rollout. */
export const BUMPED_AT_ANNOTATION = 'kubeswap.io/bumped-at';

/**
 * Names the infrastructurePatches a clone was made with (on it as PATCHES_ANNOTATION), as the control plane's
 * replacements do: a clone already carries its patches, and applying them to it again would not be a no-op (an
 * `add` to `/spec/<list>/-` adds once more on every pass, a `remove` fails on the removed path).
 */
export function patchesHash(patch: JsonPatch): string {
  return patch.length === 0 ? 'none' : createHash('sha256').update(JSON.stringify(patch)).digest('hex').slice(0, 16);
}

const isClone = (template: KubeObject) => template.metadata.annotations?.[CLONED_FROM_TEMPLATE] !== undefined;
/** The patches a kubeswap clone was made with; a clone from before the annotation was made without any. */
const clonePatches = (template: KubeObject) => template.metadata.annotations?.[PATCHES_ANNOTATION] ?? 'none';

/** A worker pool of this provider: the MachineDeployments it names (undefined: every one of the cluster). */
export interface MachineDeploymentPool {
  name: string;
  machineDeployments?: string[];
}

const noImage = (desired: Pick<Desired, 'imageId'>) => !desired.imageId || desired.imageId.startsWith('(');

/**
 * What a template's Machines are made from, as the object itself (an infrastructure machine, a KubeadmConfig): where
 * the image table and the patches apply.
 */
function madeFrom(template: KubeObject): KubeObject {
  const inner = (template.spec?.['template'] as { spec?: Record<string, unknown> } | undefined)?.spec ?? {};
  return {
    apiVersion: template.apiVersion,
    kind: template.kind.replace(/Template$/, ''),
    metadata: { name: template.metadata.name },
    spec: structuredClone(inner),
  };
}

/**
 * The template a bump points the MachineDeployment at: the current one with `imageId` set on what it makes and
 * `patch` applied (paths as on an infrastructure machine, `/spec/...`: the control plane's patches apply alike).
 * `unchanged`: the current template already makes that, nothing to clone.
 */
export function templateClone(
  template: KubeObject,
  imageId: string | undefined,
  patch: JsonPatch,
): { object: KubeObject; unchanged: boolean } {
  return cloneTemplate(
    template,
    (made) => {
      // withImage refuses a kind whose image field it does not know, naming the kinds it knows.
      const machine = imageId ? withImage(made, imageId) : made;
      return patched(machine, patch, 'infrastructurePatches');
    },
    patch,
    imageId ? { [CLONE_IMAGE_ANNOTATION]: imageId } : {},
  );
}

/**
 * The KubeadmConfigTemplate a bump points the MachineDeployment at: the current one with the user's bootstrapPatches
 * applied to the KubeadmConfig it makes (paths as on a KubeadmConfig, `/spec/...`: the patches the control plane's
 * KubeadmConfig clones get apply alike). `unchanged`: the patches change nothing, nothing to clone.
 */
export function bootstrapTemplateClone(
  template: KubeObject,
  patch: JsonPatch,
): { object: KubeObject; unchanged: boolean } {
  return cloneTemplate(template, (made) => patched(made, patch, 'bootstrapPatches'), patch, {});
}

/** A template's clone with `edit` applied to what it makes, named from its content and the patches it was made with. */
function cloneTemplate(
  template: KubeObject,
  edit: (made: KubeObject) => KubeObject,
  patch: JsonPatch,
  extraAnnotations: Record<string, string>,
): { object: KubeObject; unchanged: boolean } {
  const machine = edit(madeFrom(template));
  const inner = (template.spec?.['template'] ?? {}) as Record<string, unknown>;
  const spec = { ...structuredClone(template.spec ?? {}), template: { ...structuredClone(inner), spec: machine.spec } };
  const unchanged = JSON.stringify(spec) === JSON.stringify(template.spec ?? {});
  const madeWith = patchesHash(patch);
  // The patches' hash is part of the name: a clone's annotations say what made it, so two makings differ in name.
  const digest = createHash('sha256')
    .update(JSON.stringify([spec, madeWith]))
    .digest('hex')
    .slice(0, 8);
  // A template cloned before carries a digest suffix: replace it, so names do not grow with every upgrade.
  const base = (
    template.metadata.annotations?.[CLONED_FROM_TEMPLATE]
      ? template.metadata.name.replace(/-[0-9a-f]{8}$/, '')
      : template.metadata.name
  )
    .slice(0, 50)
    .replace(/-+$/, '');
  const { labels, annotations } = template.metadata;
  const kept = Object.fromEntries(
    Object.entries(annotations ?? {}).filter(
      ([k]) => !k.startsWith('kubectl.kubernetes.io/') && !k.startsWith('kubeswap.io/'),
    ),
  );
  return {
    object: {
      apiVersion: template.apiVersion,
      kind: template.kind,
      metadata: {
        name: `${base}-${digest}`,
        labels: { ...(labels ?? {}) },
        annotations: {
          ...kept,
          [CLONED_FROM_TEMPLATE]: template.metadata.name,
          [PATCHES_ANNOTATION]: madeWith,
          ...extraAnnotations,
        },
      },
      spec,
    },
    unchanged,
  };
}

const refOf = (value: unknown): ObjectRef | undefined => {
  const r = value as Partial<ObjectRef> | undefined;
  return r?.kind && r.name ? { apiGroup: r.apiGroup ?? '', kind: r.kind, name: r.name } : undefined;
};

/** The MachineDeployment's Machine template spec (spec.template.spec). */
const templateSpec = (o: KubeObject) =>
  ((o.spec?.['template'] as { spec?: Record<string, unknown> } | undefined)?.spec ?? {}) as Record<string, unknown>;

export const infrastructureRefOf = (md: KubeObject) => refOf(templateSpec(md)['infrastructureRef']);
export const bootstrapRefOf = (md: KubeObject) =>
  refOf((templateSpec(md)['bootstrap'] as { configRef?: unknown } | undefined)?.configRef);

/**
 * Why a MachineDeployment's KubeadmConfigTemplate is not what bootstrapPatches ask for. `template` is read only when
 * there are patches (undefined otherwise): without them only an earlier run's clone (BOOTSTRAP_CLONED_FROM) drifts.
 * A patch that does not apply is refused here, before the run changes anything.
 */
export function bootstrapDrift(md: KubeObject, template: KubeObject | undefined, patch: JsonPatch): DriftReason[] {
  const ref = bootstrapRefOf(md);
  if (patch.length === 0) {
    const from = md.metadata.annotations?.[BOOTSTRAP_CLONED_FROM];
    return from && ref && ref.name !== from
      ? [
          {
            code: 'patches',
            message: `${ref.kind} ${ref.name}: kubeswap made it with bootstrapPatches no longer configured`,
          },
        ]
      : [];
  }
  if (ref?.kind !== 'KubeadmConfigTemplate') {
    throw new KubeswapError(
      'invalid',
      'patch.no-bootstrap-template',
      `bootstrapPatches cannot apply to MachineDeployment ${md.metadata.name}: its bootstrap is ${ref ? `a ${ref.kind}` : 'a data secret'}, not a KubeadmConfigTemplate`,
      { hint: 'remove bootstrapPatches, or give the MachineDeployment a KubeadmConfigTemplate' },
    );
  }
  if (!template) return [];
  if (isClone(template)) {
    return clonePatches(template) === patchesHash(patch)
      ? []
      : [
          {
            code: 'patches',
            message: `${template.kind} ${template.metadata.name}: kubeswap made it with other bootstrapPatches`,
          },
        ];
  }
  return bootstrapTemplateClone(template, patch).unchanged
    ? []
    : [
        {
          code: 'patches',
          message: `the configured bootstrap patches change ${template.kind} ${template.metadata.name}`,
        },
      ];
}

/** Why a MachineDeployment's Machines are not what the target asks for; empty when a rollout would change nothing. */
export function deploymentDrift(
  md: KubeObject,
  template: KubeObject | undefined,
  desired: Pick<Desired, 'version' | 'imageId'>,
  patch: JsonPatch,
): DriftReason[] {
  const reasons: DriftReason[] = [];
  const version = templateSpec(md)['version'];
  if (version !== desired.version) {
    reasons.push({
      code: 'version',
      message: `spec.template.spec.version ${String(version ?? '(none)')} != ${desired.version}`,
    });
  }
  if (!template) return reasons;
  const image = imageOf(madeFrom(template));
  if (!noImage(desired) && image !== desired.imageId) {
    reasons.push({
      code: 'image',
      message: `${template.kind} ${template.metadata.name}: image ${image || '(none)'} != ${desired.imageId}`,
    });
  } else if (isClone(template)) {
    // kubeswap's own clone already carries the patches it was made with: only other patches drift it.
    if (clonePatches(template) !== patchesHash(patch)) {
      reasons.push({
        code: 'patches',
        message: `${template.kind} ${template.metadata.name}: kubeswap made it with other infrastructurePatches`,
      });
    }
  } else if (patch.length > 0 && !templateClone(template, undefined, patch).unchanged) {
    reasons.push({
      code: 'patches',
      message: `the configured infrastructure patches change ${template.kind} ${template.metadata.name}`,
    });
  }
  return reasons;
}

/**
 * The merge patch (RFC 7386) that starts the rollout: the target version and the new template in spec.template,
 * and the rolling-update strategy (api/core/v1beta2 MachineDeploymentRolloutStrategy) unless it is kept.
 */
export function bumpPatch(
  templateName: string,
  desired: Pick<Desired, 'version'>,
  strategy: RolloutStrategy,
  runId?: string,
  bumpedAt?: Date,
  /** The KubeadmConfigTemplate to point at, and the template it is a clone of (null: it is no clone of ours). */
  bootstrap?: { name: string; clonedFrom: string | null },
): Record<string, unknown> {
  const annotations = {
    ...(runId ? { [RUN_ANNOTATION]: runId } : {}),
    ...(bumpedAt ? { [BUMPED_AT_ANNOTATION]: bumpedAt.toISOString() } : {}),
    ...(bootstrap ? { [BOOTSTRAP_CLONED_FROM]: bootstrap.clonedFrom } : {}),
  };
  return {
    ...(Object.keys(annotations).length > 0 ? { metadata: { annotations } } : {}),
    spec: {
      template: {
        spec: {
          version: desired.version,
          infrastructureRef: { name: templateName },
          ...(bootstrap ? { bootstrap: { configRef: { name: bootstrap.name } } } : {}),
        },
      },
      ...(strategy === 'keep'
        ? {}
        : {
            rollout: {
              strategy: {
                type: 'RollingUpdate',
                rollingUpdate: { maxSurge: strategy.maxSurge, maxUnavailable: strategy.maxUnavailable },
              },
            },
          }),
    },
  };
}

/** The Deleting condition's message (v1beta2): names the Pods and the PodDisruptionBudget a drain waits on. */
function deletingMessage(m: KubeObject): string | undefined {
  const c = deletingCondition(m);
  return c?.message || c?.reason || undefined;
}

function deletingCondition(m: KubeObject): { message?: string; reason?: string } | undefined {
  if (!m.metadata.deletionTimestamp) return undefined;
  const conditions =
    (m.status?.['conditions'] as { type?: string; message?: string; reason?: string }[] | undefined) ?? [];
  return conditions.find((x) => x.type === 'Deleting');
}

/**
 * The Deleting condition's reasons once the Machine controller is past the drain (api/core/v1beta2 machine_types.go,
 * core/reconcilers/machine/machine_controller.go reconcileDelete: drain, then volume detach, pre-terminate hooks,
 * infrastructure and bootstrap deletion, Node deletion). DrainingNode and WaitingForPreDrainHook come before.
 */
const AFTER_DRAIN_REASONS = new Set([
  'WaitingForVolumeDetach',
  'WaitingForPreTerminateHook',
  'WaitingForInfrastructureDeletion',
  'WaitingForBootstrapDeletion',
  'DeletingNode',
  'DeletionCompleted',
]);

/** Where a deletion is, from the Deleting condition's reason; undefined when it does not say (no v1beta2 condition). */
function deletingStage(m: KubeObject): 'drain' | 'after-drain' | undefined {
  const reason = deletingCondition(m)?.reason;
  if (!reason) return undefined;
  return AFTER_DRAIN_REASONS.has(reason) ? 'after-drain' : 'drain';
}

/** The MachineDeployment's rollout: its Machines, each up to date when its MachineSet makes the current template. */
export function rolloutOf(
  pool: string,
  md: KubeObject,
  machineSets: KubeObject[],
  machines: KubeObject[],
  drift: DriftReason[],
): PoolRollout {
  const name = md.metadata.name;
  const want = templateSpec(md);
  const wantInfra = refOf(want['infrastructureRef'])?.name;
  const wantBootstrap = bootstrapRefOf(md)?.name;
  const current = new Set(
    machineSets
      .filter((ms) => ms.metadata.labels?.[DEPLOYMENT_NAME_LABEL] === name)
      .filter((ms) => {
        const spec = templateSpec(ms);
        return (
          spec['version'] === want['version'] &&
          refOf(spec['infrastructureRef'])?.name === wantInfra &&
          bootstrapRefOf(ms)?.name === wantBootstrap
        );
      })
      .map((ms) => ms.metadata.name),
  );
  const rolling = (md.spec?.['rollout'] as { strategy?: { rollingUpdate?: Record<string, unknown> } } | undefined)
    ?.strategy?.rollingUpdate;
  const intOrPercent = (v: unknown, fallback: IntOrPercent): IntOrPercent =>
    typeof v === 'number' || (typeof v === 'string' && /^\d+%$/.test(v)) ? (v as IntOrPercent) : fallback;
  const own: RolloutMachine[] = machines
    .filter((m) => m.metadata.labels?.[DEPLOYMENT_NAME_LABEL] === name)
    .map((m) => {
      const created = m.metadata.creationTimestamp;
      const message = deletingMessage(m);
      const stage = deletingStage(m);
      return {
        id: m.metadata.name,
        providerId: typeof m.spec?.['providerID'] === 'string' ? (m.spec['providerID'] as string) : '',
        phase: phaseOf(m),
        upToDate: current.has(m.metadata.labels?.[SET_NAME_LABEL] ?? ''),
        version: String(m.spec?.['version'] ?? ''),
        launchedAt: created ? new Date(created) : new Date(0),
        ...(m.metadata.deletionTimestamp ? { deletionStartedAt: new Date(m.metadata.deletionTimestamp) } : {}),
        ...(message ? { deleting: message } : {}),
        ...(stage ? { deletingStage: stage } : {}),
      };
    })
    .sort((a, b) => a.launchedAt.getTime() - b.launchedAt.getTime() || a.id.localeCompare(b.id));
  const bumpedAt = Date.parse(md.metadata.annotations?.[BUMPED_AT_ANNOTATION] ?? '');
  return {
    pool,
    kind: 'MachineDeployment',
    name,
    ...(Number.isNaN(bumpedAt) ? {} : { bumpedAt: new Date(bumpedAt) }),
    replicas: typeof md.spec?.['replicas'] === 'number' ? (md.spec['replicas'] as number) : 1,
    drift,
    // Cluster API's defaults (webhook): maxSurge 1, maxUnavailable 0.
    strategy: {
      maxSurge: intOrPercent(rolling?.['maxSurge'], 1),
      maxUnavailable: intOrPercent(rolling?.['maxUnavailable'], 0),
    },
    paused: md.spec?.['paused'] === true || md.metadata.annotations?.[PAUSED_ANNOTATION] !== undefined,
    machines: own,
  };
}

/** The `pools` sub-port over the management cluster. */
export function machineDeploymentPools(
  options: {
    clusterName: string;
    pools?: MachineDeploymentPool[];
    infrastructurePatches: JsonPatch;
    bootstrapPatches: JsonPatch;
  },
  port: CapiPort,
  read: (ref: ObjectRef | undefined) => Promise<KubeObject | undefined>,
  /**
   * Whether the operator asked for an image (--image): without one, the desired image is the control-plane
   * Machines' own (resolveDesired), which says nothing about what the workers should boot.
   */
  imageWanted: () => boolean = () => true,
  now: () => Date = () => new Date(),
): RolledPools {
  const cluster = `${CLUSTER_NAME_LABEL}=${options.clusterName}`;
  const { bootstrapPatches } = options;
  const forPools = (desired: Desired): Desired => (imageWanted() ? desired : { ...desired, imageId: '' });
  const imageOfDesired = (desired: Desired) => (noImage(forPools(desired)) ? undefined : desired.imageId);

  async function deploymentsOf(pool: string): Promise<KubeObject[]> {
    const names = (options.pools ?? []).find((p) => p.name === pool)?.machineDeployments;
    const all = await port.list(CORE_API, 'MachineDeployment', cluster);
    return all
      .filter((md) => !md.metadata.deletionTimestamp)
      .filter((md) => names === undefined || names.includes(md.metadata.name))
      .sort((a, b) => a.metadata.name.localeCompare(b.metadata.name));
  }

  return {
    async rollouts(pool, desired) {
      const [mds, sets, machines] = await Promise.all([
        deploymentsOf(pool),
        port.list(CORE_API, 'MachineSet', cluster),
        port.list(CORE_API, 'Machine', `${cluster},!${CONTROL_PLANE_LABEL}`),
      ]);
      return Promise.all(
        mds.map(async (md) => {
          // The bootstrap template only with bootstrapPatches (the shipped Role needs no read of it otherwise).
          const [template, bootstrap] = await Promise.all([
            read(infrastructureRefOf(md)),
            bootstrapPatches.length > 0 ? read(bootstrapRefOf(md)) : undefined,
          ]);
          const drift = [
            ...deploymentDrift(md, template, forPools(desired), options.infrastructurePatches),
            ...bootstrapDrift(md, bootstrap, bootstrapPatches),
          ];
          return rolloutOf(pool, md, sets, machines, drift);
        }),
      );
    },

    async bump(_pool, name, desired, strategy) {
      const md = await port.get(CORE_API, 'MachineDeployment', name);
      if (!md) {
        throw new KubeswapError('needs-person', 'pool.deployment-gone', `MachineDeployment ${name} is gone`, {
          hint: 'someone deleted it while kubeswap rolled the pool: check the pool (kubectl get machinedeployments), fix its config, then re-run',
          source: 'environment',
        });
      }
      const ref = infrastructureRefOf(md);
      const current = await read(ref);
      // Our own clone already carries the patches: a re-clone starts from the template it was cloned from.
      const from = current?.metadata.annotations?.[CLONED_FROM_TEMPLATE];
      const original = ref && from !== undefined ? await read({ ...ref, name: from }) : current;
      if (!ref || !current || !original) {
        const missing =
          !ref || !current
            ? `${ref?.kind ?? ''} ${ref?.name ?? '(none)'}`
            : `${ref.kind} ${from} (the template kubeswap cloned ${ref.name} from)`;
        throw new KubeswapError(
          'needs-person',
          'pool.template-gone',
          `MachineDeployment ${name}: its infrastructure template ${missing} does not exist`,
          {
            hint: `point spec.template.spec.infrastructureRef of MachineDeployment ${name} at an existing template, then re-run`,
            source: 'environment',
          },
        );
      }
      const { object, unchanged } = templateClone(original, imageOfDesired(desired), options.infrastructurePatches);
      const bootstrap = await bootstrapTarget(md);
      // The clones first: the MachineDeployment never points at a template that is not there yet (create returns
      // the existing one on a re-run).
      if (!unchanged) await port.create(object);
      if (bootstrap?.clone) await port.create(bootstrap.clone);
      await port.mergePatch(
        CORE_API,
        'MachineDeployment',
        name,
        bumpPatch(
          unchanged ? original.metadata.name : object.metadata.name,
          desired,
          strategy,
          undefined,
          now(),
          bootstrap,
        ),
      );
    },
  };

  /**
   * The KubeadmConfigTemplate the bump points at: a clone of the original with bootstrapPatches, the original when
   * they change nothing, or (no patches) the original of an earlier run's clone. Undefined: the reference stays.
   */
  async function bootstrapTarget(
    md: KubeObject,
  ): Promise<{ name: string; clonedFrom: string | null; clone?: KubeObject } | undefined> {
    const ref = bootstrapRefOf(md);
    const earlier = md.metadata.annotations?.[BOOTSTRAP_CLONED_FROM];
    if (bootstrapPatches.length === 0) {
      if (!ref || !earlier || ref.name === earlier) return undefined;
      if (!(await read({ ...ref, name: earlier }))) throw templateGone(md, `${ref.kind} ${earlier}`);
      return { name: earlier, clonedFrom: null };
    }
    // bootstrapDrift refused a MachineDeployment without a KubeadmConfigTemplate before the run changed anything.
    if (!ref) throw templateGone(md, 'KubeadmConfigTemplate (none)');
    const current = await read(ref);
    // Our own clone already carries the patches: a re-clone starts from the template it was cloned from.
    const from = current?.metadata.annotations?.[CLONED_FROM_TEMPLATE];
    const original = current && from !== undefined ? await read({ ...ref, name: from }) : current;
    if (!current) throw templateGone(md, `${ref.kind} ${ref.name}`);
    if (!original) throw templateGone(md, `${ref.kind} ${from} (the template kubeswap cloned ${ref.name} from)`);
    const { object, unchanged } = bootstrapTemplateClone(original, bootstrapPatches);
    return unchanged
      ? { name: original.metadata.name, clonedFrom: null }
      : { name: object.metadata.name, clonedFrom: original.metadata.name, clone: object };
  }
}

function templateGone(md: KubeObject, missing: string): KubeswapError {
  return new KubeswapError(
    'needs-person',
    'pool.template-gone',
    `MachineDeployment ${md.metadata.name}: its bootstrap template ${missing} does not exist`,
    {
      hint: `point spec.template.spec.bootstrap.configRef of MachineDeployment ${md.metadata.name} at an existing KubeadmConfigTemplate, then re-run`,
      source: 'environment',
    },
  );
}
