// The provider's machines and the load balancer's targets between the loop's passes (issue 15: "the provider's
// machines after our own actions and at a slow interval otherwise"). Nodes and etcd change on their own while a
// swap waits (a join, a member catching up); the provider's view changes on its own only through a machine or a
// target in transition, which is read every pass. A stable view (machines running or gone, targets serving or
// absent, the same control-plane Nodes) is reused for at most `slowMs`, and forgotten after each of our steps.
import type { ApiTarget, ApiTargetState, Machine, MachinePhase } from '../../domain/model.ts';

/** How long a stable provider view stands between passes when nothing of ours changed it. */
export const PROVIDER_SLOW_INTERVAL_MS = 15_000;

const STABLE_PHASES: ReadonlySet<MachinePhase> = new Set(['running', 'gone']);
const STABLE_TARGETS: ReadonlySet<ApiTargetState> = new Set(['serving', 'absent', 'unmonitored']);

export interface ProviderView {
  machines: Machine[];
  apiTargets: ApiTarget[] | undefined;
}

export class ProviderReads {
  private last?: ProviderView & { at: number; nodes: string };

  constructor(private readonly slowMs = PROVIDER_SLOW_INTERVAL_MS) {}

  /** After a step of ours (or an attempt at one): the next pass reads the provider again. */
  forget(): void {
    this.last = undefined;
  }

  /** The last view, when it still stands at `now` for control-plane Nodes with these provider ids. */
  reusable(now: number, providerIds: readonly string[]): ProviderView | undefined {
    const last = this.last;
    if (!last || now - last.at >= this.slowMs || last.nodes !== providerIds.join(',')) return undefined;
    if (!last.machines.every((m) => STABLE_PHASES.has(m.phase))) return undefined;
    if (last.apiTargets && !last.apiTargets.every((t) => STABLE_TARGETS.has(t.state))) return undefined;
    return { machines: last.machines, apiTargets: last.apiTargets };
  }

  remember(at: number, providerIds: readonly string[], view: ProviderView): void {
    this.last = { ...view, at, nodes: providerIds.join(',') };
  }
}
