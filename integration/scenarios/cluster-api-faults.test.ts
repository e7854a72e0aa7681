// The cluster-api provider under faults, on real Cluster API controllers, one sandbox for every case and one
// target (the same Kubernetes version, a new image and a new file through infrastructurePatches/bootstrapPatches):
// (f) a MachineHealthCheck watches the control-plane Machines all along;
// (d) the first replacement's bootstrap fails (its VM dies after adding its etcd learner, it never joins): rolled
//     back, exit 3, its Machine and clones gone, the learner removed, the old Machines untouched;
// (b)+(c) the same target again, killed -9 at random moments and re-run until it finishes: the new Machines carry
//     the patched fields, no duplicate Machine, etcd never below 3 voters (an independent watcher).
import assert from 'node:assert/strict';
import { CAPI, type CapiObject, capiClients, capiMachines, clusterNameOf, PRE_TERMINATE_PREFIX } from './capi.ts';
import {
  ApiProbe,
  ClusterSampler,
  clusterTruth,
  codes,
  configWith,
  describeRun,
  essentials,
  kubeswap,
  type RunOptions,
  registerImage,
  useSandbox,
} from './harness.ts';

const PATCHED_FILE = '/etc/kubeswap/patched-by-bootstrap-patches';

describe('scenario: cluster-api provider under faults (real Cluster API)', function () {
  this.timeout(20 * 60_000);
  const sandbox = useSandbox({ controlPlanes: 3, provider: 'cluster-api' });
  let patches: Record<string, unknown> = {};
  let image = '';
  /** Every Machine the MachineHealthCheck marked unhealthy, with its reason, seen by polling (never cleared). */
  const marked = new Map<string, string>();
  let watching = true;
  let watcher: Promise<void> | undefined;

  before(async () => {
    const sb = sandbox();
    image = await registerImage(sb, sb.versions.from, 'control-plane-patched');
    patches = {
      infrastructurePatches: [{ op: 'replace', path: '/spec/image', value: image }],
      bootstrapPatches: [{ op: 'add', path: '/spec/files', value: [{ path: PATCHED_FILE, content: 'patched\n' }] }],
    };
    // (f) As a Cluster API user would set it on a Machine-based control plane; short timeouts so it judges within
    // the run. Its real rules (core/reconcilers/machinehealthcheck): it marks an unhealthy Machine
    // (HealthCheckSucceeded=False, OwnerRemediated=False) and leaves the remediation to the Machine's controller
    // owner (MachineSet, KubeadmControlPlane); a Machine without one is never remediated (deleted) by it.
    await capiClients(sb).custom.createNamespacedCustomObject({
      ...CAPI,
      plural: 'machinehealthchecks',
      body: {
        apiVersion: 'cluster.x-k8s.io/v1beta2',
        kind: 'MachineHealthCheck',
        metadata: { name: 'control-plane', namespace: 'default' },
        spec: {
          clusterName: clusterNameOf(sb),
          selector: { matchLabels: { 'cluster.x-k8s.io/control-plane': '' } },
          checks: {
            nodeStartupTimeoutSeconds: 20,
            unhealthyNodeConditions: [
              { type: 'Ready', status: 'Unknown', timeoutSeconds: 10 },
              { type: 'Ready', status: 'False', timeoutSeconds: 10 },
            ],
          },
        },
      },
    });
    watcher = (async () => {
      while (watching) {
        try {
          for (const m of await capiMachines(sb)) {
            const c = (
              m.status?.['conditions'] as { type: string; status: string; reason?: string }[] | undefined
            )?.find((x) => x.type === 'HealthCheckSucceeded' && x.status === 'False');
            if (c) marked.set(m.metadata.name, c.reason ?? '');
          }
        } catch {
          // the apiserver behind the load balancer mid-swap: the next poll sees it
        }
        await new Promise((r) => setTimeout(r, 1000));
      }
    })();
  });
  after(async () => {
    watching = false;
    await watcher;
  });

  // The join's machine timeout is the harness's 5m, except where a replacement is meant to fail (d).
  // The config is written again before every run: the sandbox's kubeswap.yaml names the etcd endpoints of the
  // machines running now, and a re-run after a kill may find every endpoint of the first config replaced.
  const apply = (options: RunOptions = {}, extra: string[] = []) => {
    const file = configWith(sandbox(), 'capi-faults', { provider: patches });
    return kubeswap(
      sandbox(),
      ['apply', '--to', sandbox().versions.from, '--config', file, '--yes', '--gate-passes', '2', ...extra],
      options,
    );
  };
  const hooks = (m: CapiObject) =>
    Object.keys(m.metadata.annotations ?? {}).filter((k) => k.startsWith(PRE_TERMINATE_PREFIX));

  it('(d) rolls back a replacement whose bootstrap fails (exit 3): its Machine gone, its learner removed, the old Machines untouched; (f) the MachineHealthCheck marks it and deletes nothing', async () => {
    const sb = sandbox();
    const before = await clusterTruth(sb);
    const machinesBefore = (await capiMachines(sb)).map((m) => m.metadata.name).sort();
    await sb.fault({ kind: 'die-after-member-add', next: true });
    const run = await apply({}, ['--machine-timeout', '75s']);
    assert.equal(run.exitCode, 3, describeRun(run));
    const rolledBack = run.events.find((e) => e.code === 'replacement.rolled-back');
    assert.ok(rolledBack, describeRun(run));
    assert.equal((rolledBack.data!['removedMembers'] as string[]).length, 1, 'the learner the dying join left');
    const created = String(run.events.find((e) => e.code === 'replacement.created')!.data!['replacement']);
    const after = await clusterTruth(sb);
    assert.deepEqual(essentials(after), essentials(before));
    assert.ok(after.members.every((m) => !m.isLearner));
    const machines = await capiMachines(sb);
    assert.deepEqual(machines.map((m) => m.metadata.name).sort(), machinesBefore, `${created} is gone`);
    for (const m of machines) {
      assert.equal(m.metadata.deletionTimestamp, undefined, `${m.metadata.name} is not being deleted`);
      assert.deepEqual(hooks(m), [], `${m.metadata.name} carries no hook`);
    }
    const { custom } = capiClients(sb);
    for (const [group, version, plural] of [
      ['infrastructure.sandbox.kubeswap.dev', 'v1alpha1', 'sandboxmachines'],
      ['bootstrap.cluster.x-k8s.io', 'v1beta2', 'kubeadmconfigs'],
    ] as const) {
      const names = (
        (await custom.listNamespacedCustomObject({ group, version, namespace: 'default', plural })) as {
          items: CapiObject[];
        }
      ).items.map((o) => o.metadata.name);
      assert.ok(!names.includes(created), `${plural}: ${created}'s clone is gone (${names})`);
    }
    // (f) The health check really judged: the replacement that never got a Node was marked, and only kubeswap's
    // rollback deleted it (the old Machines, marked or not, are all still there, above).
    assert.equal(marked.get(created), 'NodeStartupTimeout', `marked: ${JSON.stringify([...marked])}`);
  });

  it('(b)(c) replaces every Machine at the same version with the patches through kill -9 at random moments, no duplicate, quorum kept; (f) nothing remediated', async () => {
    const sb = sandbox();
    const before = await clusterTruth(sb);
    const original = (await capiMachines(sb)).map((m) => m.metadata.name);
    const sampler = new ClusterSampler(sb).start();
    const probe = new ApiProbe(sb).start();
    const seed = Date.now() % 100_000;
    let state = seed;
    const random = () => {
      state = (state * 48271) % 2147483647;
      return state / 2147483647;
    };
    console.log(`      kill seed ${seed}`);
    let final: Awaited<ReturnType<typeof apply>> | undefined;
    const kills: string[] = [];
    let api: Awaited<ReturnType<ApiProbe['stop']>>;
    // Stopped in finally: a failing case must not leave them polling into the next one.
    try {
      for (let k = 0; k < 3 && !final; k++) {
        const delayMs = 15_000 + Math.floor(random() * 60_000);
        const started = Date.now();
        const run = await apply({ killAfter: () => Date.now() - started >= delayMs });
        if (run.signal !== 'SIGKILL') {
          final = run;
          break;
        }
        kills.push(`${Math.round(delayMs / 1000)} s after ${run.events.at(-1)?.code}`);
        // After every kill, from the management cluster: at most one replacement per old Machine, at most one in
        // flight (a replacement whose old Machine is not being deleted yet).
        const machines = await capiMachines(sb);
        const replacements = machines.filter((m) => m.metadata.annotations?.['kubeswap.io/replaces']);
        const olds = replacements.map((m) => m.metadata.annotations!['kubeswap.io/replaces']!);
        assert.equal(new Set(olds).size, olds.length, `one replacement per Machine: ${olds}`);
        const inFlight = replacements.filter((r) =>
          machines.some(
            (o) => o.metadata.name === r.metadata.annotations!['kubeswap.io/replaces'] && !o.metadata.deletionTimestamp,
          ),
        );
        assert.ok(inFlight.length <= 1, `at most one replacement in flight: ${inFlight.map((m) => m.metadata.name)}`);
      }
      final ??= await apply();
    } finally {
      await sampler.stop();
      api = await probe.stop();
    }
    console.log(
      `      kills: ${kills.join('; ') || 'none (the runs finished first)'}; API probe ${api.requests} requests, ${api.failures.length} failed, longest gap ${api.longestGapMs} ms; fewest voters ${sampler.minVoters} in ${sampler.samples} samples`,
    );
    assert.ok(kills.length >= 1, 'at least one run was killed mid-upgrade');
    assert.equal(final.exitCode, 0, describeRun(final));
    assert.ok(!codes(final).includes('node.drain-started'), 'Cluster API drained, not kubeswap');
    assert.ok(sampler.samples > 10 && sampler.minVoters >= 3, `fewest voters ${sampler.minVoters}`);
    assert.ok(api.requests > 0 && api.longestGapMs < 5000, `longest API gap ${api.longestGapMs} ms`);
    // The old apiserver stays behind the load balancer until its hook is released (README): a few failed requests.
    assert.ok(api.failures.length <= api.requests * 0.05, `${api.failures.length} of ${api.requests} failed`);

    const after = await clusterTruth(sb);
    // No duplicate: exactly one new VM per Machine, however often the runs were killed.
    const launched = after.running.length + after.terminated.length - before.running.length - before.terminated.length;
    assert.equal(launched, 3, `VMs launched: ${launched}`);
    assert.deepEqual(
      after.running.map((i) => i.image),
      [image, image, image],
    );
    assert.equal(after.members.length, 3);
    assert.ok(after.nodes.every((n) => n.ready && n.version === sb.versions.from));
    const machines = await capiMachines(sb);
    assert.equal(machines.length, 3, machines.map((m) => m.metadata.name).join(','));
    const { custom } = capiClients(sb);
    for (const m of machines) {
      assert.ok(!original.includes(m.metadata.name), `${m.metadata.name} is new`);
      assert.deepEqual(hooks(m), [], `${m.metadata.name} carries no hook`);
      const infra = (await custom.getNamespacedCustomObject({
        group: 'infrastructure.sandbox.kubeswap.dev',
        version: 'v1alpha1',
        namespace: 'default',
        plural: 'sandboxmachines',
        name: m.metadata.name,
      })) as CapiObject;
      assert.equal(infra.spec?.['image'], image, `${m.metadata.name}: patched image`);
      const config = (await custom.getNamespacedCustomObject({
        group: 'bootstrap.cluster.x-k8s.io',
        version: 'v1beta2',
        namespace: 'default',
        plural: 'kubeadmconfigs',
        name: m.metadata.name,
      })) as CapiObject;
      const files = (config.spec?.['files'] as { path: string }[] | undefined) ?? [];
      assert.ok(
        files.some((f) => f.path === PATCHED_FILE),
        `${m.metadata.name}: patched file in ${JSON.stringify(files)}`,
      );
    }
    // (f) The MachineHealthCheck watches the new Machines and finds them healthy (it may take a reconcile).
    let mhc: CapiObject | undefined;
    for (let i = 0; i < 30; i++) {
      mhc = (await custom.getNamespacedCustomObject({
        ...CAPI,
        plural: 'machinehealthchecks',
        name: 'control-plane',
      })) as CapiObject;
      if (mhc.status?.['expectedMachines'] === 3 && mhc.status?.['currentHealthy'] === 3) break;
      await new Promise((r) => setTimeout(r, 1000));
    }
    assert.deepEqual(
      [mhc?.status?.['expectedMachines'], mhc?.status?.['currentHealthy']],
      [3, 3],
      JSON.stringify(mhc?.status),
    );
  });
});
