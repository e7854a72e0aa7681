// The old machine's way out, shared by both surge modes: stop serving the API, drain, hand off etcd
// leadership, remove its member (after the quorum projection), terminate, delete the Node (§4.3-7).
import type { Machine, NodeView } from '../../domain/model.ts';
import { isLive, memberHealth, memberOfNode, type Snapshot, targetOf } from '../observe/snapshot.ts';
import { DRAINED_ANNOTATION, isRetiring, TERMINATING_ANNOTATION } from './annotations.ts';
import { stepFor } from './decisions.ts';
import { projectRemoval } from './projection.ts';
import type { Decision } from './steps.ts';

export interface Retiree {
  name: string;
  old?: Machine;
  oldNode?: NodeView;
  /** Member to hand etcd leadership to; undefined picks any other healthy voter. */
  leaderTo?: string;
  why: string;
  /** --max-surge 0: the Node is deleted before the replacement exists. */
  midSwap?: boolean;
  /** --drain-timeout, for a drain the provider's system does (undefined: unbounded). */
  drainTimeoutMs?: number;
  /** --termination-timeout, for a termination started in the background (undefined: unbounded). */
  terminateTimeoutMs?: number;
  /** The provider can start a termination without waiting for it (`beginTermination`). */
  terminatesInBackground?: boolean;
  /** A machine someone else deleted: it leaves without a replacement, so its way out ends no swap. */
  unreplaced?: boolean;
}

