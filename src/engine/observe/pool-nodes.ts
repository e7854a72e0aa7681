// Which worker Nodes a fresh read must take from the API server (issue 15 §3). A worker pool's decisions count the
// readiness of its machines' Nodes (maxUnavailable, a replacement Ready, the old Node still there: plan/workers.ts),
// so those are read afresh by name; the rest of a large cluster's workers come from the run's watch. The names are
// those of the last pass; once this pass's machines are listed, what the names missed is read too, and a live
// machine without a Node in view is settled by a list of every Node.
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

/** What a fresh read of the pools' Nodes still lacks, once the pass's machines are listed. */
export type PoolNodesDoubt =
  /** Pool Nodes in view that were not asked for by name: read them too. */
  | { kind: 'unread'; names: string[] }
  /**
   * A live machine with no Node in view (a replacement booting, a machine its pool launched): its Node may have
   * registered while the watch was silently dead, and no name to ask for is known: every Node is read.
   */
  | { kind: 'unseen'; machine: string };

export function poolNodesDoubt(
  nodes: readonly NodeView[],
  machines: readonly Machine[],
  asked: readonly string[],
  machineIdOf: (providerId: string) => string | undefined,
): PoolNodesDoubt | undefined {
  const unseen = machines.find(
    (m) =>
      isLive(m) &&
      !nodes.some((n) => !n.controlPlane && ((m.providerId && n.providerId === m.providerId) || n.name === m.nodeName)),
  );
  if (unseen) return { kind: 'unseen', machine: unseen.id };
  const read = new Set(asked);
  const unread = poolNodeNames(nodes, machines, machineIdOf).filter((name) => !read.has(name));
  return unread.length > 0 ? { kind: 'unread', names: unread } : undefined;
}
