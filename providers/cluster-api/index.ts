// The Cluster API provider: the control plane is a set of Cluster API Machines without a control-plane provider
// (the VMware cluster-api-upgrade-tool's clusters). A replacement is a new Machine at the target version with a
// cloned infrastructure machine and a KubeadmConfig turned into a control-plane join, which Cluster API's kubeadm
// bootstrap provider renders; retirement follows KubeadmControlPlane's order (a pre-terminate hook holds the
// Machine after Cluster API drained its Node while kubeswap removes the etcd member).
import { createHash } from 'node:crypto';
import { systemClock } from '../../src/domain/clock.ts';
import { KubeswapError } from '../../src/domain/errors.ts';
import { CONTROL_PLANE_POOL, type DriftReason, type Machine } from '../../src/domain/model.ts';
import {
  type MachineProvider,
  PROVIDER_CONTRACT_VERSION,
  type ProviderModule,
  type ProviderProblem,
} from '../../src/ports/machines.ts';
import { type CapiPort, type KubeObject, openCapiPort } from './capi-port.ts';
import { infrastructureClone, joinConfigClone, replacementMachine, replacementName, specCovers } from './clone.ts';
import { machineDeploymentPools } from './machine-deployments.ts';
import {
  type CapiMachine,
  CLONED_FROM_GROUPKIND,
  CLONED_FROM_NAME,
  CLUSTER_NAME_LABEL,
  CONTROL_PLANE_LABEL,
  CORE_API,
  driftOf,
  IMAGE_FIELDS,
  imageOf,
  type ObjectRef,
  PATCHES_ANNOTATION,
  PRE_TERMINATE_HOOK,
  TOKEN_ANNOTATION,
  toCapiMachine,
} from './machines.ts';
import { type ClusterApiOptions, clusterApiOptions } from './options.ts';

/** What a replacement of one Machine is cloned from, read from the management cluster. */
interface Sources {
  machine: KubeObject;
  infrastructure: KubeObject;
  template?: KubeObject;
  bootstrap: KubeObject;
}

const notClonable = (machine: string, why: string): ProviderProblem => ({
  code: 'machine.not-clonable',
  message: `Machine ${machine} cannot be cloned: ${why}`,
  hint: 'kubeswap clones a control-plane Machine from its infrastructure machine (or its template) and its KubeadmConfig',
});

