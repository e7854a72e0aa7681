import assert from 'node:assert/strict';
import { ApiException } from '@kubernetes/client-node';
import {
  decodeKubeError,
  KubeAuthError,
  KubeError,
  KubeUnavailableError,
  kubeError,
} from '../../../src/adapters/kube/errors.ts';

const who = { server: 'https://10.0.0.1:6443', context: 'prod', user: 'ci-admin' };
// As 2.0.1 throws them: the raw JSON Status as a string body for undeclared codes, undefined for 401.
const status = (code: number, reason: string, message: string) =>
  new ApiException(
    code,
    'Unknown API Status Code!',
    JSON.stringify({ kind: 'Status', status: 'Failure', reason, message, code }),
    {},
  );

describe('decodeKubeError', () => {
  it('parses the Status JSON out of the string body', () => {
    assert.deepEqual(decodeKubeError(status(409, 'Conflict', 'the object has been modified')), {
      code: 409,
      reason: 'Conflict',
      message: 'the object has been modified',
    });
  });

  it('falls back to the generated message when the body is empty (401)', () => {
    const err = new ApiException(401, 'Unauthorized', undefined, {});
    assert.deepEqual(decodeKubeError(err), { code: 401, reason: undefined, message: 'Unauthorized' });
  });

  it('keeps a non-JSON body as the message', () => {
    assert.equal(decodeKubeError(new ApiException(502, 'x', 'Bad Gateway\n', {})).message, 'Bad Gateway');
  });

  it('extracts the errno of an undici connection failure', () => {
    const err = new TypeError('fetch failed', {
      cause: Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' }),
    });
    assert.equal(decodeKubeError(err).network, 'ECONNREFUSED');
  });

  it('recognizes an AbortSignal.timeout expiry', () => {
    assert.equal(
      decodeKubeError(new DOMException('The operation was aborted due to timeout', 'TimeoutError')).network,
      'TimeoutError',
    );
  });
});

describe('kubeError', () => {
  it('turns 401 into an auth error naming the user, context and server', () => {
    const err = kubeError(new ApiException(401, 'Unauthorized', undefined, {}), 'list Nodes', who);
    assert.ok(err instanceof KubeAuthError);
    assert.match(
      err.message,
      /https:\/\/10\.0\.0\.1:6443 rejected the credentials of user "ci-admin" \(context "prod"\)/,
    );
  });

  it('turns 403 into an auth error that keeps the server-side identity from the Status message', () => {
    const err = kubeError(
      status(403, 'Forbidden', 'nodes is forbidden: User "bob" cannot patch resource "nodes"'),
      'cordon Node a',
      who,
    );
    assert.ok(err instanceof KubeAuthError);
    assert.match(
      err.message,
      /^failed to cordon Node a: user "ci-admin" \(context "prod"\) is not allowed \(403 Forbidden\)/,
    );
    assert.match(err.message, /User "bob" cannot patch/);
  });

  it('classifies connection failures, 429 and 5xx as unavailable, other statuses as plain KubeError', () => {
    const refused = new TypeError('fetch failed', { cause: { code: 'ECONNREFUSED', message: 'connect ECONNREFUSED' } });
    assert.ok(kubeError(refused, 'list Nodes', who) instanceof KubeUnavailableError);
    assert.ok(kubeError(status(503, 'ServiceUnavailable', 'x'), 'list Nodes', who) instanceof KubeUnavailableError);
    // API priority and fairness shedding, or a server starting or shutting down with Retry-After.
    assert.ok(kubeError(status(429, 'TooManyRequests', 'x'), 'list Nodes', who) instanceof KubeUnavailableError);
    const invalid = kubeError(status(422, 'Invalid', 'spec.x: Invalid value'), 'create Lease a/b', who);
    assert.ok(invalid instanceof KubeError && !(invalid instanceof KubeUnavailableError));
    assert.equal(invalid.message, 'failed to create Lease a/b: spec.x: Invalid value (422 Invalid)');
    assert.equal(invalid.status.code, 422);
  });
});
