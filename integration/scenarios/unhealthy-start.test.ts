// Issue 9 §1: nothing changes until the cluster is healthy. An unhealthy start (one machine's etcd
// member down; a never-started member of someone else's crashed join) is refused with exit 2 naming
// what is unhealthy, within --gate-timeout, and the cluster, moto and the lock are exactly as before:
// read from the real components, not from kubeswap's own events. Issue 9 §5: once an earlier process
// changed the cluster, the same refusal is exit 4, never 2.
import assert from 'node:assert/strict';
import * as k8s from '@kubernetes/client-node';
import { etcdClient } from '../sandbox/etcd.ts';
import type { Sandbox } from '../sandbox/index.ts';
import { clusterTruth, describeRun, essentials, kubeswap, useSandbox } from './harness.ts';

describe('scenario: an unhealthy start is refused and changes nothing', function () {
  this.timeout(10 * 60_000);
  const sandbox = useSandbox({ controlPlanes: 3 });

  /** Everything a run changes first: kubeadm-config, the progress record, the lock, machines, members. */
  async function state(sb: Sandbox) {
    const kc = new k8s.KubeConfig();
    kc.loadFromFile(sb.kubeconfig);
    const core = kc.makeApiClient(k8s.CoreV1Api);
    const coordination = kc.makeApiClient(k8s.CoordinationV1Api);
    const truth = await clusterTruth(sb);
    const kubeadmConfig = await core.readNamespacedConfigMap({ name: 'kubeadm-config', namespace: 'kube-system' });
    const progress = await core.listNamespacedConfigMap({
      namespace: 'kube-system',
      fieldSelector: 'metadata.name=kubeswap-progress',
    });
    const lock = await coordination
      .readNamespacedLease({ name: 'kubeswap-lock', namespace: 'kube-system' })
      .catch(() => undefined);
    return {
      ...essentials(truth),
      terminated: truth.terminated.length,
      kubeadmConfig: kubeadmConfig.metadata?.resourceVersion,
      progress: progress.items.length,
      lockHolder: lock?.spec?.holderIdentity ?? '',
    };
  }

  it("refuses while one machine's etcd member is down, naming it, within --gate-timeout", async () => {
    const sb = sandbox();
    const before = await state(sb);
    const victim = sb.machines[1]!;
    await sb.fault({ kind: 'crash-etcd', node: victim.node });
    try {
      const started = Date.now();
      const run = await kubeswap(
        sb,
        ['apply', '--to', sb.versions.to, '--yes', '--gate-timeout', '15s', '--gate-passes', '2'],
        { timeoutMs: 180_000 },
      );
      const tookMs = Date.now() - started;
      console.log(`      refused after ${tookMs} ms (gate timeout 15 s)`);
      assert.equal(run.exitCode, 2, describeRun(run));
      const failed = run.events.find((e) => e.code === 'run.failed');
      assert.equal(failed?.data?.['error'], 'gate.unhealthy', describeRun(run));
      assert.match(failed?.message ?? '', new RegExp(`etcd-${victim.node}|etcd endpoint .* unhealthy`));
      assert.match(String(failed?.data?.['hint']), /nothing was changed/);
      assert.ok(tookMs < 120_000, 'bounded by the gate timeout, not waited on for ever');
      assert.deepEqual(await state(sb), before, 'nothing changed, lock released');
    } finally {
      await sb.fault({ kind: 'heal', node: victim.node });
    }
  });

  it("blocks on someone else's never-started etcd member: plan and apply exit 2, nothing changed", async () => {
    const sb = sandbox();
    const client = etcdClient(sb.refresh().etcd.endpoints, sb.etcd);
    // What a join that crashed right after `member add` leaves: a learner whose peer URL nobody serves.
    // etcd refuses membership changes for 5 s after a member restarted: retry within a bound.
    let strayId = '';
    for (let attempt = 0; !strayId; attempt++) {
      try {
        strayId = (await client.cluster.memberAdd({ peerURLs: ['https://127.0.0.1:1'], isLearner: true })).member.ID;
      } catch (err) {
        if (attempt >= 30) throw err;
        await new Promise((r) => setTimeout(r, 1000));
      }
    }
    try {
      const before = await state(sb);
      const plan = await kubeswap(sb, ['plan', '--to', sb.versions.to], { timeoutMs: 120_000 });
      assert.equal(plan.exitCode, 2, describeRun(plan));
      assert.match(plan.stdout + plan.stderr, /etcd\.orphan-member|belongs to no control-plane node/);
      const run = await kubeswap(sb, ['apply', '--to', sb.versions.to, '--yes', '--gate-timeout', '15s'], {
        timeoutMs: 180_000,
      });
      assert.equal(run.exitCode, 2, describeRun(run));
      assert.match(String(run.events.find((e) => e.code === 'run.failed')?.data?.['hint']), /etcdctl member remove/);
      assert.deepEqual(await state(sb), before);
    } finally {
      await client.cluster.memberRemove({ ID: strayId }).catch(() => undefined);
      client.close();
    }
  });

  it('a resumed run that is then blocked exits 4 with the state described, never 2; healed, it completes', async () => {
    // Issue 9 §5: exit 2 promises "nothing was changed" for the cluster, not for this process. The first process
    // changed the cluster (kubeadm-config, a replacement); the second changes nothing itself before the gate
    // blocks it, yet must not claim the cluster is as before.
    const sb = sandbox();
    const args = ['apply', '--to', sb.versions.to, '--yes', '--gate-passes', '2'];
    // Killed between swaps: no replacement in flight, so the re-run meets the gate before its first change.
    const killed = await kubeswap(sb, args, { killAfter: (e) => e.code === 'swap.finished' });
    assert.equal(killed.signal, 'SIGKILL', describeRun(killed));
    const replaced = String(killed.events.find((e) => e.code === 'swap.started')?.data?.['oldMachine']);
    const victim = sb.machines.find((m) => m.instanceId !== replaced)!;
    await sb.fault({ kind: 'crash-etcd', node: victim.node });
    try {
      const blocked = await kubeswap(sb, [...args, '--gate-timeout', '15s'], { timeoutMs: 180_000 });
      assert.equal(blocked.exitCode, 4, describeRun(blocked));
      const failed = blocked.events.find((e) => e.code === 'run.failed');
      assert.doesNotMatch(String(failed?.data?.['hint'] ?? ''), /nothing was changed/, describeRun(blocked));
      const truth = await clusterTruth(sb);
      assert.equal(truth.kubernetesVersion, sb.versions.to, 'the first process had bumped kubeadm-config');
    } finally {
      await sb.fault({ kind: 'heal', node: victim.node });
    }
    const run = await kubeswap(sb, args);
    assert.equal(run.exitCode, 0, describeRun(run));
    const after = await clusterTruth(sb);
    assert.ok(after.nodes.every((n) => n.ready && n.version === sb.versions.to));
    assert.equal(after.members.length, 3);
  });
});
