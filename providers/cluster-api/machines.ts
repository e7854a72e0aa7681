// Cluster API Machines in the engine's words: phases, the pre-terminate hold, the image an infrastructure kind
// carries, and why a Machine drifts. Pure functions over the objects the port returned.
import type { Desired, DriftReason, Machine, MachinePhase } from '../../src/domain/model.ts';
import type { KubeObject } from './capi-port.ts';

export const CORE_GROUP = 'cluster.x-k8s.io';
export const BOOTSTRAP_GROUP = 'bootstrap.cluster.x-k8s.io';
/** Cluster API >= 1.11 serves and stores v1beta2 (Machine refs are {apiGroup, kind, name}). */
export const CORE_API = `${CORE_GROUP}/v1beta2`;
export const CLUSTER_NAME_LABEL = 'cluster.x-k8s.io/cluster-name';
export const CONTROL_PLANE_LABEL = 'cluster.x-k8s.io/control-plane';
export const CLONED_FROM_NAME = 'cluster.x-k8s.io/cloned-from-name';
export const CLONED_FROM_GROUPKIND = 'cluster.x-k8s.io/cloned-from-groupkind';
/**
 * Cluster API's machine controller drains the Node, waits for volumes to detach, then waits while any annotation
 * with this prefix is on the Machine before it deletes the infrastructure (api/core/v1beta2 machine_types.go
 * PreTerminateDeleteHookAnnotationPrefix): the window KubeadmControlPlane uses to remove the etcd member.
 */
export const PRE_TERMINATE_HOOK = 'pre-terminate.delete.hook.machine.cluster.x-k8s.io/kubeswap';
export const TOKEN_ANNOTATION = 'kubeswap.io/token';
export const RUN_ANNOTATION = 'kubeswap.io/run-id';
export const REPLACES_ANNOTATION = 'kubeswap.io/replaces';
/** On a replacement Machine: which infrastructure/bootstrap patches it was made with (a hash). */
export const PATCHES_ANNOTATION = 'kubeswap.io/patches';

/** Where each known infrastructure kind keeps its machine image (the `--image` target), as a JSON Pointer. */
export const IMAGE_FIELDS: Readonly<Record<string, string>> = {
  AWSMachine: '/spec/ami/id',
  VSphereMachine: '/spec/template',
  GCPMachine: '/spec/image',
  DockerMachine: '/spec/customImage',
  SandboxMachine: '/spec/image',
};

export interface ObjectRef {
  apiGroup: string;
  kind: string;
  name: string;
}

/** A control-plane Machine with what the provider needs to replace it (the engine hands it back as `replaces`). */
export interface CapiMachine extends Machine {
  version: string;
  infrastructureRef?: ObjectRef;
  bootstrapRef?: ObjectRef;
  /** Deleting, drained, and waiting for kubeswap's pre-terminate hook: etcd member removal may start. */
  held?: boolean;
  /** Kinds of the Machine's controller owners (a KubeadmControlPlane, a MachineSet). */
  ownerKinds: string[];
}

/** Reads a JSON Pointer (RFC 6901) without a library: only object keys, as the image table uses. */
export function pointerGet(doc: unknown, pointer: string): unknown {
  let at: unknown = doc;
  for (const raw of pointer.split('/').slice(1)) {
    const key = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (at === null || typeof at !== 'object') return undefined;
    at = (at as Record<string, unknown>)[key];
  }
  return at;
}

export function imageOf(infra: KubeObject | undefined): string {
  const field = infra ? IMAGE_FIELDS[infra.kind] : undefined;
  const value = field ? pointerGet(infra, field) : undefined;
  return typeof value === 'string' ? value : '';
}

/** Cluster API Machine phases (api/core/v1beta2 machine_phase_types.go) in the generic words of contract v2. */
export function phaseOf(m: KubeObject): MachinePhase {
  if (m.metadata.deletionTimestamp) return 'deleting';
  switch (m.status?.['phase']) {
    case 'Running':
    case 'Updating':
      return 'running';
    case 'Deleting':
      return 'deleting';
    case 'Deleted':
      return 'gone';
    case 'Failed':
      return 'failed';
    default:
      // Pending, Provisioning, Provisioned, Unknown, or no status yet (just created).
      return 'provisioning';
  }
}

