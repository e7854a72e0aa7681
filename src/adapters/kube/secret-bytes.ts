// Secrets with binary values and a controller owner, which KubePort's text-only Secrets cannot carry: kubeadm-certs
// holds AES-GCM output (not UTF-8) and is owned by its TTL proxy token (kubeadm copycerts getSecretOwnerRef).
// Kept apart from KubePort so the common port and its fakes stay unchanged; fold it in when the port grows bytes.
import type { V1OwnerReference, V1Secret } from '@kubernetes/client-node';
import type { BinarySecret, SecretBytesPort } from '../../ports/secrets.ts';
import type { OpenKubeOptions } from './client.ts';
import { loadKubeconfig } from './config.ts';
import { statusCode } from './errors.ts';
import { connectApis, DEFAULT_REQUEST_TIMEOUT_MS, type KubeApis } from './transport.ts';

export function openSecretBytes(options: OpenKubeOptions = {}): SecretBytesPort & { close(): void } {
  const { kc, summary } = loadKubeconfig(options);
  const apis = connectApis(kc, summary, options.timeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS);
  return { putSecretBytes: (secret) => putSecretBytes(apis, secret), close: apis.close };
}

export async function putSecretBytes(apis: KubeApis, secret: BinarySecret): Promise<void> {
  const { namespace, name } = secret;
  const body: V1Secret = {
    metadata: {
      namespace,
      name,
      labels: secret.labels,
      ownerReferences: secret.ownerSecret ? [await controllerRef(apis, namespace, secret.ownerSecret)] : undefined,
    },
    type: 'Opaque',
    data: Object.fromEntries(Object.entries(secret.data).map(([key, value]) => [key, value.toString('base64')])),
  };
  try {
    await apis.core.createNamespacedSecret({ namespace, body });
    return;
  } catch (err) {
    if (statusCode(err) !== 409) throw apis.fail(err, `create Secret ${namespace}/${name}`);
  }
  // CreateOrUpdate like kubeadm: the upload replaces a Secret left by an earlier upload, whatever its content.
  try {
    await apis.core.replaceNamespacedSecret({ namespace, name, body });
  } catch (err) {
    throw apis.fail(err, `replace Secret ${namespace}/${name}`);
  }
}

/** metav1.NewControllerRef(secret, v1/Secret): controller and blockOwnerDeletion set, as kubeadm does. */
async function controllerRef(apis: KubeApis, namespace: string, owner: string): Promise<V1OwnerReference> {
  let uid: string | undefined;
  try {
    uid = (await apis.core.readNamespacedSecret({ namespace, name: owner })).metadata?.uid;
  } catch (err) {
    throw apis.fail(err, `read owner Secret ${namespace}/${owner}`);
  }
  if (!uid) throw new Error(`Secret ${namespace}/${owner} has no uid`);
  return { apiVersion: 'v1', kind: 'Secret', name: owner, uid, controller: true, blockOwnerDeletion: true };
}
