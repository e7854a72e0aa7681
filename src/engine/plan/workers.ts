// A worker pool: machines replaced in batches within the pool's maxSurge and maxUnavailable, the arithmetic of a
// Cluster API MachineDeployment rolling update (domain/pools.ts). No etcd, no API load balancer: a worker swap is
// replacement Ready, then old Node drained (Eviction API, PDBs), old machine terminated, old Node deleted; or, in an
// unavailable slot, old Node drained and terminated first, then the replacement created (the old Node is kept until
// its replacement is Ready: it is the record a re-run after kill -9 finds).
//
// Everything is re-derived from live state every pass (the replacement's `replaces` link, the old Node's
// annotations), so one batch at most is in flight and a re-run never creates a second replacement for a machine.
import { normalizeVersion } from '../../domain/kubeadm/versions.ts';
import type { Machine, NodeView } from '../../domain/model.ts';
import { type Fenceposts, type PoolSpec, resolveFenceposts } from '../../domain/pools.ts';
import { isLive, type Snapshot } from '../observe/snapshot.ts';
import {
  DRAINED_ANNOTATION,
  RETIRING_ANNOTATION,
  SCALE_DOWN_DISABLED_ANNOTATION,
  SCALE_DOWN_WAS_ANNOTATION,
  WAS_CORDONED_ANNOTATION,
} from './annotations.ts';
import { type PlanInput, pastMachineTimeout, stepFor } from './decisions.ts';
import type { GateResult } from './gate.ts';
import { REPLACE_ANNOTATION, type ReplacementReason } from './selection.ts';
import type { Decision } from './steps.ts';

/** One place in the pool: an old machine (its Node) and, while it is being replaced, its replacement. */
export interface PoolSlot {
  /** The old Node's name (or the replacement's machine id when no old Node is left). */
  name: string;
  oldNode?: NodeView;
  old?: Machine;
  replacement?: Machine;
  replacementNode?: NodeView;
  /** Earlier attempts of this run for the old machine that were rolled back (not live any more). */
  failedAttempts: number;
  /** Why the old machine is replaced; empty when it matches the target. */
  reasons: ReplacementReason[];
}

export interface PoolView {
  pool: string;
  slots: PoolSlot[];
  fenceposts: Fenceposts;
  /** Live machines of the pool: old ones and replacements. */
  liveMachines: number;
  /** Slots served by neither a Ready old Node (not being retired) nor a Ready replacement. */
  unavailable: number;
}

const retiredByUs = (node: NodeView | undefined, runId: string) => node?.annotations[RETIRING_ANNOTATION] === runId;
const drainedByUs = (node: NodeView | undefined, runId: string) => node?.annotations[DRAINED_ANNOTATION] === runId;
const replacementReady = (slot: PoolSlot) => slot.replacementNode?.ready === true;

/** In flight: a replacement exists, or the old Node is being retired by this run. */
export const inFlight = (slot: PoolSlot, runId: string) =>
  slot.replacement !== undefined || retiredByUs(slot.oldNode, runId);

function available(slot: PoolSlot, runId: string): boolean {
  if (replacementReady(slot)) return true;
  return (
    slot.oldNode?.ready === true && !retiredByUs(slot.oldNode, runId) && slot.old !== undefined && isLive(slot.old)
  );
}

export function poolView(s: Snapshot, spec: PoolSpec, input: Pick<PlanInput, 'desired' | 'runId'>): PoolView {
  const machines = (s.workerMachines ?? []).filter((m) => m.pool === spec.name);
  const byProviderId = new Map(machines.map((m) => [m.providerId, m]));
  const nodeOf = (m: Machine) => s.nodes.find((n) => !n.controlPlane && n.providerId === m.providerId);
  const ours = (m: Machine) => m.runId === input.runId && m.replaces !== undefined;
  const slots = new Map<string, PoolSlot>();
  // Old Nodes first: every worker Node whose machine is in the pool and is not this run's replacement of a
  // machine whose Node is still there.
  for (const node of s.nodes) {
    if (node.controlPlane || !node.providerId) continue;
    const m = byProviderId.get(node.providerId);
    if (!m) continue;
    // This run's replacement whose old Node is still there belongs to that Node's slot.
    if (ours(m) && s.nodes.some((n) => n.machineId === m.replaces)) continue;
    slots.set(m.id, {
      name: node.name,
      oldNode: node,
      old: m,
      failedAttempts: 0,
      reasons: reasonsFor(node, m, input),
    });
  }
  for (const r of machines.filter(ours)) {
    const slot = slots.get(r.replaces!);
    if (!slot) {
      // Its old Node is gone (deleted by hand, or the replacement's own Node stands as a slot already).
      if (isLive(r) && !nodeOf(r)) {
        slots.set(`replacement:${r.id}`, { name: r.id, replacement: r, failedAttempts: 0, reasons: [] });
      }
      continue;
    }
    if (!isLive(r)) slot.failedAttempts++;
    else if (!slot.replacement || r.launchedAt > slot.replacement.launchedAt) {
      // Two live replacements for one machine cannot come from one run's deterministic tokens; keep the newest.
      slot.replacement = r;
      slot.replacementNode = nodeOf(r);
    }
  }
  const list = [...slots.values()].sort(bySlotOrder);
  const size = list.length;
  return {
    pool: spec.name,
    slots: list,
    fenceposts: resolveFenceposts(spec, size),
    liveMachines: list.reduce((n, slot) => n + (slot.old && isLive(slot.old) ? 1 : 0) + (slot.replacement ? 1 : 0), 0),
    unavailable: list.filter((slot) => !available(slot, input.runId)).length,
  };
}

