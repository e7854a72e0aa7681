// Which control-plane machines need replacing, and in what order (notes/kubernetes.md §5).
// Order, documented in the README: explicitly marked first, then unhealthy, then outdated; within a
// group the oldest Node first; ties broken by name so the order is deterministic.
import { normalizeVersion } from '../../domain/kubeadm/versions.ts';
import type { Desired } from '../../domain/model.ts';
import type { ControlPlaneMachine } from '../observe/snapshot.ts';

/** Annotation a person puts on a Node to have its machine replaced on the next run. */
export const REPLACE_ANNOTATION = 'kubeswap.io/replace';

export interface ReplacementReason {
  /** The engine's own (`marked`, `unhealthy`, `kubelet-version`, `forced`) or the provider's drift codes. */
  code: string;
  message: string;
}

export interface Candidate {
  cp: ControlPlaneMachine;
  reasons: ReplacementReason[];
}

export function replacementReasons(cp: ControlPlaneMachine, desired: Desired, runId: string): ReplacementReason[] {
  const reasons: ReplacementReason[] = [];
  if (cp.node.annotations[REPLACE_ANNOTATION] !== undefined) {
    reasons.push({ code: 'marked', message: `node carries ${REPLACE_ANNOTATION}` });
  }
  if (normalizeVersion(cp.node.kubeletVersion) !== normalizeVersion(desired.version)) {
    reasons.push({ code: 'kubelet-version', message: `kubelet ${cp.node.kubeletVersion} != ${desired.version}` });
  }
  // What the machine was built from (image, template) is the provider's to judge: reasons as data.
  reasons.push(...(cp.machine?.drift ?? []));
  // --force replaces what existed before this run, never this run's own replacements.
  if (desired.force && cp.machine?.runId !== runId) reasons.push({ code: 'forced', message: '--force' });
  if (reasons.length > 0 && !isHealthy(cp)) reasons.unshift({ code: 'unhealthy', message: unhealthyMessage(cp) });
  return reasons;
}

export function isHealthy(cp: ControlPlaneMachine): boolean {
  return cp.node.ready && cp.health?.healthy === true;
}

function unhealthyMessage(cp: ControlPlaneMachine): string {
  if (!cp.node.ready) return 'node is not Ready';
  return cp.health?.error ? `etcd member unhealthy: ${cp.health.error}` : 'etcd member unhealthy';
}

function rank(c: Candidate): number {
  if (c.reasons.some((r) => r.code === 'marked')) return 0;
  if (c.reasons.some((r) => r.code === 'unhealthy')) return 1;
  return 2;
}

/** Candidates needing replacement, in the order they will be replaced. */
export function orderCandidates(cps: ControlPlaneMachine[], desired: Desired, runId: string): Candidate[] {
  return cps
    .map((cp) => ({ cp, reasons: replacementReasons(cp, desired, runId) }))
    .filter((c) => c.reasons.length > 0)
    .sort(
      (a, b) =>
        rank(a) - rank(b) ||
        a.cp.node.createdAt.getTime() - b.cp.node.createdAt.getTime() ||
        a.cp.name.localeCompare(b.cp.name),
    );
}