/** One step of the old machine's way out per call; undefined once nothing of it is left. */
export function retireOld(s: Snapshot, o: Retiree): Decision | undefined {
  const { name, old, oldNode } = o;
  if (oldNode && !isRetiring(oldNode)) {
    return stepFor(name, { kind: 'mark-retiring', node: oldNode.name, wasCordoned: oldNode.unschedulable }, o.why);
  }
  const oTarget = old ? targetOf(s, old.id) : undefined;
  const drained = oldNode?.unschedulable === true && oldNode.annotations[DRAINED_ANNOTATION] !== undefined;
  if (old && isLive(old) && oTarget && oTarget.state !== 'absent' && oTarget.state !== 'unmonitored') {
    // Overlap (issue 15): the Node drains while the load balancer drains the target. Safe: the pods leaving a
    // control-plane Node are evicted through the API at large (any apiserver; this one still serves in full, its
    // etcd member untouched), they do not depend on this Node's apiserver; and the step ends only when BOTH are
    // done, so the leader move and the member removal (which stop this apiserver) still come after the draining.
    // A provider whose system drains (Cluster API) drains on deletion instead, after this step.
    const drainNode = oldNode && !drained && !s.providerDrains ? oldNode.name : undefined;
    const cordoned = drainNode && oldNode?.unschedulable ? { cordoned: true as const } : {};
    return stepFor(name, { kind: 'deregister-target', machineId: old.id, node: name, drainNode, ...cordoned }, o.why);
  }
  const oldMember = memberOfNode(s, name);
  if (s.providerDrains && old && old.phase !== 'gone') {
    // The provider's system drains (Cluster API on Machine deletion) and holds the machine until `terminate`, so
    // the member is removed between the drain and the machine's end, as KubeadmControlPlane does.
    if (old.phase !== 'deleting') {
      // The deletion cannot be taken back: the member's removal must be safe before it starts, not only after the
      // drain (KubeadmControlPlane checks the etcd cluster's health before it deletes a Machine).
      const unsafe = oldMember ? unsafeRemoval(s, name, oldMember) : undefined;
      if (unsafe) return unsafe;
      return stepFor(name, { kind: 'start-deletion', machineId: old.id, node: name }, o.why);
    }
    if (!old.held && oldMember) {
      // Cluster API drains without a deadline unless the Machine sets one: --drain-timeout bounds it here, as it
      // bounds kubeswap's own drain, so a PodDisruptionBudget that never allows the eviction stops the run.
      const drainingMs = old.deletionStartedAt ? s.at.getTime() - old.deletionStartedAt.getTime() : 0;
      if (o.drainTimeoutMs !== undefined && drainingMs > o.drainTimeoutMs) {
        return {
          kind: 'blocked',
          code: 'node.drain-blocked',
          machine: name,
          reason: `the provider has drained ${name} for ${Math.round(drainingMs / 1000)} s, longer than --drain-timeout, and still holds its etcd member`,
          hint: `see what holds the drain (kubectl describe machine ${old.id}: its Deleting condition names the pods), relax the PodDisruptionBudget or move the pods, then re-run (or raise --drain-timeout)`,
        };
      }
      return {
        kind: 'wait',
        code: 'machine.draining',
        machine: name,
        reason: `the provider is draining ${name} before its etcd member is removed (${old.status})`,
      };
    }
  } else if (
    oldNode &&
    !drained &&
    // Past the member's removal the provider has drained and deleted the machine; its Node is only left to go.
    !(s.providerDrains && !oldMember)
  ) {
    return stepFor(
      name,
      { kind: 'drain', node: oldNode.name, ...(oldNode.unschedulable ? { cordoned: true as const } : {}) },
      o.why,
    );
  }
  if (oldMember) {
    if (s.etcd.leaderId === oldMember.id) {
      const to =
        o.leaderTo ??
        s.etcd.members.find((m) => m.id !== oldMember.id && !m.isLearner && memberHealth(s, m.id)?.healthy === true)
          ?.id;
      if (!to) {
        return {
          kind: 'blocked',
          code: 'etcd.quorum-at-risk',
          machine: name,
          reason: `no other healthy voting member can take etcd leadership from ${name}`,
          hint: 'restore the unhealthy members, then re-run',
        };
      }
      return stepFor(
        name,
        { kind: 'move-leader', node: name, fromId: oldMember.id, toId: to },
        'its member leads etcd',
      );
    }
    const unsafe = unsafeRemoval(s, name, oldMember);
    if (unsafe) return unsafe;
    return stepFor(name, { kind: 'remove-member', node: name, member: oldMember }, 'node drained');
  }
  if (old && (isLive(old) || (s.providerDrains && old.phase === 'deleting'))) {
    // In the background only once nothing of the machine counts any more: its member is gone (above), its Node
    // cordoned and drained. Then the next swap's gate may count while the VM shuts down (swaps.ts streakGate).
    const background = o.terminatesInBackground === true && !s.providerDrains && oldNode !== undefined;
    // A provider that drains on delete also deletes the Node once released: nothing of the swap comes after (unless
    // the old machine goes first, remove-first: preflight refuses that for such a provider, and the swap would end
    // with its replacement).
    const endsSwap = s.providerDrains === true && !o.unreplaced && !o.midSwap;
    return stepFor(
      name,
      {
        kind: 'terminate',
        machineId: old.id,
        node: name,
        ...(background ? { background } : {}),
        ...(endsSwap ? { endsSwap } : {}),
      },
      'etcd member removed',
    );
  }
  if (old && old.phase === 'deleting' && !s.providerDrains) {
    // Its Node is deleted only once the VM is gone: a kubelet registers its Node at every start
    // (pkg/kubelet/kubelet_node_status.go registerWithAPIServer), and one restarted on the VM while it shuts down
    // reaches the other apiservers through the control-plane endpoint of kubeadm's kubelet.conf, so a Node deleted
    // before the VM is gone can come back. The wait costs nothing: the next swap's gate counts meanwhile.
    const since = Date.parse(oldNode?.annotations[TERMINATING_ANNOTATION] ?? '');
    if (Number.isNaN(since)) {
      // Not started by a run of ours in the background (someone else's, or an older kubeswap): wait in the step.
      return stepFor(name, { kind: 'terminate', machineId: old.id, node: name }, `machine is ${old.status}`);
    }
    const elapsed = s.at.getTime() - since;
    // The provider's own termination rules may hold it longer (a terminate lifecycle hook): allowed on top.
    if (o.terminateTimeoutMs !== undefined && elapsed > o.terminateTimeoutMs + (old.terminationAllowanceMs ?? 0)) {
      return {
        kind: 'blocked',
        code: 'terminate.timeout',
        machine: name,
        reason: `machine ${old.id} of ${name} has been ${old.status} for ${Math.round(elapsed / 1000)} s, longer than --termination-timeout`,
        hint: 'check the machine in the provider console; re-run once it is terminated (or raise --termination-timeout)',
      };
    }
    return {
      kind: 'wait',
      code: 'machine.terminating',
      machine: name,
      reason: `machine ${old.id} of ${name} is ${old.status}; its Node is deleted once it is gone`,
      // Waits on the provider alone: the member left before the termination (a fresh read planned its removal).
      etcdIndependent: true,
    };
  }
  if (oldNode) {
    return stepFor(
      name,
      {
        kind: 'delete-node',
        node: oldNode.name,
        midSwap: o.midSwap,
        ...(old?.phase === 'gone' ? { machineGone: true as const } : {}),
        ...(s.providerDrains ? { leftByProvider: true as const } : {}),
      },
      'machine terminated',
    );
  }
  return undefined;
}

/** Blocked when the quorum projection says removing this member now would put etcd at risk. */
function unsafeRemoval(s: Snapshot, name: string, member: Parameters<typeof projectRemoval>[1]): Decision | undefined {
  const projection = projectRemoval(s, member);
  if (projection.safe) return undefined;
  return {
    kind: 'blocked',
    code: 'etcd.quorum-at-risk',
    machine: name,
    reason: `removing etcd member ${name} is unsafe: ${projection.reason}`,
    hint: 'restore the unhealthy members, then re-run',
  };
}
