// Turns what @kubernetes/client-node 2.x throws into errors a person can act on. The library throws
// ApiException whose `body` is the raw response text (a JSON Status) for every status its OpenAPI
// spec does not declare, `undefined` for 401, and a multi-line dump as `message`; network failures
// surface as undici's `TypeError: fetch failed` with the errno in `cause`, timeouts as AbortSignal's
// `TimeoutError`.
import { ApiException } from '@kubernetes/client-node';
import { type ErrorSource, KubeswapError } from '../../domain/errors.ts';

export interface KubeStatus {
  /** HTTP status, when the server answered. */
  code?: number;
  /** Kubernetes Status reason (`NotFound`, `Conflict`, `AlreadyExists`, `TooManyRequests`, ...). */
  reason?: string;
  message: string;
  /** errno-style code of a failed connection (`ECONNREFUSED`, `ENOTFOUND`, ...) or `TimeoutError`. */
  network?: string;
}

/** Who we are talking as, for messages: kubeconfig names, never credentials. */
export interface KubeIdentity {
  server: string;
  context: string;
  user: string;
}

interface KubeErrorKind {
  code: string;
  source: ErrorSource;
  retryable: boolean;
}

/**
 * A failed API call. Mid-run it is an internal failure (exit 1, the state described by the events);
 * before the first change, preflight turns it into a refusal (exit 2).
 */
export class KubeError extends KubeswapError {
  override name = 'KubeError';
  readonly status: KubeStatus;
  constructor(
    message: string,
    status: KubeStatus,
    options: { cause?: unknown } = {},
    kind: KubeErrorKind = { code: 'kube.request-failed', source: 'environment', retryable: false },
  ) {
    super('internal', kind.code, message, { cause: options.cause, source: kind.source, retryable: kind.retryable });
    this.status = status;
  }
}

/** 401 or 403: the credentials are rejected or lack a permission. Retrying will not help. */
export class KubeAuthError extends KubeError {
  override name = 'KubeAuthError';
  constructor(message: string, status: KubeStatus, options: { cause?: unknown } = {}) {
    super(message, status, options, { code: 'kube.unauthorized', source: 'user', retryable: false });
  }
}

/** The API server did not answer (refused, unresolvable, timed out), answered 5xx or 429. Retrying may help. */
export class KubeUnavailableError extends KubeError {
  override name = 'KubeUnavailableError';
  constructor(message: string, status: KubeStatus, options: { cause?: unknown } = {}) {
    super(message, status, options, { code: 'kube.unavailable', source: 'environment', retryable: true });
  }
}

/** Kubeconfig missing, unreadable, or without the requested context: found before anything is contacted. */
export class KubeConfigError extends KubeswapError {
  override name = 'KubeConfigError';
  constructor(message: string, options: { cause?: unknown } = {}) {
    super('invalid', 'kube.config', message, {
      cause: options.cause,
      source: 'user',
      hint: 'check --kubeconfig/--context (the permissions the identity needs: templates/rbac/kubeswap.yaml; plan and apply name any that are missing)',
    });
  }
}

export function decodeKubeError(err: unknown): KubeStatus {
  if (err instanceof ApiException) {
    const body = parseStatusBody(err.body);
    // The message is `HTTP-Code: N\nMessage: <generator text>\nBody: ...\nHeaders: ...`.
    const generated = /^Message: (.*)$/m.exec(String(err.message))?.[1] ?? `HTTP ${err.code}`;
    return { code: err.code, reason: body?.reason, message: body?.message ?? generated };
  }
  if (err instanceof Error) {
    if (err.name === 'TimeoutError' || err.name === 'AbortError') {
      return { message: err.message, network: 'TimeoutError' };
    }
    // undici: TypeError('fetch failed') with the socket error as cause (possibly nested once more).
    const cause = (err as { cause?: { code?: string; message?: string; cause?: { code?: string } } }).cause;
    const code = cause?.code ?? cause?.cause?.code;
    if (code) return { message: cause?.message ?? err.message, network: code };
    return { message: err.message };
  }
  return { message: String(err) };
}

function parseStatusBody(body: unknown): { reason?: string; message?: string } | undefined {
  let parsed = body;
  if (typeof body === 'string') {
    try {
      parsed = JSON.parse(body);
    } catch {
      return body.trim() ? { message: body.trim() } : undefined;
    }
  }
  if (parsed && typeof parsed === 'object') {
    const { reason, message } = parsed as { reason?: unknown; message?: unknown };
    return {
      reason: typeof reason === 'string' && reason ? reason : undefined,
      message: typeof message === 'string' && message ? message : undefined,
    };
  }
  return undefined;
}

/** HTTP status of a failed call, or undefined for network errors and non-API errors. */
export function statusCode(err: unknown): number | undefined {
  return err instanceof ApiException ? err.code : undefined;
}

/** Wraps a failure of `operation` ("read ConfigMap kube-system/kubeadm-config") in a KubeError subclass. */
export function kubeError(err: unknown, operation: string, who: KubeIdentity): KubeError {
  const status = decodeKubeError(err);
  const as = `user "${who.user}" (context "${who.context}")`;
  if (status.code === 401) {
    return new KubeAuthError(
      `failed to ${operation}: ${who.server} rejected the credentials of ${as} (401 Unauthorized); ` +
        'the token or client certificate may have expired: refresh the kubeconfig',
      status,
      { cause: err },
    );
  }
  if (status.code === 403) {
    // The server's message names the identity it resolved, e.g. `User "x" cannot patch resource "nodes"`.
    return new KubeAuthError(
      `failed to ${operation}: ${as} is not allowed (403 Forbidden): ${status.message}; ` +
        'kubeswap needs cluster-admin-level access to the control plane',
      status,
      { cause: err },
    );
  }
  if (status.network === 'TimeoutError') {
    return new KubeUnavailableError(`failed to ${operation}: ${who.server} did not answer in time`, status, {
      cause: err,
    });
  }
  if (status.network) {
    return new KubeUnavailableError(
      `failed to ${operation}: cannot reach ${who.server} (${status.network}: ${status.message})`,
      status,
      { cause: err },
    );
  }
  const tag = status.code ? ` (${status.code}${status.reason ? ` ${status.reason}` : ''})` : '';
  const message = `failed to ${operation}: ${status.message}${tag}`;
  // 429 outside an eviction (pods.ts answers that one itself): API priority and fairness shed the request, or an API
  // server that is starting or shutting down asked us to come back (Retry-After); client-go retries both.
  if (status.code !== undefined && (status.code === 429 || status.code >= 500)) {
    return new KubeUnavailableError(message, status, { cause: err });
  }
  return new KubeError(message, status, { cause: err });
}
