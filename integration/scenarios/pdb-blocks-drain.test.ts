// (i) a PodDisruptionBudget blocks the drain of the old node: the blocking PDB is named, exit 4, the
// replacement keeps serving; after the budget is relaxed a re-run completes.
import assert from 'node:assert/strict';
import * as k8s from '@kubernetes/client-node';
import { clusterTruth, describeRun, kubeswap, useSandbox } from './harness.ts';

describe('scenario: a PodDisruptionBudget blocks the drain', function () {
  this.timeout(20 * 60_000);
  const sandbox = useSandbox({ controlPlanes: 3 });
  let kc: k8s.KubeConfig;
  before(() => {
    const sb = sandbox();
    kc = new k8s.KubeConfig();
    kc.loadFromFile(sb.kubeconfig);
  });

  it('names the blocking PDB and exits 4', async () => {
    const sb = sandbox();
    const plan = await kubeswap(sb, ['plan', '--to', sb.versions.to]);
    const first = JSON.parse(plan.stdout.trim().split('\n').at(-1)!).machines[0].node as string;
    const apps = kc.makeApiClient(k8s.AppsV1Api);
    const policy = kc.makeApiClient(k8s.PolicyV1Api);
    const labels = { app: 'ledger' };
    await apps.createNamespacedDeployment({
      namespace: 'default',
      body: {
        metadata: { name: 'ledger' },
        spec: {
          replicas: 1,
          selector: { matchLabels: labels },
          template: {
            metadata: { labels },
            spec: {
              nodeSelector: { 'kubernetes.io/hostname': first },
              // Only the control-plane taint: tolerating everything would also tolerate the cordon, and the
              // scheduler would put every evicted pod straight back onto the node being drained.
              tolerations: [{ key: 'node-role.kubernetes.io/control-plane', operator: 'Exists', effect: 'NoSchedule' }],
              containers: [{ name: 'app', image: 'registry.invalid/ledger:1' }],
            },
          },
        },
      },
    });
    await policy.createNamespacedPodDisruptionBudget({
      namespace: 'default',
      body: { metadata: { name: 'ledger-pdb' }, spec: { minAvailable: 1, selector: { matchLabels: labels } } },
    });
    const core = kc.makeApiClient(k8s.CoreV1Api);
    for (let i = 0; i < 120; i++) {
      const pods = await core.listNamespacedPod({ namespace: 'default', labelSelector: 'app=ledger' });
      const pdb = await policy.readNamespacedPodDisruptionBudget({ name: 'ledger-pdb', namespace: 'default' });
      if (pods.items.some((p) => p.status?.phase === 'Running') && pdb.status?.currentHealthy === 1) break;
      await new Promise((r) => setTimeout(r, 500));
    }
    const run = await kubeswap(sb, [
      'apply',
      '--to',
      sb.versions.to,
      '--yes',
      '--gate-passes',
      '2',
      '--drain-timeout',
      '15s',
    ]);
    assert.equal(run.exitCode, 4, describeRun(run));
    const blocked = run.events.find((e) => e.code === 'node.drain-blocked');
    assert.ok(blocked, describeRun(run));
    assert.match(blocked.message, /default\/ledger-pdb/);
    const t = await clusterTruth(sb);
    assert.equal(t.members.length, 4, 'the replacement joined and the old member is still there');
    assert.ok(
      t.nodes.find((n) => n.name === first),
      'the old node is still there (cordoned)',
    );
  });

  it('completes after the budget is relaxed', async () => {
    const sb = sandbox();
    const policy = kc.makeApiClient(k8s.PolicyV1Api);
    await policy.deleteNamespacedPodDisruptionBudget({ name: 'ledger-pdb', namespace: 'default' });
    const run = await kubeswap(sb, ['apply', '--to', sb.versions.to, '--yes', '--gate-passes', '2']);
    assert.equal(run.exitCode, 0, describeRun(run));
    const t = await clusterTruth(sb);
    assert.equal(t.members.length, 3);
    assert.ok(t.nodes.every((n) => n.version === sb.versions.to));
  });
});
