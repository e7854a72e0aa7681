// (f) a replacement that never boots is rolled back: exit 3, cluster exactly as before.
// (g) a join that dies after adding its etcd member: the learner is removed, exit 3.
// (h) Ctrl-C during a rollback does not cut it short (issue 15): a replacement that joined and serves loses its etcd
// member, the re-run rolls it back, and a SIGINT inside the rollback's wait for the replacement's target to drain
// still ends with the member removed and exit 3, not 130 with 4 members (one dead) left behind.
// All three leave the cluster as it was, so they share one sandbox. Between (f) and (g) the operator moves on to a
// fixed image: refused while the rolled-back run is open, accepted after `kubeswap abandon` (which changes no machine).
// A final run then completes, after "an hour", remove-first (--max-surge 0, issue 9 §3 in launch-template mode):
// AWS no longer lists the torn-down replacements but still holds their ClientTokens (the sandbox's AWS front
// emulates both, integration/AWS-EMULATION.md), so the re-run must launch under a new token, not an old one, and
// AWS must hold exactly the replacements kubeswap reported (no second instance), never more than 3 at a time.
import assert from 'node:assert/strict';
import { DescribeInstancesCommand } from '@aws-sdk/client-ec2';
import {
  DescribeTargetGroupAttributesCommand,
  DescribeTargetHealthCommand,
  ElasticLoadBalancingV2Client,
  ModifyTargetGroupAttributesCommand,
} from '@aws-sdk/client-elastic-load-balancing-v2';
import * as k8s from '@kubernetes/client-node';
import type { Sandbox } from '../sandbox/index.ts';
import { AWS_TEST_CREDENTIALS } from '../sandbox/state.ts';
import {
  ClusterSampler,
  clusterTruth,
  codes,
  configWith,
  describeRun,
  essentials,
  type KubeswapRun,
  kubeswap,
  type RunOptions,
  registerImage,
  sandboxEc2,
  sandboxKube,
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

/** (h): long enough that the SIGINT lands well inside it, short enough for CI; a CI cancel's SIGKILL comes 10 s in. */
const DRAIN_SECONDS = 15;

const RETIRING = 'kubeswap.io/retiring';

/** An ELBv2 client on the sandbox's AWS front. Destroy it. */
const sandboxElb = (sb: Sandbox) =>
  new ElasticLoadBalancingV2Client({
    region: sb.aws.region,
    endpoint: sb.aws.endpoint,
    credentials: AWS_TEST_CREDENTIALS,
  });

/** The instances the API target group lists as serving (or about to), read from ELB. */
async function registered(sb: Sandbox): Promise<string[]> {
  const elb = sandboxElb(sb);
  try {
    const health = await elb.send(new DescribeTargetHealthCommand({ TargetGroupArn: sb.aws.targetGroupArn }));
    return (health.TargetHealthDescriptions ?? [])
      .filter((t) => ['healthy', 'initial', 'unhealthy'].includes(t.TargetHealth?.State ?? ''))
      .map((t) => t.Target!.Id!)
      .sort();
  } finally {
    elb.destroy();
  }
}

/** The target group's deregistration delay in seconds, as ELB holds it; with `seconds`, set to that first. */
async function deregistrationDelay(sb: Sandbox, seconds?: string): Promise<string | undefined> {
  const elb = sandboxElb(sb);
  const Key = 'deregistration_delay.timeout_seconds';
  const TargetGroupArn = sb.aws.targetGroupArn;
  try {
    if (seconds !== undefined) {
      await elb.send(new ModifyTargetGroupAttributesCommand({ TargetGroupArn, Attributes: [{ Key, Value: seconds }] }));
    }
    const read = await elb.send(new DescribeTargetGroupAttributesCommand({ TargetGroupArn }));
    return read.Attributes?.find((a) => a.Key === Key)?.Value;
  } finally {
    elb.destroy();
  }
}

describe('scenario: failed replacements are rolled back', function () {
  this.timeout(20 * 60_000);
  // ELBv2's draining emulated (h): a deregistered target drains for the group's delay, 2 s in the other cases.
  const sandbox = useSandbox({ controlPlanes: 3, targetDraining: true });

  let fixedImage: string | undefined;
  const target = () => [...(fixedImage ? ['--image', fixedImage] : []), '--to', sandbox().versions.to];
  const applyWith = (options: RunOptions, ...more: string[]) =>
    kubeswap(
      sandbox(),
      ['apply', ...more, ...target(), '--yes', '--gate-passes', '2', '--machine-timeout', '45s'],
      options,
    );
  const apply = (...more: string[]) => applyWith({}, ...more);

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

  it('(h) a rollback under way is not cut short by Ctrl-C: it waits out the draining, removes the member, exits 3', async () => {
    const sb = sandbox();
    const before = await clusterTruth(sb);
    const targetsBefore = await registered(sb);
    // A replacement joins and serves the API (registered in the target group); kubeswap dies before the old machine
    // is touched (its next step marks it retiring), so the re-run may still roll the replacement back.
    const served = await applyWith({ killAfter: (e) => e.code === 'target.registered' });
    assert.equal(served.signal, 'SIGKILL', `the replacement was registered: ${describeRun(served)}`);
    const replacement = String(served.events.find((e) => e.code === 'replacement.created')!.data!['replacement']);
    const oldNode = served.events.find((e) => e.code === 'swap.started')!.machine!;
    const old = await sandboxKube(sb).makeApiClient(k8s.CoreV1Api).readNode({ name: oldNode });
    assert.ok(
      !old.metadata?.annotations?.[RETIRING] && !old.spec?.unschedulable,
      `killed before ${oldNode} was marked retiring: ${describeRun(served)}`,
    );
    assert.ok((await registered(sb)).includes(replacement), 'the replacement serves in the API target group');
    const rNode = (await clusterTruth(sb)).nodes.find((n) => n.providerId?.endsWith(`/${replacement}`))!.name;
    await sb.fault({ kind: 'crash-etcd', node: rNode });

    // The re-run finds it not joined past the machine timeout and rolls it back: first its target leaves the load
    // balancer and drains for DRAIN_SECONDS, then its member is removed. Ctrl-C comes inside that draining.
    const delayBefore = await deregistrationDelay(sb);
    let run: KubeswapRun;
    try {
      const config = configWith(sb, 'slow-drain', { provider: { deregistrationDelaySeconds: DRAIN_SECONDS } });
      run = await applyWith(
        { interruptAfter: { event: (e) => e.code === 'replacement.failed', delayMs: 2000 }, timeoutMs: 4 * 60_000 },
        '--config',
        config,
      );
    } finally {
      if (delayBefore !== undefined) await deregistrationDelay(sb, delayBefore);
    }
    assert.ok(run.interruptedAt, `the rollback began: ${describeRun(run)}`);
    const tookMs = run.endedAt! - run.interruptedAt;
    console.log(
      `      SIGINT inside the rollback's ${DRAIN_SECONDS} s draining: exit ${run.exitCode} after ${tookMs} ms`,
    );

    // Etcd, AWS and the apiserver, not kubeswap's word: the member is gone (3 voters, the same as before), the VM is
    // terminated, the target is out of the group, the Node is deleted, and the lock is free.
    const after = await clusterTruth(sb);
    assert.deepEqual(essentials(after), essentials(before), `the cluster as before: ${describeRun(run)}`);
    assert.equal(after.members.filter((m) => !m.isLearner).length, 3);
    assert.ok(after.terminated.includes(replacement), 'the replacement instance is terminated');
    assert.deepEqual(await registered(sb), targetsBefore, 'the API target group as before');
    const lease = await sandboxKube(sb)
      .makeApiClient(k8s.CoordinationV1Api)
      .readNamespacedLease({ name: 'kubeswap-lock', namespace: 'kube-system' });
    assert.ok(!lease.spec?.holderIdentity, 'the lock is free');

    // The rollback ran to its end after the SIGINT: the draining began after replacement.failed, so at most 2 s before
    // the SIGINT, and was waited out to its end; the run ended as rolled back, not interrupted.
    assert.equal(run.exitCode, 3, describeRun(run));
    // The signal reached the process (not a run that merely took as long): it says so as it arrives.
    const heard = run.events.find((e) => e.code === 'run.interrupt-received');
    assert.ok(heard && Date.parse(heard.at) >= run.interruptedAt - 1000, `SIGINT heard: ${describeRun(run)}`);
    assert.ok(tookMs >= DRAIN_SECONDS * 1000 - 2500, `ended ${tookMs} ms after SIGINT: ${describeRun(run)}`);
    const rolledBack = run.events.find((e) => e.code === 'replacement.rolled-back');
    assert.equal((rolledBack?.data?.['removedMembers'] as string[] | undefined)?.length, 1, describeRun(run));
    assert.equal(run.events.find((e) => e.code === 'run.failed')?.data?.['error'], 'replacement.rolled-back');

    // A re-run can go on: it plans the next attempt (the last case runs it).
    const plan = await kubeswap(sb, ['plan', ...target()]);
    assert.equal(plan.exitCode, 0, describeRun(plan));
  });

  it('completes a remove-first re-run once the fault is gone, an hour later, with a new ClientToken and no second instance', async () => {
    const sb = sandbox();
    assert.ok((await sb.awsForgetTerminated()) >= 3, 'the three torn-down replacements are no longer listed');
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
