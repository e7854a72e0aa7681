// Which worker Nodes a fresh read must take from the API server (issue 15 §3). A worker pool's decisions count the
// readiness of its machines' Nodes (maxUnavailable, a replacement Ready, the old Node still there: plan/workers.ts),
// so those are read afresh by name; the rest of a large cluster's workers come from the run's watch. The names are
// those of the last pass; once this pass's machines are listed, the pool Nodes the names missed are read too.
// A Node the watch never delivered has no name to ask for. Our own replacement's, registered while the watch was
// silently dead, stays unseen, which only holds a pool back (its slot counts as unavailable, its batch as still
// opening) except before a rollback, which converge.ts takes only from a read of every Node. Any other live machine
// of a pool with no Node in view (a scale-up's, say) makes the pass read every Node: its Node, NotReady, would count
// against maxUnavailable, and a view without it would count the pool one machine short (machinesWithoutNode).
import type { Machine, NodeView } from '../../domain/model.ts';
import { isLive } from './snapshot.ts';

/**
 * The worker Nodes of the pools' `machines`, as plan/workers.ts links them: by providerID, by the machine id the
 * provider reads in it (a replacement's old Node, also once the provider no longer lists the old machine), or by
 * the name the provider's system linked (Machine.nodeName).
 */
export function poolNodeNames(
  nodes: readonly NodeView[],
  machines: readonly Machine[],
  machineIdOf: (providerId: string) => string | undefined,
): string[] {
  const providerIds = new Set(machines.map((m) => m.providerId).filter(Boolean));
  const ids = new Set(machines.flatMap((m) => (m.replaces ? [m.id, m.replaces] : [m.id])));
  const linked = new Set(machines.flatMap((m) => (m.nodeName ? [m.nodeName] : [])));
  return nodes
    .filter((n) => !n.controlPlane)
    .filter(
      (n) =>
        linked.has(n.name) ||
        (n.providerId !== undefined && (providerIds.has(n.providerId) || ids.has(machineIdOf(n.providerId) ?? ''))),
    )
    .map((n) => n.name);
}

/** The pool Nodes in view, once the pass's machines are listed, that a fresh read by name did not ask for. */
export function unreadPoolNodes(
  nodes: readonly NodeView[],
  machines: readonly Machine[],
  asked: readonly string[],
  machineIdOf: (providerId: string) => string | undefined,
): string[] {
  const read = new Set(asked);
  return poolNodeNames(nodes, machines, machineIdOf).filter((name) => !read.has(name));
}

/**
 * The pools' live machines, not replacements of ours, that no Node in view links to: their Nodes, if they registered
 * while the watch was silently dead, have no name a read by name could ask for.
 */
export function machinesWithoutNode(
  nodes: readonly NodeView[],
  machines: readonly Machine[],
  machineIdOf: (providerId: string) => string | undefined,
): Machine[] {
  // One pass over the Nodes, not one per machine (a fresh pass at 5,000 Nodes): what links a Node to a machine, as
  // poolNodeNames links them.
  const workers = nodes.filter((n) => !n.controlPlane);
  const names = new Set(workers.map((n) => n.name));
  const providerIds = new Set(workers.flatMap((n) => (n.providerId ? [n.providerId] : [])));
  const machineIds = new Set(workers.flatMap((n) => (n.providerId ? [machineIdOf(n.providerId) ?? ''] : [])));
  const linked = (m: Machine) =>
    (m.nodeName !== undefined && names.has(m.nodeName)) ||
    (m.providerId !== '' && providerIds.has(m.providerId)) ||
    machineIds.has(m.id);
  return machines.filter((m) => isLive(m) && m.replaces === undefined && !linked(m));
}
