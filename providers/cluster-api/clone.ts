// What a replacement is made of, as pure functions: the infrastructure machine cloned from its template (or from
// the old one), the old KubeadmConfig turned into a control-plane join, the user's RFC 6902 patches, and the new
// Machine at the target version. Names derive from the attempt's token, so a re-run finds what it created.
import jsonPatch, { type Operation } from 'fast-json-patch';
import { KubeswapError } from '../../src/domain/errors.ts';
import type { KubeObject } from './capi-port.ts';
import {
  CLONED_FROM_GROUPKIND,
  CLONED_FROM_NAME,
  IMAGE_FIELDS,
  PATCHES_ANNOTATION,
  REPLACES_ANNOTATION,
  RUN_ANNOTATION,
  TOKEN_ANNOTATION,
} from './machines.ts';

export type JsonPatch = Operation[];

/** One name for the Machine, its infrastructure machine and its KubeadmConfig of one attempt (<= 63 chars). */
export function replacementName(clusterName: string, token: string): string {
  const key = token.replace(/^kubeswap-/, '').slice(0, 10);
  return `${clusterName.slice(0, 40).replace(/-+$/, '')}-cp-${key}`;
}

/** Checks a patch's shape (ops, paths) before anything is read; `where` names the setting. */
export function patchProblem(patch: unknown, where: string): string | undefined {
  if (!Array.isArray(patch)) return `${where} must be a JSON Patch (a list of operations, RFC 6902)`;
  const error = jsonPatch.validate(patch as Operation[]);
  return error ? `${where}: ${error.message.split('\n')[0]} (operation ${error.index ?? '?'})` : undefined;
}

/** Applies an RFC 6902 patch to a copy; a failing operation (a `test`, a missing path) is a coded refusal. */
export function patched(doc: KubeObject, patch: JsonPatch, where: string): KubeObject {
  if (patch.length === 0) return doc;
  try {
    return jsonPatch.applyPatch(structuredClone(doc), patch, true, false).newDocument;
  } catch (err) {
    throw new KubeswapError(
      'invalid',
      'patch.invalid',
      `${where} does not apply to ${doc.kind} ${doc.metadata.name}: ${(err as Error).message.split('\n')[0]}`,
      { hint: 'fix the JSON Patch (RFC 6902 paths start at the object root, e.g. /spec/...)', cause: err },
    );
  }
}

const SERVER_FIELDS = ['uid', 'resourceVersion', 'generation', 'creationTimestamp', 'managedFields', 'ownerReferences'];

function freshMetadata(source: KubeObject, name: string, extraAnnotations: Record<string, string>) {
  const { labels, annotations } = source.metadata;
  const kept = Object.fromEntries(
    Object.entries(annotations ?? {}).filter(
      ([k]) => !k.startsWith('kubectl.kubernetes.io/') && !k.startsWith('kubeswap.io/') && !k.includes('delete.hook'),
    ),
  );
  const metadata: KubeObject['metadata'] = {
    name,
    labels: { ...(labels ?? {}) },
    annotations: { ...kept, ...extraAnnotations },
  };
  for (const field of SERVER_FIELDS) delete metadata[field];
  return metadata;
}

/**
 * The new infrastructure machine: from its template's spec.template.spec when the old one was cloned from a
 * template still there (so a template change reaches the replacement, as Cluster API's MachineSets do), else from
 * the old machine's spec without what the infrastructure provider filled in (providerID, instance ids).
 */
export function infrastructureClone(
  old: KubeObject,
  template: KubeObject | undefined,
  name: string,
  token: string,
  imageId: string | undefined,
  patch: JsonPatch,
): KubeObject {
  const fromTemplate = (template?.spec?.['template'] as { spec?: Record<string, unknown> } | undefined)?.spec;
  const spec = structuredClone(fromTemplate ?? old.spec ?? {});
  delete spec['providerID'];
  delete spec['instanceID'];
  const annotations: Record<string, string> = { [TOKEN_ANNOTATION]: token };
  if (template && fromTemplate) {
    annotations[CLONED_FROM_NAME] = template.metadata.name;
    annotations[CLONED_FROM_GROUPKIND] = `${template.kind}.${template.apiVersion.split('/')[0]}`;
  }
  let clone: KubeObject = {
    apiVersion: old.apiVersion,
    kind: old.kind,
    metadata: freshMetadata(old, name, annotations),
    spec,
  };
  if (imageId) clone = withImage(clone, imageId);
  return patched(clone, patch, 'infrastructurePatches');
}

