// The port for Secrets whose values are bytes (kubeadm-certs), implemented in src/adapters/kube/secret-bytes.ts.

/** Secret writes KubePort cannot express: binary values (GCM output is not UTF-8) and a controller owner. */
export interface SecretBytesPort {
  /** Create, or replace when it exists (kubeadm's apiclient.CreateOrUpdate). */
  putSecretBytes(secret: BinarySecret): Promise<void>;
}

export interface BinarySecret {
  namespace: string;
  name: string;
  labels: Record<string, string>;
  data: Record<string, Buffer>;
  /** A Secret in the same namespace that becomes the controller owner (garbage-collected with it). */
  ownerSecret?: string;
}

/**
 * Optional provider sub-port: a store a machine reads its join secrets from at boot (AWS Systems Manager Parameter
 * Store), so that its user data, readable through the cloud API for the machine's whole life, carries only a name.
 * Names are relative (`<runId>/<key>`): the store keeps them under a prefix of its own for the cluster.
 */
export interface BootstrapSecretStore {
  /** What it is, for messages: `ssm`. */
  readonly kind: string;
  /** Stores (or overwrites) one secret, encrypted at rest. */
  put(name: string, value: string): Promise<void>;
  /** Deletes one; `gone` when it was not there. */
  delete(name: string): Promise<'deleted' | 'gone'>;
  /** Relative names of the secrets stored for this cluster, or only under `<runId>/`. */
  list(runId?: string): Promise<string[]>;
  /** Shell lines (bash, `set -euo pipefail`) that write secret `name` to `path`, readable by root only. */
  fetchLines(name: string, path: string): string[];
}
