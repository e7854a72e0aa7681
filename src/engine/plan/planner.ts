// The pure planner: (snapshot, desired, run state) -> one Decision. No I/O, no clock beyond the
// snapshot's `at`. Converging by re-planning after every step means a crash anywhere is recovered
// by running again (KCP rolling update): the pair of old machine and replacement is re-derived from
// live state (the replacement's `replaces` link), never from memory.
//
// One planner per pool, in order: a pool is worked on only once every pool before it is done (the
// control plane before any worker, as the version-skew policy requires). A pool kind is a file here
// (control-plane.ts, workers.ts), not a branch in another planner.
import { planControlPlane } from './control-plane.ts';
import type { PlanInput } from './decisions.ts';
import { planRolledPool } from './rolled-pool.ts';
import { skewBlocked } from './skew.ts';
import type { Decision } from './steps.ts';
import { gateFor } from './swaps.ts';
import { planWorkerPool } from './workers.ts';

export function plan(input: PlanInput): Decision {
  const scope = input.scope ?? 'all';
  if (scope !== 'workers') {
    const decision = planControlPlane(input);
    if (decision.kind !== 'done') return decision;
  }
  const pools = scope === 'control-plane' ? [] : (input.pools ?? []);
  if (pools.length === 0) return { kind: 'done' };
  // Workers are never newer than the control plane (version-skew policy): the control plane is at the target
  // before the first worker is replaced, whether this run replaced it or an earlier one did.
  const skew = skewBlocked(input.snapshot, input.desired);
  const gate = gateFor(input.snapshot);
  for (const pool of pools) {
    // A provider that rolls its pools itself (Cluster API MachineDeployments) reports rollouts, not machines.
    const decision = input.snapshot.poolRollouts
      ? planRolledPool(input, pool, gate)
      : planWorkerPool(input, pool, gate);
    if (decision.kind === 'done') continue;
    if (skew && decision.kind === 'step') return skew;
    return decision.kind === 'step' ? { ...decision, pool: pool.name } : decision;
  }
  return { kind: 'done' };
}
