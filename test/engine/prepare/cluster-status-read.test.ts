// prepareCluster prunes kubeadm <= 1.21's ClusterStatus to the Nodes that exist, and writes it back: that list comes
// from the API server, never from the run's watched cache (kept for the whole apply, and trusted for up to a minute
// when its watch is silently dead: a replacement Node it missed would lose its apiEndpoint).
import assert from 'node:assert/strict';
import { prepareCluster } from '../../../src/engine/prepare/prepare.ts';
import { fixture } from '../../kubeadm/fixtures.ts';
import { FROM, TO } from '../builders.ts';
import { FakeWorld } from '../fake-world.ts';

describe('prepare: the ClusterStatus prune reads the Nodes from the API server', () => {
  it('lists the Nodes afresh (fresh: true), not from the cache', async () => {
    const world = new FakeWorld(['cp-a', 'cp-b', 'cp-c']);
    const ports = world.ports();
    const key = 'kube-system/kubeadm-config';
    const cm = world.configMaps.get(key)!;
    world.configMaps.set(key, {
      ...cm,
      data: { ...cm.data, ClusterStatus: fixture('cluster-status-v1beta2.yaml.txt') },
    });
    const reads: unknown[] = [];
    ports.kube = {
      ...ports.kube,
      listNodes: async (options) => {
        reads.push(options?.fresh);
        return world.kube.listNodes(options);
      },
    };
    await prepareCluster(ports, FROM, TO);
    assert.deepEqual(reads, [true]);
  });
});
