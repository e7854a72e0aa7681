// Worker pools a provider's own system rolls (Cluster API MachineDeployments): kubeswap bumps what the pool's
// machines are made from and follows the rollout that system runs, instead of replacing machines itself.
import type { DriftReason, MachinePhase } from './model.ts';
import type { IntOrPercent } from './pools.ts';

/** One machine of a rolled pool, as its system reports it. */
export interface RolloutMachine {
  id: string;
  /** What its Node carries in spec.providerID ('' until the infrastructure reported it). */
  providerId: string;
  phase: MachinePhase;
  /** Made from the pool's current template (Cluster API: owned by a MachineSet of the current template). */
  upToDate: boolean;
  version: string;
  launchedAt: Date;
  /** When its deletion started (the system drains its Node from then on). */
  deletionStartedAt?: Date;
  /** What the deletion waits for, in the system's words (Cluster API: the Deleting condition's message). */
  deleting?: string;
  /** Where the deletion is: `drain` (its Node is drained), `after-drain` (volumes, hooks, infrastructure). */
  deletingStage?: 'drain' | 'after-drain';
}

/** One rolled object of a pool (a MachineDeployment) and its rollout. */
export interface PoolRollout {
  pool: string;
  /** The object's kind and name, e.g. `MachineDeployment md-0`. */
  kind: string;
  name: string;
  /** Desired machine count. */
  replicas: number;
  /** Why its template differs from the target; empty when the target is what it makes now. */
  drift: DriftReason[];
  /** Its rolling-update strategy as it is now. */
  strategy: { maxSurge: IntOrPercent; maxUnavailable: IntOrPercent };
  /** When kubeswap last pointed it at the target (bounds the wait for a first new machine). */
  bumpedAt?: Date;
  /** The rollout is paused by someone (it would never finish). */
  paused: boolean;
  machines: RolloutMachine[];
}

/** The strategy a bump sets: the pool's (`keep`: the object's own, left as it is). */
export type RolloutStrategy = { maxSurge: IntOrPercent; maxUnavailable: IntOrPercent } | 'keep';
