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
