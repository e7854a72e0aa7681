// The aws-asg provider on a sandbox whose control-plane instances are a moto Auto Scaling group's, with the API
// target group attached. One sandbox for the file: the refusals first (each leaves the cluster and the group as
// they were), then (a)+(b)+(d)+(e) the upgrade through a group at MaxSize with lifecycle hooks and a user-suspended
// process that must stay suspended, then (c) a kill -9 and re-run.
import assert from 'node:assert/strict';
import {
  type AutoScalingClient,
  CancelInstanceRefreshCommand,
  CompleteLifecycleActionCommand,
  CreateAutoScalingGroupCommand,
  CreateLaunchConfigurationCommand,
  DeleteLifecycleHookCommand,
  DescribeAutoScalingGroupsCommand,
  PutLifecycleHookCommand,
  StartInstanceRefreshCommand,
  SuspendProcessesCommand,
} from '@aws-sdk/client-auto-scaling';
import { DescribeInstancesCommand, DescribeLaunchTemplateVersionsCommand, type EC2Client } from '@aws-sdk/client-ec2';
import { awsClients } from '../sandbox/aws.ts';
import type { Sandbox } from '../sandbox/index.ts';
import {
  ApiProbe,
  assertUpgraded,
  ClusterSampler,
  clusterTruth,
  codes,
  describeRun,
  essentials,
  kubeswap,
  registerImage,
  useSandbox,
} from './harness.ts';

/** The group as the restore must leave it: sizes, suspended processes, protection, launch template. */
async function groupState(asg: AutoScalingClient, name: string) {
  const out = await asg.send(new DescribeAutoScalingGroupsCommand({ AutoScalingGroupNames: [name] }));
  const g = out.AutoScalingGroups![0]!;
  return {
    sizes: [g.MinSize, g.MaxSize, g.DesiredCapacity],
    suspended: (g.SuspendedProcesses ?? []).map((p) => p.ProcessName).sort(),
    protectedInstances: (g.Instances ?? []).filter((i) => i.ProtectedFromScaleIn).map((i) => i.InstanceId),
    launchTemplate: g.LaunchTemplate,
    instances: (g.Instances ?? []).map((i) => i.InstanceId!).sort(),
  };
}

/**
 * Watches the group through the run, as AWS reports it (independent of kubeswap's events): the largest MaxSize, the
 * instances a launch hook held (Pending:Wait), and it plays a terminate hook's consumer: an instance in
 * Terminating:Wait is checked to be still running in EC2 after `holdMs`, then completed with CONTINUE.
 */
class GroupWatch {
  maxMaxSize = 0;
  readonly pendingWait = new Set<string>();
  readonly terminatingWait = new Map<string, { since: number; runningWhileHeld?: boolean; completed?: boolean }>();
  private running = true;
  private loop?: Promise<void>;

  constructor(
    private readonly asg: AutoScalingClient,
    private readonly ec2: EC2Client,
    private readonly name: string,
    private readonly terminateHook: string,
    private readonly holdMs = 3000,
  ) {}

  start(): this {
    this.loop = (async () => {
      while (this.running) {
        await this.observe().catch(() => {});
        await new Promise((resolve) => setTimeout(resolve, 500));
      }
    })();
    return this;
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.loop;
  }

  private async observe(): Promise<void> {
    const out = await this.asg.send(new DescribeAutoScalingGroupsCommand({ AutoScalingGroupNames: [this.name] }));
    const g = out.AutoScalingGroups![0]!;
    this.maxMaxSize = Math.max(this.maxMaxSize, g.MaxSize ?? 0);
    for (const i of g.Instances ?? []) {
      if (i.LifecycleState === 'Pending:Wait') this.pendingWait.add(i.InstanceId!);
      if (i.LifecycleState !== 'Terminating:Wait') continue;
      const held = this.terminatingWait.get(i.InstanceId!) ?? { since: Date.now() };
      this.terminatingWait.set(i.InstanceId!, held);
      if (held.completed || Date.now() - held.since < this.holdMs) continue;
      const ec2 = await this.ec2.send(new DescribeInstancesCommand({ InstanceIds: [i.InstanceId!] }));
      held.runningWhileHeld = ec2.Reservations?.[0]?.Instances?.[0]?.State?.Name === 'running';
      await this.asg.send(
        new CompleteLifecycleActionCommand({
          AutoScalingGroupName: this.name,
          LifecycleHookName: this.terminateHook,
          InstanceId: i.InstanceId!,
          LifecycleActionResult: 'CONTINUE',
        }),
      );
      held.completed = true;
    }
  }
}

