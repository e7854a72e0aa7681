import assert from 'node:assert/strict';
import type { V1Node, V1NodeSystemInfo, V1Pod } from '@kubernetes/client-node';
import { etcdClientUrlsOf, nodeEventBody, staticPodsOf, toNodeView } from '../../../src/adapters/kube/nodes.ts';

function node(
  name: string,
  overrides: { labels?: Record<string, string>; ready?: string; unschedulable?: boolean } = {},
): V1Node {
  return {
    metadata: {
      name,
      labels: overrides.labels ?? {},
      annotations: { a: 'b' },
      creationTimestamp: new Date('2026-01-02T03:04:05Z'),
    },
    spec: { providerID: `aws:///eu-west-1a/i-${name}`, unschedulable: overrides.unschedulable },
    status: {
      conditions: [
        { type: 'MemoryPressure', status: 'False' },
        { type: 'Ready', status: overrides.ready ?? 'True' },
      ],
      nodeInfo: { kubeletVersion: 'v1.36.3' } as V1NodeSystemInfo,
    },
  };
}

function pod(name: string, options: { node?: string; mirror?: boolean; tier?: boolean; ready?: boolean } = {}): V1Pod {
  return {
    metadata: {
      name,
      namespace: 'kube-system',
      annotations: options.mirror === false ? {} : { 'kubernetes.io/config.mirror': 'abc' },
      labels: options.tier ? { tier: 'control-plane' } : {},
    },
    spec: { nodeName: options.node, containers: [] },
    status: { conditions: [{ type: 'Ready', status: options.ready === false ? 'False' : 'True' }] },
  };
}

describe('toNodeView', () => {
  it('maps readiness, role, provider id, kubelet version and creation time', () => {
    const view = toNodeView(node('cp-1', { labels: { 'node-role.kubernetes.io/control-plane': '' } }), []);
    assert.equal(view.name, 'cp-1');
    assert.equal(view.ready, true);
    assert.equal(view.controlPlane, true);
    assert.equal(view.unschedulable, false);
    assert.equal(view.providerId, 'aws:///eu-west-1a/i-cp-1');
    assert.equal(view.kubeletVersion, 'v1.36.3');
    assert.deepEqual(view.createdAt, new Date('2026-01-02T03:04:05Z'));
    assert.deepEqual(view.annotations, { a: 'b' });
  });

  it('reads a node without a Ready=True condition as not ready', () => {
    assert.equal(toNodeView(node('n', { ready: 'Unknown' }), []).ready, false);
  });

  it('recognizes the legacy master label of kubeadm before 1.20 as control plane', () => {
    assert.equal(toNodeView(node('old', { labels: { 'node-role.kubernetes.io/master': '' } }), []).controlPlane, true);
    assert.equal(toNodeView(node('worker'), []).controlPlane, false);
  });

  it('reports a cordoned node as unschedulable', () => {
    assert.equal(toNodeView(node('n', { unschedulable: true }), []).unschedulable, true);
  });
});

describe('staticPodsOf', () => {
  it('attaches the mirror pods named <component>-<node> with their readiness', () => {
    const pods = [
      pod('etcd-cp-1', { node: 'cp-1' }),
      pod('kube-apiserver-cp-1', { node: 'cp-1', ready: false }),
      pod('kube-scheduler-cp-1', { node: 'cp-1' }),
      pod('etcd-cp-2', { node: 'cp-2' }),
    ];
    assert.deepEqual(staticPodsOf('cp-1', pods), {
      etcd: { component: 'etcd', name: 'etcd-cp-1', ready: true },
      'kube-apiserver': { component: 'kube-apiserver', name: 'kube-apiserver-cp-1', ready: false },
      'kube-scheduler': { component: 'kube-scheduler', name: 'kube-scheduler-cp-1', ready: true },
    });
  });

  it('accepts a pod labelled tier=control-plane without the mirror annotation', () => {
    const pods = [pod('kube-controller-manager-cp-1', { mirror: false, tier: true })];
    assert.deepEqual(Object.keys(staticPodsOf('cp-1', pods)), ['kube-controller-manager']);
  });

  it('ignores a same-named pod that is neither a mirror nor control-plane tier', () => {
    assert.deepEqual(staticPodsOf('cp-1', [pod('etcd-cp-1', { mirror: false })]), {});
  });

  it('ignores a pod with the right name bound to another node', () => {
    assert.deepEqual(staticPodsOf('cp-1', [pod('etcd-cp-1', { node: 'cp-9' })]), {});
  });
});

describe('nodeEventBody', () => {
  const at = new Date('2026-03-04T05:06:07.123Z');
  const body = nodeEventBody({ node: 'cp-1', reason: 'Draining', message: 'draining', type: 'Normal' }, at, 'ci-host');

  it('serializes eventTime with the 6 fractional digits the API server requires of MicroTime', () => {
    assert.equal(JSON.parse(JSON.stringify(body)).eventTime, '2026-03-04T05:06:07.123000Z');
  });

  it('references the node the way kubectl describe node looks events up (uid = name)', () => {
    assert.deepEqual(body.involvedObject, { apiVersion: 'v1', kind: 'Node', name: 'cp-1', uid: 'cp-1' });
    assert.equal(body.metadata.namespace, 'default');
  });

  it('fills the fields core/v1 validation requires once eventTime is set', () => {
    assert.equal(body.reportingComponent, 'kubeswap');
    assert.equal(body.reportingInstance, 'ci-host');
    assert.equal(body.action, 'Draining');
  });
});

describe('etcdClientUrlsOf', () => {
  it('collects the kubeadm advertise-client-urls of the etcd mirror pods in node order', () => {
    const etcd = (node: string, urls?: string): V1Pod => ({
      metadata: {
        name: `etcd-${node}`,
        namespace: 'kube-system',
        annotations: urls ? { 'kubeadm.kubernetes.io/etcd.advertise-client-urls': urls } : {},
      },
      spec: { nodeName: node, containers: [] },
    });
    const pods = [etcd('cp-2', 'https://10.0.0.2:2379'), etcd('cp-1', 'https://10.0.0.1:2379'), etcd('cp-3')];
    assert.deepEqual(etcdClientUrlsOf(pods), ['https://10.0.0.1:2379', 'https://10.0.0.2:2379']);
  });
});
