// etcd's status between the loop's passes (issue 15: "etcd status only when something changed or a gate pass is
// due"). While the plan only waits on Kubernetes or the provider (a replacement booting, its Node or static pods not
// Ready while its member is a healthy voter already, its load-balancer target registering, an old machine, its member
// removed, terminating) and no gate pass is due, nothing it decides depends on etcd: the last etcd view then stands for
// at most `slowMs` (the safety net: a member that fails meanwhile is seen at the next slow read, as the gate would see
// it).
//
// A pass on a standing view is planned as any other, and its plan is kept only if it is such a wait again. Anything
// else (the join done, a step, a rollback after the machine timeout, a wait on etcd) is planned again in the same pass
// from etcd read afresh (converge.ts): so a Node or static pod event that matters is followed by a read at once, one
// that changes nothing costs none, and every decision but a wait, every gate pass and above all every quorum decision
// (a member removal is planned only from a pass that read the member list and health afresh) rests on a fresh read.
// `forget()` after each of our steps makes sure the pass after a step never reuses a view from before it.
import type { EtcdView } from '../../domain/model.ts';

/**
 * How long an etcd view stands while the plan only waits on Kubernetes or the provider: as long as the provider's
 * (provider-reads.ts). A replacement's boot takes minutes on real clouds; a slow read every 15 s still notices a
 * member lost meanwhile long before the join is done.
 */
export const ETCD_SLOW_INTERVAL_MS = 15_000;

export class EtcdReads {
  private last?: { view: EtcdView; at: number };
  private idle = false;

  constructor(private readonly slowMs = ETCD_SLOW_INTERVAL_MS) {}

  /** After a step of ours (or an attempt at one): the next pass reads etcd again. */
  forget(): void {
    this.last = undefined;
    this.idle = false;
  }

  /**
   * What the last plan waits for: `true` only while it waits on Kubernetes or the provider alone and no gate pass is
   * due (converge.ts).
   */
  waiting(etcdIndependent: boolean): void {
    this.idle = etcdIndependent;
  }

  /** The last view, when it still stands at `now`. */
  reusable(now: number): EtcdView | undefined {
    if (!this.idle || this.last === undefined || now - this.last.at >= this.slowMs) return undefined;
    return this.last.view;
  }

  remember(at: number, view: EtcdView): void {
    this.last = { view, at };
  }
}
