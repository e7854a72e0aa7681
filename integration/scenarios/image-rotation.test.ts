// (b) image rotation at the same Kubernetes version: every machine moves to the new image.
import assert from 'node:assert/strict';
import { clusterTruth, describeRun, kubeswap, registerImage, useSandbox } from './harness.ts';

describe('scenario: image rotation at the same version', function () {
  this.timeout(20 * 60_000);
  const sandbox = useSandbox({ controlPlanes: 3 });

  it('replaces every machine with the new image and keeps the version', async () => {
    const sb = sandbox();
    const image = await registerImage(sb, sb.versions.from, 'control-plane-rebuilt');
    const plan = await kubeswap(sb, ['plan', '--image', image]);
    assert.equal(plan.exitCode, 0, describeRun(plan));
    const run = await kubeswap(sb, ['apply', '--image', image, '--yes', '--gate-passes', '2']);
    assert.equal(run.exitCode, 0, describeRun(run));
    const after = await clusterTruth(sb);
    assert.equal(after.kubernetesVersion, sb.versions.from);
    assert.equal(after.running.length, 3);
    assert.ok(after.running.every((i) => i.image === image));
    assert.ok(after.nodes.every((n) => n.version === sb.versions.from));
  });
});