export function createClusterApiProvider(
  options: ClusterApiOptions,
  port: CapiPort,
  /** Rejects with the signal's reason when aborted (Clock.sleep). */
  sleep: (ms: number, signal?: AbortSignal) => Promise<void> = systemClock.sleep,
): MachineProvider {
  const { clusterName, namespace } = options;
  const selector = `${CLUSTER_NAME_LABEL}=${clusterName},${CONTROL_PLANE_LABEL}`;
  /** providerID -> Machine name, from the last listing (machineIdOf is synchronous). */
  const byProviderId = new Map<string, string>();
  /** Machine name -> how its clones would differ from its own objects (drift is synchronous). */
  const cloneDrift = new Map<string, DriftReason[]>();
  /** resolveDesired was given an image (--image): worker pools get it too (machine-deployments.ts). */
  let imageWanted = false;

  const apiVersionOf = async (ref: ObjectRef) => {
    const version = await port.groupVersion(ref.apiGroup);
    if (!version) {
      throw new KubeswapError('internal', 'cluster-api.group-not-served', `API group ${ref.apiGroup} is not served`, {
        source: 'environment',
        hint: `install the provider of ${ref.kind} in the management cluster`,
      });
    }
    return `${ref.apiGroup}/${version}`;
  };
  const read = async (ref: ObjectRef | undefined) =>
    ref ? port.get(await apiVersionOf(ref), ref.kind, ref.name) : undefined;

  /** The infrastructure template an infrastructure machine was cloned from, when it names one still there. */
  async function templateOf(infra: KubeObject): Promise<KubeObject | undefined> {
    const name = infra.metadata.annotations?.[CLONED_FROM_NAME];
    const groupKind = infra.metadata.annotations?.[CLONED_FROM_GROUPKIND];
    if (!name || !groupKind) return undefined;
    const dot = groupKind.indexOf('.');
    return read({ kind: groupKind.slice(0, dot), apiGroup: groupKind.slice(dot + 1), name });
  }

  /** Everything a clone needs, or why the Machine cannot be cloned. */
  async function sources(machine: KubeObject): Promise<Sources | ProviderProblem> {
    const m = toCapiMachine(machine, undefined);
    if (!m.infrastructureRef) return notClonable(m.id, 'it has no spec.infrastructureRef');
    if (m.bootstrapRef?.kind !== 'KubeadmConfig') {
      return notClonable(
        m.id,
        m.bootstrapRef
          ? `its bootstrap config is a ${m.bootstrapRef.kind}, not a KubeadmConfig`
          : 'it has no spec.bootstrap.configRef (only a data secret): there is no KubeadmConfig to turn into a join',
      );
    }
    const [infrastructure, bootstrap] = await Promise.all([read(m.infrastructureRef), read(m.bootstrapRef)]);
    if (!infrastructure)
      return notClonable(m.id, `${m.infrastructureRef.kind} ${m.infrastructureRef.name} does not exist`);
    if (!bootstrap) return notClonable(m.id, `KubeadmConfig ${m.bootstrapRef.name} does not exist`);
    return { machine, infrastructure, bootstrap, template: await templateOf(infrastructure) };
  }

  async function controlPlaneMachines(): Promise<KubeObject[]> {
    return port.list(CORE_API, 'Machine', selector);
  }

  function clones(src: Sources, name: string, token: string, imageId: string | undefined) {
    return {
      infrastructure: infrastructureClone(
        src.infrastructure,
        src.template,
        name,
        token,
        imageId,
        options.infrastructurePatches,
      ),
      bootstrap: joinConfigClone(src.bootstrap, name, token, options.bootstrapPatches),
    };
  }

  /** Names the patches a replacement was made with (annotation PATCHES_ANNOTATION), so they drift it only once. */
  const patchesKey =
    options.infrastructurePatches.length + options.bootstrapPatches.length === 0
      ? undefined
      : createHash('sha256')
          .update(JSON.stringify([options.infrastructurePatches, options.bootstrapPatches]))
          .digest('hex')
          .slice(0, 16);

  /**
   * How a replacement's clones would differ from this Machine's own objects: the template it was cloned from
   * changed (Cluster API's MachineSets roll out a template change the same way), or the configured patches change
   * its infrastructure machine or its KubeadmConfig. A Machine kubeswap made with these very patches does not drift
   * for them (an `add` to a list would otherwise change every replacement again). A patch that does not apply is
   * refused in resolveDesired.
   */
  function cloneChanges(
    machine: KubeObject,
    infra: KubeObject | undefined,
    template: KubeObject | undefined,
    bootstrap: KubeObject | undefined,
  ): DriftReason[] {
    const madeWith = machine.metadata.annotations?.[PATCHES_ANNOTATION];
    if (madeWith !== undefined && madeWith !== patchesKey) {
      return [{ code: 'patches', message: 'kubeswap made it with other infrastructurePatches/bootstrapPatches' }];
    }
    const reasons: DriftReason[] = [];
    const applied = madeWith !== undefined;
    const differs = (make: () => [KubeObject, KubeObject]) => {
      try {
        const [after, before] = make();
        return JSON.stringify(after.spec) !== JSON.stringify(before.spec);
      } catch {
        return true;
      }
    };
    const { infrastructurePatches, bootstrapPatches } = options;
    if (infra) {
      const name = infra.metadata.name;
      const own = () => infrastructureClone(infra, undefined, name, '', undefined, []);
      // What a clone from the template would be, with this machine's own image and the patches it was made with.
      const image = IMAGE_FIELDS[infra.kind] ? imageOf(infra) || undefined : undefined;
      const fromTemplate = () =>
        infrastructureClone(infra, template, name, '', image, applied ? infrastructurePatches : []);
      // Covered, not equal: the live object may carry what its template never set (specCovers says why).
      const templateChanged = () => {
        try {
          return !specCovers(own().spec, fromTemplate().spec);
        } catch {
          return true;
        }
      };
      if (template && templateChanged()) {
        reasons.push({
          code: 'template',
          message: `${template.kind} ${template.metadata.name} differs from ${infra.kind} ${name}`,
        });
      }
      if (
        !applied &&
        infrastructurePatches.length > 0 &&
        differs(() => [infrastructureClone(infra, undefined, name, '', undefined, infrastructurePatches), own()])
      ) {
        reasons.push({
          code: 'patches',
          message: 'the configured infrastructurePatches change its infrastructure machine',
        });
      }
    }
    if (bootstrap && !applied && bootstrapPatches.length > 0) {
      const name = bootstrap.metadata.name;
      if (
        differs(() => [
          joinConfigClone(bootstrap, name, '', bootstrapPatches),
          joinConfigClone(bootstrap, name, '', []),
        ])
      ) {
        reasons.push({ code: 'patches', message: 'the configured bootstrapPatches change its KubeadmConfig' });
      }
    }
    return reasons;
  }

  const owned = async (object: KubeObject, owner: KubeObject) => {
    // Garbage collection removes the clones with their Machine even before Cluster API adopts them.
    const ownerReferences = [
      { apiVersion: owner.apiVersion, kind: 'Machine', name: owner.metadata.name, uid: owner.metadata.uid ?? '' },
    ];
    await port.create({ ...object, metadata: { ...object.metadata, ownerReferences } });
  };

  return {
    contractVersion: PROVIDER_CONTRACT_VERSION,
    name: 'cluster-api',
    // CABPK renders the join; the infrastructure provider keeps the API load balancer; Cluster API drains the Node
    // when the Machine is deleted and holds it on our pre-terminate hook until the etcd member is gone.
    capabilities: {
      surge: true,
      ownsLoadBalancer: true,
      rendersBootstrap: true,
      acceptsUserData: false,
      idempotencyKey: 'name',
      drainsOnDelete: true,
      // Worker pools are MachineDeployments: Cluster API's MachineSets replace their Machines (machine-deployments.ts).
      rollsPools: true,
    },
    pools: machineDeploymentPools(options, port, read, () => imageWanted),

    async resolveDesired(wanted) {
      imageWanted = wanted.imageId !== undefined;
      const problems: ProviderProblem[] = [];
      const cluster = await port.get(CORE_API, 'Cluster', clusterName);
      if (!cluster) {
        return {
          problems: [
            {
              code: 'cluster-api.cluster-not-found',
              message: `no Cluster ${namespace}/${clusterName} in the management cluster`,
              hint: 'check provider.clusterName and provider.namespace (kubectl get clusters -A)',
            },
          ],
        };
      }
      const controlPlaneRef = cluster.spec?.['controlPlaneRef'] as { kind?: string; name?: string } | undefined;
      const machines = (await controlPlaneMachines()).filter((m) => !m.metadata.deletionTimestamp);
      const kcp = machines
        .map((m) => toCapiMachine(m, undefined))
        .find((m) => m.ownerKinds.includes('KubeadmControlPlane'));
      if (controlPlaneRef?.kind || kcp) {
        const kind = controlPlaneRef?.kind ?? 'KubeadmControlPlane';
        return {
          problems: [
            {
              code: 'cluster-api.control-plane-managed',
              message: `the control plane of Cluster ${clusterName} is managed by ${kind}${controlPlaneRef?.name ? ` ${controlPlaneRef.name}` : ''}, which replaces its Machines itself`,
              hint:
                kind === 'KubeadmControlPlane'
                  ? `upgrade it by setting its version: kubectl -n ${namespace} patch kubeadmcontrolplane ${controlPlaneRef?.name ?? '<name>'} --type merge -p '{"spec":{"version":"${wanted.version}"}}'`
                  : `upgrade it through ${kind}`,
            },
          ],
        };
      }
      if (machines.length === 0) {
        problems.push({
          code: 'cluster-api.no-machines',
          message: `Cluster ${clusterName} has no control-plane Machines (labels ${selector})`,
          hint: 'kubeswap replaces Machine-based control planes; adopt the control-plane nodes as Machines first',
        });
      }
      for (const machine of machines) {
        const src = await sources(machine);
        if ('code' in src) {
          problems.push(src);
          continue;
        }
        if (wanted.imageId && !IMAGE_FIELDS[src.infrastructure.kind]) {
          problems.push({
            code: 'image.unsupported-kind',
            message: `--image cannot be set on ${src.infrastructure.kind} ${src.infrastructure.metadata.name}`,
            hint: `kubeswap knows the image field of ${Object.keys(IMAGE_FIELDS).join(', ')}; use provider.infrastructurePatches instead`,
          });
          continue;
        }
        try {
          // The very clones a replacement would get: a patch that does not apply is refused now, not mid-run.
          clones(src, 'preflight', 'preflight', wanted.imageId);
        } catch (err) {
          const e = err as KubeswapError;
          problems.push({ code: e.code ?? 'patch.invalid', message: e.message, ...(e.hint ? { hint: e.hint } : {}) });
        }
      }
      if (problems.length > 0) return { problems };
      // Without --image a replacement's image is its clone's (the template's or the old machine's, then the
      // patches): one fixed word for every pass and every re-run, never the image the Machines share now, which
      // an image-changing patch would make every replacement drift from (and a re-run's target differ from).
      const imageId =
        wanted.imageId ??
        (options.infrastructurePatches.length > 0
          ? '(each Machine clone, after infrastructurePatches)'
          : '(each Machine keeps its infrastructure image)');
      return { desired: { version: wanted.version, imageId, force: false }, problems };
    },

    async listMachines(pool, providerIds) {
      if (pool !== CONTROL_PLANE_POOL) return [];
      const linked = new Set(providerIds);
      const all = await controlPlaneMachines();
      const machines: CapiMachine[] = [];
      for (const object of all) {
        const bare = toCapiMachine(object, undefined);
        if (bare.providerId) byProviderId.set(bare.providerId, bare.id);
        const ours = object.metadata.annotations?.[TOKEN_ANNOTATION] !== undefined && bare.replaces !== undefined;
        // Linked by providerID, or (none set yet, e.g. an adopted Machine) by status.nodeRef: the engine matches
        // that to the Node's name.
        const byNodeRef = !bare.providerId && bare.nodeName !== undefined;
        if (!linked.has(bare.providerId) && !byNodeRef && !(ours && bare.phase !== 'gone')) continue;
        const [infra, bootstrap] = await Promise.all([
          read(bare.infrastructureRef).catch(() => undefined),
          read(bare.bootstrapRef).catch(() => undefined),
        ]);
        const template = infra ? await templateOf(infra).catch(() => undefined) : undefined;
        cloneDrift.set(bare.id, cloneChanges(object, infra, template, bootstrap));
        machines.push(toCapiMachine(object, infra));
      }
      return machines.sort((a, b) => a.launchedAt.getTime() - b.launchedAt.getTime() || a.id.localeCompare(b.id));
    },

    machineIdOf: (providerId) => byProviderId.get(providerId),

    drift: (machine, desired) => driftOf(machine, desired, cloneDrift.get(machine.id)),

    checkMachines: (machines) =>
      machines
        .map((m) => m as Partial<CapiMachine> & Machine)
        .filter((m) => m.ownerKinds?.some((k) => k !== 'Cluster'))
        .map((m) => ({
          code: 'cluster-api.machine-owned',
          message: `Machine ${m.id} is managed by a ${m.ownerKinds?.join(', ')}, which would replace it itself`,
          hint: 'kubeswap replaces control-plane Machines that no controller owns',
        })),

    async createReplacement(request) {
      const name = replacementName(clusterName, request.token);
      const existing = await port.get(CORE_API, 'Machine', name);
      if (existing && existing.metadata.annotations?.[TOKEN_ANNOTATION] !== request.token) {
        throw new KubeswapError(
          'internal',
          'replacement.name-taken',
          `Machine ${name} exists and was not made by this attempt`,
          {
            source: 'environment',
            hint: 'rename or delete that Machine, then re-run',
          },
        );
      }
      const old = existing ?? (await port.get(CORE_API, 'Machine', request.replaces.id));
      if (!old) {
        throw new KubeswapError(
          'internal',
          'replacement.old-gone',
          `Machine ${request.replaces.id} is gone: nothing to clone`,
          {
            source: 'environment',
          },
        );
      }
      // A re-run clones from the old Machine again: the same names, so existing clones are found, not duplicated.
      const src = await sources(existing ? ((await port.get(CORE_API, 'Machine', request.replaces.id)) ?? old) : old);
      if ('code' in src) throw new KubeswapError('invalid', src.code, src.message, { hint: src.hint });
      const objects = clones(
        src,
        name,
        request.token,
        request.desired.imageId.startsWith('(') ? undefined : request.desired.imageId,
      );
      // The Machine first: whatever a kill leaves behind hangs off it, and deleting it deletes its clones.
      const machine =
        existing ??
        (
          await port.create(
            replacementMachine(
              src.machine,
              { name, ...objects },
              { version: request.desired.version, token: request.token, runId: request.runId, patches: patchesKey },
            ),
          )
        ).object;
      await owned(objects.infrastructure, machine);
      await owned(objects.bootstrap, machine);
      return toCapiMachine(machine, objects.infrastructure);
    },

    // Kubeswap's hook first, then the delete: Cluster API then cordons and drains the Node and waits on the hook
    // before it touches the infrastructure (the order KubeadmControlPlane uses to remove the etcd member). A Machine
    // someone else already deletes gets the hook too: the controller checks the hooks again on every pass.
    async startDeletion(machineId) {
      const machine = await port.get(CORE_API, 'Machine', machineId);
      if (!machine) return;
      if (machine.metadata.annotations?.[PRE_TERMINATE_HOOK] === undefined) {
        await port.mergePatch(CORE_API, 'Machine', machineId, {
          metadata: { annotations: { [PRE_TERMINATE_HOOK]: '' } },
        });
      }
      if (!machine.metadata.deletionTimestamp) await port.remove(CORE_API, 'Machine', machineId);
    },

    // Interrupted (`wait.signal`), the wait ends between two looks: the Machine's deletion, hook released, goes on in
    // Cluster API, and the re-run finds it deleting (or gone) and waits again.
    async terminate(machineId, timeoutMs, wait = {}) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        wait.signal?.throwIfAborted();
        const machine = await port.get(CORE_API, 'Machine', machineId);
        if (!machine) return;
        if (!machine.metadata.deletionTimestamp) await port.remove(CORE_API, 'Machine', machineId);
        // Releasing the hook lets Cluster API delete the infrastructure machine, then the Node.
        if (machine.metadata.annotations?.[PRE_TERMINATE_HOOK] !== undefined) {
          await port.mergePatch(CORE_API, 'Machine', machineId, {
            metadata: { annotations: { [PRE_TERMINATE_HOOK]: null } },
          });
        }
        if (Date.now() >= deadline) {
          throw new KubeswapError(
            'needs-person',
            'terminate.timeout',
            `Machine ${machineId} was not deleted within ${Math.round(timeoutMs / 1000)} s`,
            {
              source: 'environment',
              hint: `kubectl -n ${namespace} describe machine ${machineId} (its Deleting condition says what it waits for)`,
            },
          );
        }
        await sleep(options.pollIntervalMs, wait.signal);
      }
    },
  };
}

