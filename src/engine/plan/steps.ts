// What the planner can ask for: exactly one idempotent step, a wait, a refusal, or done.
import type { EtcdMember, Machine } from '../../domain/model.ts';
import type { RolloutStrategy } from '../../domain/rollouts.ts';

export type Step =
  | {
      kind: 'create-replacement';
      old: Machine;
      oldNode: string;
      attempt: number;
      /** --max-surge 0: the old machine is already gone, this replacement restores the member count. */
      oldRetired?: boolean;
      /** A worker pool's machine: the replacement joins as a worker (no etcd, no API target). */
      worker?: boolean;
    }
  /**
   * A worker pool's old Node: recorded as retiring (and kept from cluster-autoscaler scale-down), then drained
   * through the Eviction API. `beforeReplacement`: an unavailable slot, removed before its replacement exists.
   */
  | {
      kind: 'drain-worker';
      node: string;
      wasCordoned: boolean;
      beforeReplacement: boolean;
      /** The autoscaler annotation's value before ('' = absent); undefined when recorded by an earlier attempt. */
      scaleDownWas?: string;
    }
  /**
   * A pool the provider rolls (a MachineDeployment): point it at the target (version, template) with the pool's
   * strategy (`keep`: its own); the provider's system then replaces the machines.
   */
  | { kind: 'bump-pool'; pool: string; objectKind: string; name: string; strategy: RolloutStrategy }
  /** --max-surge 0: write down the machine to remove before anything is removed. */
  | { kind: 'begin-retirement'; old: Machine; oldNode: string }
  /**
   * The old machine's retirement begins: recorded on its Node (never inferred from a cordon an operator may
   * have set), with whether it was cordoned already, so a rollback can put it back exactly.
   */
  | { kind: 'mark-retiring'; node: string; wasCordoned: boolean }
  | { kind: 'register-target'; machineId: string; node: string }
  /**
   * `drainNode`: drain that Node while the target drains (the overlap of issue 15, safe because pods leaving a
   * control-plane Node do not depend on its apiserver); the step ends once both are done. `cordoned`: the Node was
   * seen cordoned (its retiring mark cordons it), so the drain sends no cordon of its own.
   */
  | { kind: 'deregister-target'; machineId: string; node: string; drainNode?: string; cordoned?: true }
  | { kind: 'drain'; node: string; cordoned?: true }
  /** drainsOnDelete: the provider starts the machine's deletion with a hold; its system drains the Node. */
  | { kind: 'start-deletion'; machineId: string; node: string }
  | { kind: 'move-leader'; node: string; fromId: string; toId: string }
  | { kind: 'remove-member'; node: string; member: EtcdMember }
  /**
   * `background`: start the termination and return (the planner then waits for the machine to be gone), so the
   * next swap's gate passes count while the old VM shuts down; only when the provider has `beginTermination`.
   */
  | {
      kind: 'terminate';
      machineId: string;
      node: string;
      background?: boolean;
      /**
       * drainsOnDelete: releasing the hold lets the provider's system delete the machine and then its Node itself
       * (Cluster API machine_controller reconcileDelete), so this step is the swap's last.
       */
      endsSwap?: true;
    }
  /**
   * `midSwap`: the old Node of a --max-surge 0 swap, deleted before its replacement exists.
   * `leftByProvider`: drainsOnDelete, the machine is gone but its Node was left (Cluster API stops trying after the
   * Machine's nodeDeletionTimeout): cleanup after a swap that ended with the machine's `terminate`.
   * `machineGone`: the provider lists the old machine as gone (terminated), so no kubelet can run its pods any more:
   * its DaemonSet pods are removed with the Node (act.ts releaseDaemonPods). Not set for a machine that is failed,
   * stopping or not listed: its pods are left to the pod garbage collector.
   */
  | { kind: 'delete-node'; node: string; midSwap?: boolean; leftByProvider?: true; machineGone?: true }
  /** --max-surge 0: the replacement joined and serves; drop the retiring record. */
  | { kind: 'finish-retirement'; node: string; replacement: string }
  | {
      kind: 'rollback';
      replacement: Machine;
      /** The old machine whose swap failed: untouched by the rollback. */
      oldNode: string;
      node?: string;
      members: EtcdMember[];
      registered: boolean;
      reason: string;
      /** --max-surge 0: the old machine was removed before this replacement was created. */
      oldRetired?: boolean;
      /** The old machine's retirement had begun: put it back (API target, cordon) as it was before. */
      restoreOld?: {
        node: string;
        machineId?: string;
        register: boolean;
        uncordon: boolean;
        /** A worker Node: cluster-autoscaler's annotation as it was (null = absent). */
        scaleDown?: { value: string | null };
      };
    };

