// An in-memory cluster behind our own ports (KubePort, EtcdPort, MachineProvider) for engine tests.
// Its spec: a launched replacement "boots" on the next clock tick (joins etcd as a learner, gets
// promoted, registers a Ready Node with Ready static pods) unless told to fail; terminating a
// machine stops it; removing a member drops it; the fake clock advances on every sleep.
import assert from 'node:assert/strict';
import type { Clock } from '../../src/domain/clock.ts';
import { KubeswapError } from '../../src/domain/errors.ts';
import { EventLog } from '../../src/domain/events.ts';
import {
  type ApiTarget,
  CONTROL_PLANE_POOL,
  type EtcdMember,
  type Machine,
  type NodeView,
} from '../../src/domain/model.ts';
import type { Ports } from '../../src/engine/ports.ts';
import type { EtcdPort } from '../../src/ports/etcd.ts';
import {
  type ConfigMapView,
  ConflictError,
  type FreshNodes,
  type KubePort,
  type LeaseView,
  type PodOnNode,
} from '../../src/ports/kube.ts';
import type { MachineProvider, ReplacementRequest } from '../../src/ports/machines.ts';
import { FROM, imageDrift, machine, member, NEW_IMAGE, node, OLD_IMAGE, TO } from './builders.ts';

export type JoinFault = 'never-boots' | 'dies-after-member-add';

export class FakeWorld {
  now = new Date('2026-06-01T00:00:00Z').getTime();
  nodes = new Map<string, NodeView>();
  members: EtcdMember[] = [];
  leaderId = '';
  machines: Machine[] = [];
  targets = new Map<string, ApiTarget['state']>();
  /** Idempotency keys of the replacements created, by machine id. */
  private readonly tokens = new Map<string, string>();
  configMaps = new Map<string, ConfigMapView>();
  /** Nodes the run's watched cache never delivered (a watch gone silent): listNodes has them only when asked for. */
  unwatched = new Set<string>();
  leases = new Map<string, LeaseView>();
  pendingFault?: JoinFault;
  faults = new Map<string, JoinFault>();
  calls: string[] = [];
  /** Throws once when this call is made: simulates kill -9 at a step boundary. */
  crashBefore?: string;
  /** Most machines running at once: --max-surge 0 must never exceed the starting count. */
  peakRunning = 0;
  /** As AWS an hour after: terminated machines are no longer listed (their tokens are still remembered). */
  forgetGone = false;
  /** Runs after every sleep of the fake clock: a test changes the world as time passes. */
  onSleep?: () => void;
  /** Terminating a machine deletes its Node, as the cloud node lifecycle controller does. */
  nodeLifecycleController = false;
  /** The provider drains on delete (`useDrainsOnDelete`): a deleting machine's Node is drained on the next tick. */
  private drainsOnDelete = false;
  /** Throws once right after this call took effect: kill -9 after a step's work, before its events. */
  crashAfter?: string;
  readonly log = new EventLog();
  /** The `fresh` option of each fresh Node read, in order. */
  readonly freshNodeReads: Exclude<FreshNodes, false>[] = [];
  /** Permissions the identity lacks, as `verb resource[/subresource]` (SelfSubjectAccessReview says no). */
  readonly denied = new Set<string>();
  /** Pods bound to each Node, as podsOnNode lists them (none unless a test puts some). */
  readonly podsOn = new Map<string, PodOnNode[]>();
  /** kubeadm RBAC objects the cluster lacks, as `Kind/name`. */
  readonly missingRbac = new Set<string>();
  private rv = 1;

  constructor(names: string[]) {
    for (const [i, name] of names.entries()) {
      this.nodes.set(name, node(name, { createdAt: new Date(Date.UTC(2026, 0, i + 1)) }));
      this.members.push(member(name));
      this.machines.push(machine(name));
      this.targets.set(`i-${name}`, 'serving');
    }
    this.leaderId = this.members[0]!.id;
    this.configMaps.set('kube-system/kubeadm-config', {
      namespace: 'kube-system',
      name: 'kubeadm-config',
      data: {
        ClusterConfiguration: `apiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\nkubernetesVersion: ${FROM}\n`,
      },
      labels: {},
      annotations: {},
      resourceVersion: '1',
    });
    this.configMaps.set('kube-system/kubelet-config', {
      namespace: 'kube-system',
      name: 'kubelet-config',
      data: {},
      labels: {},
      annotations: {},
      resourceVersion: '1',
    });
  }

