// Builds one Snapshot per pass. Reads run in parallel where they are independent; nothing here
// writes. A failure to read a system the plan depends on is an error, not an empty list.

import { createHash } from 'node:crypto';
import { KubeswapError } from '../../domain/errors.ts';
import { agreedLeader } from '../../domain/etcd.ts';
import { KUBEADM_CONFIG, KUBEADM_NAMESPACE, parseClusterConfiguration } from '../../domain/kubeadm/cluster-config.ts';
import type { Desired, Machine } from '../../domain/model.ts';
import { CONTROL_PLANE_POOL } from '../../domain/model.ts';
import type { ConfigMapView, FreshNodes } from '../../ports/kube.ts';
import type { Ports } from '../ports.ts';
import type { RetiringRecord } from '../run/retiring.ts';
import { readRetiring } from '../run/retiring.ts';
import type { EtcdReads } from './etcd-reads.ts';
import { poolLinks } from './pool-nodes.ts';
import type { ProviderReads } from './provider-reads.ts';
import type { ClusterConfigView, Snapshot } from './snapshot.ts';

/** `read`: kubeadm-config read already (one read shared by the plan's readers), else read here. */
export async function readClusterConfig(
  ports: Pick<Ports, 'kube'>,
  read?: Promise<ConfigMapView | undefined>,
): Promise<ClusterConfigView> {
  const cm = await (read ?? ports.kube.getConfigMap(KUBEADM_NAMESPACE, KUBEADM_CONFIG));
  const text = cm?.data['ClusterConfiguration'];
  if (!text) {
    throw new KubeswapError(
      'invalid',
      'cluster.not-kubeadm',
      'kube-system/kubeadm-config has no ClusterConfiguration',
      {
        hint: 'kubeswap upgrades clusters built by kubeadm; check --kubeconfig/--context point at one',
      },
    );
  }
  const config = parseClusterConfiguration(text);
  const digest = createHash('sha256').update(text).digest('hex');
  return { apiVersion: config.apiVersion, kubernetesVersion: config.kubernetesVersion, digest };
}

export interface ObserveOptions {
  withTargets: boolean;
  /** The run's target: each machine then carries its provider's drift reasons. */
  desired?: Desired;
  /** The previous pass: its control-plane Nodes let the machine listing start before the Nodes arrive. */
  previous?: Snapshot;
  /** The loop's provider view between passes: machines and targets each reused while they stand (provider-reads.ts). */
  providerReads?: ProviderReads;
  /** Worker pools whose machines to list too (by the worker Nodes' providerIDs). */
  pools?: readonly string[];
  /** The loop's etcd view between passes: reused only while the plan waits on Kubernetes or the provider alone. */
  etcdReads?: EtcdReads;
  /** Nodes just read by the caller (plan's preflight): one list of every Node instead of two. */
  nodes?: Promise<Snapshot['nodes']>;
  /** The retiring record, when the loop knows it unchanged since its last step (only our steps write it). */
  retiring?: () => Promise<RetiringRecord | undefined>;
  /**
   * Nodes and static pods from the API server, not from the run's watched cache; `'control-plane'`: only the
   * control-plane ones (the decisions of the control-plane loop and its gate rest on no other Node); `'in-scope'`:
   * those and the Nodes of the machines of `pools`, whose readiness a worker pool's decisions count (pool-nodes.ts).
   */
  freshNodes?: boolean | 'control-plane' | 'in-scope';
}

