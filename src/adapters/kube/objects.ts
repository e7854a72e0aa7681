// ConfigMaps (kubeadm-config, kubelet-config, our progress record) and Secrets (bootstrap tokens,
// kubeadm-certs). Writes are create-if-missing or replace guarded by resourceVersion, never blind.
import type { V1ConfigMap, V1Secret } from '@kubernetes/client-node';
import { type ConfigMapView, ConflictError, type SecretView } from '../../ports/kube.ts';
import { statusCode } from './errors.ts';
import type { KubeApis } from './transport.ts';
import { listAll } from './wire.ts';

export function toConfigMapView(cm: V1ConfigMap): ConfigMapView {
  return {
    namespace: cm.metadata?.namespace ?? '',
    name: cm.metadata?.name ?? '',
    data: { ...(cm.data ?? {}) },
    labels: { ...(cm.metadata?.labels ?? {}) },
    annotations: { ...(cm.metadata?.annotations ?? {}) },
    resourceVersion: cm.metadata?.resourceVersion ?? '',
  };
}

/** Secret data arrives base64-encoded; values we handle (tokens, PEM, keys) are text. */
export function toSecretView(secret: V1Secret): SecretView {
  const data: Record<string, string> = {};
  for (const [key, value] of Object.entries(secret.data ?? {}))
    data[key] = Buffer.from(value, 'base64').toString('utf8');
  return {
    namespace: secret.metadata?.namespace ?? '',
    name: secret.metadata?.name ?? '',
    type: secret.type ?? 'Opaque',
    data,
    labels: { ...(secret.metadata?.labels ?? {}) },
    resourceVersion: secret.metadata?.resourceVersion ?? '',
  };
}

export function secretBody(secret: Omit<SecretView, 'resourceVersion'>): V1Secret {
  const data: Record<string, string> = {};
  for (const [key, value] of Object.entries(secret.data)) data[key] = Buffer.from(value, 'utf8').toString('base64');
  return {
    metadata: { namespace: secret.namespace, name: secret.name, labels: secret.labels },
    type: secret.type,
    data,
  };
}

export async function getConfigMap(apis: KubeApis, namespace: string, name: string) {
  try {
    return toConfigMapView(await apis.core.readNamespacedConfigMap({ namespace, name }));
  } catch (err) {
    if (statusCode(err) === 404) return undefined;
    throw apis.fail(err, `read ConfigMap ${namespace}/${name}`);
  }
}

export async function createConfigMap(apis: KubeApis, cm: Omit<ConfigMapView, 'resourceVersion'>) {
  const { namespace, name, labels, annotations, data } = cm;
  try {
    await apis.core.createNamespacedConfigMap({
      namespace,
      body: { metadata: { namespace, name, labels, annotations }, data },
    });
    return 'created' as const;
  } catch (err) {
    if (statusCode(err) === 409) return 'exists' as const;
    throw apis.fail(err, `create ConfigMap ${namespace}/${name}`);
  }
}

export async function replaceConfigMap(apis: KubeApis, cm: ConfigMapView): Promise<ConfigMapView> {
  const { namespace, name, labels, annotations, data, resourceVersion } = cm;
  try {
    const body = { metadata: { namespace, name, labels, annotations, resourceVersion }, data };
    return toConfigMapView(await apis.core.replaceNamespacedConfigMap({ namespace, name, body }));
  } catch (err) {
    if (statusCode(err) === 409) {
      throw new ConflictError(`ConfigMap ${namespace}/${name} changed since resourceVersion ${resourceVersion}`, {
        cause: err,
      });
    }
    throw apis.fail(err, `replace ConfigMap ${namespace}/${name}`);
  }
}

export async function deleteConfigMap(apis: KubeApis, namespace: string, name: string) {
  try {
    await apis.core.deleteNamespacedConfigMap({ namespace, name });
    return 'deleted' as const;
  } catch (err) {
    if (statusCode(err) === 404) return 'gone' as const;
    throw apis.fail(err, `delete ConfigMap ${namespace}/${name}`);
  }
}

export async function getSecret(apis: KubeApis, namespace: string, name: string) {
  try {
    return toSecretView(await apis.core.readNamespacedSecret({ namespace, name }));
  } catch (err) {
    if (statusCode(err) === 404) return undefined;
    throw apis.fail(err, `read Secret ${namespace}/${name}`);
  }
}

export async function listSecrets(
  apis: KubeApis,
  namespace: string,
  options: { labelSelector?: string; type?: string },
) {
  // Secrets support the `type` field selector, so filtering happens on the server.
  const fieldSelector = options.type ? `type=${options.type}` : undefined;
  try {
    const secrets = await listAll((_continue) =>
      apis.core.listNamespacedSecret({
        namespace,
        labelSelector: options.labelSelector,
        fieldSelector,
        limit: 500,
        _continue,
      }),
    );
    return secrets.map(toSecretView);
  } catch (err) {
    throw apis.fail(err, `list Secrets in ${namespace}`);
  }
}

export async function createSecret(apis: KubeApis, secret: Omit<SecretView, 'resourceVersion'>) {
  try {
    await apis.core.createNamespacedSecret({ namespace: secret.namespace, body: secretBody(secret) });
    return 'created' as const;
  } catch (err) {
    if (statusCode(err) === 409) return 'exists' as const;
    throw apis.fail(err, `create Secret ${secret.namespace}/${secret.name}`);
  }
}

export async function deleteSecret(apis: KubeApis, namespace: string, name: string) {
  try {
    await apis.core.deleteNamespacedSecret({ namespace, name });
    return 'deleted' as const;
  } catch (err) {
    if (statusCode(err) === 404) return 'gone' as const;
    throw apis.fail(err, `delete Secret ${namespace}/${name}`);
  }
}
