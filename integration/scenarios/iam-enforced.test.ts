// Issue 9 §8 on the sandbox with IAM enforced by moto (sandbox option awsIam): kubeswap runs with the keys of an IAM
// user holding exactly templates/iam/aws-ec2-launch-template.json (the launch-template mode's policy), one
// control-plane machine. A policy missing an action the launch needs (ec2:DescribeLaunchTemplateVersions, read when the
// replacement is launched) is refused by AWS mid-run: exit 4 naming the action and the policy templates, no machine
// changed, the lock released (kubeadm-config was bumped, the first change of every run); a re-run with the shipped
// policy resumes and upgrades the machine.
// What moto 5.2.1 can check is the policy's actions: it evaluates every EC2 and ELBv2 request against the resource
// `*` and fills no condition key but sts:ExternalId (integration/AWS-EMULATION.md). So the user holds the policy with
// every `Resource` set to `*`, conditions kept (moto lets them pass): this shows that the action lists are complete
// and enforced, not that the resource and tag scoping is right (test/templates checks that against AWS's rules).
import assert from 'node:assert/strict';
import * as k8s from '@kubernetes/client-node';
import type { Sandbox } from '../sandbox/index.ts';
import { ApiProbe, assertUpgraded, clusterTruth, describeRun, essentials, kubeswap, useSandbox } from './harness.ts';
import { policyFor } from './iam-policy.ts';

describe('scenario: kubeswap under an IAM user holding exactly the shipped policy (moto enforcing IAM)', function () {
  this.timeout(15 * 60_000);
  const sandbox = useSandbox({ controlPlanes: 1, awsIam: true });
  const USER = 'kubeswap';

  const applyAs = (sb: Sandbox, key: { accessKeyId: string; secretAccessKey: string }) =>
    kubeswap(sb, ['apply', '--to', sb.versions.to, '--yes', '--gate-passes', '2'], {
      env: { AWS_ACCESS_KEY_ID: key.accessKeyId, AWS_SECRET_ACCESS_KEY: key.secretAccessKey },
    });

  it('stops with exit 4 naming the action AWS refused when the policy lacks one the launch needs, no machine changed', async () => {
    const sb = sandbox();
    const before = await clusterTruth(sb);
    const key = await sb.awsIamUser(USER, policyFor(sb, 'ec2:DescribeLaunchTemplateVersions'));
    const run = await applyAs(sb, key);
    assert.equal(run.exitCode, 4, describeRun(run));
    const failed = run.events.find((e) => e.code === 'run.failed')!;
    assert.equal(failed.data?.['error'], 'aws.access-denied', describeRun(run));
    assert.match(failed.message, /not authorized to perform: ec2:DescribeLaunchTemplateVersions/);
    assert.match(String(failed.data?.['hint']), /templates\/iam/);
    const after = await clusterTruth(sb);
    assert.deepEqual(essentials(after), essentials(before), 'no machine changed');
    const kc = new k8s.KubeConfig();
    kc.loadFromFile(sb.kubeconfig);
    const lease = await kc
      .makeApiClient(k8s.CoordinationV1Api)
      .readNamespacedLease({ name: 'kubeswap-lock', namespace: 'kube-system' })
      .catch(() => undefined);
    assert.ok(!lease?.spec?.holderIdentity, 'no lock left held');
  });

  it('upgrades the machine with exactly the shipped policy', async () => {
    const sb = sandbox();
    const before = await clusterTruth(sb);
    const key = await sb.awsIamUser(USER, policyFor(sb));
    const probe = new ApiProbe(sb).start();
    const run = await applyAs(sb, key);
    await assertUpgraded(sb, before, run, await probe.stop());
  });
});