/**
 * Whether `actual` holds every value `expected` sets: objects key by key (keys only `actual` has are ignored), lists
 * item by item at the same length, everything else equal. A live infrastructure machine carries fields its template
 * never set (the provider's defaulting webhook, the controller's own writes such as CAPA's `instanceID` or CAPZ's
 * generated `sshPublicKey`): an equality check would see a changed template forever and replace every Machine on every
 * run. Cluster API itself never compares the specs (templates are immutable; a MachineSet or KubeadmControlPlane rolls
 * out on a changed template reference), but a Machine-based control plane has no reference that could change.
 */
export function specCovers(actual: unknown, expected: unknown): boolean {
  if (Array.isArray(expected)) {
    return (
      Array.isArray(actual) &&
      actual.length === expected.length &&
      expected.every((item, i) => specCovers(actual[i], item))
    );
  }
  if (expected !== null && typeof expected === 'object') {
    if (actual === null || typeof actual !== 'object' || Array.isArray(actual)) return false;
    const have = actual as Record<string, unknown>;
    return Object.entries(expected).every(([key, value]) => specCovers(have[key], value));
  }
  return actual === expected;
}

/** Sets the image field of a known infrastructure kind (IMAGE_FIELDS), creating the objects on the way. */
export function withImage(infra: KubeObject, imageId: string): KubeObject {
  const field = IMAGE_FIELDS[infra.kind];
  if (!field) {
    throw new KubeswapError('invalid', 'image.unsupported-kind', `--image cannot be set on ${infra.kind}`, {
      hint: `kubeswap knows the image field of ${Object.keys(IMAGE_FIELDS).join(', ')}; use infrastructurePatches for others`,
    });
  }
  const keys = field.split('/').slice(1);
  const copy = structuredClone(infra);
  let at = copy as unknown as Record<string, unknown>;
  for (const key of keys.slice(0, -1)) {
    if (at[key] === null || typeof at[key] !== 'object') at[key] = {};
    at = at[key] as Record<string, unknown>;
  }
  at[keys[keys.length - 1] as string] = imageId;
  return copy;
}

/**
 * The old KubeadmConfig as a control-plane join: kubeadm init's parts dropped (the cluster exists), the join's
 * controlPlane set, and the old discovery token dropped so CABPK issues a fresh one (it fills
 * joinConfiguration.discovery.bootstrapToken when none is given). Files, commands and users are kept.
 */
export function joinConfigClone(old: KubeObject, name: string, token: string, patch: JsonPatch): KubeObject {
  const spec = structuredClone(old.spec ?? {});
  const init = (spec['initConfiguration'] ?? {}) as Record<string, unknown>;
  delete spec['initConfiguration'];
  const join = (spec['joinConfiguration'] ?? {}) as Record<string, unknown>;
  // The machine that ran kubeadm init has only an init configuration: what it says of the node (name, kubelet
  // flags, taints) and its kubeadm patches apply to a join alike (the fields share their types in v1beta2).
  for (const key of ['nodeRegistration', 'patches']) {
    if (join[key] === undefined && init[key] !== undefined) join[key] = init[key];
  }
  if (!join['controlPlane'] || typeof join['controlPlane'] !== 'object') join['controlPlane'] = {};
  const discovery = join['discovery'] as Record<string, unknown> | undefined;
  if (discovery && !discovery['file']) delete discovery['bootstrapToken'];
  // v1beta2 refuses an empty discovery (MinProperties=1): leave it out for CABPK to fill.
  if (discovery && Object.keys(discovery).length === 0) delete join['discovery'];
  spec['joinConfiguration'] = join;
  const clone: KubeObject = {
    apiVersion: old.apiVersion,
    kind: old.kind,
    metadata: freshMetadata(old, name, { [TOKEN_ANNOTATION]: token }),
    spec,
  };
  return patched(clone, patch, 'bootstrapPatches');
}

/** The replacement Machine: the old one's spec with the clones' refs, the target version, and no providerID. */
export function replacementMachine(
  old: KubeObject,
  refs: { name: string; infrastructure: KubeObject; bootstrap: KubeObject },
  run: { version: string; token: string; runId: string; patches?: string },
): KubeObject {
  const spec = structuredClone(old.spec ?? {});
  delete spec['providerID'];
  spec['version'] = run.version;
  const group = (o: KubeObject) => o.apiVersion.split('/')[0];
  spec['infrastructureRef'] = { apiGroup: group(refs.infrastructure), kind: refs.infrastructure.kind, name: refs.name };
  spec['bootstrap'] = { configRef: { apiGroup: group(refs.bootstrap), kind: refs.bootstrap.kind, name: refs.name } };
  return {
    apiVersion: old.apiVersion,
    kind: 'Machine',
    metadata: freshMetadata(old, refs.name, {
      [TOKEN_ANNOTATION]: run.token,
      [RUN_ANNOTATION]: run.runId,
      [REPLACES_ANNOTATION]: old.metadata.name,
      ...(run.patches ? { [PATCHES_ANNOTATION]: run.patches } : {}),
    }),
    spec,
  };
}
