// (f) a replacement that never boots is rolled back: exit 3, cluster exactly as before.
// (g) a join that dies after adding its etcd member: the learner is removed, exit 3.
// Both leave the cluster as it was, so they share one sandbox. Between them the operator moves on to a fixed
// image: refused while the rolled-back run is open, accepted after `kubeswap abandon` (which changes no machine).
// A final run then completes, after "an hour", remove-first (--max-surge 0, issue 9 §3 in launch-template mode):
// AWS no longer lists the torn-down replacements but still holds their ClientTokens (the sandbox's AWS front
// emulates both, integration/AWS-EMULATION.md), so the re-run must launch under a new token, not an old one, and
// AWS must hold exactly the replacements kubeswap reported (no second instance), never more than 3 at a time.
import assert from 'node:assert/strict';
import { DescribeInstancesCommand } from '@aws-sdk/client-ec2';
import * as k8s from '@kubernetes/client-node';
import type { Sandbox } from '../sandbox/index.ts';
import {
  ClusterSampler,
  clusterTruth,
  codes,
  describeRun,
  essentials,
  type KubeswapRun,
  kubeswap,
  registerImage,
  sandboxEc2,
  useSandbox,
} from './harness.ts';

/** The instances AWS launched since `since`, as DescribeInstances lists them (terminated ones included). */
async function launchedSince(sb: Sandbox, since: Date): Promise<string[]> {
  const ec2 = sandboxEc2(sb);
  try {
    return ((await ec2.send(new DescribeInstancesCommand({}))).Reservations ?? [])
      .flatMap((r) => r.Instances ?? [])
      .filter((i) => i.LaunchTime && i.LaunchTime >= new Date(since.getTime() - 1000))
      .map((i) => i.InstanceId!);
  } finally {
    ec2.destroy();
  }
}

describe('scenario: failed replacements are rolled back', function () {
  this.timeout(20 * 60_000);
  const sandbox = useSandbox({ controlPlanes: 3 });

  let fixedImage: string | undefined;
  const apply = (...more: string[]) =>
    kubeswap(sandbox(), [
      'apply',
      ...more,
      ...(fixedImage ? ['--image', fixedImage] : []),
      '--to',
      sandbox().versions.to,
      '--yes',
      '--gate-passes',
      '2',
      '--machine-timeout',
      '45s',
    ]);

  it('(f) tears down a replacement that never boots and exits 3', async () => {
    const sb = sandbox();
    const before = await clusterTruth(sb);
    await sb.fault({ kind: 'never-boot', next: true });
    const run = await apply();
    assert.equal(run.exitCode, 3, describeRun(run));
    assert.ok(codes(run).includes('replacement.rolled-back'));
    const after = await clusterTruth(sb);
    assert.deepEqual(essentials(after), essentials(before));
    const created = run.events.find((e) => e.code === 'replacement.created')!.data!['replacement'] as string;
    assert.ok(after.terminated.includes(created), 'the replacement instance is terminated');
  });

  it('moves on to a fixed image only after kubeswap abandon, which changes no machine', async () => {
    const sb = sandbox();
    const before = await clusterTruth(sb);
    fixedImage = await registerImage(sb, sb.versions.to, 'control-plane-fixed');
    const refused = await apply();
    assert.equal(refused.exitCode, 2, describeRun(refused));
    const failed = refused.events.find((e) => e.code === 'run.failed')!;
    assert.equal(failed.data?.['error'], 'run.other-target-in-progress');
    assert.match(String(failed.data?.['hint']), /kubeswap abandon/);

    const abandoned = await kubeswap(sb, ['abandon']);
    assert.equal(abandoned.exitCode, 0, describeRun(abandoned));
    const said = JSON.parse(abandoned.stdout.trim().split('\n').at(-1)!);
    assert.equal(said.code, 'run.abandoned');
    const kc = new k8s.KubeConfig();
    kc.loadFromFile(sb.kubeconfig);
    const core = kc.makeApiClient(k8s.CoreV1Api);
    const cm = await core.readNamespacedConfigMap({ name: 'kubeswap-progress', namespace: 'kube-system' });
    const record = JSON.parse(cm.data!['progress']!);
    assert.equal(record.state, 'abandoned');
    assert.equal(record.runId, said.runId);
    const lease = await kc
      .makeApiClient(k8s.CoordinationV1Api)
      .readNamespacedLease({ name: 'kubeswap-lock', namespace: 'kube-system' });
    assert.ok(!lease.spec?.holderIdentity, 'the lock is free');
    assert.deepEqual(essentials(await clusterTruth(sb)), essentials(before), 'abandon changed no machine');
  });

  it('(g) removes the learner a dying join left behind and exits 3', async () => {
    const sb = sandbox();
    const before = await clusterTruth(sb);
    await sb.fault({ kind: 'die-after-member-add', next: true });
    const run = await apply();
    assert.equal(run.exitCode, 3, describeRun(run));
    const rolledBack = run.events.find((e) => e.code === 'replacement.rolled-back')!;
    assert.equal((rolledBack.data!['removedMembers'] as string[]).length, 1, 'the leaked learner was removed');
    const after = await clusterTruth(sb);
    assert.deepEqual(essentials(after), essentials(before));
    assert.ok(after.members.every((m) => !m.isLearner));
  });

  it('completes a remove-first re-run once the fault is gone, an hour later, with a new ClientToken and no second instance', async () => {
    const sb = sandbox();
    assert.ok((await sb.awsForgetTerminated()) >= 2, 'the two torn-down replacements are no longer listed');
    const started = new Date();
    const sampler = new ClusterSampler(sb).start();
    let run: KubeswapRun;
    try {
      run = await apply('--max-surge', '0');
    } finally {
      await sampler.stop();
    }
    assert.equal(run.exitCode, 0, describeRun(run));
    assert.ok(
      run.events.some((e) => e.data?.['reason'] === 'replacement.token-reused'),
      'the first attempt tokens were seen as used',
    );
    // Independently of kubeswap: remove-first never runs a 4th machine, and AWS launched exactly the replacements
    // kubeswap reported, one each (a launch under a reused token would be a terminated or a second instance).
    assert.ok(sampler.maxInstances <= 3, `at most 3 instances at a time, saw ${sampler.maxInstances}`);
    const reported = run.events
      .filter((e) => e.code === 'replacement.created')
      .map((e) => String(e.data!['replacement']));
    assert.equal(new Set(reported).size, 3, 'one replacement per machine');
    assert.deepEqual((await launchedSince(sb, started)).sort(), [...new Set(reported)].sort());
    const after = await clusterTruth(sb);
    assert.equal(after.members.length, 3);
    assert.ok(after.nodes.every((n) => n.version === sb.versions.to));
    assert.ok(
      after.running.every((i) => i.image === fixedImage),
      'every machine runs the fixed image',
    );
  });
});
