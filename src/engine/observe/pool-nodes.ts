// Which worker Nodes a fresh read must take from the API server (issue 15 §3). A worker pool's decisions count the
// readiness of its machines' Nodes (maxUnavailable, a replacement Ready, the old Node still there: plan/workers.ts),
// so those are read afresh by name; the rest of a large cluster's workers come from the run's watch. The names are
// those of the last pass; once this pass's machines are listed, the pool Nodes the names missed are read too.
// A Node the watch never delivered has no name to ask for. Our own replacement's, registered while the watch was
// silently dead, stays unseen, which only holds a pool back (its slot counts as unavailable, its batch as still
// opening) except before a rollback, which converge.ts takes only from a read of every Node. Any other live machine
// of a pool with no Node in view (a scale-up's, say) makes the pass read every Node: its Node, NotReady, would count
// against maxUnavailable, and a view without it would count the pool one machine short (poolLinks).
import type { Machine, NodeView } from '../../domain/model.ts';
import { isLive } from './snapshot.ts';

/**
 * The worker Nodes of the pools' `machines` (`nodeNames`) and the pools' live machines, not replacements of ours, that
 * no Node in view links to (`withoutNode`): their Nodes, if they registered while the watch was silently dead, have no
 * name a read by name could ask for. Linked as plan/workers.ts links them: by providerID, by the machine id the
 * provider reads in it (a replacement's old Node, also once the provider no longer lists the old machine), or by the
 * name the provider's system linked (Machine.nodeName). One pass over the Nodes (a fresh pass at 5,000 Nodes).
 */
export function poolLinks(
  nodes: readonly NodeView[],
  machines: readonly Machine[],
  machineIdOf: (providerId: string) => string | undefined,
): { nodeNames: string[]; withoutNode: Machine[] } {
  const byProviderId = new Map<string, Machine[]>();
  const byId = new Map<string, Machine[]>();
  const byNodeName = new Map<string, Machine[]>();
  const add = (index: Map<string, Machine[]>, key: string, m: Machine) => {
    const list = index.get(key);
    if (list) list.push(m);
    else index.set(key, [m]);
  };
  for (const m of machines) {
    if (m.providerId) add(byProviderId, m.providerId, m);
    add(byId, m.id, m);
    if (m.replaces) add(byId, m.replaces, m);
    if (m.nodeName) add(byNodeName, m.nodeName, m);
  }
  const nodeNames: string[] = [];
  const linked = new Set<Machine>();
  for (const n of nodes) {
    if (n.controlPlane) continue;
    const id = n.providerId === undefined ? undefined : machineIdOf(n.providerId);
    const of = [
      ...(byNodeName.get(n.name) ?? []),
      ...(n.providerId === undefined ? [] : (byProviderId.get(n.providerId) ?? [])),
      ...(id === undefined ? [] : (byId.get(id) ?? [])),
    ];
    if (of.length === 0) continue;
    nodeNames.push(n.name);
    for (const m of of) linked.add(m);
  }
  const withoutNode = machines.filter((m) => isLive(m) && m.replaces === undefined && !linked.has(m));
  return { nodeNames, withoutNode };
}