/**
 * The workload cluster's kubeconfig Cluster API keeps in `<cluster>-kubeconfig`, key `value` (its secret naming
 * contract, util/secret). Missing is a refusal: nothing has been changed yet.
 */
export async function workloadKubeconfigFrom(port: CapiPort, clusterName: string, namespace: string): Promise<string> {
  const name = `${clusterName}-kubeconfig`;
  const value = (await port.secret(name))?.['value'];
  if (!value) {
    throw new KubeswapError(
      'invalid',
      'cluster-api.kubeconfig-missing',
      `no Secret ${namespace}/${name} with a key "value" in the management cluster`,
      {
        hint: 'check provider.clusterName and provider.namespace, or give the workload cluster with --kubeconfig',
      },
    );
  }
  return value;
}

/** The registry's entry (providers/index.ts): the `provider:` section of the configuration -> a provider. */
export const provider: ProviderModule = {
  contractVersion: PROVIDER_CONTRACT_VERSION,
  name: 'cluster-api',
  create({ settings, pollIntervalMs }) {
    const options = clusterApiOptions(settings, pollIntervalMs);
    return createClusterApiProvider(options, openCapiPort(options));
  },
  async workloadKubeconfig({ settings, pollIntervalMs }) {
    const options = clusterApiOptions(settings, pollIntervalMs);
    return workloadKubeconfigFrom(openCapiPort(options), options.clusterName, options.namespace);
  },
};