export async function observe(ports: Ports, options: ObserveOptions): Promise<Snapshot> {
  const at = ports.clock.now();
  // Two independent chains run side by side (Nodes -> their machines, members -> their health), so
  // a pass costs the slower chain, not the sum of two rounds. The machines of last pass's Nodes are
  // asked for at once; only when the Nodes changed is the listing repeated for the new set. The machines and the
  // targets as an earlier pass read them are reused while they stand, each on its own (ProviderReads).
  const now = at.getTime();
  const reads = options.providerReads;
  const guessed = options.previous ? controlPlaneProviderIds(options.previous.nodes) : undefined;
  const keptMachines = guessed && reads?.reusableMachines(now, guessed);
  const early = guessed && !keptMachines ? ports.provider.listMachines(CONTROL_PLANE_POOL, guessed) : undefined;
  early?.catch(() => undefined);
  const lb = options.withTargets ? ports.provider.loadBalancer : undefined;
  const keptTargets = lb ? reads?.reusableTargets(now) : undefined;
  const targetsRead = lb && !keptTargets ? lb.targets() : undefined;
  targetsRead?.catch(() => undefined);
  const pools = options.pools ?? [];
  const fresh = freshRead(options, (providerId) => ports.provider.machineIdOf(providerId));
  const nodesRead = options.nodes ?? ports.kube.listNodes(fresh === undefined ? undefined : { fresh });
  // Worker pools' machines are listed every pass (only the control plane's view is reused between passes).
  const listWorkers = (nodes: Snapshot['nodes']) => {
    const workerIds = pools.length > 0 ? workerProviderIds(nodes) : [];
    const read = pools.length > 0 ? listPoolMachines(ports, pools, workerIds) : Promise.resolve(undefined);
    read.catch(() => undefined);
    return { workerIds, read };
  };
  const controlPlaneMachinesOf = (nodes: Snapshot['nodes']) => {
    const providerIds = controlPlaneProviderIds(nodes);
    const same = guessed && guessed.length === providerIds.length && guessed.every((id, i) => id === providerIds[i]);
    const machinesKept = same ? keptMachines || undefined : reads?.reusableMachines(now, providerIds);
    const read = machinesKept
      ? Promise.resolve(machinesKept)
      : same && early
        ? early
        : ports.provider.listMachines(CONTROL_PLANE_POOL, providerIds);
    read.catch(() => undefined);
    return { providerIds, read, kept: machinesKept !== undefined };
  };
  const nodesAndProvider = nodesRead.then(async (first) => {
    let nodes = first;
    let everyNode = fresh === true && !options.nodes;
    let controlPlane = controlPlaneMachinesOf(nodes);
    const workers = listWorkers(nodes);
    let workerMachines = await workers.read;
    if (typeof fresh === 'object' && workerMachines) {
      const read = await poolNodesRead(ports, pools, fresh.workers, {
        nodes,
        workerMachines,
        workerIds: workers.workerIds,
      });
      ({ nodes, workerMachines, everyNode } = read);
      const providerIds = controlPlaneProviderIds(nodes);
      if (providerIds.join(' ') !== controlPlane.providerIds.join(' ')) controlPlane = controlPlaneMachinesOf(nodes);
    }
    const [machines, apiTargets] = await Promise.all([controlPlane.read, keptTargets ?? targetsRead]);
    if (!controlPlane.kept) reads?.rememberMachines(now, controlPlane.providerIds, machines);
    if (apiTargets && !keptTargets) reads?.rememberTargets(now, apiTargets);
    return { nodes, machines, apiTargets, workerMachines, everyNode };
  });
  // A view an earlier pass read stands only while the plan waits on Kubernetes or the provider (EtcdReads); converge
  // plans such a pass again from a fresh read unless it still only waits.
  const kept = options.etcdReads?.reusable(at.getTime());
  const etcdRead: Promise<{ view: Snapshot['etcd']; reused: boolean }> = kept
    ? Promise.resolve({ view: kept, reused: true })
    : readEtcdView(ports).then((view) => ({ view, reused: false }));
  // Pools the provider rolls itself (MachineDeployments): their rollouts, read beside everything else.
  const rolled = ports.provider.capabilities.rollsPools ? ports.provider.pools : undefined;
  const rolloutsRead =
    rolled && options.desired && (options.pools ?? []).length > 0
      ? Promise.all((options.pools ?? []).map((pool) => rolled.rollouts(pool, options.desired!))).then((r) => r.flat())
      : Promise.resolve(undefined);
  rolloutsRead.catch(() => undefined);
  const [
    { nodes, machines, apiTargets, workerMachines, everyNode },
    { view: etcd, reused: etcdReused },
    retiring,
    poolRollouts,
  ] = await Promise.all([nodesAndProvider, etcdRead, options.retiring?.() ?? readRetiring(ports.kube), rolloutsRead]);
  if (!etcdReused) options.etcdReads?.remember(at.getTime(), etcd);
  const { provider } = ports;
  const desired = options.desired;
  return {
    at,
    nodes: nodes.map((n) => {
      const byName = machines.find((m) => !m.providerId && m.nodeName === n.name)?.id;
      if (n.providerId) return { ...n, machineId: provider.machineIdOf(n.providerId) ?? byName };
      return byName ? { ...n, machineId: byName } : n;
    }),
    etcd,
    ...(etcdReused ? { etcdReused: true } : {}),
    ...(options.freshNodes ? { nodesFresh: true } : {}),
    ...(everyNode ? { everyNodeFresh: true } : {}),
    machines: desired ? machines.map((m) => ({ ...m, drift: provider.drift(m, desired) })) : machines,
    apiTargets,
    retiring,
    ...(provider.capabilities.drainsOnDelete ? { providerDrains: true } : {}),
    ...(workerMachines
      ? {
          workerMachines: desired
            ? workerMachines.map((m) => ({ ...m, drift: provider.drift(m, desired) }))
            : workerMachines,
        }
      : {}),
    ...(poolRollouts ? { poolRollouts } : {}),
  };
}

