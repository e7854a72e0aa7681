// Counts consecutive healthy gate passes. An early wake-up must not shorten the gate's stability
// window: passes count at most once per (almost) a poll interval, whatever woke the loop.
import type { GateResult } from '../plan/gate.ts';

/** A pass observed a little before a full interval (timer jitter) still counts. */
const PASS_SPACING = 0.9;
/** A carried streak counts on only if the next pass comes within this many poll intervals of its last one. */
const MAX_GAP = 2;

export class GateStreak {
  private streak = 0;
  private lastPassAt = Number.NEGATIVE_INFINITY;

  constructor(private readonly pollIntervalMs: number) {}

  /** Records one observation of the gate at `atMs`; returns the streak this pass is judged by. */
  observe(gate: GateResult, atMs: number): number {
    if (!gate.ok) this.streak = 0;
    else if (this.streak === 0 || atMs - this.lastPassAt >= this.pollIntervalMs * PASS_SPACING) {
      this.streak++;
      this.lastPassAt = atMs;
    }
    return this.streak;
  }

  /** The streak as it stands, without a new observation. */
  current(): number {
    return this.streak;
  }

  /**
   * Whether a pass at `atMs` still follows this streak's last pass closely enough to count on from it: within two
   * poll intervals. Passes with a longer unobserved gap between them are not consecutive (what happened in the gap,
   * say a leader election during the etcd copy, was never looked at), so a streak carried over such a gap (the
   * health gate before the first change, run.ts) must start anew.
   */
  followsAt(atMs: number): boolean {
    return this.streak > 0 && atMs - this.lastPassAt <= this.pollIntervalMs * MAX_GAP;
  }

  /**
   * A step changed the world (a member added or removed, a machine terminated), or a pass could not observe: the
   * gate must hold anew.
   */
  restart(): void {
    this.streak = 0;
  }
}
