// The provider's one coded error. `code` is stable (the engine and scenarios match on it), `hint`
// says what to do, `cause` keeps the AWS error. Expected "not there" answers from resolveDesired are
// ProviderProblems instead; this is for failures.
import { KubeswapError } from '../../src/domain/errors.ts';
import type { ProviderProblem, ProviderWait } from '../../src/ports/machines.ts';

export type ProviderErrorCode =
  | 'image.not-found'
  | 'image.version-mismatch'
  | 'capacity.insufficient'
  | 'replacement.token-reused'
  | 'replacement.not-returned'
  | 'launch-template.not-found'
  | 'launch-template.version-not-found'
  | 'launch-template.image-mismatch'
  | 'replacement.launch-timeout'
  | 'terminate.protected'
  | 'terminate.timeout'
  | 'api-target.draining-timeout'
  | 'aws.throttled'
  | 'aws.access-denied'
  | 'aws.request-failed'
  | 'options.invalid'
  | 'pool.no-launch-template';

/**
 * Mid-run an AWS failure is internal (exit 1, state described), but a permission AWS refused needs a person (exit 4:
 * grant it, re-run); preflight turns either into a refusal (exit 2).
 */
export class ProviderError extends KubeswapError {
  override readonly name = 'ProviderError';
  override readonly code: ProviderErrorCode;

  constructor(code: ProviderErrorCode, message: string, options: { hint?: string; cause?: unknown } = {}) {
    super(code === 'aws.access-denied' ? 'needs-person' : 'internal', code, message, {
      ...options,
      source: code === 'options.invalid' ? 'user' : 'environment',
      // The SDK calls already retried throttling with backoff; the run may look again later.
      retryable: code === 'aws.throttled',
    });
    this.code = code;
  }

  toProblem(): ProviderProblem {
    return { code: this.code, message: this.message, ...(this.hint ? { hint: this.hint } : {}) };
  }
}

/** AWS SDK v3 error name (EC2 has no modeled exception classes: `e.name === e.Code`). */
export function awsErrorName(error: unknown): string | undefined {
  return typeof error === 'object' && error !== null && 'name' in error ? String(error.name) : undefined;
}

// From @smithy/core/retry's THROTTLING_ERROR_CODES plus EC2's own; the SDK already retries these a
// few times, we add a slower backoff on top because a whole run hitting the account's rate limit is common in CI.
const THROTTLING = new Set([
  'RequestLimitExceeded',
  'Throttling',
  'ThrottlingException',
  'ThrottledException',
  'EC2ThrottledException',
  'RequestThrottled',
  'RequestThrottledException',
  'TooManyRequestsException',
  'SlowDown',
  'PriorRequestNotComplete',
]);

// What AWS answers a call the caller's policies do not allow: EC2 says UnauthorizedOperation, the Query and JSON
// services AccessDenied / AccessDeniedException (AWS IAM User Guide, "Troubleshoot access denied error messages").
const ACCESS_DENIED = new Set(['UnauthorizedOperation', 'AccessDenied', 'AccessDeniedException']);

export function isThrottling(error: unknown): boolean {
  return THROTTLING.has(awsErrorName(error) ?? '');
}

/** Wraps anything that is not already a ProviderError with "failed to ..." context. */
export function wrapAwsError(action: string, error: unknown): ProviderError {
  if (error instanceof ProviderError) return error;
  const name = awsErrorName(error) ?? 'Error';
  const detail = error instanceof Error ? error.message : String(error);
  if (isThrottling(error)) {
    return new ProviderError('aws.throttled', `failed to ${action}: still throttled after retries (${name})`, {
      hint: 'the account is hitting the EC2 API rate limit; re-run later (the run resumes where it stopped)',
      cause: error,
    });
  }
  // The SDK's region chain (AWS_REGION, the profile's region, instance metadata) came up empty.
  if (detail === 'Region is missing') {
    return new ProviderError('options.invalid', `failed to ${action}: no AWS region`, {
      hint: 'give --region, set AWS_REGION (or AWS_DEFAULT_REGION), or a region in your AWS_PROFILE profile',
      cause: error,
    });
  }
  if (ACCESS_DENIED.has(name)) {
    return new ProviderError('aws.access-denied', `failed to ${action}: AWS refused it: ${detail}`, {
      hint: 'grant the permission AWS names (templates/iam/ has the policy of each provider mode), then re-run: the run resumes where it stopped',
      cause: error,
    });
  }
  return new ProviderError('aws.request-failed', `failed to ${action}: ${name}: ${detail}`, { cause: error });
}

/** An interrupted wait rejects with the signal's reason as it is (the contract's ProviderWait); anything else wrapped. */
export function interruptedOr(wait: ProviderWait | undefined, error: unknown, wrap: () => unknown): unknown {
  return wait?.signal?.aborted && error === wait.signal.reason ? error : wrap();
}
