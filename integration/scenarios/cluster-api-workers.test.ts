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
import { describeRun, kubeswap, registerImage, sandboxEc2, useSandbox } from './harness.ts';

const CAPI = { group: 'cluster.x-k8s.io', version: 'v1beta2', namespace: 'default' };
const DEPLOYMENT_LABEL = 'cluster.x-k8s.io/deployment-name';
const REPLICAS = 2;
const WEB = 3;
const APP = { app: 'web' };

interface CapiMachine {
  metadata: { name: string; deletionTimestamp?: string; labels?: Record<string, string> };
  spec: { version: string; providerID?: string };
  status?: { nodeRef?: { name: string } };
}

describe('scenario: cluster-api worker MachineDeployment (real Cluster API rollout)', function () {
  this.timeout(15 * 60_000);
  const sandbox = useSandbox({ controlPlanes: 1, provider: 'cluster-api', clusterApiWorkers: REPLICAS });
  let core: k8s.CoreV1Api;
  let custom: k8s.CustomObjectsApi;
  let policy: k8s.PolicyV1Api;
  const md = () => sandbox().clusterApi!.machineDeployment!;

  const workerMachines = async () =>
    (
      (await custom.listNamespacedCustomObject({
        ...CAPI,
        plural: 'machines',
        labelSelector: `${DEPLOYMENT_LABEL}=${md()}`,
      })) as { items: CapiMachine[] }
    ).items;
  const workerNodes = async () =>
    (await core.listNode()).items
      .filter((n) => !('node-role.kubernetes.io/control-plane' in (n.metadata?.labels ?? {})))
      .map((n) => ({
        name: n.metadata!.name!,
        ready: n.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false,
        version: n.status?.nodeInfo?.kubeletVersion,
        instanceId: n.spec?.providerID?.split('/').pop(),
      }));
  const setBudget = async (maxUnavailable: number) => {
    await policy.patchNamespacedPodDisruptionBudget(
      { name: 'web-pdb', namespace: 'default', body: { spec: { maxUnavailable } } },
      k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
    );
    await waitFor(`web-pdb to allow ${maxUnavailable}`, async () => {
      const pdb = await policy.readNamespacedPodDisruptionBudget({ name: 'web-pdb', namespace: 'default' });
      return pdb.status?.currentHealthy === WEB && pdb.status.disruptionsAllowed === maxUnavailable;
    });
  };

  /**
   * Independent of kubeswap, every 200 ms: the fewest Ready web pods, and the most Machines of the MachineDeployment
   * not being deleted (Cluster API counts those against replicas + maxSurge).
   */
  class Sampler {
    minReady = Number.POSITIVE_INFINITY;
    maxMachines = 0;
    samples = 0;
    private stopped = false;
    private loop?: Promise<void>;
    start(): this {
      this.loop = (async () => {
        while (!this.stopped) {
          try {
            const [pods, machines] = await Promise.all([
              core.listNamespacedPod({ namespace: 'default', labelSelector: 'app=web' }),
              workerMachines(),
            ]);
            const ready = pods.items.filter(
              (p) =>
                !p.metadata?.deletionTimestamp &&
                p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'),
            ).length;
            this.minReady = Math.min(this.minReady, ready);
            this.maxMachines = Math.max(this.maxMachines, machines.filter((m) => !m.metadata.deletionTimestamp).length);
            this.samples++;
          } catch {
            // the API server restarting (the control-plane swap): the next sample sees the settled state
          }
          await new Promise((r) => setTimeout(r, 200));
        }
      })();
      return this;
    }
    async stop(): Promise<void> {
      this.stopped = true;
      await this.loop;
    }
  }

  before(async () => {
    const kc = new k8s.KubeConfig();
    kc.loadFromFile(sandbox().kubeconfig);
    core = kc.makeApiClient(k8s.CoreV1Api);
    custom = kc.makeApiClient(k8s.CustomObjectsApi);
    policy = kc.makeApiClient(k8s.PolicyV1Api);
    await kc.makeApiClient(k8s.AppsV1Api).createNamespacedDeployment({
      namespace: 'default',
      body: {
        metadata: { name: 'web' },
        spec: {
          replicas: WEB,
          selector: { matchLabels: APP },
          template: {
            metadata: { labels: APP },
            spec: {
              // On the workers only (no toleration of the control-plane taint), spread over them.
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
    await setBudget(1);
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
    const sampler = new Sampler().start();
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
    assert.ok(sampler.samples > 20, `${sampler.samples} samples`);
    assert.ok(sampler.minReady >= WEB - 1, `only ${sampler.minReady} of ${WEB} web pods Ready at one point`);
    assert.ok(sampler.maxMachines <= REPLICAS + 1, `${sampler.maxMachines} Machines at once`);
    console.log(`      (a) ${Math.round((Date.now() - started) / 1000)} s, ${sampler.samples} samples`);
  });

  it("(e) names the PodDisruptionBudget that blocks Cluster API's drain, exit 4; relaxed, the re-run follows the rollout to the end", async () => {
    const sb = sandbox();
    const image = await registerImage(sb, sb.versions.to, 'kubeswap-capi-workers-rotated');
    await setBudget(0);
    const sampler = new Sampler().start();
    const args = ['apply', '--to', sb.versions.to, '--image', image, '--workers-only', '--yes', '--gate-passes', '1'];
    let blocked: Awaited<ReturnType<typeof kubeswap>>;
    let resumed: Awaited<ReturnType<typeof kubeswap>>;
    try {
      blocked = await kubeswap(sb, [...args, '--drain-timeout', '30s']);
      assert.equal(blocked.exitCode, 4, describeRun(blocked));
      assert.match(blocked.stdout, /node\.drain-blocked/, describeRun(blocked));
      assert.match(blocked.stdout, /PodDisruptionBudget web-pdb/, describeRun(blocked));
      await setBudget(1);
      resumed = await kubeswap(sb, [...args, '--drain-timeout', '120s']);
    } finally {
      await sampler.stop();
    }
    assert.equal(resumed.exitCode, 0, describeRun(resumed));
    assert.ok(!resumed.events.some((e) => e.code === 'pool.rollout-started'), describeRun(resumed));
    // Independent: no web pod was evicted while the budget allowed none, nor more than one after.
    assert.ok(sampler.minReady >= WEB - 1, `only ${sampler.minReady} of ${WEB} web pods Ready at one point`);
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

async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}