  private record(call: string) {
    this.calls.push(call);
    if (this.crashBefore && call.startsWith(this.crashBefore)) {
      this.crashBefore = undefined;
      throw new Error(`simulated crash before ${call}`);
    }
  }

  private recorded(call: string) {
    if (this.crashAfter && call.startsWith(this.crashAfter)) {
      this.crashAfter = undefined;
      throw new Error(`simulated crash after ${call}`);
    }
  }

  /**
   * Cluster API's way (capabilities.drainsOnDelete): `startDeletion` deletes the machine with a hold, the next
   * tick drains its Node (cordon) and holds it, `terminate` releases the hold and the provider deletes the machine
   * and then its Node, unless `leavesNode` (Cluster API gives up on a Node after the Machine's nodeDeletionTimeout).
   * The provider owns the API load balancer: no target group.
   */
  useDrainsOnDelete(opts: { leavesNode?: boolean } = {}) {
    this.drainsOnDelete = true;
    // A deleted Machine is no longer listed.
    this.forgetGone = true;
    const { loadBalancer: _none, ...provider } = this.provider;
    this.provider = {
      ...provider,
      capabilities: { ...provider.capabilities, drainsOnDelete: true, ownsLoadBalancer: true },
      startDeletion: async (id) => {
        this.record(`startDeletion ${id}`);
        const m = this.machines.find((x) => x.id === id);
        if (m && m.phase !== 'deleting') {
          Object.assign(m, { phase: 'deleting', status: 'Deleting', deletionStartedAt: new Date(this.now) });
        }
      },
      terminate: async (id) => {
        this.record(`terminate ${id}`);
        const m = this.machines.find((x) => x.id === id);
        if (m) Object.assign(m, { phase: 'gone', status: 'Deleted' });
        if (m && !opts.leavesNode) {
          for (const [name, n] of this.nodes) if (n.providerId === m.providerId) this.nodes.delete(name);
        }
        this.recorded(`terminate ${id}`);
      },
    };
  }

  /** A worker machine of `pool` and its Ready Node, both named `name`. */
  addWorker(name: string, pool: string): this {
    this.machines.push(machine(name, { pool }));
    this.nodes.set(name, node(name, { controlPlane: false, staticPods: {} }));
    return this;
  }

  /** Boots every launched replacement that has not joined yet. */
  tick() {
    if (this.drainsOnDelete) {
      for (const m of this.machines) {
        if (m.phase !== 'deleting' || m.held) continue;
        for (const [name, n] of this.nodes)
          if (n.providerId === m.providerId) this.nodes.set(name, { ...n, unschedulable: true });
        m.held = true;
      }
    }
    for (const m of this.machines) {
      if (m.phase !== 'running' || !m.replaces) continue;
      const name = `node-${m.id}`;
      if (this.nodes.has(name) || this.faults.get(m.id) === 'never-boots') continue;
      if (m.pool !== CONTROL_PLANE_POOL) {
        // A worker joins without an etcd member or static pods.
        this.nodes.set(
          name,
          node(name, {
            providerId: m.providerId,
            kubeletVersion: TO,
            controlPlane: false,
            staticPods: {},
            createdAt: new Date(this.now),
          }),
        );
        continue;
      }
      if (this.faults.get(m.id) === 'dies-after-member-add') {
        if (!this.members.some((x) => x.isLearner)) this.members.push(member('', { isLearner: true, clientUrls: [] }));
        continue;
      }
      this.members.push(member(name));
      this.nodes.set(name, node(name, { providerId: m.providerId, kubeletVersion: TO, createdAt: new Date(this.now) }));
    }
  }

  clock: Clock = {
    now: () => new Date(this.now),
    sleep: async (ms) => {
      this.now += ms;
      this.tick();
      this.onSleep?.();
    },
  };