/** etcd's members, their endpoints' health, the alarms and the leader, read afresh. */
export async function readEtcdView(ports: Pick<Ports, 'etcd'>): Promise<Snapshot['etcd']> {
  // The member list and the health of every endpoint it names, in one round (EtcdPort.memberHealth).
  const { members, health } = await ports.etcd.memberHealth();
  // The health check lists the alarms at every endpoint already (etcdctl's endpoint health does): alarms are the
  // cluster's, so any endpoint's list is the list, and a separate AlarmList would ask again. Only when no endpoint
  // could list them is it asked for on its own (it then fails as it would have, or answers from another way in).
  const listed = health.filter((h) => h.alarms !== undefined);
  const alarms =
    listed.length > 0
      ? [...new Map(listed.flatMap((h) => h.alarms!).map((a) => [`${a.memberId}/${a.alarm}`, a])).values()]
      : await ports.etcd.alarms();
  return {
    members,
    alarms,
    endpoints: health,
    leaderId: agreedLeader(health.filter((h) => h.healthy).map((h) => h.leaderId)),
  };
}

/** What the port is asked for: the pools' Nodes by the names the last pass linked to their machines. */
function freshRead(
  options: ObserveOptions,
  machineIdOf: (providerId: string) => string | undefined,
): FreshNodes | undefined {
  if (!options.freshNodes) return undefined;
  if (options.freshNodes !== 'in-scope') return options.freshNodes;
  if ((options.pools ?? []).length === 0) return 'control-plane';
  // No pass before this one: no machine of the pools is known yet, so neither are their Nodes' names.
  if (!options.previous) return true;
  return { workers: poolLinks(options.previous.nodes, options.previous.workerMachines ?? [], machineIdOf).nodeNames };
}

/**
 * A fresh read by name is complete for the pools once every Node this pass links to their machines was asked for
 * (pool-nodes.ts). Otherwise the missing names are read too, once; then every Node. The machines are listed again
 * when the Nodes read last point at other ones.
 */
async function poolNodesRead(
  ports: Ports,
  pools: readonly string[],
  asked: readonly string[],
  first: { nodes: Snapshot['nodes']; workerMachines: Machine[]; workerIds: string[] },
): Promise<{ nodes: Snapshot['nodes']; workerMachines: Machine[]; everyNode: boolean }> {
  const machineIdOf = (providerId: string) => ports.provider.machineIdOf(providerId);
  let { nodes, workerMachines, workerIds } = first;
  let names = asked;
  for (let attempt = 0; ; attempt++) {
    const { nodeNames, withoutNode } = poolLinks(nodes, workerMachines, machineIdOf);
    const read = new Set(names);
    const unread = nodeNames.filter((name) => !read.has(name));
    if (unread.length === 0 && withoutNode.length === 0) return { nodes, workerMachines, everyNode: false };
    const everyNode = attempt > 0 || withoutNode.length > 0;
    names = [...names, ...unread];
    nodes = await ports.kube.listNodes({ fresh: everyNode ? true : { workers: names } });
    const ids = workerProviderIds(nodes);
    if (ids.join(' ') !== workerIds.join(' ')) {
      workerIds = ids;
      workerMachines = await listPoolMachines(ports, pools, ids);
    }
    if (everyNode) return { nodes, workerMachines, everyNode };
  }
}

/** The machines of every pool, with the worker Nodes' providerIDs as the provider's hint. */
async function listPoolMachines(ports: Ports, pools: readonly string[], providerIds: string[]): Promise<Machine[]> {
  return (await Promise.all(pools.map((pool) => ports.provider.listMachines(pool, providerIds)))).flat();
}

function workerProviderIds(nodes: Snapshot['nodes']): string[] {
  return nodes
    .filter((n) => !n.controlPlane && n.providerId)
    .map((n) => n.providerId!)
    .sort();
}

function controlPlaneProviderIds(nodes: Snapshot['nodes']): string[] {
  return nodes
    .filter((n) => n.controlPlane && n.providerId)
    .map((n) => n.providerId!)
    .sort();
}
