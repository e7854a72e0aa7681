// Builders for planner tests: a healthy cluster of N control-plane machines at one version, and
// small edits on top. Plain objects only: the planner is a pure function.
import {
  type ApiTargetState,
  CONTROL_PLANE_POOL,
  type Desired,
  type DriftReason,
  type EtcdMember,
  type Machine,
  type NodeView,
} from '../../src/domain/model.ts';
import type { Snapshot } from '../../src/engine/observe/snapshot.ts';
import { DEFAULT_ENGINE_OPTIONS, type EngineOptions } from '../../src/engine/ports.ts';

export const FROM = 'v1.36.3';
export const TO = 'v1.37.2';
export const OLD_IMAGE = 'ami-old';
export const NEW_IMAGE = 'ami-new';
export const RUN = 'run-1';

/** Engine options for apply over the fake world: a short gate and timeout, snapshots in /tmp. */
export const APPLY_OPTIONS: EngineOptions = {
  ...DEFAULT_ENGINE_OPTIONS,
  gatePasses: 2,
  machineTimeoutMs: 60_000,
  pollIntervalMs: 1000,
  snapshotDir: '/tmp',
};

export const desired = (over: Partial<Desired> = {}): Desired => ({
  version: TO,
  imageId: NEW_IMAGE,
  force: false,
  ...over,
});

export function node(name: string, over: Partial<NodeView> = {}): NodeView {
  const ready = (component: string) => ({ component, name: `${component}-${name}`, ready: true }) as const;
  const providerId = over.providerId ?? `aws:///us-east-1a/i-${name}`;
  return {
    name,
    providerId,
    machineId: providerId.split('/').pop(),
    ready: true,
    unschedulable: false,
    controlPlane: true,
    kubeletVersion: FROM,
    createdAt: new Date(`2026-01-0${name.length % 9}T00:00:00Z`),
    labels: {},
    annotations: {},
    staticPods: {
      etcd: ready('etcd') as NodeView['staticPods']['etcd'],
      'kube-apiserver': ready('kube-apiserver') as NodeView['staticPods']['etcd'],
      'kube-controller-manager': ready('kube-controller-manager') as NodeView['staticPods']['etcd'],
      'kube-scheduler': ready('kube-scheduler') as NodeView['staticPods']['etcd'],
    },
    ...over,
  };
}

export function machine(name: string, over: Partial<Machine> = {}): Machine {
  const m: Machine = {
    id: `i-${name}`,
    providerId: `aws:///us-east-1a/i-${name}`,
    pool: CONTROL_PLANE_POOL,
    zone: 'us-east-1a',
    imageId: OLD_IMAGE,
    phase: 'running',
    status: 'running',
    launchedAt: new Date('2026-01-01T00:00:00Z'),
    ...over,
  };
  return { drift: imageDrift(m, desired()), ...m };
}

/** The fake provider's drift: the image only. */
export function imageDrift(m: Machine, d: Desired): DriftReason[] {
  return m.imageId === d.imageId ? [] : [{ code: 'image', message: `image ${m.imageId} != ${d.imageId}` }];
}

let nextId = 1000n;
export function member(name: string, over: Partial<EtcdMember> = {}): EtcdMember {
  nextId += 1n;
  return {
    id: (BigInt(name.length) * 1_000_000_000_000n + nextId).toString(),
    name,
    peerUrls: [],
    clientUrls: [`https://${name}:2379`],
    isLearner: false,
    ...over,
  };
}

/** A healthy cluster: every node Ready, one member per node, first member leads. */
export function cluster(names: string[], at = new Date('2026-06-01T00:00:00Z')): Snapshot {
  const members = names.map((n) => member(n));
  return {
    at,
    nodes: names.map((n, i) => node(n, { createdAt: new Date(Date.UTC(2026, 0, i + 1)) })),
    etcd: {
      members,
      leaderId: members[0]?.id,
      alarms: [],
      endpoints: members.map((m) => ({
        endpoint: m.clientUrls[0]!,
        memberId: m.id,
        healthy: true,
        leaderId: members[0]?.id,
        tookMs: 1,
      })),
    },
    machines: names.map((n) => machine(n)),
    apiTargets: names.map((n) => ({ machineId: `i-${n}`, state: 'serving' as const })),
  };
}

/** Adds a replacement `r` for `old` at the given stage of its join. */
export function withReplacement(
  s: Snapshot,
  old: string,
  stage: 'launched' | 'learner' | 'joined',
  over: Partial<Machine> = {},
): Snapshot {
  const r = machine(`r-${old}`, { imageId: NEW_IMAGE, replaces: `i-${old}`, runId: RUN, launchedAt: s.at, ...over });
  const next: Snapshot = { ...s, machines: [...s.machines, r], etcd: { ...s.etcd } };
  if (stage === 'learner') {
    next.etcd.members = [...s.etcd.members, member('', { isLearner: true, clientUrls: [] })];
  }
  if (stage === 'joined') {
    const m = member(`r-${old}`);
    next.nodes = [...s.nodes, node(`r-${old}`, { kubeletVersion: TO, providerId: r.providerId, createdAt: s.at })];
    next.etcd.members = [...s.etcd.members, m];
    next.etcd.endpoints = [
      ...s.etcd.endpoints,
      { endpoint: m.clientUrls[0]!, memberId: m.id, healthy: true, leaderId: s.etcd.leaderId, tookMs: 1 },
    ];
  }
  return next;
}

export function editNode(s: Snapshot, name: string, over: Partial<NodeView>): Snapshot {
  return { ...s, nodes: s.nodes.map((n) => (n.name === name ? { ...n, ...over } : n)) };
}

export function setTarget(s: Snapshot, machineId: string, state: ApiTargetState): Snapshot {
  const others = (s.apiTargets ?? []).filter((t) => t.machineId !== machineId);
  return { ...s, apiTargets: [...others, { machineId, state }] };
}

export function removeMember(s: Snapshot, name: string): Snapshot {
  const gone = s.etcd.members.find((m) => m.name === name);
  return {
    ...s,
    etcd: {
      ...s.etcd,
      members: s.etcd.members.filter((m) => m !== gone),
      endpoints: s.etcd.endpoints.filter((e) => e.memberId !== gone?.id),
    },
  };
}

export function setMachine(s: Snapshot, id: string, over: Partial<Machine>): Snapshot {
  return { ...s, machines: s.machines.map((m) => (m.id === id ? { ...m, ...over } : m)) };
}
