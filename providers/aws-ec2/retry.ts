// Backoff for throttled AWS calls, on top of the SDK's own (standard mode, 3 attempts). The SDK's
// retries are quick; a CI run that shares an account can stay throttled for longer, so we wait
// more between our attempts and cap the total with maxRetryTime.
import pRetry from 'p-retry';
import { isThrottling, wrapAwsError } from './errors.ts';
import type { ThrottleRetryOptions } from './options.ts';

export type AwsCall = <T>(action: string, call: () => Promise<T>) => Promise<T>;

/** Returns a wrapper that retries throttling errors only and passes every other error through unchanged. */
export function throttleRetrying(options: ThrottleRetryOptions): AwsCall {
  return async (action, call) => {
    try {
      return await pRetry(call, {
        retries: options.retries,
        minTimeout: options.minTimeoutMs,
        maxTimeout: options.maxTimeoutMs,
        maxRetryTime: options.maxRetryTimeMs,
        randomize: true,
        shouldRetry: ({ error }) => isThrottling(error),
      });
    } catch (error) {
      // Callers match other AWS errors by name (InsufficientInstanceCapacity, ...): keep them raw.
      if (isThrottling(error)) throw wrapAwsError(action, error);
      throw error;
    }
  };
}
