// What the planner can ask for: exactly one idempotent step, a wait, a refusal, or done.
import type { EtcdMember, Machine } from './model.ts';

export type Step =
  | { kind: 'create-replacement'; old: Machine; oldNode: string; attempt: number }
  | { kind: 'register-target'; machineId: string; node: string }
  | { kind: 'deregister-target'; machineId: string; node: string }
  | { kind: 'drain'; node: string }
  | { kind: 'move-leader'; node: string; fromId: string; toId: string }
  | { kind: 'remove-member'; node: string; member: EtcdMember }
  | { kind: 'terminate'; machineId: string; node: string }
  | { kind: 'delete-node'; node: string }
  | {
      kind: 'rollback';
      replacement: Machine;
      /** The old machine whose swap failed: untouched by the rollback. */
      oldNode: string;
      node?: string;
      members: EtcdMember[];
      registered: boolean;
      reason: string;
    };

export type StepKind = Step['kind'];

export type Decision =
  | { kind: 'step'; step: Step; machine: string; reason: string }
  | { kind: 'wait'; code: string; reason: string; machine?: string }
  | { kind: 'blocked'; code: string; reason: string; hint?: string; machine?: string }
  | { kind: 'done' };

export function describeStep(step: Step): string {
  switch (step.kind) {
    case 'create-replacement':
      return `create a replacement for ${step.oldNode} (${step.old.id}, attempt ${step.attempt})`;
    case 'register-target':
      return `register ${step.node} (${step.machineId}) with the API target group`;
    case 'deregister-target':
      return `deregister ${step.node} (${step.machineId}) from the API target group and wait for draining`;
    case 'drain':
      return `cordon and drain node ${step.node}`;
    case 'move-leader':
      return `move etcd leadership off ${step.node}`;
    case 'remove-member':
      return `remove etcd member ${step.node}`;
    case 'terminate':
      return `terminate ${step.node} (${step.machineId})`;
    case 'delete-node':
      return `delete node ${step.node}`;
    case 'rollback':
      return `roll back replacement ${step.replacement.id} of ${step.oldNode}: ${step.reason}`;
  }
}
