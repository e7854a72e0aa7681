import assert from 'node:assert/strict';
import { checkBudgets, checkEtcd } from '../../../../src/engine/checks/readiness/etcd-and-budgets.ts';
import { componentVersions } from '../../../../src/engine/checks/readiness/versions.ts';
import type { DisruptionBudgetView, PodOnNode } from '../../../../src/ports/kube.ts';
import { node } from '../../builders.ts';
import { FakeReadiness } from './fake-readiness.ts';

describe('readiness: versions, etcd and disruption budgets', () => {
  it('lists every component now -> target with the rule, replaced machines moving to the target', () => {
    const rows = componentVersions({
      target: 'v1.37.2',
      nodes: [
        node('cp-a', { kubeletVersion: 'v1.36.3' }),
        node('w-1', { controlPlane: false, kubeletVersion: 'v1.34.1' }),
        node('w-old', { controlPlane: false, kubeletVersion: 'v1.33.0' }),
      ],
      replaced: ['cp-a'],
      apiservers: [
        { node: 'cp-a', version: 'v1.36.3' },
        { node: 'cp-x', error: 'timeout' },
      ],
      staticPods: [{ node: 'cp-a', component: 'kube-scheduler', version: 'v1.35.0' }],
      addons: [{ component: 'kube-proxy', object: 'kube-system/kube-proxy', version: 'v1.36.3' }],
      etcd: [{ member: 'cp-a', version: '3.6.8' }],
    });
    const row = (component: string, where: string) =>
      rows.find((r) => r.component === component && r.where.startsWith(where))!;
    assert.deepEqual([row('kube-apiserver', 'cp-a').target, row('kube-apiserver', 'cp-a').severity], ['v1.37.2', 'ok']);
    assert.equal(row('kube-apiserver', 'cp-x').severity, 'skipped');
    assert.equal(row('kube-scheduler', 'cp-a').severity, 'block', 'two minors behind the target');
    assert.deepEqual([row('kubelet', 'w-1').target, row('kubelet', 'w-1').severity], ['v1.34.1', 'ok']);
    assert.equal(row('kubelet', 'w-old').severity, 'block', 'four minors behind');
    assert.match(row('kubelet', 'w-1').rule, /3 minors older/);
    assert.match(row('etcd', 'cp-a').target, /3\.7\.0/);
  });

  it('groups the fine, untouched kubelets by version and names every Node that matters', () => {
    const workers = Array.from({ length: 5000 }, (_, i) =>
      node(`w-${i}`, { controlPlane: false, kubeletVersion: i % 10 === 0 ? 'v1.35.4' : 'v1.36.3' }),
    );
    const rows = componentVersions({
      target: 'v1.37.2',
      nodes: [
        node('cp-a', { kubeletVersion: 'v1.36.3' }),
        node('cp-b', { kubeletVersion: 'v1.36.3' }),
        ...workers,
        node('w-old', { controlPlane: false, kubeletVersion: 'v1.33.0' }),
        node('w-new', { controlPlane: false, kubeletVersion: 'v1.38.0' }),
        node('w-alone', { controlPlane: false, kubeletVersion: 'v1.34.1' }),
      ],
      replaced: ['cp-a'],
      apiservers: [],
      staticPods: [],
      addons: [],
      etcd: [],
    });
    const kubelets = rows.filter((r) => r.component === 'kubelet');
    assert.deepEqual(
      kubelets.map((r) => [r.where, r.now, r.target, r.severity, r.nodes]),
      [
        ['cp-a (control plane)', 'v1.36.3', 'v1.37.2', 'ok', undefined],
        ['cp-b (control plane)', 'v1.36.3', 'v1.36.3', 'ok', undefined],
        ['w-old', 'v1.33.0', 'v1.33.0', 'block', undefined],
        ['w-new', 'v1.38.0', 'v1.38.0', 'block', undefined],
        ['500 Nodes', 'v1.35.4', 'v1.35.4', 'ok', 500],
        ['4500 Nodes', 'v1.36.3', 'v1.36.3', 'ok', 4500],
        ['w-alone', 'v1.34.1', 'v1.34.1', 'ok', undefined],
      ],
    );
    // Every Node is counted once.
    assert.equal(
      kubelets.reduce((n, r) => n + (r.nodes ?? 1), 0),
      5005,
    );
  });

  it('warns at 80% of the etcd quota, blocks at the quota and on any alarm', async () => {
    const port = new FakeReadiness();
    port.quota = 100 * 1048576;
    const findings = await checkEtcd(port, { alarms: async () => [{ memberId: '255', alarm: 'NOSPACE' }] }, [
      { endpoint: 'a', dbSizeBytes: 85 * 1048576 },
      { endpoint: 'b', dbSizeBytes: 100 * 1048576 },
      { endpoint: 'c', dbSizeBytes: 1 * 1048576 },
      { endpoint: 'd', error: 'deadline exceeded' },
    ]);
    assert.deepEqual(
      findings.map((f) => [f.subject, f.severity]),
      [
        ['etcd a', 'warn'],
        ['etcd b', 'block'],
        ['etcd c', 'ok'],
        ['etcd d', 'skipped'],
        ['etcd member ff', 'block'],
      ],
    );
  });

  it('names budgets that allow no disruption and cover pods on a node the run drains', async () => {
    const pdb = (name: string, allowed: number, app: string): DisruptionBudgetView => ({
      namespace: 'shop',
      name,
      disruptionsAllowed: allowed,
      currentHealthy: 1,
      desiredHealthy: 1,
      matchLabels: { app },
    });
    const pod = (name: string, app: string, daemonSet = false): PodOnNode => ({
      namespace: 'shop',
      name,
      uid: name,
      daemonSet,
      mirror: false,
      phase: 'Running',
      labels: { app },
    });
    const kube = {
      listDisruptionBudgets: async () => [pdb('db', 0, 'db'), pdb('web', 1, 'web'), pdb('agent', 0, 'agent')],
      podsOnNode: async (n: string) =>
        n === 'cp-a' ? [pod('db-0', 'db'), pod('web-0', 'web'), pod('agent-x', 'agent', true)] : [],
    };
    const findings = await checkBudgets(kube, ['cp-a', 'cp-b']);
    assert.deepEqual(
      findings.map((f) => [f.subject, f.severity]),
      [['PodDisruptionBudget shop/db', 'warn']],
    );
    // Without a budget at zero disruptions no drain can be stopped: no pod is read.
    let reads = 0;
    const allAllow = {
      listDisruptionBudgets: async () => [pdb('web', 1, 'web')],
      podsOnNode: async () => {
        reads++;
        return [pod('web-0', 'web')];
      },
    };
    assert.deepEqual(await checkBudgets(allAllow, ['cp-a', 'cp-b']), []);
    assert.equal(reads, 0);
  });
});