/** apply to TO through a launch template version kubeswap makes with the target image. */
const upgrade = (sb: Sandbox, ...flags: string[]) => [
  'apply',
  '--to',
  sb.versions.to,
  '--yes',
  '--update-launch-template',
  ...flags,
];

describe('scenario: aws-asg provider, control plane in an Auto Scaling group', function () {
  this.timeout(20 * 60_000);
  const sandbox = useSandbox({ controlPlanes: 3, provider: 'aws-asg' });
  // Through the sandbox's AWS front, as kubeswap sees AWS.
  const aws = () => awsClients(sandbox().aws.endpoint);
  const group = (sb: Sandbox) => sb.aws.autoScalingGroup!;

  it('(h) refuses an unknown group, a group of another cluster and a launch-configuration group: exit 2, nothing changed', async () => {
    const sb = sandbox();
    const { asg } = aws();
    const before = essentials(await clusterTruth(sb));
    const groupBefore = await groupState(asg, group(sb));
    // A group of this cluster that still uses a launch configuration.
    await asg.send(
      new CreateLaunchConfigurationCommand({
        LaunchConfigurationName: 'legacy-lc',
        ImageId: sb.aws.images[sb.versions.from],
        InstanceType: 't3.large',
      }),
    );
    await asg.send(
      new CreateAutoScalingGroupCommand({
        AutoScalingGroupName: 'legacy',
        LaunchConfigurationName: 'legacy-lc',
        MinSize: 0,
        MaxSize: 0,
        DesiredCapacity: 0,
        VPCZoneIdentifier: sb.aws.subnetIds[0],
        Tags: [{ Key: `kubernetes.io/cluster/${sb.clusterName}`, Value: 'owned', PropagateAtLaunch: false }],
      }),
    );
    const cases: [string[], RegExp][] = [
      [['--auto-scaling-group', 'no-such-group'], /Auto Scaling group no-such-group does not exist/],
      [['--cluster-name', 'other-cluster'], /is not tagged kubernetes\.io\/cluster\/other-cluster/],
      // The hint says what to do: migrate the group to a launch template.
      [
        ['--auto-scaling-group', 'legacy'],
        /uses launch configuration legacy-lc[\s\S]*migrate the group to a launch template/,
      ],
    ];
    for (const [flags, message] of cases) {
      const run = await kubeswap(sb, ['apply', '--to', sb.versions.to, '--yes', ...flags]);
      assert.equal(run.exitCode, 2, describeRun(run));
      assert.match(`${run.stdout}\n${run.stderr}`, message, describeRun(run));
      assert.ok(!codes(run).includes('lock.acquired'), 'refused before the lock');
    }
    assert.deepEqual(essentials(await clusterTruth(sb)), before);
    assert.deepEqual(await groupState(asg, group(sb)), groupBefore);
  });

  it('(g) refuses while an instance refresh is in progress: exit 2, the group and the cluster unchanged', async () => {
    const sb = sandbox();
    const { asg } = aws();
    const before = essentials(await clusterTruth(sb));
    const groupBefore = await groupState(asg, group(sb));
    await asg.send(new StartInstanceRefreshCommand({ AutoScalingGroupName: group(sb) }));
    try {
      const run = await kubeswap(sb, upgrade(sb, '--gate-passes', '1'));
      assert.equal(run.exitCode, 2, describeRun(run));
      assert.match(`${run.stdout}\n${run.stderr}`, /instance refresh .* is InProgress/);
      assert.ok(!codes(run).includes('replacement.created'));
    } finally {
      await asg.send(new CancelInstanceRefreshCommand({ AutoScalingGroupName: group(sb) }));
    }
    assert.deepEqual(essentials(await clusterTruth(sb)), before);
    assert.deepEqual(await groupState(asg, group(sb)), groupBefore);
  });

  it('(f) rolls back a replacement that never joins: exit 3, the cluster and the group as before', async () => {
    const sb = sandbox();
    const { asg } = aws();
    const before = essentials(await clusterTruth(sb));
    const groupBefore = await groupState(asg, group(sb));
    await sb.fault({ kind: 'never-boot', next: true });
    const run = await kubeswap(sb, upgrade(sb, '--gate-passes', '1', '--machine-timeout', '20s'));
    assert.equal(run.exitCode, 3, describeRun(run));
    assert.ok(codes(run).includes('replacement.rolled-back'), describeRun(run));
    assert.ok(codes(run).includes('provider.run-restored'), describeRun(run));
    assert.deepEqual(essentials(await clusterTruth(sb)), before);
    const groupAfter = await groupState(asg, group(sb));
    // The group's launch template version moved to the target (any later launch boots it); all else as before.
    assert.deepEqual({ ...groupAfter, launchTemplate: undefined }, { ...groupBefore, launchTemplate: undefined });
  });

  it('(a)+(b)+(d)+(e) replaces 3 machines through a group at MaxSize with lifecycle hooks and restores it exactly; a user-suspended process stays suspended', async () => {
    const sb = sandbox();
    const { asg, ec2 } = aws();
    // (d) The user had suspended AZRebalance before the run.
    await asg.send(new SuspendProcessesCommand({ AutoScalingGroupName: group(sb), ScalingProcesses: ['AZRebalance'] }));
    // (e) A launch hook nobody else completes, whose timeout would ABANDON (terminate) a joined machine, and a
    // terminate hook whose consumer (the GroupWatch) takes a few seconds.
    const hooks = [
      { LifecycleHookName: 'kubeswap-test-launch', LifecycleTransition: 'autoscaling:EC2_INSTANCE_LAUNCHING' },
      { LifecycleHookName: 'kubeswap-test-terminate', LifecycleTransition: 'autoscaling:EC2_INSTANCE_TERMINATING' },
    ];
    for (const hook of hooks) {
      await asg.send(
        new PutLifecycleHookCommand({
          AutoScalingGroupName: group(sb),
          ...hook,
          HeartbeatTimeout: 600,
          DefaultResult: 'ABANDON',
        }),
      );
    }
    const groupBefore = await groupState(asg, group(sb));
    // (b) The group is at its MaxSize: the surge has to raise it for the run.
    assert.equal(groupBefore.sizes[1], groupBefore.sizes[2], 'the group starts at MaxSize');
    const before = await clusterTruth(sb);
    const probe = new ApiProbe(sb).start();
    const sampler = new ClusterSampler(sb).start();
    const watch = new GroupWatch(asg, ec2, group(sb), 'kubeswap-test-terminate').start();
    const run = await kubeswap(sb, upgrade(sb, '--gate-passes', '2')).finally(async () => {
      await watch.stop();
      for (const hook of hooks) {
        await asg.send(
          new DeleteLifecycleHookCommand({
            AutoScalingGroupName: group(sb),
            LifecycleHookName: hook.LifecycleHookName,
          }),
        );
      }
    });
    const api = await probe.stop();
    await sampler.stop();
    console.log(
      `      group watch: MaxSize up to ${watch.maxMaxSize}, Pending:Wait ${watch.pendingWait.size}, Terminating:Wait ${watch.terminatingWait.size}`,
    );
    const after = await assertUpgraded(sb, before, run, api);
    console.log(
      `      sampler: ${sampler.samples} samples, fewest voters ${sampler.minVoters}, most instances ${sampler.maxInstances}, longest etcd outage ${sampler.longestOutage}`,
    );
    assert.ok(sampler.minVoters >= 3, `never fewer than 3 voting members (saw ${sampler.minVoters})`);
    assert.ok(sampler.maxInstances <= 4, `surge by one at most (saw ${sampler.maxInstances})`);
    assert.ok(sampler.longestOutage <= 2, `etcd answered throughout (longest outage ${sampler.longestOutage})`);

    const groupAfter = await groupState(asg, group(sb));
    assert.deepEqual(groupAfter.sizes, groupBefore.sizes, 'MinSize, MaxSize, DesiredCapacity restored');
    assert.deepEqual(groupAfter.suspended, ['AZRebalance'], "only the user's process is still suspended");
    assert.deepEqual(groupAfter.protectedInstances, [], 'the protection the run added is removed');
    assert.deepEqual(groupAfter.instances, after.running.map((i) => i.id).sort(), 'the group holds the new machines');
    for (const old of groupBefore.instances) assert.ok(!groupAfter.instances.includes(old), `${old} left the group`);
    // The group's launch template version is the target: a version whose image is TO's.
    const lt = groupAfter.launchTemplate!;
    assert.notEqual(lt.Version, '1', 'no longer the version the group was created with');
    const versions = await ec2.send(
      new DescribeLaunchTemplateVersionsCommand({ LaunchTemplateId: lt.LaunchTemplateId, Versions: [lt.Version!] }),
    );
    assert.equal(versions.LaunchTemplateVersions?.[0]?.LaunchTemplateData?.ImageId, sb.aws.images[sb.versions.to]);
    assert.ok(codes(run).includes('provider.run-restored'), describeRun(run));
    // (b) MaxSize was raised for the surge and is back (asserted with the sizes above).
    assert.equal(watch.maxMaxSize, (groupBefore.sizes[1] ?? 0) + 1, 'MaxSize raised by one during the run');
    // (e) Each replacement was held by the launch hook and let go by kubeswap once it served: all InService now.
    assert.deepEqual([...watch.pendingWait].sort(), groupAfter.instances, 'every replacement was held Pending:Wait');
    const inService = (
      await asg.send(new DescribeAutoScalingGroupsCommand({ AutoScalingGroupNames: [group(sb)] }))
    ).AutoScalingGroups![0]!.Instances!.map((i) => i.LifecycleState);
    assert.deepEqual(inService, ['InService', 'InService', 'InService']);
    // Each old instance waited in Terminating:Wait for the hook's consumer, still running in EC2 meanwhile.
    assert.deepEqual(
      [...watch.terminatingWait.keys()].sort(),
      groupBefore.instances,
      'every old instance went through the hook',
    );
    for (const [id, held] of watch.terminatingWait) {
      assert.equal(held.runningWhileHeld, true, `${id} kept running while the terminate hook held it`);
    }
  });

  it('(c) a run killed -9 mid-swap leaves the group held; the re-run completes and restores it exactly', async () => {
    const sb = sandbox();
    const { asg } = aws();
    // Image rotation at the same version: one more image for TO, deployed through a new launch template version.
    const image = await registerImage(sb, sb.versions.to, 'kubeswap-sandbox-node-rotated');
    const args = upgrade(sb, '--image', image, '--gate-passes', '1');
    const groupBefore = await groupState(asg, group(sb));
    const killed = await kubeswap(sb, args, { killAfter: (e) => e.code === 'replacement.created' });
    assert.equal(killed.signal, 'SIGKILL', describeRun(killed));
    const held = await groupState(asg, group(sb));
    assert.equal(held.sizes[2], 4, 'the surge instance is in the group');
    assert.ok(held.suspended.includes('ReplaceUnhealthy'), 'the run-suspended processes stay suspended');
    const rerun = await kubeswap(sb, args);
    assert.equal(rerun.exitCode, 0, describeRun(rerun));
    assert.ok(codes(rerun).includes('run.resumed'), describeRun(rerun));
    const groupAfter = await groupState(asg, group(sb));
    assert.deepEqual(groupAfter.sizes, groupBefore.sizes);
    assert.deepEqual(groupAfter.suspended, ['AZRebalance']);
    assert.deepEqual(groupAfter.protectedInstances, []);
    const after = await clusterTruth(sb);
    assert.equal(after.members.length, 3);
    assert.ok(after.running.filter((i) => groupAfter.instances.includes(i.id)).every((i) => i.image === image));
  });
});
