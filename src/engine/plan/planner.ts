// The pure planner: (snapshot, desired, run state) -> one Decision. No I/O, no clock beyond the
// snapshot's `at`. Converging by re-planning after every step means a crash anywhere is recovered
// by running again (KCP rolling update): the pair of old machine and replacement is re-derived from
// live state (the replacement's `replaces` link), never from memory.
//
// One planner per pool, in order: a pool is worked on only once every pool before it is done (the
// control plane before any worker, as the version-skew policy requires). A worker pool kind is a new
// file here and an entry in POOLS, not a branch in another planner.
import { planControlPlane } from './control-plane.ts';
import type { PlanInput } from './decisions.ts';
import type { Decision } from './steps.ts';

interface PoolPlanner {
  pool: string;
  plan(input: PlanInput): Decision;
}

const POOLS: readonly PoolPlanner[] = [{ pool: 'control-plane', plan: planControlPlane }];

export function plan(input: PlanInput): Decision {
  for (const pool of POOLS) {
    const decision = pool.plan(input);
    if (decision.kind !== 'done') return decision;
  }
  return { kind: 'done' };
}
