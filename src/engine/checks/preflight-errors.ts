// Before the first change, every failure means "nothing was changed": a rejected credential, an
// unreachable API, etcd or cloud endpoint is a refusal (exit 2) with its cause, never an internal error.
// Decided by the error's class, source and code, never by its name.
import { KubeswapError } from '../../domain/errors.ts';

const CHECK_ACCESS = 'check --kubeconfig/--context and that the identity holds the roles in templates/rbac';

export function asPreflightError(err: unknown): KubeswapError {
  if (err instanceof KubeswapError) {
    if (err.failure === 'invalid' || err.failure === 'blocked') return err;
    // Credentials or configuration: the user's to fix.
    if (err.source === 'user') {
      return new KubeswapError('invalid', err.code, err.message, { hint: err.hint ?? CHECK_ACCESS, cause: err });
    }
    // An API request that failed: say that nothing was changed.
    if (!err.code.startsWith('kube.')) {
      return new KubeswapError('blocked', err.code, err.message, { hint: err.hint, cause: err });
    }
  }
  const message = err instanceof Error ? err.message : String(err);
  return new KubeswapError('blocked', 'preflight.failed', `could not check the cluster before starting: ${message}`, {
    hint: 'nothing was changed; check that the API server, etcd and the cloud endpoint are reachable',
    cause: err,
  });
}
