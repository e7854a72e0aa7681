// Before the first change, every failure means "nothing was changed": a rejected credential, an
// unreachable API, etcd or cloud endpoint is a refusal (exit 2) with its cause, never an internal error.
import { KubeswapError } from '../../domain/errors.ts';

const INVALID_INPUT = new Set(['KubeAuthError', 'KubeConfigError']);

export function asPreflightError(err: unknown): KubeswapError {
  if (err instanceof KubeswapError) {
    return err.failure === 'invalid' || err.failure === 'blocked'
      ? err
      : new KubeswapError('blocked', err.code, err.message, { hint: err.hint, cause: err });
  }
  const e = err as { name?: string; message?: string; code?: string; hint?: string };
  const message = e.message ?? String(err);
  if (e.name && INVALID_INPUT.has(e.name)) {
    return new KubeswapError('invalid', e.name === 'KubeAuthError' ? 'kube.unauthorized' : 'kube.config', message, {
      hint: 'check --kubeconfig/--context and that the identity may read nodes, pods, configmaps and leases',
      cause: err,
    });
  }
  if (e.name === 'ProviderError') {
    return new KubeswapError('blocked', e.code ?? 'provider.failed', message, { hint: e.hint, cause: err });
  }
  return new KubeswapError('blocked', 'preflight.failed', `could not check the cluster before starting: ${message}`, {
    hint: 'nothing was changed; check that the API server, etcd and the cloud endpoint are reachable',
    cause: err,
  });
}
