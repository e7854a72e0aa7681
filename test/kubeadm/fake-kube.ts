// An in-memory KubePort for Secrets, ConfigMaps and RBAC (what bootstrap tokens, kubeadm-certs and render mode
// use), plus the SecretBytesPort for binary Secrets. Label selectors support `k=v` and `k` terms joined by commas,
// like the API server; everything else throws so a test that reaches it notices.
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SHARED_CERT_FILES } from '../../src/engine/prepare/kubeadm-certs.ts';
import type { ConfigMapView, KubePort, RbacObject, SecretView } from '../../src/ports/kube.ts';
import type { BinarySecret, SecretBytesPort } from '../../src/ports/secrets.ts';
import { fixture } from './fixtures.ts';

/** A PKI dir whose ca.crt is the fixture CA (ca.crt.sha256 pins it); the other files only need distinct bytes. */
export function fakePkiDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'kubeswap-pki-'));
  mkdirSync(join(dir, 'etcd'));
  for (const file of SHARED_CERT_FILES) {
    writeFileSync(join(dir, file), file === 'ca.crt' ? fixture('ca.crt') : `${file}\n`);
  }
  return dir;
}

export interface StoredSecret extends SecretView {
  uid: string;
  /** Raw bytes, as the API server stores them (text Secrets are their UTF-8 encoding). */
  bytes: Record<string, Buffer>;
  ownerReferences: { kind: string; name: string; uid: string; controller: boolean }[];
}

export function matchesSelector(labels: Record<string, string>, selector: string | undefined): boolean {
  if (!selector) return true;
  return selector.split(',').every((term) => {
    const [key, value] = term.split('=');
    return value === undefined ? key! in labels : labels[key!] === value;
  });
}

export class FakeKube {
  secrets = new Map<string, StoredSecret>();
  configMaps = new Map<string, ConfigMapView>();
  rbac: RbacObject[] = [];
  calls: string[] = [];
  /** Make the next deleteSecret of this name fail once. */
  failDelete = new Set<string>();
  private nextUid = 1;

  withConfigMap(namespace: string, name: string, data: Record<string, string>): this {
    this.configMaps.set(`${namespace}/${name}`, {
      namespace,
      name,
      data,
      labels: {},
      annotations: {},
      resourceVersion: '1',
    });
    return this;
  }

  withSecret(secret: Omit<SecretView, 'resourceVersion'>): this {
    this.store(secret, Object.fromEntries(Object.entries(secret.data).map(([k, v]) => [k, Buffer.from(v)])), []);
    return this;
  }

  secretNames(): string[] {
    return [...this.secrets.keys()].sort();
  }

  port(): KubePort {
    const methods: Partial<KubePort> = {
      getSecret: async (namespace, name) => this.view(this.secrets.get(`${namespace}/${name}`)),
      listSecrets: async (namespace, { labelSelector, type }) =>
        [...this.secrets.values()]
          .filter((s) => s.namespace === namespace && (!type || s.type === type))
          .filter((s) => matchesSelector(s.labels, labelSelector))
          .map((s) => this.view(s)!),
      createSecret: async (secret) => {
        this.calls.push(`create Secret/${secret.name}`);
        if (this.secrets.has(`${secret.namespace}/${secret.name}`)) return 'exists';
        this.withSecret(secret);
        return 'created';
      },
      deleteSecret: async (namespace, name) => {
        this.calls.push(`delete Secret/${name}`);
        if (this.failDelete.delete(name)) throw new Error(`injected failure deleting ${name}`);
        return this.secrets.delete(`${namespace}/${name}`) ? 'deleted' : 'gone';
      },
      getConfigMap: async (namespace, name) => this.configMaps.get(`${namespace}/${name}`),
      ensureRbac: async (objects) => {
        const created: string[] = [];
        for (const object of objects) {
          if (this.rbac.some((o) => o.kind === object.kind && o.name === object.name)) continue;
          this.rbac.push(object);
          created.push(`${object.kind}/${object.name}`);
        }
        return created;
      },
    };
    return new Proxy({} as KubePort, {
      get: (_target, prop) =>
        (methods as Record<string | symbol, unknown>)[prop] ??
        (() => {
          throw new Error(`FakeKube: ${String(prop)} is not faked`);
        }),
    });
  }

  secretBytes(): SecretBytesPort {
    return {
      putSecretBytes: async (secret: BinarySecret) => {
        this.calls.push(`put Secret/${secret.name}`);
        const owner = secret.ownerSecret ? this.secrets.get(`${secret.namespace}/${secret.ownerSecret}`) : undefined;
        if (secret.ownerSecret && !owner) throw new Error(`owner Secret ${secret.ownerSecret} not found`);
        const refs = owner ? [{ kind: 'Secret', name: owner.name, uid: owner.uid, controller: true }] : [];
        const { data, ownerSecret: _, ...meta } = secret;
        this.store({ ...meta, type: 'Opaque' }, data, refs);
      },
    };
  }

  private store(
    secret: Omit<SecretView, 'resourceVersion' | 'data'>,
    bytes: Record<string, Buffer>,
    ownerReferences: StoredSecret['ownerReferences'],
  ): void {
    const key = `${secret.namespace}/${secret.name}`;
    const uid = this.secrets.get(key)?.uid ?? `uid-${this.nextUid++}`;
    this.secrets.set(key, { ...secret, data: {}, uid, bytes, ownerReferences, resourceVersion: '1' });
  }

  /** What the real adapter returns: values decoded as UTF-8 (binary values come back mangled, as for real). */
  private view(secret: StoredSecret | undefined): SecretView | undefined {
    if (!secret) return undefined;
    const data = Object.fromEntries(Object.entries(secret.bytes).map(([k, v]) => [k, v.toString('utf8')]));
    return {
      namespace: secret.namespace,
      name: secret.name,
      type: secret.type,
      data,
      labels: { ...secret.labels },
      resourceVersion: '1',
    };
  }
}
