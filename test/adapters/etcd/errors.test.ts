import assert from 'node:assert/strict';
import {
  EtcdPermissionDeniedError,
  GRPCDeadlineExceededError,
  GRPCFailedPreconditionError,
  GRPCNotFoundError,
  GRPCUnavailableError,
} from 'etcd3';
import { toEtcdError } from '../../../src/adapters/etcd/errors.ts';
import { KubeswapError } from '../../../src/domain/errors.ts';

describe('etcd error mapping', () => {
  const endpoint = 'https://10.0.0.1:2379';
  // Messages as grpc-js/etcd3 produce them (recorded against etcd 3.6).
  const cases = [
    {
      name: 'a deadline is a timeout naming the deadline',
      err: new GRPCDeadlineExceededError('4 DEADLINE_EXCEEDED: Deadline exceeded'),
      code: 'etcd.timeout',
      text: /no answer within 3000 ms/,
    },
    {
      name: 'a refused connection is unreachable',
      err: new GRPCUnavailableError(
        '14 UNAVAILABLE: No connection established. Last error: connect ECONNREFUSED 10.0.0.1:2379',
      ),
      code: 'etcd.unreachable',
      text: /unreachable/,
    },
    {
      name: 'a certificate problem is a TLS failure',
      err: new GRPCUnavailableError(
        '14 UNAVAILABLE: No connection established. Last error: self-signed certificate in certificate chain',
      ),
      code: 'etcd.tls',
      text: /TLS failed/,
    },
    {
      name: 'permission denied says so',
      err: new EtcdPermissionDeniedError('etcdserver: permission denied'),
      code: 'etcd.permission-denied',
      text: /permission denied/,
    },
    {
      name: '"member not found" is recognized',
      err: new GRPCNotFoundError('5 NOT_FOUND: etcdserver: member not found'),
      code: 'etcd.member-not-found',
      text: /member not found/,
    },
    {
      name: '"not leader" is recognized',
      err: new GRPCFailedPreconditionError('9 FAILED_PRECONDITION: etcdserver: not leader'),
      code: 'etcd.not-leader',
      text: /not the etcd leader/,
    },
    {
      name: '"unhealthy cluster" is a refusal to retry later, not an unreachable member',
      err: new GRPCUnavailableError('14 UNAVAILABLE: etcdserver: unhealthy cluster'),
      code: 'etcd.cluster-unhealthy',
      text: /unhealthy cluster/,
    },
    {
      name: '"not enough started members" is recognized',
      err: new GRPCFailedPreconditionError(
        '9 FAILED_PRECONDITION: etcdserver: re-configuration failed due to not enough started members',
      ),
      code: 'etcd.not-enough-started',
      text: /not enough started members/,
    },
    {
      name: 'anything else is a failed request with the original text',
      err: new Error('boom'),
      code: 'etcd.request-failed',
      text: /member list at https:\/\/10\.0\.0\.1:2379 failed: boom/,
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const mapped = toEtcdError(c.err, endpoint, 'member list', 3000);
      assert.ok(mapped instanceof KubeswapError);
      assert.equal(mapped.code, c.code);
      assert.equal(mapped.endpoint, endpoint);
      assert.equal(mapped.cause, c.err);
      assert.match(mapped.message, c.text);
    });
  }

  it('classifies wrong certificates as invalid input and an unreachable etcd as blocking', () => {
    assert.equal(
      toEtcdError(new GRPCUnavailableError('x509: certificate signed by unknown authority'), endpoint, 'status')
        .failure,
      'invalid',
    );
    assert.equal(toEtcdError(new GRPCUnavailableError('connect ECONNREFUSED'), endpoint, 'status').failure, 'blocked');
  });
});
