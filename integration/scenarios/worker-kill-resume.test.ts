// Worker pools (issue 12 §3 (c)): kill -9 at random moments mid-pool, re-run, until the pool is done. One control-plane
// machine and a pool `blue` of 3 workers (maxSurge 1, maxUnavailable 1) rotated to a new image of the same version
// (--workers-only), a Deployment with a PodDisruptionBudget on the workers. Each killed run dies a random time after
// its first step (the delays are printed, and KUBESWAP_KILL_DELAYS=ms,ms,ms replays them). An independent sampler
// (API and moto) checks throughout: the PDB held, the pool never ran more than size + maxSurge machines, was never
// more than maxUnavailable Ready workers short of its size (old Nodes out of service minus Ready new ones, Cluster
// API's availability rule), and at the end every old machine was replaced by exactly one new one.
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DescribeInstancesCommand } from '@aws-sdk/client-ec2';
import * as k8s from '@kubernetes/client-node';
import { parse, stringify } from 'yaml';
import type { Sandbox } from '../sandbox/index.ts';
import { POOL_TAG } from '../sandbox/workers.ts';
import { describeRun, kubeswap, registerImage, sandboxEc2, useSandbox } from './harness.ts';

const SIZE = 3;
const SURGE = 1;
const UNAVAILABLE = 1;
const REPLICAS = 3;
const APP = { app: 'web' };
const REPLACES_TAG = 'kubeswap.io/replaces';

const DELAYS = process.env['KUBESWAP_KILL_DELAYS']
  ? process.env['KUBESWAP_KILL_DELAYS'].split(',').map(Number)
  : Array.from({ length: 3 }, () => Math.round(Math.random() * 8000));

function poolsConfig(sb: Sandbox): string {
  const config = parse(readFileSync(join(sb.stateDir, 'kubeswap.yaml'), 'utf8')) as Record<string, unknown>;
  const file = join(sb.stateDir, 'kubeswap-kill.yaml');
  const workerPools = [
    {
      name: 'blue',
      maxSurge: SURGE,
      maxUnavailable: UNAVAILABLE,
      tag: `${POOL_TAG}=blue`,
      launchTemplate: sb.aws.workerLaunchTemplateId,
    },
  ];
  writeFileSync(file, stringify({ ...config, workerPools }));
  return file;
}

/** Every 200 ms: fewest Ready web pods, most live pool instances, most old pool Nodes out of service. */
class PoolSampler {
  minReady = Number.POSITIVE_INFINITY;
  maxLive = 0;
  maxOut = 0;
  samples = 0;
  private stopped = false;
  private loop?: Promise<void>;
  constructor(
    private readonly sb: Sandbox,
    private readonly core: k8s.CoreV1Api,
    /** The pool's Nodes before the first run. */
    private readonly oldNodes: string[],
  ) {}
  start(): this {
    const ec2 = sandboxEc2(this.sb);
    this.loop = (async () => {
      while (!this.stopped) {
        try {
          const [pods, nodes, reservations] = await Promise.all([
            this.core.listNamespacedPod({ namespace: 'default', labelSelector: 'app=web' }),
            this.core.listNode(),
            ec2.send(new DescribeInstancesCommand({})).then((r) => r.Reservations ?? []),
          ]);
          const ready = pods.items.filter(
            (p) =>
              !p.metadata?.deletionTimestamp &&
              p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'),
          ).length;
          this.minReady = Math.min(this.minReady, ready);
          const live = reservations
            .flatMap((r) => r.Instances ?? [])
            .filter((i) => i.State?.Name === 'running' || i.State?.Name === 'pending')
            .filter((i) =>
              i.Tags?.some((t) => (t.Key === POOL_TAG || t.Key === 'kubeswap.io/pool') && t.Value === 'blue'),
            );
          this.maxLive = Math.max(this.maxLive, live.length);
          // An old Node out of service: cordoned, NotReady, or gone (its machine retired, its replacement not yet
          // counted in because it is not one of the old Nodes).
          const byName = new Map(nodes.items.map((n) => [n.metadata!.name!, n]));
          const out = this.oldNodes.filter((name) => {
            const n = byName.get(name);
            return (
              !n ||
              n.spec?.unschedulable ||
              !n.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True')
            );
          }).length;
          // Old Nodes whose replacement is Ready are done, not in flight: count only while the pool is short of
          // Ready workers, i.e. out-of-service old Nodes minus Ready new Nodes.
          const newReady = nodes.items.filter(
            (n) =>
              !this.oldNodes.includes(n.metadata!.name!) &&
              !('node-role.kubernetes.io/control-plane' in (n.metadata?.labels ?? {})) &&
              n.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'),
          ).length;
          this.maxOut = Math.max(this.maxOut, out - newReady);
          this.samples++;
        } catch {
          // a transient API error: the next sample sees the settled state
        }
        await new Promise((r) => setTimeout(r, 200));
      }
      ec2.destroy();
    })();
    return this;
  }
  async stop(): Promise<void> {
    this.stopped = true;
    await this.loop;
  }
}

