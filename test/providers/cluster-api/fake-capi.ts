// A management cluster in memory behind the CapiPort, with the Cluster API behaviour the provider relies on: a
// deleted Machine carrying a pre-terminate hook stays (drained, waiting on the hook) until the hook is removed.
import type { CapiPort, KubeObject } from '../../../providers/cluster-api/capi-port.ts';
import { PRE_TERMINATE_HOOK } from '../../../providers/cluster-api/machines.ts';

const GROUPS: Record<string, string> = {
  'cluster.x-k8s.io': 'v1beta2',
  'bootstrap.cluster.x-k8s.io': 'v1beta2',
  'infrastructure.cluster.x-k8s.io': 'v1alpha1',
};

export class FakeCapi implements CapiPort {
  readonly objects = new Map<string, KubeObject>();
  readonly secrets = new Map<string, Record<string, string>>();
  readonly calls: string[] = [];
  private uid = 0;

  static key = (kind: string, name: string) => `${kind}/${name}`;

  put(object: KubeObject): KubeObject {
    const stored = structuredClone(object);
    stored.metadata.uid ??= `uid-${++this.uid}`;
    stored.metadata.creationTimestamp ??= new Date(Date.UTC(2026, 0, 1, 0, 0, this.uid)).toISOString();
    this.objects.set(FakeCapi.key(object.kind, object.metadata.name), stored);
    return stored;
  }

  find(kind: string, name: string): KubeObject | undefined {
    return this.objects.get(FakeCapi.key(kind, name));
  }

  async groupVersion(group: string) {
    return GROUPS[group];
  }
  async get(_apiVersion: string, kind: string, name: string) {
    const o = this.find(kind, name);
    return o ? structuredClone(o) : undefined;
  }
  async list(_apiVersion: string, kind: string, labelSelector: string) {
    const wanted = labelSelector.split(',').map((term) => term.split('='));
    return [...this.objects.values()]
      .filter((o) => o.kind === kind)
      .filter((o) =>
        wanted.every(([k, v]) =>
          // `!key`: the label is absent (set-based selector).
          k!.startsWith('!')
            ? o.metadata.labels?.[k!.slice(1)] === undefined
            : o.metadata.labels?.[k!] !== undefined && (v === undefined || o.metadata.labels[k!] === v),
        ),
      )
      .map((o) => structuredClone(o));
  }
  async create(object: KubeObject) {
    const existing = this.find(object.kind, object.metadata.name);
    if (existing) return { object: structuredClone(existing), created: false };
    this.calls.push(`create ${object.kind}/${object.metadata.name}`);
    return { object: structuredClone(this.put(object)), created: true };
  }
  async mergePatch(_apiVersion: string, kind: string, name: string, patch: Record<string, unknown>) {
    const o = this.find(kind, name);
    if (!o) throw new Error(`${kind} ${name} not found`);
    const annotations =
      (patch['metadata'] as { annotations?: Record<string, string | null> } | undefined)?.annotations ?? {};
    const next = { ...(o.metadata.annotations ?? {}) };
    for (const [k, v] of Object.entries(annotations)) {
      if (v === null) delete next[k];
      else next[k] = v;
    }
    o.metadata.annotations = next;
    // The rest of the patch as RFC 7386 says (MachineDeployment bumps patch spec).
    if (patch['spec'] !== undefined) o.spec = mergePatched(o.spec ?? {}, patch['spec']) as Record<string, unknown>;
    this.calls.push(
      `patch ${kind}/${name} ${JSON.stringify(patch['spec'] !== undefined ? { annotations, spec: patch['spec'] } : annotations)}`,
    );
    this.settle(o);
  }
  async remove(_apiVersion: string, kind: string, name: string) {
    const o = this.find(kind, name);
    if (!o) return;
    this.calls.push(`delete ${kind}/${name}`);
    o.metadata.deletionTimestamp ??= new Date().toISOString();
    this.settle(o);
  }
  async secret(name: string) {
    return this.secrets.get(name);
  }

