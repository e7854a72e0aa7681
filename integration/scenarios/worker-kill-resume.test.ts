// Worker pools (issue 12 §3 (c)): kill -9 at random moments mid-pool, re-run, until the pool is done. One control-plane
// machine and a pool `blue` of 3 workers (maxSurge 1, maxUnavailable 1) rotated to a new image of the same version
// (--workers-only), a Deployment with a PodDisruptionBudget on the workers. Each killed run dies a random time after
// its first step (the delays are printed, and KUBESWAP_KILL_DELAYS=ms,ms,ms replays them). An independent sampler
// (API and moto) checks throughout: the PDB held, the pool never ran more than size + maxSurge machines, was never
// more than maxUnavailable Ready workers short of its size (old Nodes out of service minus Ready new ones, Cluster
// API's availability rule), and at the end every old machine was replaced by exactly one new one.
import assert from 'node:assert/strict';
import { DescribeInstancesCommand } from '@aws-sdk/client-ec2';
import * as k8s from '@kubernetes/client-node';
import type { Sandbox } from '../sandbox/index.ts';
import { POOL_TAG } from '../sandbox/workers.ts';
import {
  configWith,
  deployWebWithPdb,
  describeRun,
  isReady,
  kubeswap,
  livePoolInstances,
  registerImage,
  sandboxEc2,
  sandboxKube,
  useSandbox,
  WorkloadSampler,
} from './harness.ts';

const SIZE = 3;
const SURGE = 1;
const UNAVAILABLE = 1;
const REPLICAS = 3;
const REPLACES_TAG = 'kubeswap.io/replaces';

const DELAYS = process.env['KUBESWAP_KILL_DELAYS']
  ? process.env['KUBESWAP_KILL_DELAYS'].split(',').map(Number)
  : Array.from({ length: 3 }, () => Math.round(Math.random() * 8000));

const poolsConfig = (sb: Sandbox) =>
  configWith(sb, 'kubeswap-kill', {
    workerPools: [
      {
        name: 'blue',
        maxSurge: SURGE,
        maxUnavailable: UNAVAILABLE,
        tag: `${POOL_TAG}=blue`,
        launchTemplate: sb.aws.workerLaunchTemplateId,
      },
    ],
  });

/**
 * How many Ready workers the pool is short of its size: old Nodes out of service (cordoned, NotReady, or gone: its
 * machine retired) minus Ready new Nodes (an old Node whose replacement is Ready is done, not in flight), Cluster
 * API's availability rule.
 */
async function poolShortfall(core: k8s.CoreV1Api, oldNodes: string[]): Promise<number> {
  const nodes = (await core.listNode()).items;
  const byName = new Map(nodes.map((n) => [n.metadata!.name!, n]));
  const out = oldNodes.filter((name) => {
    const n = byName.get(name);
    return !n || n.spec?.unschedulable || !isReady(n.status);
  }).length;
  const newReady = nodes.filter(
    (n) =>
      !oldNodes.includes(n.metadata!.name!) &&
      !('node-role.kubernetes.io/control-plane' in (n.metadata?.labels ?? {})) &&
      isReady(n.status),
  ).length;
  return out - newReady;
}

describe('scenario: worker pool, kill -9 at random moments and re-run', function () {
  this.timeout(20 * 60_000);
  const sandbox = useSandbox({ controlPlanes: 1, workerPools: { blue: SIZE } });

  it(`finishes after kills ${DELAYS.join(', ')} ms into runs: no duplicate machine, one batch in flight, PDB held`, async () => {
    const sb = sandbox();
    const started = Date.now();
    const core = sandboxKube(sb).makeApiClient(k8s.CoreV1Api);
    await deployWebWithPdb(sb, { replicas: REPLICAS });
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

    // Independent of kubeswap, alongside the web pods: the most live pool instances (moto), the largest shortfall.
    const oldNames = old.map((n) => n.metadata!.name!);
    const samplerEc2 = sandboxEc2(sb);
    const sampler = new WorkloadSampler(sb, {
      alongside: async (peak) => {
        const [live, out] = await Promise.all([livePoolInstances(samplerEc2), poolShortfall(core, oldNames)]);
        peak('live', live['blue'] ?? 0);
        peak('short', out);
      },
    }).start();
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
      samplerEc2.destroy();
    }

    // Independent: moto and the API.
    const ec2 = sandboxEc2(sb);
    try {
      sampler.assertBudgetHeld(REPLICAS, 1);
      const { live, short } = sampler.peaks;
      assert.ok(live! <= SIZE + SURGE, `${live} live pool instances at one point`);
      assert.ok(short! <= UNAVAILABLE, `the pool was ${short} Ready workers short at one point`);
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
        assert.ok(isReady(n.status), `${n.metadata?.name} Ready`);
        assert.ok(!n.spec?.unschedulable, `${n.metadata?.name} schedulable`);
      }
    } finally {
      ec2.destroy();
    }
    console.log(`      kills at ${DELAYS.join(', ')} ms: ${Math.round((Date.now() - started) / 1000)} s`);
  });
});
