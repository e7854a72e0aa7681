// Reading the API versions out of what the cluster stores about how objects were made: a
// `kubectl.kubernetes.io/last-applied-configuration` annotation (JSON of the applied object) and the manifest of a
// Helm 3 release (YAML documents). Pure: the adapters fetch and decode, this only reads.
import { parseAllDocuments } from 'yaml';

export const LAST_APPLIED_ANNOTATION = 'kubectl.kubernetes.io/last-applied-configuration';

export interface ManifestObject {
  apiVersion: string;
  kind: string;
  name: string;
  namespace?: string;
}

function asManifestObject(value: unknown, fallbackNamespace?: string): ManifestObject | undefined {
  if (!value || typeof value !== 'object') return undefined;
  const o = value as { apiVersion?: unknown; kind?: unknown; metadata?: { name?: unknown; namespace?: unknown } };
  if (typeof o.apiVersion !== 'string' || typeof o.kind !== 'string') return undefined;
  const namespace = typeof o.metadata?.namespace === 'string' ? o.metadata.namespace : fallbackNamespace;
  return {
    apiVersion: o.apiVersion,
    kind: o.kind,
    name: typeof o.metadata?.name === 'string' ? o.metadata.name : '(unnamed)',
    ...(namespace ? { namespace } : {}),
  };
}

/** The object a last-applied annotation describes; undefined when the annotation is not an object's JSON. */
export function lastAppliedObject(annotation: string, namespace?: string): ManifestObject | undefined {
  try {
    return asManifestObject(JSON.parse(annotation), namespace);
  } catch {
    return undefined;
  }
}

/**
 * Every object of a Helm release manifest: YAML documents separated by `---`, each with a `# Source:` comment.
 * A `List` is opened. Documents that do not parse are skipped (Helm rendered them; kubectl would refuse them).
 */
export function manifestObjects(manifest: string, namespace?: string): ManifestObject[] {
  const objects: ManifestObject[] = [];
  for (const doc of parseAllDocuments(manifest, { uniqueKeys: false })) {
    if ('errors' in doc && doc.errors.length > 0) continue;
    const value = doc.toJS() as { kind?: unknown; items?: unknown } | null;
    const items = value?.kind === 'List' && Array.isArray(value.items) ? value.items : [value];
    for (const item of items) {
      const object = asManifestObject(item, namespace);
      if (object) objects.push(object);
    }
  }
  return objects;
}
