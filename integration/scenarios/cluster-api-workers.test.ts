// Worker MachineDeployments of the cluster-api provider (issue 12 §2, Cluster API): one sandbox, real Cluster API
// controllers, 1 adopted control-plane Machine and a MachineDeployment of 2 workers that Cluster API created (the
// MachineSet controller makes the Machines, CABPK renders their worker joins, the sandbox infrastructure boots them).
// A Deployment with a PodDisruptionBudget runs on the workers.
// (a) FROM -> TO: the control plane first (its swap.finished once, the old Node gone), then kubeswap bumps the
//     MachineDeployment and follows Cluster API's own rollout; killed -9 right after the bump, the re-run follows
//     the rollout in flight. An independent sampler
//     checks the PDB was never exceeded and the MachineDeployment never ran more than replicas + maxSurge Machines.
// (e) workers only, a new image: a PDB that allows no eviction blocks Cluster API's drain: named, exit 4; relaxed,
//     the re-run finds the bump done and follows the rollout to the end.
import assert from 'node:assert/strict';
import { DescribeInstancesCommand } from '@aws-sdk/client-ec2';
import * as k8s from '@kubernetes/client-node';
import type { KubeswapEvent } from '../../src/domain/events.ts';
import { capiMachines } from './capi.ts';
import {
  deployWebWithPdb,
  describeRun,
  kubeswap,
  registerImage,
  sandboxEc2,
  sandboxKube,
  useSandbox,
  type Web,
  WorkloadSampler,
  workerNodes as workersOf,
} from './harness.ts';

const DEPLOYMENT_LABEL = 'cluster.x-k8s.io/deployment-name';
const REPLICAS = 2;
const WEB = 3;

