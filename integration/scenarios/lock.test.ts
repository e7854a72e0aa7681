// (h) a second run while another holds the lock is refused with exit 2; `unlock` breaks a stale lock.
import assert from 'node:assert/strict';
import * as k8s from '@kubernetes/client-node';
import { clusterTruth, describeRun, essentials, kubeswap, useSandbox } from './harness.ts';

describe('scenario: the run lock', function () {
  this.timeout(10 * 60_000);
  const sandbox = useSandbox({ controlPlanes: 1 });
  let coord: k8s.CoordinationV1Api;
  before(() => {
    const sb = sandbox();
    const kc = new k8s.KubeConfig();
    kc.loadFromFile(sb.kubeconfig);
    coord = kc.makeApiClient(k8s.CoordinationV1Api);
  });

  it('refuses to run while another run on another host holds the lock, changing nothing', async () => {
    const sb = sandbox();
    const now = new k8s.V1MicroTime();
    await coord.createNamespacedLease({
      namespace: 'kube-system',
      body: {
        metadata: { name: 'kubeswap-lock' },
        spec: {
          holderIdentity: '20261122t000000-abcdef@ci-runner-7#4242',
          leaseDurationSeconds: 600,
          acquireTime: now,
          renewTime: now,
        },
      },
    });
    const before = await clusterTruth(sb);
    const run = await kubeswap(sb, ['apply', '--to', sb.versions.to, '--yes']);
    assert.equal(run.exitCode, 2, describeRun(run));
    assert.match(run.stdout, /lock\.held/);
    assert.match(run.stdout, /ci-runner-7/);
    assert.deepEqual(essentials(await clusterTruth(sb)), essentials(before));
    assert.equal(before.kubernetesVersion, (await clusterTruth(sb)).kubernetesVersion);
  });

  it('shows the holder in status and breaks the lock with unlock', async () => {
    const sb = sandbox();
    const status = await kubeswap(sb, ['status']);
    assert.equal(status.exitCode, 0, describeRun(status));
    assert.match(status.stdout, /ci-runner-7/);
    const unlock = await kubeswap(sb, ['unlock']);
    assert.equal(unlock.exitCode, 0, describeRun(unlock));
    const lease = await coord.readNamespacedLease({ name: 'kubeswap-lock', namespace: 'kube-system' });
    assert.equal(lease.spec?.holderIdentity, undefined);
  });
});