function reasonsFor(node: NodeView, m: Machine, input: Pick<PlanInput, 'desired' | 'runId'>): ReplacementReason[] {
  const reasons: ReplacementReason[] = [];
  if (node.annotations[REPLACE_ANNOTATION] !== undefined) {
    reasons.push({ code: 'marked', message: `node carries ${REPLACE_ANNOTATION}` });
  }
  if (normalizeVersion(node.kubeletVersion) !== normalizeVersion(input.desired.version)) {
    reasons.push({ code: 'kubelet-version', message: `kubelet ${node.kubeletVersion} != ${input.desired.version}` });
  }
  reasons.push(...(m.drift ?? []));
  if (input.desired.force && m.runId !== input.runId) reasons.push({ code: 'forced', message: '--force' });
  return reasons;
}

/** Oldest launch first (as a MachineSet scales down its oldest), ties by name: deterministic. */
function bySlotOrder(a: PoolSlot, b: PoolSlot): number {
  const at = (slot: PoolSlot) => (slot.old ?? slot.replacement)?.launchedAt.getTime() ?? 0;
  return at(a) - at(b) || a.name.localeCompare(b.name);
}

export function planWorkerPool(input: PlanInput, spec: PoolSpec, gate: GateResult): Decision {
  const s = input.snapshot;
  const view = poolView(s, spec, input);
  const { maxSurge, maxUnavailable } = view.fenceposts;
  const flying = view.slots.filter((slot) => inFlight(slot, input.runId));
  const size = view.slots.length;

  // 1. A replacement that did not become Ready in time is rolled back before anything else: no more drains.
  for (const slot of flying) {
    const r = slot.replacement;
    // A surge slot retires its old machine only once the replacement was Ready: while that old machine is being
    // retired, a replacement gone NotReady serves pods just evicted onto it, and is not torn down (the control
    // plane too never rolls back once the old machine is touched). Unavailable slots retire theirs before it.
    const retiringLiveOld = retiredByUs(slot.oldNode, input.runId) && slot.old !== undefined && isLive(slot.old);
    if (r && !replacementReady(slot) && !retiringLiveOld && pastMachineTimeout(input, r)) {
      return rollbackSlot(input, slot);
    }
  }
  // 2. Move every in-flight slot on, one step at a time.
  const waits: string[] = [];
  for (const slot of flying) {
    const next = advance(input, view, slot);
    if (typeof next === 'string') waits.push(next);
    else return next;
  }
  // 3. Open the batch to another machine while it is still opening: no replacement of it Ready yet and fewer
  //    machines in it than maxSurge + maxUnavailable.
  const opening = flying.length === 0 || (flying.length < maxSurge + maxUnavailable && !flying.some(replacementReady));
  const candidates = view.slots.filter((slot) => !inFlight(slot, input.runId) && slot.reasons.length > 0);
  const next = candidates[0];
  if (opening && next) {
    const old = next.old;
    if (!old) return notFound(spec, next);
    if (!gate.ok) return { kind: 'wait', code: 'gate.failing', machine: next.name, reason: gate.reasons.join('; ') };
    const why = `pool ${spec.name}: ${next.reasons.map((r) => r.message).join('; ')}`;
    if (view.liveMachines < size + maxSurge && isLive(old)) {
      return stepFor(
        next.name,
        { kind: 'create-replacement', old, oldNode: next.name, attempt: 1 + next.failedAttempts, worker: true },
        why,
      );
    }
    // Retiring a machine that serves makes its slot unavailable until its replacement is Ready.
    const adds = available(next, input.runId) ? 1 : 0;
    if (view.unavailable + adds <= maxUnavailable) {
      return stepFor(next.name, drainStep(next, true), `${why} (maxUnavailable ${maxUnavailable})`);
    }
    if (flying.length === 0) {
      waits.push(
        `pool ${spec.name}: ${view.unavailable} of ${size} machine(s) unavailable, maxUnavailable ${maxUnavailable}, maxSurge ${maxSurge}: waiting for them to be Ready`,
      );
    }
  }
  if (waits.length > 0) {
    return { kind: 'wait', code: 'pool.batch', machine: flying[0]?.name ?? next?.name, reason: waits.join('; ') };
  }
  return { kind: 'done' };
}

