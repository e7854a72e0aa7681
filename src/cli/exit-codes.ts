// The only place failures become exit codes (design.md "Exit codes"; documented in the README).
import { type FailureClass, KubeswapError } from '../domain/errors.ts';

export const EXIT = {
  ok: 0,
  internal: 1,
  invalid: 2,
  rolledBack: 3,
  needsPerson: 4,
  /** plan --detailed-exitcode: the plan has changes (as terraform plan -detailed-exitcode's 2, which is taken here). */
  changesPending: 5,
  interrupted: 130,
} as const;

const BY_FAILURE: Record<FailureClass, number> = {
  invalid: EXIT.invalid,
  blocked: EXIT.invalid,
  'rolled-back': EXIT.rolledBack,
  'needs-person': EXIT.needsPerson,
  interrupted: EXIT.interrupted,
  internal: EXIT.internal,
};

export function exitCodeFor(err: unknown): number {
  return err instanceof KubeswapError ? BY_FAILURE[err.failure] : EXIT.internal;
}
