// Worker pools as Auto Scaling groups (aws-asg, issue 12 §2): a 1-machine control plane in its group and a worker
// group `blue` of 3 at MaxSize, rolled FROM -> TO with maxSurge 1 / maxUnavailable 1 through the groups' own
// launches and terminations, a Deployment with a PodDisruptionBudget on the workers. An independent sampler (API and
// moto, not kubeswap's events) checks the PDB, the pool's limits and the group's MaxSize headroom held; at the end
// every worker runs the target through the group's target template version, and the group is as it was.
import assert from 'node:assert/strict';
import { DescribeAutoScalingGroupsCommand } from '@aws-sdk/client-auto-scaling';
import { DescribeInstancesCommand } from '@aws-sdk/client-ec2';
import * as k8s from '@kubernetes/client-node';
import { awsClients } from '../sandbox/aws.ts';
import type { Sandbox } from '../sandbox/index.ts';
import {
  clusterTruth,
  configWith,
  deployWebWithPdb,
  describeRun,
  isReady,
  kubeswap,
  sandboxKube,
  useSandbox,
  WorkloadSampler,
} from './harness.ts';

const SIZE = 3;
const REPLICAS = 3;

/** The sandbox's config with the worker group as pool blue. */
const poolsConfig = (sb: Sandbox) =>
  configWith(sb, 'kubeswap-groups', {
    workerPools: [{ name: 'blue', maxSurge: 1, maxUnavailable: 1, autoScalingGroup: sb.aws.workerGroups!['blue'] }],
  });

const destroyAll = (aws: ReturnType<typeof awsClients>) => {
  aws.asg.destroy();
  aws.ec2.destroy();
  aws.elb.destroy();
  aws.ssm.destroy();
};

describe('scenario: worker pool as an Auto Scaling group (aws-asg)', function () {
  this.timeout(15 * 60_000);
  const sandbox = useSandbox({
    controlPlanes: 1,
    provider: 'aws-asg',
    workerPools: { blue: SIZE },
    workerGroups: true,
  });
  let core: k8s.CoreV1Api;

  before(async () => {
    core = sandboxKube(sandbox()).makeApiClient(k8s.CoreV1Api);
    await deployWebWithPdb(sandbox(), { replicas: REPLICAS });
  });

  it('upgrades the control plane, then the worker group within the PDB, maxSurge/maxUnavailable and MaxSize headroom', async () => {
    const sb = sandbox();
    const started = Date.now();
    // Independent of kubeswap, alongside the web pods: the group's most live instances and highest MaxSize (moto).
    const groupAws = awsClients(sb.aws.endpoint);
    const sampler = new WorkloadSampler(sb, {
      alongside: async (peak) => {
        const groups = await groupAws.asg.send(
          new DescribeAutoScalingGroupsCommand({ AutoScalingGroupNames: [sb.aws.workerGroups!['blue']!] }),
        );
        const group = groups.AutoScalingGroups?.[0];
        const live = (group?.Instances ?? []).filter((i) => !/^Terminat/.test(i.LifecycleState ?? '')).length;
        peak('live', live);
        peak('maxSize', group?.MaxSize ?? 0);
      },
    }).start();
    const run = await kubeswap(sb, [
      'apply',
      '--to',
      sb.versions.to,
      '--yes',
      '--update-launch-template',
      '--gate-passes',
      '1',
      '--config',
      poolsConfig(sb),
      '--drain-timeout',
      '60s',
    ]).finally(async () => {
      await sampler.stop();
      destroyAll(groupAws);
    });
    assert.equal(run.exitCode, 0, describeRun(run));
    // Independent: the PDB (one web pod down at most), the pool's limits (size + maxSurge live instances), and the
    // group's MaxSize raised for the surge only.
    sampler.assertBudgetHeld(REPLICAS, 1);
    assert.ok(sampler.peaks['live']! <= SIZE + 1, `${sampler.peaks['live']} live instances in the group at one point`);
    assert.equal(sampler.peaks['maxSize'], SIZE + 1, 'MaxSize raised by one for the surge');

    const truth = await clusterTruth(sb);
    assert.ok(truth.nodes.every((n) => n.version === sb.versions.to && n.ready));
    const aws = awsClients(sb.aws.endpoint);
    try {
      const group = (
        await aws.asg.send(
          new DescribeAutoScalingGroupsCommand({ AutoScalingGroupNames: [sb.aws.workerGroups!['blue']!] }),
        )
      ).AutoScalingGroups![0]!;
      assert.deepEqual([group.MinSize, group.MaxSize, group.DesiredCapacity], [SIZE, SIZE, SIZE], 'sizes restored');
      assert.deepEqual(group.SuspendedProcesses ?? [], [], 'processes resumed');
      const ids = (group.Instances ?? []).map((i) => i.InstanceId!);
      assert.equal(ids.length, SIZE);
      assert.ok(
        (group.Instances ?? []).every((i) => !i.ProtectedFromScaleIn),
        'scale-in protection removed',
      );
      const instances = (
        (await aws.ec2.send(new DescribeInstancesCommand({ InstanceIds: ids }))).Reservations ?? []
      ).flatMap((r) => r.Instances ?? []);
      const image = truth.running.find((i) => truth.nodes[0]!.providerId?.endsWith(i.id))?.image;
      assert.ok(image, 'the control-plane image');
      assert.ok(
        instances.every((i) => i.ImageId === image),
        `worker images ${instances.map((i) => i.ImageId).join(', ')}, want ${image}`,
      );
      // Their Nodes: Ready at the target, one per group instance, nothing else left as a worker.
      const workers = (await core.listNode()).items.filter(
        (n) => !('node-role.kubernetes.io/control-plane' in (n.metadata?.labels ?? {})),
      );
      const live = workers.filter((n) => ids.includes(n.spec?.providerID?.split('/').pop() ?? ''));
      assert.equal(live.length, SIZE, workers.map((n) => n.metadata?.name).join(', '));
      assert.ok(live.every((n) => n.status?.nodeInfo?.kubeletVersion === sb.versions.to && isReady(n.status)));
    } finally {
      destroyAll(aws);
    }
    console.log(`      worker group FROM -> TO: ${Math.round((Date.now() - started) / 1000)} s`);
  });
});
