import assert from 'node:assert/strict';
import { parseClusterStatus, pruneClusterStatus } from '../../src/domain/kubeadm/cluster-config.ts';
import { fixture } from './fixtures.ts';

describe('kubeadm ClusterStatus (kubeadm <= 1.21)', () => {
  const text = fixture('cluster-status-v1beta2.yaml.txt');

  it('reads apiEndpoints by node name', () => {
    const status = parseClusterStatus(text);
    assert.equal(status.apiVersion, 'kubeadm.k8s.io/v1beta2');
    assert.deepEqual(status.apiEndpoints['cp-b'], { advertiseAddress: '10.0.2.10', bindPort: 6443 });
    assert.deepEqual(Object.keys(status.apiEndpoints), ['cp-a', 'cp-b', 'cp-c']);
  });

  const cases = [
    {
      name: 'drops the entry of a node that no longer exists',
      nodes: ['cp-a', 'cp-c', 'cp-d', 'worker-1'],
      removed: ['cp-b'],
    },
    { name: 'drops every gone node at once', nodes: ['cp-c', 'cp-d'], removed: ['cp-a', 'cp-b'] },
    { name: 'changes nothing when every entry has its node', nodes: ['cp-a', 'cp-b', 'cp-c'], removed: [] },
    { name: 'adds no entry for a node that is not listed', nodes: ['cp-a', 'cp-b', 'cp-c', 'cp-new'], removed: [] },
    { name: 'treats an empty node list as unknown and changes nothing', nodes: [], removed: [] },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const pruned = pruneClusterStatus(text, c.nodes);
      assert.deepEqual(pruned.removed, c.removed);
      assert.equal(pruned.changed, c.removed.length > 0);
      if (!pruned.changed) assert.equal(pruned.text, text);
      const left = Object.keys(parseClusterStatus(pruned.text).apiEndpoints);
      const expected = ['cp-a', 'cp-b', 'cp-c'].filter((n) => !c.removed.includes(n));
      assert.deepEqual(left, expected);
    });
  }

  it('keeps the remaining entries formatted as kubeadm wrote them', () => {
    const pruned = pruneClusterStatus(text, ['cp-a', 'cp-c']);
    assert.equal(pruned.text, text.replace('  cp-b:\n    advertiseAddress: 10.0.2.10\n    bindPort: 6443\n', ''));
  });
});
