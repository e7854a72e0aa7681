// (b) image rotation at the same Kubernetes version: every machine moves to the new image. One Node was cordoned by
// its operator beforehand: "being retired" is a fact kubeswap records, never inferred from a cordon (issue 9 §4),
// so that machine is replaced like the others, add-then-remove, etcd never below 3 voting members.
import assert from 'node:assert/strict';
import * as k8s from '@kubernetes/client-node';
import { ClusterSampler, clusterTruth, describeRun, kubeswap, registerImage, useSandbox } from './harness.ts';

describe('scenario: image rotation at the same version', function () {
  this.timeout(20 * 60_000);
  const sandbox = useSandbox({ controlPlanes: 3 });

  it('replaces every machine with the new image and keeps the version', async () => {
    const sb = sandbox();
    const image = await registerImage(sb, sb.versions.from, 'control-plane-rebuilt');
    const plan = await kubeswap(sb, ['plan', '--image', image]);
    assert.equal(plan.exitCode, 0, describeRun(plan));
    const kc = new k8s.KubeConfig();
    kc.loadFromFile(sb.kubeconfig);
    const core = kc.makeApiClient(k8s.CoreV1Api);
    const cordoned = sb.machines[2]!.node;
    await core.patchNode(
      { name: cordoned, body: { spec: { unschedulable: true } } },
      k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
    );
    const sampler = new ClusterSampler(sb).start();
    const run = await kubeswap(sb, ['apply', '--image', image, '--yes', '--gate-passes', '2']);
    await sampler.stop();
    assert.equal(run.exitCode, 0, describeRun(run));
    console.log(`      etcd: fewest voters ${sampler.minVoters}, most instances ${sampler.maxInstances}`);
    assert.ok(sampler.minVoters >= 3, `never fewer than 3 voting members (saw ${sampler.minVoters})`);
    assert.ok(sampler.maxInstances <= 4, `one replacement at a time (saw ${sampler.maxInstances} instances)`);
    const swapOfCordoned = run.events.find((e) => e.code === 'swap.started' && e.machine === cordoned);
    assert.ok(swapOfCordoned, `${cordoned} was replaced`);
    assert.doesNotMatch(swapOfCordoned.message, /removing it first/, 'add-then-remove, not treated as retiring');
    const after = await clusterTruth(sb);
    assert.equal(after.kubernetesVersion, sb.versions.from);
    assert.equal(after.running.length, 3);
    assert.ok(after.running.every((i) => i.image === image));
    assert.ok(after.nodes.every((n) => n.version === sb.versions.from));
  });
});
