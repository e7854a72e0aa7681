// Worker pools (issue 12 §2, §3): one sandbox with a 1-machine control plane and two worker pools, blue (3 workers,
// maxSurge 2 / maxUnavailable 0) and green (2 workers, maxSurge 0 / maxUnavailable 1), a Deployment spread over the
// workers with a PodDisruptionBudget.
// (a) the whole cluster FROM -> TO: control plane, addons, then blue, then green; an independent sampler of the
//     Deployment's Ready pods (and of the pools' running instances in moto) checks the PDB and both pools' limits held.
// (e) workers only, a new image, a PDB that allows no disruption: the PDB is named, exit 4;
// (b) the PDB relaxed, the re-run (e)'s hint asks for resumes it and rotates every worker's image; the control plane
//     is untouched.
// (d) a green replacement that never boots is rolled back, exit 3, and the pool's other node is not drained.
import assert from 'node:assert/strict';
import * as k8s from '@kubernetes/client-node';
import type { Sandbox } from '../sandbox/index.ts';
import { POOL_TAG } from '../sandbox/workers.ts';
import {
  clusterTruth,
  configWith,
  deployWebWithPdb,
  describeRun,
  kubeswap,
  livePoolInstances,
  registerImage,
  sandboxEc2,
  sandboxKube,
  useSandbox,
  type Web,
  WorkloadSampler,
  workerNodes,
} from './harness.ts';

const POOLS = [
  { name: 'blue', maxSurge: 2, maxUnavailable: 0, tag: `${POOL_TAG}=blue` },
  { name: 'green', maxSurge: 0, maxUnavailable: 1, tag: `${POOL_TAG}=green` },
];
const SIZES: Record<string, number> = { blue: 3, green: 2 };
const REPLICAS = 4;

/** The sandbox's config with the worker pools; replacements launch from the workers' launch template (a worker join). */
const poolsConfig = (sb: Sandbox) =>
  configWith(sb, 'kubeswap-pools', {
    workerPools: POOLS.map((p) => ({ ...p, launchTemplate: sb.aws.workerLaunchTemplateId })),
  });

/** `apply --workers-only --image IMAGE` with the pools config, a one-pass gate, and `extra` (pools, timeouts). */
function workersOnly(sb: Sandbox, image: string, extra: string[] = []) {
  return kubeswap(sb, [
    'apply',
    '--workers-only',
    '--image',
    image,
    '--yes',
    '--gate-passes',
    '1',
    '--config',
    poolsConfig(sb),
    ...extra,
  ]);
}

/** Node names of the cordoned Nodes, read from the API. */
async function cordonedNodes(core: k8s.CoreV1Api): Promise<string[]> {
  return (await core.listNode()).items.filter((n) => n.spec?.unschedulable).map((n) => n.metadata!.name!);
}