describe('scenario: worker pool, kill -9 at random moments and re-run', function () {
  this.timeout(20 * 60_000);
  const sandbox = useSandbox({ controlPlanes: 1, workerPools: { blue: SIZE } });

  it(`finishes after kills ${DELAYS.join(', ')} ms into runs: no duplicate machine, one batch in flight, PDB held`, async () => {
    const sb = sandbox();
    const started = Date.now();
    const kc = new k8s.KubeConfig();
    kc.loadFromFile(sb.kubeconfig);
    const core = kc.makeApiClient(k8s.CoreV1Api);
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
    for (const until = Date.now() + 60_000; ; ) {
      const pdb = await policy.readNamespacedPodDisruptionBudget({ name: 'web-pdb', namespace: 'default' });
      if (pdb.status?.currentHealthy === REPLICAS && pdb.status.disruptionsAllowed === 1) break;
      if (Date.now() > until) throw new Error('timed out waiting for the Deployment Ready and its PDB computed');
      await new Promise((r) => setTimeout(r, 250));
    }
    const workersNow = async () =>
      (await core.listNode()).items.filter(
        (n) => !('node-role.kubernetes.io/control-plane' in (n.metadata?.labels ?? {})),
      );
    const old = await workersNow();
    const oldIds = old.map((n) => n.spec!.providerID!.split('/').pop()!);
    assert.equal(old.length, SIZE);
    // A new image of the control plane's own version (an AMI rotation): --workers-only needs the control plane there.
    const image = await registerImage(sb, sb.versions.from, 'kubeswap-sandbox-node-kill');
    const args = [
      'apply',
      '--workers-only',
      '--image',
      image,
      '--yes',
      '--gate-passes',
      '1',
      '--config',
      poolsConfig(sb),
      '--drain-timeout',
      '60s',
    ];

    const sampler = new PoolSampler(
      sb,
      core,
      old.map((n) => n.metadata!.name!),
    ).start();
    let kills = 0;
    try {
      for (const delay of DELAYS) {
        const killed = await kubeswap(sb, args, { killAfter: (e) => e.code === 'plan.step', killDelayMs: delay });
        const steps = killed.events.filter((e) => e.code === 'plan.step').length;
        console.log(
          `      run killed ${delay} ms after its first step: ${killed.signal ?? `exit ${killed.exitCode}`}, ${steps} step(s)`,
        );
        if (killed.signal !== 'SIGKILL') {
          // The pool finished before the kill came: nothing left to interrupt.
          assert.equal(killed.exitCode, 0, describeRun(killed));
          break;
        }
        kills++;
      }
      assert.ok(kills >= 1, 'at least one run was killed mid-pool');
      const last = await kubeswap(sb, args);
      assert.equal(last.exitCode, 0, describeRun(last));
    } finally {
      await sampler.stop();
    }

    // Independent: moto and the API.
    assert.ok(sampler.samples > 20, `${sampler.samples} samples`);
    assert.ok(sampler.minReady >= REPLICAS - 1, `only ${sampler.minReady} of ${REPLICAS} web pods Ready at one point`);
    assert.ok(sampler.maxLive <= SIZE + SURGE, `${sampler.maxLive} live pool instances at one point`);
    assert.ok(sampler.maxOut <= UNAVAILABLE, `the pool was ${sampler.maxOut} Ready workers short at one point`);
    const ec2 = sandboxEc2(sb);
    try {
      const instances = ((await ec2.send(new DescribeInstancesCommand({}))).Reservations ?? []).flatMap(
        (r) => r.Instances ?? [],
      );
      const replacementsOf = (id: string) =>
        instances.filter((i) => i.Tags?.some((t) => t.Key === REPLACES_TAG && t.Value === id));
      for (const id of oldIds) {
        const state = instances.find((i) => i.InstanceId === id)?.State?.Name;
        assert.equal(state, 'terminated', `old worker ${id} terminated`);
        const launched = replacementsOf(id);
        assert.equal(launched.length, 1, `one replacement launched for ${id}: ${launched.map((i) => i.InstanceId)}`);
      }
      const workers = await workersNow();
      assert.equal(workers.length, SIZE, workers.map((n) => n.metadata?.name).join(', '));
      const byId = new Map(instances.map((i) => [i.InstanceId!, i]));
      for (const n of workers) {
        const instance = byId.get(n.spec!.providerID!.split('/').pop()!);
        assert.equal(instance?.ImageId, image, `${n.metadata?.name} on the new image`);
        assert.ok(n.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'));
        assert.ok(!n.spec?.unschedulable, `${n.metadata?.name} schedulable`);
      }
    } finally {
      ec2.destroy();
    }
    console.log(`      kills at ${DELAYS.join(', ')} ms: ${Math.round((Date.now() - started) / 1000)} s`);
  });
});
