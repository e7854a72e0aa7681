// Worker pools as Auto Scaling groups (aws-asg, issue 12 §2): a 1-machine control plane in its group and a worker
// group `blue` of 3 at MaxSize, rolled FROM -> TO with maxSurge 1 / maxUnavailable 1 through the groups' own
// launches and terminations, a Deployment with a PodDisruptionBudget on the workers. An independent sampler (API and
// moto, not kubeswap's events) checks the PDB, the pool's limits and the group's MaxSize headroom held; at the end
// every worker runs the target through the group's target template version, and the group is as it was.
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DescribeAutoScalingGroupsCommand } from '@aws-sdk/client-auto-scaling';
import { DescribeInstancesCommand } from '@aws-sdk/client-ec2';
import * as k8s from '@kubernetes/client-node';
import { parse, stringify } from 'yaml';
import { awsClients } from '../sandbox/aws.ts';
import type { Sandbox } from '../sandbox/index.ts';
import { clusterTruth, describeRun, kubeswap, useSandbox } from './harness.ts';

const SIZE = 3;
const REPLICAS = 3;
const APP = { app: 'web' };

/** The sandbox's kubeswap.yaml with the worker group as pool blue. */
function poolsConfig(sb: Sandbox): string {
  const config = parse(readFileSync(join(sb.stateDir, 'kubeswap.yaml'), 'utf8')) as Record<string, unknown>;
  const file = join(sb.stateDir, 'kubeswap-groups.yaml');
  const workerPools = [
    { name: 'blue', maxSurge: 1, maxUnavailable: 1, autoScalingGroup: sb.aws.workerGroups!['blue'] },
  ];
  writeFileSync(file, stringify({ ...config, workerPools }));
  return file;
}

/** Every 200 ms: the fewest Ready web pods, and the most live instances and the highest MaxSize of the group. */
class GroupSampler {
  minReady = Number.POSITIVE_INFINITY;
  maxLive = 0;
  maxMaxSize = 0;
  samples = 0;
  private stopped = false;
  private loop?: Promise<void>;
  constructor(
    private readonly sb: Sandbox,
    private readonly core: k8s.CoreV1Api,
  ) {}
  start(): this {
    const aws = awsClients(this.sb.aws.endpoint);
    const name = this.sb.aws.workerGroups!['blue']!;
    this.loop = (async () => {
      while (!this.stopped) {
        try {
          const [pods, groups] = await Promise.all([
            this.core.listNamespacedPod({ namespace: 'default', labelSelector: 'app=web' }),
            aws.asg.send(new DescribeAutoScalingGroupsCommand({ AutoScalingGroupNames: [name] })),
          ]);
          const ready = pods.items.filter(
            (p) =>
              !p.metadata?.deletionTimestamp &&
              p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'),
          ).length;
          this.minReady = Math.min(this.minReady, ready);
          const group = groups.AutoScalingGroups?.[0];
          const live = (group?.Instances ?? []).filter((i) => !/^Terminat/.test(i.LifecycleState ?? '')).length;
          this.maxLive = Math.max(this.maxLive, live);
          this.maxMaxSize = Math.max(this.maxMaxSize, group?.MaxSize ?? 0);
          this.samples++;
        } catch {
          // the API server restarting mid-sample (the control-plane swap): the next sample sees the settled state
        }
        await new Promise((r) => setTimeout(r, 200));
      }
      aws.asg.destroy();
      aws.ec2.destroy();
      aws.elb.destroy();
      aws.ssm.destroy();
    })();
    return this;
  }
  async stop(): Promise<void> {
    this.stopped = true;
    await this.loop;
  }
}

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
    const kc = new k8s.KubeConfig();
    kc.loadFromFile(sandbox().kubeconfig);
    core = kc.makeApiClient(k8s.CoreV1Api);
    const apps = kc.makeApiClient(k8s.AppsV1Api);
    const policy = kc.makeApiClient(k8s.PolicyV1Api);
    await apps.createNamespacedDeployment({
      namespace: 'default',
      body: {
        metadata: { name: 'web' },
        spec: {
          replicas: REPLICAS,
          selector: { matchLabels: APP },
          template: {
            metadata: { labels: APP },
            spec: {
              topologySpreadConstraints: [
                {
                  maxSkew: 1,
                  topologyKey: 'kubernetes.io/hostname',
                  whenUnsatisfiable: 'ScheduleAnyway',
                  labelSelector: { matchLabels: APP },
                },
              ],
              containers: [{ name: 'web', image: 'registry.invalid/web:1' }],
            },
          },
        },
      },
    });
    await policy.createNamespacedPodDisruptionBudget({
      namespace: 'default',
      body: { metadata: { name: 'web-pdb' }, spec: { maxUnavailable: 1, selector: { matchLabels: APP } } },
    });
    const until = Date.now() + 60_000;
    for (;;) {
      const pdb = await policy.readNamespacedPodDisruptionBudget({ name: 'web-pdb', namespace: 'default' });
      if (pdb.status?.currentHealthy === REPLICAS && pdb.status.disruptionsAllowed === 1) break;
      if (Date.now() > until) throw new Error('timed out waiting for the Deployment Ready and its PDB computed');
      await new Promise((r) => setTimeout(r, 250));
    }
  });

  it('upgrades the control plane, then the worker group within the PDB, maxSurge/maxUnavailable and MaxSize headroom', async () => {
    const sb = sandbox();
    const started = Date.now();
    const sampler = new GroupSampler(sb, core).start();
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
    ]).finally(() => sampler.stop());
    assert.equal(run.exitCode, 0, describeRun(run));
    assert.ok(sampler.samples > 20, `${sampler.samples} samples`);
    // Independent: the PDB (one web pod down at most), the pool's limits (size + maxSurge live instances), and the
    // group's MaxSize raised for the surge only.
    assert.ok(sampler.minReady >= REPLICAS - 1, `only ${sampler.minReady} of ${REPLICAS} web pods Ready at one point`);
    assert.ok(sampler.maxLive <= SIZE + 1, `${sampler.maxLive} live instances in the group at one point`);
    assert.equal(sampler.maxMaxSize, SIZE + 1, 'MaxSize raised by one for the surge');

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
      assert.ok(
        live.every(
          (n) =>
            n.status?.nodeInfo?.kubeletVersion === sb.versions.to &&
            n.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'),
        ),
      );
    } finally {
      aws.asg.destroy();
      aws.ec2.destroy();
      aws.elb.destroy();
      aws.ssm.destroy();
    }
    console.log(`      worker group FROM -> TO: ${Math.round((Date.now() - started) / 1000)} s`);
  });
});