describe('scenario: worker pools', function () {
  this.timeout(15 * 60_000);
  const sandbox = useSandbox({ controlPlanes: 1, workerPools: SIZES });
  let core: k8s.CoreV1Api;
  let web: Web;
  /** (e)'s new image: (b) is the re-run of (e) once its PDB is relaxed. */
  let rotated: string | undefined;
  let eRan = false;

  before(async () => {
    core = sandboxKube(sandbox()).makeApiClient(k8s.CoreV1Api);
    web = await deployWebWithPdb(sandbox(), { replicas: REPLICAS });
  });

  it('(a) upgrades the control plane, then blue (surge 2) and green (unavailable 1), within the PDB and both limits', async () => {
    const sb = sandbox();
    const started = Date.now();
    const plan = await kubeswap(sb, ['plan', '--to', sb.versions.to, '--config', poolsConfig(sb)]);
    assert.equal(plan.exitCode, 0, describeRun(plan));
    const report = JSON.parse(plan.stdout.trim().split('\n').at(-1)!);
    const poolOf = new Map<string, string>();
    for (const p of report.pools as { name: string; machines: { node: string }[] }[])
      for (const m of p.machines) poolOf.set(m.node, p.name);
    assert.deepEqual(
      report.pools.map((p: { name: string; size: number; fenceposts: unknown }) => [p.name, p.size, p.fenceposts]),
      [
        ['blue', 3, { maxSurge: 2, maxUnavailable: 0 }],
        ['green', 2, { maxSurge: 0, maxUnavailable: 1 }],
      ],
    );
    // Independent of kubeswap, alongside the web pods: the most running or pending instances of each pool in moto.
    const ec2 = sandboxEc2(sb);
    const sampler = new WorkloadSampler(sb, {
      alongside: async (peak) => {
        for (const [pool, n] of Object.entries(await livePoolInstances(ec2))) peak(pool, n);
      },
    }).start();
    const run = await kubeswap(sb, [
      'apply',
      '--to',
      sb.versions.to,
      '--yes',
      '--gate-passes',
      '1',
      '--config',
      poolsConfig(sb),
      '--drain-timeout',
      '60s',
    ]).finally(async () => {
      await sampler.stop();
      ec2.destroy();
    });
    assert.equal(run.exitCode, 0, describeRun(run));
    const t = await clusterTruth(sb);
    assert.ok(t.nodes.every((n) => n.version === sb.versions.to && n.ready));
    const workers = await workerNodes(core);
    assert.equal(workers.length, 5, JSON.stringify(workers));
    assert.ok(
      workers.every((w) => w.ready && w.version === sb.versions.to),
      JSON.stringify(workers),
    );
    // Independent: the PDB allowed one unavailable pod, and the pools' machine counts stayed within their limits.
    sampler.assertBudgetHeld(REPLICAS, 1);
    assert.ok((sampler.peaks['blue'] ?? 0) <= 3 + 2, `${sampler}`);
    assert.ok((sampler.peaks['green'] ?? 0) <= 2, `${sampler}`);
    assert.equal(sampler.peaks['blue'], 5, 'blue surged by 2');
    // The pools went in the configured order: blue's last swap before green's first.
    const swaps = run.events.filter((e) => e.code === 'swap.finished').map((e) => e.machine ?? '');
    assert.equal(swaps.length, 1 + 5, describeRun(run));
    const order = swaps.map((node) => poolOf.get(node) ?? 'control-plane');
    assert.deepEqual(
      order,
      ['control-plane', 'blue', 'blue', 'blue', 'green', 'green'],
      `swaps in order: ${swaps.join(', ')}`,
    );
    console.log(`      (a) full cluster with two pools: ${Math.round((Date.now() - started) / 1000)} s`);
  });

  it('(e) workers only, a new image, a PDB that allows no disruption: the PDB is named, exit 4', async () => {
    const sb = sandbox();
    rotated = await registerImage(sb, sb.versions.to, 'kubeswap-sandbox-node-rotated');
    const image = rotated;
    await web.setBudget(0);
    const readyBefore = (await workerNodes(core)).filter((w) => w.ready).map((w) => w.name);
    const run = await workersOnly(sb, image, ['--pools', 'green', '--drain-timeout', '8s']);
    assert.equal(run.exitCode, 4, describeRun(run));
    const blocked = run.events.find((e) => e.code === 'node.drain-blocked');
    assert.match(blocked?.message ?? '', /default\/web-pdb/, describeRun(run));
    assert.ok(!run.events.some((e) => e.code === 'replacement.created'), 'unavailable slot: nothing created first');
    // Independent (API and moto): at most the blocked node is cordoned, every worker still runs and is Ready, and
    // all web pods are still Ready (the PDB allowed no eviction).
    const cordoned = await cordonedNodes(core);
    assert.ok(
      cordoned.every((n) => n === blocked?.machine),
      `cordoned: ${cordoned.join(', ')}`,
    );
    const workersAfter = await workerNodes(core);
    assert.deepEqual(
      workersAfter
        .filter((w) => w.ready)
        .map((w) => w.name)
        .sort(),
      [...readyBefore].sort(),
    );
    const running = new Set((await clusterTruth(sb)).running.map((i) => i.id));
    assert.ok(
      workersAfter.every((w) => running.has(w.instanceId!)),
      'no worker instance terminated',
    );
    const pods = await core.listNamespacedPod({ namespace: 'default', labelSelector: 'app=web' });
    assert.equal(pods.items.filter((p) => !p.metadata?.deletionTimestamp).length, REPLICAS);
    eRan = true;
  });

  it('(b) with the PDB relaxed, the workers-only run rotates every worker image; the control plane is untouched', async () => {
    const sb = sandbox();
    const before = await clusterTruth(sb);
    await web.setBudget(1);
    // The re-run (e)'s hint asks for once the PDB is relaxed: the same target, so it resumes (e)'s open run (a run
    // of another image is refused until abandoned) and goes on to every pool. Registered here if (e) did not run.
    rotated ??= await registerImage(sb, sb.versions.to, 'kubeswap-sandbox-node-rotated');
    const run = await workersOnly(sb, rotated);
    assert.equal(run.exitCode, 0, describeRun(run));
    if (eRan)
      assert.ok(
        run.events.some((e) => e.code === 'run.resumed'),
        describeRun(run),
      );
    const after = await clusterTruth(sb);
    assert.deepEqual(
      after.nodes.map((n) => n.providerId),
      before.nodes.map((n) => n.providerId),
      'the control-plane machine is the same',
    );
    const workers = await workerNodes(core);
    const images = new Map(after.running.map((i) => [i.id, i.image]));
    assert.equal(workers.length, 5);
    assert.ok(
      workers.every((w) => w.ready && images.get(w.instanceId!) === rotated),
      JSON.stringify(workers.map((w) => [w.name, images.get(w.instanceId!)])),
    );
  });

  it('(d) a replacement that never becomes Ready is rolled back (exit 3) without draining another node', async () => {
    const sb = sandbox();
    const image = await registerImage(sb, sb.versions.to, 'kubeswap-sandbox-node-third');
    const readyBefore = (await workerNodes(core)).filter((w) => w.ready);
    assert.equal(readyBefore.length, 5, 'precondition: five Ready workers');
    await sb.fault({ kind: 'never-boot', next: true });
    const run = await workersOnly(sb, image, ['--pools', 'green', '--machine-timeout', '15s']);
    assert.equal(run.exitCode, 3, describeRun(run));
    const created = run.events.filter((e) => e.code === 'replacement.created');
    assert.equal(created.length, 1, describeRun(run));
    const replacement = (created[0]!.data as { replacement: string }).replacement;
    const t = await clusterTruth(sb);
    assert.ok(t.terminated.includes(replacement), 'the replacement that never booted is terminated');
    // Independent: one green node was drained (maxUnavailable 1) and no other node is cordoned.
    const cordoned = await cordonedNodes(core);
    assert.equal(cordoned.length, 1, `cordoned: ${cordoned.join(', ')}`);
    assert.equal(run.events.filter((e) => e.code === 'node.drained').length, 1, describeRun(run));
    // Every other worker is still Ready on the instance it ran on before the run.
    const after = new Map((await workerNodes(core)).map((w) => [w.name, w]));
    for (const w of readyBefore.filter((x) => x.name !== cordoned[0])) {
      assert.equal(after.get(w.name)?.ready, true, `${w.name} still Ready`);
      assert.equal(after.get(w.name)?.instanceId, w.instanceId, `${w.name} on the same instance`);
    }
  });
});
