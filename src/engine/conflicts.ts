// Read-modify-write of an object that several writers share (kubeadm-config, the progress record, the runs
// ConfigMap): a 409 means it changed since it was read, so read it again and re-apply the change. As client-go's
// retry.RetryOnConflict(retry.DefaultRetry, ...) (k8s.io/client-go/util/retry: 5 tries, 10 ms apart, jittered),
// through p-retry, the project's one retry library.
import pRetry from 'p-retry';
import { ConflictError } from '../ports/kube.ts';

/** 5 attempts, 10-20 ms apart. */
export const CONFLICT_RETRY = { retries: 4, minTimeout: 10, factor: 1, randomize: true } as const;

/**
 * Runs `write` (which reads what it needs afresh on each call) until it does not end in a ConflictError, at most
 * CONFLICT_RETRY times more. Any other error is passed on at once. After the last conflict, `exhausted` (when
 * given) is thrown as an Error with the conflict as cause; otherwise the conflict itself.
 */
export async function retryOnConflict<T>(write: () => Promise<T>, exhausted?: string): Promise<T> {
  try {
    return await pRetry(write, { ...CONFLICT_RETRY, shouldRetry: ({ error }) => error instanceof ConflictError });
  } catch (err) {
    if (exhausted && err instanceof ConflictError) throw new Error(exhausted, { cause: err });
    throw err;
  }
}