/**
 * Held: the machine controller has drained the Node and now waits for pre-terminate hooks (it records when it
 * started waiting in status.deletion.waitForPreTerminateHookStartTime, and says so in the Deleting condition).
 */
export function isHeld(m: KubeObject): boolean {
  if (!m.metadata.deletionTimestamp || m.metadata.annotations?.[PRE_TERMINATE_HOOK] === undefined) return false;
  const deletion = m.status?.['deletion'] as Record<string, unknown> | undefined;
  if (deletion?.['waitForPreTerminateHookStartTime']) return true;
  const conditions = (m.status?.['conditions'] as { type?: string; reason?: string }[] | undefined) ?? [];
  return conditions.some((c) => c.type === 'Deleting' && c.reason === 'WaitingForPreTerminateHook');
}

function refOf(value: unknown): ObjectRef | undefined {
  const r = value as Partial<ObjectRef> | undefined;
  return r?.kind && r.name ? { apiGroup: r.apiGroup ?? '', kind: r.kind, name: r.name } : undefined;
}

export function toCapiMachine(m: KubeObject, infra: KubeObject | undefined): CapiMachine {
  const spec = m.spec ?? {};
  const annotations = m.metadata.annotations ?? {};
  const nodeRef = m.status?.['nodeRef'] as { name?: string } | undefined;
  const created = m.metadata.creationTimestamp;
  return {
    id: m.metadata.name,
    providerId: typeof spec['providerID'] === 'string' ? spec['providerID'] : '',
    pool: 'control-plane',
    phase: phaseOf(m),
    status: String(m.status?.['phase'] ?? (m.metadata.deletionTimestamp ? 'Deleting' : 'Pending')),
    zone: typeof spec['failureDomain'] === 'string' ? spec['failureDomain'] : '',
    imageId: imageOf(infra),
    launchedAt: created ? new Date(created) : new Date(0),
    ...(annotations[REPLACES_ANNOTATION] ? { replaces: annotations[REPLACES_ANNOTATION] } : {}),
    ...(annotations[RUN_ANNOTATION] ? { runId: annotations[RUN_ANNOTATION] } : {}),
    version: typeof spec['version'] === 'string' ? spec['version'] : '',
    ...(nodeRef?.name ? { nodeName: nodeRef.name } : {}),
    infrastructureRef: refOf(spec['infrastructureRef']),
    bootstrapRef: refOf((spec['bootstrap'] as Record<string, unknown> | undefined)?.['configRef']),
    held: isHeld(m),
    // Deleted by someone else: no hook of ours holds it after the drain (the engine then asks startDeletion for one).
    ...(m.metadata.deletionTimestamp && annotations[PRE_TERMINATE_HOOK] === undefined ? { unheld: true } : {}),
    ...(m.metadata.deletionTimestamp ? { deletionStartedAt: new Date(m.metadata.deletionTimestamp) } : {}),
    ownerKinds: (m.metadata.ownerReferences ?? []).filter((o) => o.controller).map((o) => o.kind),
  };
}

/**
 * Why a Machine differs from what a replacement would be: its version, its image (when `--image` names one and the
 * kind is known), and how its clones would differ from its own objects (`clones`: a changed template, the user's
 * patches).
 */
export function driftOf(machine: Machine, desired: Desired, clones: readonly DriftReason[] = []): DriftReason[] {
  const m = machine as Partial<CapiMachine>;
  const reasons: DriftReason[] = [];
  if (m.version !== undefined && m.version !== desired.version) {
    reasons.push({ code: 'version', message: `Machine spec.version ${m.version || '(none)'} != ${desired.version}` });
  }
  if (machine.imageId && desired.imageId && !desired.imageId.startsWith('(') && machine.imageId !== desired.imageId) {
    reasons.push({ code: 'image', message: `image ${machine.imageId} != ${desired.imageId}` });
  }
  return [...reasons, ...clones];
}