  kube: KubePort = {
    serverVersion: async () => FROM,
    etcdClientUrls: async () => this.members.flatMap((m) => m.clientUrls),
    canI: async (checks) =>
      checks.map((c) => !this.denied.has(`${c.verb} ${c.resource}${c.subresource ? `/${c.subresource}` : ''}`)),
    listNodes: async (options) => {
      const fresh = options?.fresh;
      if (fresh) this.freshNodeReads.push(fresh);
      // As the real port answers with a cache that missed the `unwatched` Nodes: those only when asked for.
      const asked = (n: NodeView) =>
        fresh === true ||
        ((fresh === 'control-plane' || typeof fresh === 'object') && n.controlPlane) ||
        (typeof fresh === 'object' && fresh.workers.includes(n.name));
      return [...this.nodes.values()].filter((n) => !this.unwatched.has(n.name) || asked(n));
    },
    deleteNode: async (name) => {
      this.record(`deleteNode ${name}`);
      return this.nodes.delete(name) ? 'deleted' : 'gone';
    },
    annotateNode: async (name, annotations, options) => {
      if (options?.unschedulable !== undefined) this.record(`cordon ${name} (with annotations)`);
      const n = this.nodes.get(name);
      if (!n) return;
      const next = { ...n.annotations };
      for (const [k, v] of Object.entries(annotations))
        if (v === null) delete next[k];
        else next[k] = v;
      this.nodes.set(name, {
        ...n,
        annotations: next,
        ...(options?.unschedulable !== undefined ? { unschedulable: options.unschedulable } : {}),
      });
    },
    setUnschedulable: async (name, unschedulable) => {
      this.record(`cordon ${name}`);
      const n = this.nodes.get(name);
      if (n) this.nodes.set(name, { ...n, unschedulable });
    },
    recordNodeEvent: async () => {},
    podsOnNode: async (node) => this.podsOn.get(node) ?? [],
    podsInNamespace: async () => [],
    evictPod: async () => 'evicted',
    podExists: async () => false,
    forceDeletePod: async (namespace, name, uid) => {
      this.record(`forceDeletePod ${namespace}/${name}`);
      for (const [node, pods] of this.podsOn) {
        const left = pods.filter((p) => !(p.namespace === namespace && p.name === name && p.uid === uid));
        if (left.length < pods.length) {
          this.podsOn.set(node, left);
          return 'deleted';
        }
      }
      return 'gone';
    },
    listDisruptionBudgets: async () => [],
    getConfigMap: async (ns, name) => this.configMaps.get(`${ns}/${name}`),
    createConfigMap: async (cm) => {
      this.record(`createConfigMap ${cm.name}`);
      const key = `${cm.namespace}/${cm.name}`;
      if (this.configMaps.has(key)) return 'exists';
      this.configMaps.set(key, { ...cm, resourceVersion: String(++this.rv) });
      return 'created';
    },
    replaceConfigMap: async (cm) => {
      const key = `${cm.namespace}/${cm.name}`;
      if (this.configMaps.get(key)?.resourceVersion !== cm.resourceVersion) throw new ConflictError(key);
      const next = { ...cm, resourceVersion: String(++this.rv) };
      this.configMaps.set(key, next);
      return next;
    },
    deleteConfigMap: async (ns, name) => {
      this.record(`deleteConfigMap ${name}`);
      return this.configMaps.delete(`${ns}/${name}`) ? 'deleted' : 'gone';
    },
    getSecret: async () => undefined,
    listSecrets: async () => [],
    createSecret: async () => 'created',
    deleteSecret: async () => 'gone',
    ensureRbac: async () => [],
    rbacExists: async (object) => !this.missingRbac.has(`${object.kind}/${object.name}`),
    getLease: async (ns, name) => this.leases.get(`${ns}/${name}`),
    createLease: async (lease) => {
      const key = `${lease.namespace}/${lease.name}`;
      if (this.leases.has(key)) return 'exists';
      const created = { ...lease, resourceVersion: String(++this.rv) };
      this.leases.set(key, created);
      return { ...created };
    },
    replaceLease: async (lease) => {
      const key = `${lease.namespace}/${lease.name}`;
      if (this.leases.get(key)?.resourceVersion !== lease.resourceVersion) throw new ConflictError(key);
      const next = { ...lease, resourceVersion: String(++this.rv) };
      this.leases.set(key, next);
      return next;
    },
    deleteLease: async (ns, name) => (this.leases.delete(`${ns}/${name}`) ? 'deleted' : 'gone'),
    close: () => {},
  };

