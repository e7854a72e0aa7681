import assert from 'node:assert/strict';
import { ProviderError, wrapAwsError } from '../../../providers/aws-ec2/errors.ts';
import { EtcdError } from '../../../src/adapters/etcd/errors.ts';
import { KubeAuthError, KubeConfigError, KubeError, KubeUnavailableError } from '../../../src/adapters/kube/errors.ts';
import { EXIT, exitCodeFor } from '../../../src/cli/exit-codes.ts';
import { KubeswapError } from '../../../src/domain/errors.ts';
import { asPreflightError } from '../../../src/engine/checks/preflight-errors.ts';
import { ConflictError } from '../../../src/ports/kube.ts';

const status = { message: 'x' };

describe('one error family', () => {
  const table: [string, KubeswapError, { source: string; retryable: boolean; code: string }][] = [
    [
      'a rejected credential',
      new KubeAuthError('401', status),
      { source: 'user', retryable: false, code: 'kube.unauthorized' },
    ],
    [
      'an API server that did not answer',
      new KubeUnavailableError('down', status),
      { source: 'environment', retryable: true, code: 'kube.unavailable' },
    ],
    [
      'another API failure',
      new KubeError('400', status),
      { source: 'environment', retryable: false, code: 'kube.request-failed' },
    ],
    ['a missing kubeconfig', new KubeConfigError('no file'), { source: 'user', retryable: false, code: 'kube.config' }],
    [
      'a write conflict',
      new ConflictError('changed'),
      { source: 'environment', retryable: true, code: 'kube.conflict' },
    ],
    [
      'etcd reconfiguring',
      new EtcdError('etcd.cluster-unhealthy', 'guard'),
      { source: 'environment', retryable: true, code: 'etcd.cluster-unhealthy' },
    ],
    [
      'etcd unreachable',
      new EtcdError('etcd.unreachable', 'down'),
      { source: 'environment', retryable: false, code: 'etcd.unreachable' },
    ],
    [
      'AWS throttling after the SDK retries',
      new ProviderError('aws.throttled', 'slow down'),
      { source: 'environment', retryable: true, code: 'aws.throttled' },
    ],
    [
      'bad provider options',
      new ProviderError('options.invalid', 'no region'),
      { source: 'user', retryable: false, code: 'options.invalid' },
    ],
  ];
  for (const [name, err, want] of table) {
    it(`${name}: ${want.code}, ${want.source}, ${want.retryable ? 'retryable' : 'final'}`, () => {
      assert.ok(err instanceof KubeswapError);
      assert.deepEqual({ source: err.source, retryable: err.retryable, code: err.code }, want);
    });
  }
});

describe('asPreflightError: before the first change, every failure is a refusal', () => {
  it('makes a rejected credential invalid input, with what to check', () => {
    const err = asPreflightError(new KubeAuthError('401 Unauthorized', status));
    assert.deepEqual([err.failure, err.code], ['invalid', 'kube.unauthorized']);
    assert.match(err.hint ?? '', /--kubeconfig/);
  });
  it('keeps a provider failure code and hint, blocked', () => {
    const err = asPreflightError(new ProviderError('image.not-found', 'no image', { hint: 'tag one' }));
    assert.deepEqual([err.failure, err.code, err.hint], ['blocked', 'image.not-found', 'tag one']);
  });
  it('makes a permission AWS refused (exit 4 mid-run) a refusal before the first change (plan: exit 2)', () => {
    const denied = Object.assign(new Error('not authorized'), { name: 'AccessDenied' });
    const err = asPreflightError(wrapAwsError('describe Auto Scaling group cp', denied));
    assert.deepEqual([err.failure, err.code], ['blocked', 'aws.access-denied']);
    assert.equal(exitCodeFor(err), EXIT.invalid);
    assert.match(err.hint ?? '', /templates\/iam/);
  });
  it('says nothing changed for an API that failed, and for anything unexpected', () => {
    for (const cause of [new KubeUnavailableError('refused', status), new Error('boom')]) {
      const err = asPreflightError(cause);
      assert.deepEqual([err.failure, err.code], ['blocked', 'preflight.failed']);
      assert.match(err.hint ?? '', /nothing was changed/);
    }
  });
});
