// The provider's machines and the load balancer's targets between the loop's passes (issue 15: "the provider's
// machines after our own actions and at a slow interval otherwise"). Nodes and etcd change on their own while a
// swap waits (a join, a member catching up); the provider's view changes on its own only through a machine or a
// target in transition. Machines and targets each keep their own view and their own staleness, so a target that
// registers does not make every pass list the machines too, nor a booting machine the targets:
// - a stable view (machines running or gone, targets serving or absent, the same control-plane Nodes) stands for at
//   most `slowMs`;
// - a machine failed, a target registering, draining or unhealthy: read every pass, since a plan step waits on it
//   (the replacement's target serving before the old one leaves): it is on the critical path;
// - a machine shutting down: on the critical path too (the old machine gone before the next swap's join), but its
//   end comes after a time of the provider's own (EC2: about a minute): read every pass at first, then at a tenth of
//   the time it has been leaving, at most `leavingMaxMs` apart. A termination is then seen at most a tenth of its
//   length late (the model bench's 12 s: 1.2 s) instead of costing a request every pass (60 at one a second on AWS).
//   Once a termination in this run was seen to its end, the next one is read at `leavingMaxMs` until a tenth before
//   the shortest termination seen so far, every pass from there to a quarter past it, then at a tenth as above: a
//   provider terminates its machines in much the same time (EC2: the same instance type, image and shutdown), so the
//   early every-pass reads tell nothing, and the end is seen within a pass where it is expected (a minute-long EC2
//   termination: a pass late instead of up to 6 s). One quicker than the shortest seen is noticed at most
//   `leavingMaxMs` late;
// - a machine launching (provisioning): read every `launchMs`. Nothing waits on pending -> running (the join is seen
//   through Kubernetes and etcd, and a provisioning machine counts as live: snapshot.ts isLive); the one thing its
//   phase tells is a replacement that died while booting (rollback), which is then seen within `launchMs`, long
//   before --machine-timeout.
// Each of our steps forgets the part of the view it may have changed (forgetAfter); steps that touch only Kubernetes or
// etcd (mark-retiring, drain, move-leader, remove-member, delete-node, ...) forget nothing.
import type { ApiTarget, ApiTargetState, Machine, MachinePhase } from '../../domain/model.ts';
import type { StepKind } from '../plan/steps.ts';

/**
 * How long a stable provider view stands between passes when nothing of ours changed it: what it can still tell is a
 * change someone else made (a machine terminated behind our back), which the gate also sees through etcd and the Nodes.
 */
export const PROVIDER_SLOW_INTERVAL_MS = 30_000;
/**
 * How long a view with a launching machine (and none leaving) stands: the bound on noticing a replacement that fails
 * while it boots (above). EC2 keeps an instance `pending` for tens of seconds to minutes and --machine-timeout is
 * minutes, so 20 s delays a rollback or a new attempt little, at a twentieth of the reads of a pass a second.
 */
export const PROVIDER_LAUNCH_INTERVAL_MS = 20_000;
/** A machine shutting down is read again after a tenth of the time it has been leaving, but at least this often. */
export const PROVIDER_LEAVING_MAX_MS = 5_000;
const LEAVING_FRACTION = 0.1;
/** A termination's reads after an earlier one was seen to its end: every pass between these shares of the shortest. */
const EXPECTED_FROM = 0.9;
const EXPECTED_UNTIL = 1.25;

const STABLE_PHASES: ReadonlySet<MachinePhase> = new Set(['running', 'gone']);
const STABLE_TARGETS: ReadonlySet<ApiTargetState> = new Set(['serving', 'absent', 'unmonitored']);

/**
 * Steps that may change the machines. A launch or a termination leaves the targets as they were: aws-ec2 registers
 * nothing at launch, and an old machine is terminated only after its target was deregistered (retirement.ts); an Auto
 * Scaling group's own registration of a replacement is read at the slow interval before its join is judged, and a
 * register-target on a stale `absent` is a no-op for ELBv2.
 */
const CHANGES_MACHINES: ReadonlySet<StepKind> = new Set([
  'create-replacement',
  'start-deletion',
  'terminate',
  'bump-pool',
]);
/** Steps that change the load balancer's targets only. */
const CHANGES_TARGETS: ReadonlySet<StepKind> = new Set(['register-target', 'deregister-target']);

