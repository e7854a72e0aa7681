// Counts consecutive healthy gate passes. An early wake-up must not shorten the gate's stability
// window: passes count at most once per (almost) a poll interval, whatever woke the loop.
import type { GateResult } from '../plan/gate.ts';

/** A pass observed a little before a full interval (timer jitter) still counts. */
const PASS_SPACING = 0.9;

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

  /** A step changed the world (a member added or removed, a machine terminated): the gate must hold anew. */
  restart(): void {
    this.streak = 0;
  }
}
