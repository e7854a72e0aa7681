// The narrow port over the management cluster (after CDK's IEC2Client): only the calls this provider makes, on
// objects of one namespace, as plain JSON. 404 on read/delete is an answer (undefined / success), not an error.
import {
  ApiException,
  ApisApi,
  CoreV1Api,
  KubeConfig,
  KubernetesObjectApi,
  PatchStrategy,
} from '@kubernetes/client-node';
import pRetry from 'p-retry';
import { KubeswapError } from '../../src/domain/errors.ts';

/** A Kubernetes object as JSON: the provider reads only the fields it knows. */
export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    namespace?: string;
    uid?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    ownerReferences?: { apiVersion: string; kind: string; name: string; uid: string; controller?: boolean }[];
    creationTimestamp?: string | Date;
    deletionTimestamp?: string | Date;
    [key: string]: unknown;
  };
  spec?: Record<string, unknown>;
  status?: Record<string, unknown>;
  [key: string]: unknown;
}

export interface CapiPort {
  /** The served (preferred) version of an API group, e.g. `infrastructure.cluster.x-k8s.io` -> `v1beta2`. */
  groupVersion(group: string): Promise<string | undefined>;
  get(apiVersion: string, kind: string, name: string): Promise<KubeObject | undefined>;
  list(apiVersion: string, kind: string, labelSelector: string): Promise<KubeObject[]>;
  /** Creates the object; when one of that name exists already, returns the existing one (`created: false`). */
  create(object: KubeObject): Promise<{ object: KubeObject; created: boolean }>;
  /** JSON merge patch (RFC 7386) of metadata/spec; `null` deletes a key. */
  mergePatch(apiVersion: string, kind: string, name: string, patch: Record<string, unknown>): Promise<void>;
  /** Starts the deletion; already gone is success. */
  remove(apiVersion: string, kind: string, name: string): Promise<void>;
  /** A Secret's decoded data, or undefined when it does not exist. Never log it. */
  secret(name: string): Promise<Record<string, string> | undefined>;
}

const statusOf = (err: unknown) => (err instanceof ApiException ? err.code : undefined);

function failed(operation: string, err: unknown): KubeswapError {
  const status = statusOf(err);
  const detail = err instanceof ApiException ? `HTTP ${err.code}` : err instanceof Error ? err.message : String(err);
  return new KubeswapError('internal', 'cluster-api.request-failed', `failed to ${operation}: ${detail}`, {
    cause: err,
    source: 'environment',
    hint:
      status === 403
        ? 'grant the management-cluster permissions in templates/rbac/cluster-api-provider.yaml'
        : undefined,
    // A conflict, throttling, or an API server going away (no HTTP answer: `fetch failed` while a control-plane
    // machine leaves a self-hosted management cluster): looking again may succeed.
    retryable: status === undefined || status === 409 || status === 429 || status >= 500,
  });
}

/** Pauses between attempts: about 0.2 s, 0.6 s, 1.8 s, 5.4 s (randomized), at most 15 s in all. */
const RETRY = { retries: 4, minTimeout: 200, factor: 3, maxRetryTime: 15_000, randomize: true };

/**
 * Repeats a call that failed in a way looking again may fix (`failed()` marks them: no answer, 409, 429, 5xx). A
 * self-hosted management cluster is the cluster being upgraded: while one of its API servers starts or shuts down it
 * answers 429 with Retry-After or drops the connection, and client-go would retry too. Every call is safe to repeat:
 * reads, a create that answers "exists", a merge patch of fixed values, a delete where gone is success.
 */
export function retryingCapiPort(port: CapiPort, options: Partial<typeof RETRY> = {}): CapiPort {
  const again = <T>(call: () => Promise<T>) =>
    pRetry(call, {
      ...RETRY,
      ...options,
      shouldRetry: ({ error }) => error instanceof KubeswapError && error.retryable,
    });
  return {
    groupVersion: (group) => again(() => port.groupVersion(group)),
    get: (apiVersion, kind, name) => again(() => port.get(apiVersion, kind, name)),
    list: (apiVersion, kind, labelSelector) => again(() => port.list(apiVersion, kind, labelSelector)),
    create: (object) => again(() => port.create(object)),
    mergePatch: (apiVersion, kind, name, patch) => again(() => port.mergePatch(apiVersion, kind, name, patch)),
    remove: (apiVersion, kind, name) => again(() => port.remove(apiVersion, kind, name)),
    secret: (name) => again(() => port.secret(name)),
  };
}

