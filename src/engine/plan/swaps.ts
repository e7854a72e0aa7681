// Which replacement is in flight and the machine it replaces, re-derived from live state every pass
// (the replacement's `replaces` link), and the part of the cluster the gate judges while it runs.
import type { Machine, NodeView } from '../../domain/model.ts';
import { isLive, memberOfNode, type Snapshot } from '../observe/snapshot.ts';
import { isRetiring } from './annotations.ts';
import { evaluateGate, type GateResult } from './gate.ts';

/** A replacement and the machine it replaces, while the old one still exists in any form. */
export interface Swap {
  replacement: Machine;
  oldId: string;
  old?: Machine;
  oldNode?: NodeView;
}

export function findSwaps(s: Snapshot): { live: Swap[]; failed: Swap[] } {
  const live: Swap[] = [];
  const failed: Swap[] = [];
  for (const r of s.machines) {
    if (!r.replaces) continue;
    const old = s.machines.find((m) => m.id === r.replaces);
    const oldNode = s.nodes.find((n) => n.machineId === r.replaces);
    const oldExists = (old && isLive(old)) || oldNode !== undefined;
    if (!oldExists) continue;
    (isLive(r) ? live : failed).push({ replacement: r, oldId: r.replaces, old, oldNode });
  }
  return { live, failed };
}

/**
 * The gate this pass is judged by. Once the old machine of a swap is marked retiring it is on its way out:
 * its Node and member are expected to go away, so the gate looks at the rest of the cluster.
 */
export function gateFor(s: Snapshot): GateResult {
  const retiring = s.retiring?.node ?? findSwaps(s).live.find((w) => isRetiring(w.oldNode))?.oldNode?.name;
  return evaluateGate(retiring ? withoutNode(s, retiring) : s);
}

function withoutNode(s: Snapshot, name: string): Snapshot {
  const member = memberOfNode(s, name);
  return {
    ...s,
    nodes: s.nodes.filter((n) => n.name !== name),
    etcd: {
      ...s.etcd,
      members: s.etcd.members.filter((m) => m !== member),
      endpoints: s.etcd.endpoints.filter((e) => !member || e.memberId !== member.id),
    },
  };
}
