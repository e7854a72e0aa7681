// etcd's status between the loop's passes (issue 15: "etcd status only when something changed or a gate pass is
// due"). While a replacement boots (its machine exists, its Node has not registered yet), or its etcd member is a
// healthy voter already and only its Node or static pods are not Ready, or the plan waits on the load balancer (a
// joined replacement's target registering) or the provider (an old machine, its member already removed,
// terminating), nothing the plan decides depends on etcd: the
// plan waits for Kubernetes, and the gate streak restarted when the replacement was created. The
// last etcd view then stands while the Nodes and static pods the run watches are unchanged, for at most `slowMs`
// (the safety net: a member that fails meanwhile is seen at the next slow read, as the gate would see it).
//
// Every other pass reads etcd afresh: the gate passes, the join's member checks, and above all every quorum decision
// (a member removal is planned only from a pass that read the member list and health afresh; `forget()` after each of
// our steps makes sure the pass after a step never reuses a view from before it).
import type { EtcdView, NodeView } from '../../domain/model.ts';

/** How long an etcd view stands while the plan only waits for a replacement's Node. */
export const ETCD_SLOW_INTERVAL_MS = 5_000;

export class EtcdReads {
  private last?: { view: EtcdView; at: number; nodes: string };
  private idle = false;

  constructor(private readonly slowMs = ETCD_SLOW_INTERVAL_MS) {}

  /** After a step of ours (or an attempt at one): the next pass reads etcd again. */
  forget(): void {
    this.last = undefined;
    this.idle = false;
  }

  /** What the last plan waits for: `true` only while it waits for a replacement's Node or static pods (etcd-independent). */
  waiting(etcdIndependent: boolean): void {
    this.idle = etcdIndependent;
  }

  /** Whether a pass at `now` may reuse the last view at all (then observe reads the Nodes first, to compare). */
  mayReuse(now: number): boolean {
    return this.idle && this.last !== undefined && now - this.last.at < this.slowMs;
  }

  /** The last view, when it still stands at `now` for these Nodes. */
  reusable(now: number, nodes: readonly NodeView[]): EtcdView | undefined {
    if (!this.mayReuse(now) || this.last!.nodes !== signature(nodes)) return undefined;
    return this.last!.view;
  }

  remember(at: number, nodes: readonly NodeView[], view: EtcdView): void {
    this.last = { view, at, nodes: signature(nodes) };
  }
}

/** What of the Nodes bears on a join: which exist, their readiness, role, cordon and static pods' readiness. */
function signature(nodes: readonly NodeView[]): string {
  return nodes
    .map((n) => {
      const pods = Object.values(n.staticPods)
        .map((p) => `${p.component}:${p.ready}`)
        .sort()
        .join(',');
      return `${n.name}|${n.providerId ?? ''}|${n.ready}|${n.controlPlane}|${n.unschedulable}|${pods}`;
    })
    .sort()
    .join(';');
}