/** The next step of an in-flight slot, or what it waits for. */
function advance(input: PlanInput, view: PoolView, slot: PoolSlot): Decision | string {
  const { runId } = input;
  const oldLive = slot.old !== undefined && isLive(slot.old);
  const r = slot.replacement;
  if (r && !replacementReady(slot)) {
    return `replacement ${r.id} of ${slot.name}: ${slot.replacementNode ? `node ${slot.replacementNode.name} not Ready` : 'Node not registered yet'}`;
  }
  if (r) {
    // Ready: the old machine leaves (drain, terminate, delete its Node).
    if (!slot.oldNode) return `replacement ${r.id} Ready`;
    if (oldLive && !drainedByUs(slot.oldNode, runId)) {
      return stepFor(slot.name, drainStep(slot, false), `replacement ${r.id} is Ready`);
    }
    if (oldLive) return stepFor(slot.name, { kind: 'terminate', machineId: slot.old!.id, node: slot.name }, 'drained');
    return stepFor(
      slot.name,
      { kind: 'delete-node', node: slot.name, ...(slot.old?.phase === 'gone' ? { machineGone: true as const } : {}) },
      `machine ${slot.old?.id ?? ''} is gone`,
    );
  }
  // An unavailable slot: drained and terminated first, then its replacement.
  if (oldLive && !drainedByUs(slot.oldNode, runId)) return stepFor(slot.name, drainStep(slot, true), 'retiring');
  if (oldLive) return stepFor(slot.name, { kind: 'terminate', machineId: slot.old!.id, node: slot.name }, 'drained');
  if (!slot.old) return `node ${slot.name}: its machine is not listed by the provider`;
  if (view.liveMachines >= view.slots.length + view.fenceposts.maxSurge) {
    return `pool ${view.pool} is at its size + maxSurge`;
  }
  return stepFor(
    slot.name,
    {
      kind: 'create-replacement',
      old: slot.old,
      oldNode: slot.name,
      attempt: 1 + slot.failedAttempts,
      oldRetired: true,
      worker: true,
    },
    `machine ${slot.old.id} terminated`,
  );
}

/** `beforeReplacement`: an unavailable slot, whose swap starts with this drain. */
function drainStep(slot: PoolSlot, beforeReplacement: boolean) {
  return {
    kind: 'drain-worker' as const,
    node: slot.name,
    beforeReplacement,
    wasCordoned: slot.oldNode?.unschedulable === true && slot.oldNode.annotations[RETIRING_ANNOTATION] === undefined,
    scaleDownWas:
      slot.oldNode?.annotations[SCALE_DOWN_WAS_ANNOTATION] === undefined
        ? (slot.oldNode?.annotations[SCALE_DOWN_DISABLED_ANNOTATION] ?? '')
        : undefined,
  };
}

/** Tear the replacement down; the old machine, while it still runs, is put back as it was (cordon, annotations). */
function rollbackSlot(input: PlanInput, slot: PoolSlot): Decision {
  const r = slot.replacement!;
  const oldLive = slot.old !== undefined && isLive(slot.old);
  const retiring = retiredByUs(slot.oldNode, input.runId);
  const reason = `not Ready within the machine timeout: ${slot.replacementNode ? `node ${slot.replacementNode.name} not Ready` : 'no Node registered'}`;
  return stepFor(
    slot.name,
    {
      kind: 'rollback',
      replacement: r,
      oldNode: slot.name,
      node: slot.replacementNode?.name,
      members: [],
      registered: false,
      reason,
      oldRetired: !oldLive,
      restoreOld:
        oldLive && retiring && slot.oldNode
          ? {
              node: slot.oldNode.name,
              register: false,
              uncordon: slot.oldNode.unschedulable && slot.oldNode.annotations[WAS_CORDONED_ANNOTATION] === undefined,
              scaleDown: scaleDownBefore(slot.oldNode),
            }
          : undefined,
    },
    reason,
  );
}

function scaleDownBefore(node: NodeView): { value: string | null } | undefined {
  const was = node.annotations[SCALE_DOWN_WAS_ANNOTATION];
  if (was === undefined) return undefined;
  return { value: was === '' ? null : was };
}

function notFound(spec: PoolSpec, slot: PoolSlot): Decision {
  return {
    kind: 'blocked',
    code: 'machine.not-found',
    machine: slot.name,
    reason: `pool ${spec.name}: node ${slot.name} has no machine in the provider`,
    hint: 'check the pool settings (tag, launch template) or the Node providerID',
  };
}