  etcd: EtcdPort = {
    memberList: async () => this.members.map((m) => ({ ...m })),
    health: async (endpoints) =>
      endpoints.map((endpoint) => {
        const m = this.members.find((x) => x.clientUrls.includes(endpoint));
        return { endpoint, memberId: m?.id, healthy: !!m && !m.isLearner, leaderId: this.leaderId, tookMs: 1 };
      }),
    // Through the port it is called on: a test that stands in for memberList or health sees this read too.
    async memberHealth() {
      const members = await this.memberList();
      return { members, health: await this.health([...new Set(members.flatMap((m) => m.clientUrls))]) };
    },
    alarms: async () => [],
    moveLeader: async (to) => {
      this.record(`moveLeader ${to}`);
      this.leaderId = to;
    },
    removeMember: async (id) => {
      this.record(`removeMember ${id}`);
      if (this.members.length === 1 && this.members[0]!.id === id)
        throw new Error('refusing to remove the last member');
      this.members = this.members.filter((m) => m.id !== id);
      if (this.leaderId === id) this.leaderId = this.members.find((m) => !m.isLearner)?.id ?? '';
    },
    snapshot: async (file) => ({ file, bytes: 42 }),
    endpoints: () => this.members.flatMap((m) => m.clientUrls),
    close: () => {},
  };

  provider: MachineProvider = {
    contractVersion: 2,
    name: 'fake',
    capabilities: { surge: true, ownsLoadBalancer: false, rendersBootstrap: false, idempotencyKey: 'tag' },
    machineIdOf: (providerId) => providerId.split('/').pop(),
    drift: imageDrift,
    resolveDesired: async ({ version, imageId }) => ({
      desired: { version, imageId: imageId ?? (version === TO ? NEW_IMAGE : OLD_IMAGE), force: false },
      problems: [],
    }),
    listMachines: async (pool) =>
      this.machines.filter((m) => m.pool === pool && !(this.forgetGone && m.phase === 'gone')).map((m) => ({ ...m })),
    checkMachines: () => [],
    createReplacement: async (req: ReplacementRequest) => {
      this.record(`createReplacement ${req.replaces.id}`);
      // As EC2 with a ClientToken: the same token hands back the same instance, terminated or not.
      const existing = this.machines.find((m) => this.tokens.get(m.id) === req.token);
      if (existing?.phase === 'gone') {
        throw new KubeswapError('internal', 'replacement.token-reused', `token already launched ${existing.id}, gone`);
      }
      if (existing) return existing;
      const id = `i-r${this.machines.length}`;
      const m = machine(id.slice(2), {
        id,
        providerId: `aws:///us-east-1a/${id}`,
        pool: req.pool,
        imageId: req.desired.imageId,
        replaces: req.replaces.id,
        runId: req.runId,
        launchedAt: new Date(this.now),
      });
      this.tokens.set(id, req.token);
      this.machines.push(m);
      this.peakRunning = Math.max(this.peakRunning, this.machines.filter((x) => x.phase === 'running').length);
      if (this.pendingFault) this.faults.set(id, this.pendingFault);
      this.pendingFault = undefined;
      return m;
    },
    terminate: async (id) => {
      this.record(`terminate ${id}`);
      const m = this.machines.find((x) => x.id === id);
      if (m) Object.assign(m, { phase: 'gone', status: 'terminated' });
      for (const [name, n] of this.nodes) {
        if (n.providerId !== m?.providerId) continue;
        if (this.nodeLifecycleController) this.nodes.delete(name);
        else this.nodes.set(name, { ...n, ready: false });
      }
    },
    loadBalancer: {
      targets: async () => [...this.targets.entries()].map(([machineId, state]) => ({ machineId, state })),
      register: async (id) => {
        this.record(`register ${id}`);
        this.targets.set(id, 'serving');
      },
      deregister: async (id) => {
        this.record(`deregister ${id}`);
        this.targets.set(id, 'absent');
      },
    },
  };

  ports(): Ports {
    return { kube: this.kube, etcd: this.etcd, provider: this.provider, clock: this.clock, emit: this.log.sink };
  }
}

/** The KubeswapError a run ends with; fails the test when the run succeeds or throws something else. */
export async function failure(p: Promise<unknown>): Promise<KubeswapError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof KubeswapError) return err;
    throw err;
  }
  assert.fail('expected the run to fail');
}