/** Opens the management cluster from its own kubeconfig (the `provider.kubeconfig` setting, or the default). */
export function openCapiPort(options: { kubeconfig?: string; context?: string; namespace: string }): CapiPort {
  return retryingCapiPort(capiPortOver(options));
}

function capiPortOver(options: { kubeconfig?: string; context?: string; namespace: string }): CapiPort {
  const kc = new KubeConfig();
  if (options.kubeconfig) kc.loadFromFile(options.kubeconfig);
  else kc.loadFromDefault();
  if (options.context) kc.setCurrentContext(options.context);
  const objects = KubernetesObjectApi.makeApiClient(kc);
  const core = kc.makeApiClient(CoreV1Api);
  const apis = kc.makeApiClient(ApisApi);
  const { namespace } = options;
  const versions = new Map<string, string | undefined>();
  const header = (apiVersion: string, kind: string, name: string) => ({
    apiVersion,
    kind,
    metadata: { name, namespace },
  });

  return {
    async groupVersion(group) {
      if (!versions.has(group)) {
        try {
          const list = await apis.getAPIVersions();
          for (const g of list.groups) versions.set(g.name, g.preferredVersion?.version ?? g.versions[0]?.version);
        } catch (err) {
          throw failed('list the API groups of the management cluster', err);
        }
      }
      return versions.get(group);
    },
    async get(apiVersion, kind, name) {
      try {
        return (await objects.read(header(apiVersion, kind, name))) as unknown as KubeObject;
      } catch (err) {
        if (statusOf(err) === 404) return undefined;
        throw failed(`read ${kind} ${namespace}/${name}`, err);
      }
    },
    async list(apiVersion, kind, labelSelector) {
      try {
        const list = await objects.list(
          apiVersion,
          kind,
          namespace,
          undefined,
          undefined,
          undefined,
          undefined,
          labelSelector,
        );
        return list.items.map((item) => ({ apiVersion, kind, ...(item as object) }) as KubeObject);
      } catch (err) {
        throw failed(`list ${kind} in ${namespace}`, err);
      }
    },
    async create(object) {
      const body = { ...object, metadata: { ...object.metadata, namespace } };
      try {
        return { object: (await objects.create(body as never)) as unknown as KubeObject, created: true };
      } catch (err) {
        if (statusOf(err) !== 409) throw failed(`create ${object.kind} ${namespace}/${object.metadata.name}`, err);
      }
      const existing = await this.get(object.apiVersion, object.kind, object.metadata.name);
      if (!existing)
        throw failed(`create ${object.kind} ${namespace}/${object.metadata.name}`, 'it exists and is gone');
      return { object: existing, created: false };
    },
    async mergePatch(apiVersion, kind, name, patch) {
      try {
        await objects.patch(
          // The client addresses the object by the body's metadata: the patch's own metadata goes beside its name.
          {
            ...patch,
            ...header(apiVersion, kind, name),
            metadata: { ...(patch['metadata'] as object | undefined), name, namespace },
          } as never,
          undefined,
          undefined,
          'kubeswap',
          undefined,
          PatchStrategy.MergePatch,
        );
      } catch (err) {
        throw failed(`patch ${kind} ${namespace}/${name}`, err);
      }
    },
    async remove(apiVersion, kind, name) {
      try {
        await objects.delete(header(apiVersion, kind, name));
      } catch (err) {
        if (statusOf(err) === 404) return;
        throw failed(`delete ${kind} ${namespace}/${name}`, err);
      }
    },
    async secret(name) {
      try {
        const secret = await core.readNamespacedSecret({ name, namespace });
        const data: Record<string, string> = {};
        for (const [k, v] of Object.entries(secret.data ?? {})) data[k] = Buffer.from(v, 'base64').toString('utf8');
        return data;
      } catch (err) {
        if (statusOf(err) === 404) return undefined;
        throw failed(`read Secret ${namespace}/${name}`, err);
      }
    },
  };
}
