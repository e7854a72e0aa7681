// One coded error family. The engine throws these; only src/cli maps them to exit codes.

/** Outcome class of a failure, each with its documented exit code (design.md "Exit codes"). */
export type FailureClass =
  | 'invalid' // 2: bad input or a preflight check refused; nothing changed
  | 'blocked' // 2: the cluster is not in a state to proceed safely; nothing changed
  | 'rolled-back' // 3: a replacement failed and was torn down; cluster as before that step
  | 'needs-person' // 4: stopped in a state that needs a decision (described in the message)
  | 'interrupted' // 130: signal; re-run to resume
  | 'internal'; // 1: a bug or an unexpected failure of an outside system

/** Who has to act: the user (input, credentials), the tool (a bug), or the environment (an outside system). */
export type ErrorSource = 'user' | 'tool' | 'environment';

export interface Problem {
  code: string;
  message: string;
  hint?: string;
}

export class KubeswapError extends Error {
  override name = 'KubeswapError';
  readonly code: string;
  readonly failure: FailureClass;
  readonly hint?: string;
  /** Every problem found, when validation collected several. */
  readonly problems: Problem[];
  readonly source: ErrorSource;
  /**
   * Looking again shortly may succeed (an etcd reconfiguration guard, an API server restarting behind the
   * load balancer): the converge loop retries these, bounded, instead of failing the run.
   */
  readonly retryable: boolean;

  constructor(failure: FailureClass, code: string, message: string, options: KubeswapErrorOptions = {}) {
    super(message, { cause: options.cause });
    this.failure = failure;
    this.code = code;
    this.hint = options.hint;
    this.problems = options.problems ?? [{ code, message, hint: options.hint }];
    this.source = options.source ?? DEFAULT_SOURCE[failure];
    this.retryable = options.retryable ?? false;
  }
}

export interface KubeswapErrorOptions {
  hint?: string;
  cause?: unknown;
  problems?: Problem[];
  source?: ErrorSource;
  retryable?: boolean;
}

const DEFAULT_SOURCE: Record<FailureClass, ErrorSource> = {
  invalid: 'user',
  blocked: 'environment',
  'rolled-back': 'environment',
  'needs-person': 'environment',
  interrupted: 'user',
  internal: 'tool',
};

export function invalid(problems: Problem[]): KubeswapError {
  const first = problems[0] ?? { code: 'input.invalid', message: 'invalid input' };
  const message =
    problems.length === 1
      ? first.message
      : `${problems.length} problems:\n${problems.map((p) => `  - ${p.message}`).join('\n')}`;
  return new KubeswapError('invalid', first.code, message, { hint: first.hint, problems });
}

export function describeError(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}