  /** A deleting Machine: drained at once, then held while a pre-terminate hook is on it, else gone with its clones. */
  private settle(o: KubeObject) {
    if (!o.metadata.deletionTimestamp) return;
    if (o.kind === 'Machine' && o.metadata.annotations?.[PRE_TERMINATE_HOOK] !== undefined) {
      o.status = {
        ...(o.status ?? {}),
        phase: 'Deleting',
        deletion: { waitForPreTerminateHookStartTime: new Date().toISOString() },
      };
      return;
    }
    this.objects.delete(FakeCapi.key(o.kind, o.metadata.name));
    for (const [key, other] of this.objects) {
      if (other.metadata.ownerReferences?.some((r) => r.uid === o.metadata.uid)) this.objects.delete(key);
    }
  }
}

/** RFC 7386 JSON merge patch: objects merge, null deletes, anything else replaces. */
function mergePatched(target: unknown, patch: unknown): unknown {
  if (patch === null || typeof patch !== 'object' || Array.isArray(patch)) return structuredClone(patch);
  const out: Record<string, unknown> =
    target !== null && typeof target === 'object' && !Array.isArray(target) ? { ...(target as object) } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = mergePatched(out[k], v);
  }
  return out;
}

/** A cluster `c1` with `count` adopted control-plane Machines, each with a SandboxMachine cloned from one template. */
export function machineCluster(count = 3, version = 'v1.36.3'): FakeCapi {
  const fake = new FakeCapi();
  fake.put({
    apiVersion: 'cluster.x-k8s.io/v1beta2',
    kind: 'Cluster',
    metadata: { name: 'c1', namespace: 'default' },
    spec: {},
  });
  fake.put({
    apiVersion: 'infrastructure.cluster.x-k8s.io/v1alpha1',
    kind: 'SandboxMachineTemplate',
    metadata: { name: 'cp-template' },
    spec: { template: { spec: { image: 'img-1', size: 'small' } } },
  });
  fake.secrets.set('c1-kubeconfig', { value: 'apiVersion: v1\nkind: Config\n' });
  for (let i = 0; i < count; i++) {
    const name = `c1-cp-${i}`;
    const labels = { 'cluster.x-k8s.io/cluster-name': 'c1', 'cluster.x-k8s.io/control-plane': '' };
    fake.put({
      apiVersion: 'infrastructure.cluster.x-k8s.io/v1alpha1',
      kind: 'SandboxMachine',
      metadata: {
        name,
        labels,
        annotations: {
          'cluster.x-k8s.io/cloned-from-name': 'cp-template',
          'cluster.x-k8s.io/cloned-from-groupkind': 'SandboxMachineTemplate.infrastructure.cluster.x-k8s.io',
        },
      },
      spec: { image: 'img-1', size: 'small', providerID: `sandbox://${name}` },
    });
    fake.put({
      apiVersion: 'bootstrap.cluster.x-k8s.io/v1beta2',
      kind: 'KubeadmConfig',
      metadata: { name, labels },
      spec: {
        ...(i === 0
          ? {
              initConfiguration: { nodeRegistration: { name: '{{ ds.meta_data.local_hostname }}' } },
              clusterConfiguration: { certificatesDir: '/etc/kubernetes/pki' },
            }
          : {}),
        joinConfiguration: {
          controlPlane: {},
          discovery: { bootstrapToken: { token: 'abcdef.0123456789abcdef', apiServerEndpoint: '10.0.0.1:6443' } },
        },
        files: [{ path: '/etc/motd', content: 'hi' }],
      },
    });
    fake.put({
      apiVersion: 'cluster.x-k8s.io/v1beta2',
      kind: 'Machine',
      metadata: { name, labels },
      spec: {
        clusterName: 'c1',
        version,
        providerID: `sandbox://${name}`,
        failureDomain: `fd-${i}`,
        infrastructureRef: { apiGroup: 'infrastructure.cluster.x-k8s.io', kind: 'SandboxMachine', name },
        bootstrap: { configRef: { apiGroup: 'bootstrap.cluster.x-k8s.io', kind: 'KubeadmConfig', name } },
      },
      status: { phase: 'Running', nodeRef: { name } },
    });
  }
  return fake;
}
