// etcd failures in our own words. etcd3 throws gRPC-flavoured classes (GRPCUnavailableError, ...);
// the engine only ever sees EtcdError, a KubeswapError with a stable code, the endpoint and the original as `cause`.
import {
  ClientClosedError,
  EtcdPermissionDeniedError,
  GRPCDeadlineExceededError,
  GRPCFailedPreconditionError,
  GRPCNotFoundError,
  GRPCUnauthenticatedError,
  GRPCUnavailableError,
} from 'etcd3';
import { type FailureClass, KubeswapError } from '../../domain/errors.ts';

export type EtcdErrorCode =
  | 'etcd.unreachable'
  | 'etcd.timeout'
  | 'etcd.tls'
  | 'etcd.permission-denied'
  | 'etcd.not-leader'
  | 'etcd.member-not-found'
  | 'etcd.last-member'
  | 'etcd.no-other-member'
  | 'etcd.leader-unknown'
  | 'etcd.target-not-voter'
  | 'etcd.cluster-unhealthy'
  | 'etcd.not-enough-started'
  | 'etcd.snapshot-failed'
  | 'etcd.request-failed';

// Wrong certificates are bad input (exit 2, nothing changed); an etcd that cannot answer or a change that
// would be unsafe blocks the run; the rest is unexpected. The engine may re-classify by phase.
const FAILURE: Record<EtcdErrorCode, FailureClass> = {
  'etcd.unreachable': 'blocked',
  'etcd.timeout': 'blocked',
  'etcd.tls': 'invalid',
  'etcd.permission-denied': 'invalid',
  'etcd.not-leader': 'internal',
  'etcd.member-not-found': 'internal',
  'etcd.last-member': 'blocked',
  'etcd.no-other-member': 'blocked',
  'etcd.leader-unknown': 'blocked',
  'etcd.target-not-voter': 'blocked',
  'etcd.cluster-unhealthy': 'blocked',
  'etcd.not-enough-started': 'blocked',
  'etcd.snapshot-failed': 'internal',
  'etcd.request-failed': 'internal',
};

const HINT: Partial<Record<EtcdErrorCode, string>> = {
  'etcd.tls': 'check --etcd-ca/--etcd-cert/--etcd-key (kubeadm: etcd/ca.crt, apiserver-etcd-client.crt/.key)',
  'etcd.permission-denied': "use a client certificate etcd accepts, e.g. kubeadm's apiserver-etcd-client",
  'etcd.unreachable': 'check --etcd-endpoints and that the members listen on their client URLs',
  'etcd.timeout': 'a member that does not answer within the deadline is down, partitioned, or lost quorum',
  'etcd.cluster-unhealthy':
    'etcd accepts membership changes only after the serving member has been connected to every voting member for 5 s; wait, or remove a dead member first',
  'etcd.not-enough-started': 'the change would leave fewer started members than a quorum',
};

/**
 * Refusals etcd lifts by itself within seconds: the 5 s reconfiguration guard after a membership change,
 * a leader election, a request that reached a follower.
 */
const RETRYABLE: ReadonlySet<EtcdErrorCode> = new Set([
  'etcd.cluster-unhealthy',
  'etcd.not-enough-started',
  'etcd.leader-unknown',
  'etcd.not-leader',
]);

export class EtcdError extends KubeswapError {
  override name = 'EtcdError';
  override readonly code: EtcdErrorCode;
  readonly endpoint: string | undefined;

  constructor(
    code: EtcdErrorCode,
    message: string,
    options: { endpoint?: string; cause?: unknown; hint?: string } = {},
  ) {
    const hint = options.hint ?? HINT[code];
    super(FAILURE[code], code, message, {
      cause: options.cause,
      ...(hint ? { hint } : {}),
      source: 'environment',
      retryable: RETRYABLE.has(code),
    });
    this.code = code;
    this.endpoint = options.endpoint;
  }
}

/** Whether etcd answered "member not found" (ErrGRPCMemberNotFound), i.e. the member is already gone. */
export function isMemberNotFound(err: unknown): boolean {
  return err instanceof EtcdError && err.code === 'etcd.member-not-found';
}

/** Turns whatever etcd3/grpc-js threw for `action` on `endpoint` into an EtcdError. */
export function toEtcdError(err: unknown, endpoint: string, action: string, timeoutMs?: number): EtcdError {
  if (err instanceof EtcdError) return err;
  const detail = err instanceof Error ? err.message : String(err);
  const at = `${action} at ${endpoint}`;
  const make = (code: EtcdErrorCode, message: string) => new EtcdError(code, message, { endpoint, cause: err });
  if (/member not found/i.test(detail)) return make('etcd.member-not-found', `${at}: member not found`);
  if (/not leader/i.test(detail)) return make('etcd.not-leader', `${at}: this member is not the etcd leader`);
  // ErrGRPCUnhealthy (UNAVAILABLE) answers a membership change while the serving member has not been
  // connected to every voter for 5 s (etcdserver isConnectedFullySince): an answer, not a transport failure.
  if (/unhealthy cluster/i.test(detail))
    return make('etcd.cluster-unhealthy', `${at}: refused, etcd reports an unhealthy cluster`);
  if (/not enough started members/i.test(detail)) {
    return make('etcd.not-enough-started', `${at}: refused, not enough started members would remain`);
  }
  if (err instanceof GRPCDeadlineExceededError) {
    const within = timeoutMs === undefined ? '' : ` within ${timeoutMs} ms`;
    return make('etcd.timeout', `${at}: no answer${within} (member down, partitioned, or without quorum)`);
  }
  if (err instanceof EtcdPermissionDeniedError || err instanceof GRPCUnauthenticatedError) {
    return make('etcd.permission-denied', `${at}: permission denied: ${detail}`);
  }
  // grpc-js reports TLS handshake failures as UNAVAILABLE with the OpenSSL reason in the text.
  if (/certificate|handshake|SSL|TLS|self.signed|altnames/i.test(detail)) {
    return make('etcd.tls', `${at}: TLS failed: ${detail}`);
  }
  if (err instanceof GRPCUnavailableError || err instanceof ClientClosedError) {
    return make('etcd.unreachable', `${at}: unreachable: ${detail}`);
  }
  if (err instanceof GRPCNotFoundError || err instanceof GRPCFailedPreconditionError) {
    return make('etcd.request-failed', `${at}: refused: ${detail}`);
  }
  return make('etcd.request-failed', `${at} failed: ${detail}`);
}