export class ProviderReads {
  private machines?: { at: number; nodes: readonly string[]; list: Machine[] };
  private targets?: { at: number; list: ApiTarget[] };
  /** When each machine shutting down was first read so (by id). */
  private readonly leavingSince = new Map<string, number>();
  /** The shortest termination seen to its end in this run: first read shutting down to first read gone. */
  private shortestLeavingMs?: number;

  constructor(
    private readonly slowMs = PROVIDER_SLOW_INTERVAL_MS,
    private readonly launchMs = PROVIDER_LAUNCH_INTERVAL_MS,
    private readonly leavingMaxMs = PROVIDER_LEAVING_MAX_MS,
  ) {}

  /** Everything: the next pass reads the machines and the targets again. */
  forget(): void {
    this.machines = undefined;
    this.targets = undefined;
  }

  /** Before a step of ours (or an attempt at one): forget what it may change, keep what it cannot. */
  forgetAfter(kind: StepKind): void {
    // A rollback deregisters, terminates and removes: everything.
    if (kind === 'rollback') this.forget();
    if (CHANGES_MACHINES.has(kind)) this.machines = undefined;
    if (CHANGES_TARGETS.has(kind)) this.targets = undefined;
  }

  /**
   * The machines last read, when they still stand at `now` for control-plane Nodes with these provider ids. Nodes
   * added since (a replacement's Node registering) keep the view when each is linked to a machine in it: the listing
   * is the machines linked to the ids plus every machine kubeswap created (MachinesPort.listMachines), so it would
   * list the same machines again. A Node gone since reads again.
   */
  reusableMachines(now: number, providerIds: readonly string[]): Machine[] | undefined {
    const last = this.machines;
    if (!last) return undefined;
    const ids = new Set(providerIds);
    if (!last.nodes.every((id) => ids.has(id))) return undefined;
    const listed = new Set(last.list.map((m) => m.providerId));
    if (!providerIds.every((id) => last.nodes.includes(id) || listed.has(id))) return undefined;
    const standsMs = Math.min(...last.list.map((m) => this.standsFor(m, last.at)), this.slowMs);
    return now - last.at < standsMs ? last.list : undefined;
  }

  /** How long a read of this machine stands (0: read every pass). */
  private standsFor(m: Machine, readAt: number): number {
    if (STABLE_PHASES.has(m.phase)) return this.slowMs;
    if (m.phase === 'provisioning') return this.launchMs;
    if (m.phase !== 'deleting') return 0;
    const leavingMs = readAt - (this.leavingSince.get(m.id) ?? readAt);
    const expected = this.shortestLeavingMs;
    if (expected !== undefined) {
      if (leavingMs < expected * EXPECTED_FROM)
        return Math.min(expected * EXPECTED_FROM - leavingMs, this.leavingMaxMs);
      if (leavingMs < expected * EXPECTED_UNTIL) return 0;
    }
    return Math.min(leavingMs * LEAVING_FRACTION, this.leavingMaxMs);
  }

  /** The targets last read, when they still stand at `now`. */
  reusableTargets(now: number): ApiTarget[] | undefined {
    const last = this.targets;
    if (!last || now - last.at >= this.slowMs) return undefined;
    return last.list.every((t) => STABLE_TARGETS.has(t.state)) ? last.list : undefined;
  }

  rememberMachines(at: number, providerIds: readonly string[], machines: Machine[]): void {
    this.machines = { at, nodes: [...providerIds], list: machines };
    const leaving = new Set(machines.filter((m) => m.phase === 'deleting').map((m) => m.id));
    for (const [id, since] of this.leavingSince) {
      if (leaving.has(id)) continue;
      this.leavingSince.delete(id);
      // Read gone: a termination seen to its end. A machine no longer listed (its Node went, and the listing follows
      // the Nodes) or back to another phase teaches nothing: its end was not seen.
      if (machines.find((m) => m.id === id)?.phase !== 'gone') continue;
      this.shortestLeavingMs = Math.min(this.shortestLeavingMs ?? Infinity, at - since);
    }
    for (const id of leaving) if (!this.leavingSince.has(id)) this.leavingSince.set(id, at);
  }

  rememberTargets(at: number, targets: ApiTarget[]): void {
    this.targets = { at, list: targets };
  }
}
