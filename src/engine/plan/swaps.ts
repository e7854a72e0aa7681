// Which replacement is in flight and the machine it replaces, re-derived from live state every pass
// (the replacement's `replaces` link), and the part of the cluster the gate judges while it runs.
import type { Machine, NodeView } from '../../domain/model.ts';
import { isLive, memberOfNode, type Snapshot, targetOf } from '../observe/snapshot.ts';
import { DRAINED_ANNOTATION, isRetiring } from './annotations.ts';
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

/**
 * The gate the next swap's streak counts on (the overlap of issue 15: the next swap's gate runs while the previous
 * old VM terminates). gateFor leaves the retiring machine out; that is proof enough for the next swap only once the
 * machine provably counts for nothing the gate judges:
 * - its etcd member is gone: etcd's quorum and health are those of the remaining members, which the gate judges in
 *   full; a member still listed would be a voter on a VM that is shutting down, so quorum would shrink under it;
 * - its Node is cordoned and drained by us: nothing is scheduled to it, no workload the cluster needs runs there, and
 *   its static pods (an apiserver without its etcd member, out of the load balancer) serve nobody;
 * - its API target is out of the load balancer.
 * Its Node is deleted only once the VM is gone (retirement.ts: a live kubelet would re-register it). Until all of
 * that holds, the streak does not count: the next swap's gate starts only when the machine is truly out.
 */
export function streakGate(s: Snapshot): GateResult {
  const gate = gateFor(s);
  const unproven: string[] = [];
  for (const w of findSwaps(s).live) {
    if (w.old?.phase !== 'deleting' || !w.oldNode) continue;
    const name = w.oldNode.name;
    if (memberOfNode(s, name)) unproven.push(`${name} is ${w.old.status} while its etcd member is still listed`);
    if (!w.oldNode.unschedulable || w.oldNode.annotations[DRAINED_ANNOTATION] === undefined) {
      unproven.push(`${name} is ${w.old.status} but not cordoned and drained`);
    }
    const target = targetOf(s, w.old.id);
    if (target && target.state !== 'absent' && target.state !== 'unmonitored') {
      unproven.push(`${name} is ${w.old.status} while its API target is ${target.state}`);
    }
  }
  return unproven.length === 0 ? gate : { ok: false, reasons: [...gate.reasons, ...unproven] };
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
