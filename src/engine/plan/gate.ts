// The health gate before every swap and after every join (notes/kubernetes.md §4.1). It answers with
// reasons, never throws: "not yet" is a value the planner turns into Wait.
import { CONTROL_PLANE_COMPONENTS } from '../../domain/model.ts';
import { controlPlaneMachines, type Snapshot, unlinkedMembers } from '../observe/snapshot.ts';

export interface GateResult {
  ok: boolean;
  reasons: string[];
}

export function evaluateGate(s: Snapshot): GateResult {
  const reasons: string[] = [];
  const cps = controlPlaneMachines(s);
  for (const cp of cps) {
    if (!cp.node.ready) reasons.push(`node ${cp.name} is not Ready`);
    for (const component of CONTROL_PLANE_COMPONENTS) {
      const pod = cp.node.staticPods[component];
      if (!pod) reasons.push(`static pod ${component}-${cp.name} is missing`);
      else if (!pod.ready) reasons.push(`static pod ${pod.name} is not Ready`);
    }
    if (!cp.member) reasons.push(`node ${cp.name} has no etcd member`);
    else if (cp.member.isLearner) reasons.push(`etcd member ${cp.name} is still a learner`);
  }
  for (const m of unlinkedMembers(s)) {
    reasons.push(
      m.name ? `etcd member ${m.name} has no control-plane node` : `etcd member ${hex(m.id)} has not started`,
    );
  }
  for (const alarm of s.etcd.alarms) reasons.push(`etcd alarm ${alarm.alarm} on member ${hex(alarm.memberId)}`);
  for (const e of s.etcd.endpoints) {
    if (!e.healthy) reasons.push(`etcd endpoint ${e.endpoint} is unhealthy${e.error ? `: ${e.error}` : ''}`);
  }
  const leaders = new Set(s.etcd.endpoints.filter((e) => e.healthy && e.leaderId).map((e) => e.leaderId));
  if (leaders.size === 0) reasons.push('etcd has no leader');
  else if (leaders.size > 1) reasons.push(`etcd endpoints disagree on the leader (${leaders.size} leaders seen)`);
  return { ok: reasons.length === 0, reasons };
}

export const hex = (id: string) => BigInt(id).toString(16);
