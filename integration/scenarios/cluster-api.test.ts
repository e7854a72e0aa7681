// The cluster-api provider on real Cluster API controllers (core manager + CABPK) and the sandbox's SandboxMachine
// provider, one sandbox for every case: (g) bad inputs and (e) a KubeadmControlPlane-managed Cluster are refused,
// exit 2, nothing changed; then (a) 3 Machines FROM -> TO while an independent API probe and etcd sampler run.
import assert from 'node:assert/strict';
import { CAPI, type CapiObject, capiClients, capiMachines } from './capi.ts';
import { ApiProbe, configWith, describeRun, GoneNodePods, kubeswap, sandboxEtcd, useSandbox } from './harness.ts';

describe('scenario: cluster-api provider (real Cluster API)', function () {
  this.timeout(15 * 60_000);
  const sandbox = useSandbox({ controlPlanes: 3, provider: 'cluster-api' });
  const kube = () => capiClients(sandbox());
  const machines = async () =>
    (await capiMachines(sandbox())) as (CapiObject & { spec: { version: string; providerID?: string } })[];
  /** What a refused run must leave as it was, read from the real components. */
  const truth = async () => {
    const etcd = sandboxEtcd(sandbox());
    try {
      const members = (await etcd.memberList()).map((m) => `${m.name}:${m.isLearner}`).sort();
      const nodes = (await kube().core.listNode()).items.map(
        (n) => `${n.metadata!.name}:${n.spec!.unschedulable ?? false}`,
      );
      const ms = (await machines()).map(
        (m) => `${m.metadata.name}:${m.spec.version}:${m.metadata.deletionTimestamp ?? ''}`,
      );
      return { members, nodes: nodes.sort(), machines: ms.sort() };
    } finally {
      etcd.close();
    }
  };
  const config = (name: string, provider: Record<string, unknown>, top: Record<string, unknown> = {}) =>
    configWith(sandbox(), name, { ...top, provider });
  it('(g) refuses a wrong cluster name, a missing kubeconfig Secret and a JSON patch that does not apply: exit 2, nothing changed', async () => {
    const sb = sandbox();
    const before = await truth();
    const cases: [string, string, string][] = [
      [
        'wrong cluster',
        config('capi-wrong-cluster', { clusterName: 'no-such-cluster' }),
        'cluster-api.cluster-not-found',
      ],
      [
        'no Secret',
        config('capi-no-secret', { clusterName: 'no-such-cluster' }, { kubeconfig: undefined }),
        'cluster-api.kubeconfig-missing',
      ],
      [
        'bad patch',
        config('capi-bad-patch', { infrastructurePatches: [{ op: 'replace', path: '/spec/no/such/field', value: 1 }] }),
        'patch.invalid',
      ],
    ];
    for (const [what, file, code] of cases) {
      const run = await kubeswap(sb, ['apply', '--to', sb.versions.to, '--config', file, '--yes']);
      assert.equal(run.exitCode, 2, `${what}: ${describeRun(run)}`);
      assert.match(run.stdout + run.stderr, new RegExp(code.replace('.', '\\.')), `${what}: ${describeRun(run)}`);
    }
    assert.deepEqual(await truth(), before);
  });

  it('(e) refuses a Cluster whose control plane is a KubeadmControlPlane, saying to bump its version: exit 2', async () => {
    const sb = sandbox();
    const { custom } = kube();
    // A second, paused Cluster that names a KubeadmControlPlane: no controller acts on it, the refusal reads it.
    await custom.createNamespacedCustomObject({
      ...CAPI,
      plural: 'clusters',
      body: {
        apiVersion: 'cluster.x-k8s.io/v1beta2',
        kind: 'Cluster',
        metadata: { name: 'kcp-managed', namespace: CAPI.namespace },
        spec: {
          paused: true,
          controlPlaneRef: {
            apiGroup: 'controlplane.cluster.x-k8s.io',
            kind: 'KubeadmControlPlane',
            name: 'kcp-managed',
          },
        },
      },
    });
    try {
      const before = await truth();
      const run = await kubeswap(sb, [
        'apply',
        '--to',
        sb.versions.to,
        '--config',
        config('capi-kcp', { clusterName: 'kcp-managed' }),
        '--yes',
      ]);
      assert.equal(run.exitCode, 2, describeRun(run));
      assert.match(run.stdout, /cluster-api\.control-plane-managed/, describeRun(run));
      assert.match(run.stdout, /kubeadmcontrolplane kcp-managed/, describeRun(run));
      assert.deepEqual(await truth(), before);
    } finally {
      await custom.deleteNamespacedCustomObject({ ...CAPI, plural: 'clusters', name: 'kcp-managed' });
    }
  });

  it('(a) replaces 3 Machines FROM -> TO through Cluster API while the API and etcd quorum hold', async () => {
    const sb = sandbox();
    const old = (await machines()).map((m) => m.metadata.name);
    // The Nodes of the old Machines as Cluster API links them (status.nodeRef), read before the run.
    const oldNodes = (await machines())
      .map((m) => (m.status?.['nodeRef'] as { name?: string } | undefined)?.name ?? '')
      .sort();
    assert.equal(oldNodes.filter(Boolean).length, 3, JSON.stringify(oldNodes));
    // Independent of kubeswap: the API through the load balancer, and the fewest voting members etcd ever had.
    const probe = new ApiProbe(sb).start();
    // And how long each old Node's kube-proxy pod outlives the Node Cluster API deletes.
    const gonePods = new GoneNodePods(sb).start();
    let minVoters = Number.POSITIVE_INFINITY;
    let samples = 0;
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        const etcd = sandboxEtcd(sb, 1000);
        try {
          minVoters = Math.min(minVoters, (await etcd.memberList()).filter((m) => !m.isLearner).length);
          samples++;
        } catch {
          // a member leaving mid-read: the next sample sees the settled state
        } finally {
          etcd.close();
        }
        await new Promise((r) => setTimeout(r, 250));
      }
    })();
    // The workload kubeconfig comes from the <cluster>-kubeconfig Secret (no top-level kubeconfig).
    const file = config('capi-upgrade', {}, { kubeconfig: undefined });
    const run = await kubeswap(sb, [
      'apply',
      '--to',
      sb.versions.to,
      '--image',
      sb.aws.images[sb.versions.to]!,
      '--config',
      file,
      '--yes',
    ]);
    const api = await probe.stop();
    const outlived = await gonePods.stop();
    sampling = false;
    await sampler;
    console.log(
      `      API probe: ${api.requests} requests, ${api.failures.length} failed, longest gap ${api.longestGapMs} ms; fewest voters ${minVoters}`,
    );
    assert.equal(run.exitCode, 0, describeRun(run));
    // Cluster API's order leaves the old apiserver behind the infrastructure provider's load balancer until the hook
    // is released (README, Cluster API users): a few requests in the window after its member's removal may fail,
    // never an outage.
    assert.ok(api.failures.length <= 5, `${api.failures.length} failed: ${api.failures.slice(0, 5).join('; ')}`);
    assert.ok(api.longestGapMs < 5000, `longest gap ${api.longestGapMs} ms`);
    // A watcher that never read etcd proves nothing: it must have sampled all along, as the probe must have asked.
    assert.ok(samples > 10 && Number.isFinite(minVoters), `the etcd watcher took ${samples} samples`);
    assert.ok(api.requests > 0, 'the API probe sent requests');
    assert.ok(minVoters >= 3, `etcd never had fewer than 3 voters (had ${minVoters})`);
    const codesOf = run.events.map((e) => e.code);
    assert.equal(codesOf.filter((c) => c === 'machine.deletion-started').length, 3, describeRun(run));
    assert.ok(!codesOf.includes('node.drain-started'), 'Cluster API drained, not kubeswap');
    // Each swap ends with its Machine (Cluster API deletes the Node): swap.finished once per old Machine's Node,
    // after that Machine's release, and the outcome counts them; the Nodes are checked gone below.
    const finished = run.events.filter((e) => e.code === 'swap.finished');
    assert.deepEqual(finished.map((e) => e.machine).sort(), oldNodes, describeRun(run));
    for (const e of finished) {
      const released = run.events.findIndex((x) => x.code === 'machine.terminated' && x.machine === e.machine);
      assert.ok(released >= 0 && released < run.events.indexOf(e), `${e.machine}: swap.finished after its release`);
    }
    assert.equal(run.events.find((e) => e.code === 'run.finished')?.data?.['swaps'], 3, describeRun(run));
    const after = await machines();
    assert.equal(after.length, 3);
    assert.ok(
      after.every((m) => m.spec.version === sb.versions.to && !old.includes(m.metadata.name)),
      JSON.stringify(after),
    );
    const nodes = (await kube().core.listNode({ labelSelector: 'node-role.kubernetes.io/control-plane' })).items;
    assert.ok(
      nodes.every((n) => !oldNodes.includes(n.metadata!.name!)),
      'the Nodes whose swaps finished are gone',
    );
    assert.deepEqual(
      nodes.map((n) => n.spec!.providerID).sort(),
      after.map((m) => m.spec.providerID).sort(),
      'every Node is a new Machine',
    );
    assert.ok(nodes.every((n) => n.status!.nodeInfo!.kubeletVersion === sb.versions.to));
    // Independent: each old Node's kube-proxy pod went with its Machine, not a garbage-collector minute later (while it
    // stays, the DaemonSet's rolling update counts that node as unavailable and the addon rollout stands still).
    assert.deepEqual([...outlived.keys()].sort(), oldNodes, 'every old Node seen deleted');
    for (const [node, seconds] of outlived) {
      assert.ok(gonePods.podsAt(node).length > 0, `${node} ran a DaemonSet pod before its deletion`);
      assert.ok(
        seconds < 20,
        `${node}'s DaemonSet pods (${gonePods.podsAt(node).join(', ')}) outlived it by ${seconds} s`,
      );
    }
    const etcd = sandboxEtcd(sb);
    try {
      const members = await etcd.memberList();
      assert.deepEqual(members.map((m) => m.name).sort(), nodes.map((n) => n.metadata!.name).sort());
    } finally {
      etcd.close();
    }
  });
});