describe('scenario: cluster-api worker MachineDeployment (real Cluster API rollout)', function () {
  this.timeout(15 * 60_000);
  const sandbox = useSandbox({ controlPlanes: 1, provider: 'cluster-api', clusterApiWorkers: REPLICAS });
  let core: k8s.CoreV1Api;
  let web: Web;
  const md = () => sandbox().clusterApi!.machineDeployment!;

  const workerMachines = () => capiMachines(sandbox(), `${DEPLOYMENT_LABEL}=${md()}`);
  const workerNodes = () => workersOf(core);
  /**
   * Independent of kubeswap, alongside the web pods: the most Machines of the MachineDeployment not being deleted
   * (Cluster API counts those against replicas + maxSurge).
   */
  const startSampler = () =>
    new WorkloadSampler(sandbox(), {
      alongside: async (peak) =>
        peak('machines', (await workerMachines()).filter((m) => !m.metadata.deletionTimestamp).length),
    }).start();

  before(async () => {
    core = sandboxKube(sandbox()).makeApiClient(k8s.CoreV1Api);
    web = await deployWebWithPdb(sandbox(), { replicas: WEB });
  });

  it('(a) upgrades the control plane, then the MachineDeployment through Cluster API, resuming after kill -9, within the PDB and maxSurge', async () => {
    const sb = sandbox();
    const initial = (await workerMachines()).map((m) => m.metadata.name);
    assert.equal(initial.length, REPLICAS);
    const controlPlaneNodes = async () =>
      (await core.listNode({ labelSelector: 'node-role.kubernetes.io/control-plane' })).items.map(
        (n) => n.metadata!.name!,
      );
    const oldControlPlane = await controlPlaneNodes();
    assert.equal(oldControlPlane.length, 1);
    // The sandbox's Machines pin their image (SandboxMachine spec.image): a version upgrade names the TO image, for the
    // control plane's clones and the workers' template alike.
    const image = sb.aws.images[sb.versions.to]!;
    const plan = await kubeswap(sb, ['plan', '--to', sb.versions.to, '--image', image]);
    assert.equal(plan.exitCode, 0, describeRun(plan));
    const report = JSON.parse(plan.stdout.trim().split('\n').at(-1)!);
    assert.deepEqual(
      report.pools.map((p: { name: string; size: number; rolledBy: unknown }) => [p.name, p.size, p.rolledBy]),
      [['workers', REPLICAS, { objects: [`MachineDeployment ${md()}`], strategy: 'pool' }]],
    );
    const sampler = startSampler();
    const args = [
      'apply',
      '--to',
      sb.versions.to,
      '--image',
      image,
      '--yes',
      '--gate-passes',
      '1',
      '--drain-timeout',
      '120s',
    ];
    let first: Awaited<ReturnType<typeof kubeswap>>;
    let second: Awaited<ReturnType<typeof kubeswap>>;
    const started = Date.now();
    try {
      first = await kubeswap(sb, args, { killAfter: (e) => e.code === 'pool.rollout-started' });
      second = await kubeswap(sb, args);
    } finally {
      await sampler.stop();
    }
    assert.equal(first.signal, 'SIGKILL', describeRun(first));
    assert.equal(second.exitCode, 0, describeRun(second));
    const codes = (events: KubeswapEvent[]) => events.map((e) => e.code);
    // The control plane first, then the bump; the re-run found the bump done and followed the rollout.
    // The control-plane Machine's swap ends with its release (Cluster API deletes the Node itself): one swap.finished
    // for the old Node, after its member's removal and release and before the bump; that Node is checked gone below.
    const all = codes(first.events);
    assert.ok(all.includes('etcd.member-removed') && all.includes('machine.terminated'), describeRun(first));
    const finished = first.events.filter((e) => e.code === 'swap.finished');
    assert.deepEqual(
      finished.map((e) => e.machine),
      oldControlPlane,
      describeRun(first),
    );
    const finishedAt = first.events.indexOf(finished[0]!);
    assert.ok(all.lastIndexOf('machine.terminated') < finishedAt, describeRun(first));
    assert.ok(finishedAt < all.indexOf('pool.rollout-started'), describeRun(first));
    assert.ok(!codes(second.events).includes('swap.finished'), 'the re-run does not finish that swap again');
    assert.ok(!codes(second.events).includes('pool.rollout-started'), describeRun(second));
    assert.ok(
      second.events.some((e) => e.code === 'wait' && /Machine\(s\) at .* with a Ready Node/.test(e.message)),
      describeRun(second),
    );
    const newControlPlane = await controlPlaneNodes();
    assert.ok(
      newControlPlane.length === 1 && !newControlPlane.includes(oldControlPlane[0]!),
      JSON.stringify(newControlPlane),
    );
    // Every worker is a new Machine at TO with a Ready Node at TO; the old Machines are gone.
    const machines = await workerMachines();
    assert.equal(machines.length, REPLICAS, JSON.stringify(machines.map((m) => m.metadata.name)));
    assert.ok(machines.every((m) => m.spec.version === sb.versions.to && !m.metadata.deletionTimestamp));
    assert.ok(machines.every((m) => !initial.includes(m.metadata.name)));
    const nodes = await workerNodes();
    assert.equal(nodes.length, REPLICAS, JSON.stringify(nodes));
    assert.ok(
      nodes.every((n) => n.ready && n.version === sb.versions.to),
      JSON.stringify(nodes),
    );
    // Independent: the PDB (maxUnavailable 1) held, and Cluster API kept to maxSurge 1.
    sampler.assertBudgetHeld(WEB, 1);
    assert.ok(sampler.peaks['machines']! <= REPLICAS + 1, `${sampler.peaks['machines']} Machines at once`);
    console.log(`      (a) ${Math.round((Date.now() - started) / 1000)} s, ${sampler.samples} samples`);
  });

  it("(e) names the PodDisruptionBudget that blocks Cluster API's drain, exit 4; relaxed, the re-run follows the rollout to the end", async () => {
    const sb = sandbox();
    const image = await registerImage(sb, sb.versions.to, 'kubeswap-capi-workers-rotated');
    await web.setBudget(0);
    const sampler = startSampler();
    const args = ['apply', '--to', sb.versions.to, '--image', image, '--workers-only', '--yes', '--gate-passes', '1'];
    let blocked: Awaited<ReturnType<typeof kubeswap>>;
    let resumed: Awaited<ReturnType<typeof kubeswap>>;
    try {
      blocked = await kubeswap(sb, [...args, '--drain-timeout', '30s']);
      assert.equal(blocked.exitCode, 4, describeRun(blocked));
      assert.match(blocked.stdout, /node\.drain-blocked/, describeRun(blocked));
      assert.match(blocked.stdout, /PodDisruptionBudget web-pdb/, describeRun(blocked));
      await web.setBudget(1);
      resumed = await kubeswap(sb, [...args, '--drain-timeout', '120s']);
    } finally {
      await sampler.stop();
    }
    assert.equal(resumed.exitCode, 0, describeRun(resumed));
    assert.ok(!resumed.events.some((e) => e.code === 'pool.rollout-started'), describeRun(resumed));
    // Independent: no web pod was evicted while the budget allowed none, nor more than one after.
    sampler.assertBudgetHeld(WEB, 1);
    assert.ok(sampler.peaks['machines']! <= REPLICAS + 1, `${sampler.peaks['machines']} Machines at once`);
    // Every worker runs the new image (moto), at TO, Ready.
    const nodes = await workerNodes();
    assert.equal(nodes.length, REPLICAS, JSON.stringify(nodes));
    assert.ok(
      nodes.every((n) => n.ready && n.version === sb.versions.to),
      JSON.stringify(nodes),
    );
    const ec2 = sandboxEc2(sb);
    try {
      const out = await ec2.send(new DescribeInstancesCommand({ InstanceIds: nodes.map((n) => n.instanceId!) }));
      const images = out.Reservations!.flatMap((r) => r.Instances ?? []).map((i) => i.ImageId);
      assert.deepEqual(
        images,
        nodes.map(() => image),
      );
    } finally {
      ec2.destroy();
    }
  });
});