export type StepKind = Step['kind'];

export type Decision =
  | { kind: 'step'; step: Step; machine: string; reason: string /** A worker pool's step. */; pool?: string }
  | {
      kind: 'wait';
      code: string;
      reason: string;
      machine?: string;
      /**
       * Waits on Kubernetes or the provider only (a replacement's Node or static pods, its load-balancer target, an
       * old machine's termination): nothing it decides depends on etcd (observe/etcd-reads.ts).
       */
      etcdIndependent?: true;
    }
  | { kind: 'blocked'; code: string; reason: string; hint?: string; machine?: string }
  | { kind: 'done' };

/** The step that starts a swap: its duration is measured from here. */
export function startsSwap(step: Step): boolean {
  return (
    step.kind === 'begin-retirement' ||
    (step.kind === 'create-replacement' && !step.oldRetired) ||
    (step.kind === 'drain-worker' && step.beforeReplacement)
  );
}

/** The step after which the old machine is gone and its replacement serves. */
export function finishesSwap(step: Step): boolean {
  return (
    step.kind === 'finish-retirement' ||
    (step.kind === 'delete-node' && !step.midSwap && !step.leftByProvider) ||
    (step.kind === 'terminate' && step.endsSwap === true)
  );
}

export function describeStep(step: Step): string {
  switch (step.kind) {
    case 'create-replacement':
      return `create a replacement for ${step.oldNode} (${step.old.id}, attempt ${step.attempt})`;
    case 'begin-retirement':
      return `record ${step.oldNode} (${step.old.id}) as the machine to remove before its replacement (--max-surge 0)`;
    case 'finish-retirement':
      return `replacement ${step.replacement} of ${step.node} serves; drop the retiring record`;
    case 'mark-retiring':
      return `record that ${step.node} is being retired`;
    case 'register-target':
      return `register ${step.node} (${step.machineId}) with the API target group`;
    case 'deregister-target':
      return step.drainNode
        ? `deregister ${step.node} (${step.machineId}) from the API target group and drain node ${step.drainNode} while the target drains`
        : `deregister ${step.node} (${step.machineId}) from the API target group and wait for draining`;
    case 'drain':
      return `cordon and drain node ${step.node}`;
    case 'start-deletion':
      return `start deleting ${step.node} (${step.machineId}) with a hold: the provider drains the node`;
    case 'drain-worker':
      return `cordon and drain worker node ${step.node}${step.beforeReplacement ? ' before its replacement (maxUnavailable)' : ''}`;
    case 'move-leader':
      return `move etcd leadership off ${step.node}`;
    case 'remove-member':
      return `remove etcd member ${step.node}`;
    case 'terminate':
      return step.background
        ? `start terminating ${step.node} (${step.machineId})`
        : step.endsSwap
          ? `release ${step.node} (${step.machineId}): the provider deletes its machine and node`
          : `terminate ${step.node} (${step.machineId})`;
    case 'delete-node':
      return `delete node ${step.node}`;
    case 'bump-pool':
      return `point ${step.objectKind} ${step.name} (pool ${step.pool}) at the target and let it roll, ${step.strategy === 'keep' ? 'with its own rolling-update strategy' : `maxSurge ${step.strategy.maxSurge}, maxUnavailable ${step.strategy.maxUnavailable}`}`;
    case 'rollback':
      return `roll back replacement ${step.replacement.id} of ${step.oldNode}: ${step.reason}`;
  }
}
