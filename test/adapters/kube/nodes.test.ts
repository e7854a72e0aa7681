import assert from 'node:assert/strict';
import type { V1Node, V1NodeSystemInfo, V1Pod } from '@kubernetes/client-node';
import {
  etcdClientUrlsOf,
  FRESH_BY_NAME,
  hostnameSelectors,
  listNodes,
  NODE_PAGE,
  nextNodePageLimit,
  nodeEventBody,
  staticPodsOf,
  toNodeView,
} from '../../../src/adapters/kube/nodes.ts';
import type { KubeApis } from '../../../src/adapters/kube/transport.ts';

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

describe('listNodes paging', () => {
  it('sizes the pages after the first by the Nodes read so far, within the bounds', () => {
    // 1.3 KB Nodes (the scale sandbox's): about 3,200 a page; 10 KB Nodes: the minimum; tiny ones: the maximum.
    assert.equal(nextNodePageLimit(500 * 1300, 500), Math.floor(NODE_PAGE.bytes / 1300));
    assert.equal(nextNodePageLimit(500 * 10_000, 500), NODE_PAGE.min);
    assert.equal(nextNodePageLimit(500 * 100, 500), NODE_PAGE.max);
    assert.equal(nextNodePageLimit(0, 0), NODE_PAGE.min);
  });

  it('follows the continue token with the resized limit and reads every Node as plain JSON', async () => {
    const all = Array.from({ length: 4200 }, (_, i) => ({
      metadata: { name: `w-${i}`, creationTimestamp: '2026-01-02T03:04:05Z', labels: { a: 'b' } },
      spec: { providerID: `aws:///az/i-${i}` },
      status: { conditions: [{ type: 'Ready', status: 'True' }], nodeInfo: { kubeletVersion: 'v1.36.3' } },
    }));
    const asked: { limit: unknown; continue: unknown }[] = [];
    const apis = {
      core: { listNamespacedPod: async () => ({ items: [] }) },
      getJson: async (path: string, query: Record<string, string | number | undefined>) => {
        assert.equal(path, '/api/v1/nodes');
        asked.push({ limit: query['limit'], continue: query['continue'] });
        const from = Number(query['continue'] ?? 0);
        const items = all.slice(from, from + Number(query['limit']));
        const next = from + items.length;
        const value = { items, metadata: next < all.length ? { continue: String(next) } : {} };
        // Each Node counted as 1,300 characters, as the sandbox's are.
        return { value, length: items.length * 1300 };
      },
      fail: (err: unknown) => err,
    } as unknown as KubeApis;
    const views = await listNodes(apis);
    assert.equal(views.length, all.length);
    assert.deepEqual(
      views.slice(0, 2).map((v) => [v.name, v.providerId, v.ready, v.kubeletVersion, v.createdAt.toISOString()]),
      [
        ['w-0', 'aws:///az/i-0', true, 'v1.36.3', '2026-01-02T03:04:05.000Z'],
        ['w-1', 'aws:///az/i-1', true, 'v1.36.3', '2026-01-02T03:04:05.000Z'],
      ],
    );
    const big = Math.floor(NODE_PAGE.bytes / 1300);
    assert.deepEqual(asked, [
      { limit: 500, continue: undefined },
      { limit: big, continue: '500' },
      { limit: big, continue: String(500 + big) },
    ]);
  });
});

describe('hostnameSelectors', () => {
  it('covers every hostname once, each selector within FRESH_BY_NAME.selectorChars once URL-encoded', () => {
    const hostnames = Array.from({ length: 500 }, (_, i) => `ip-10-0-${i % 256}-${i}.eu-west-1.compute.internal`);
    const selectors = hostnameSelectors(hostnames);
    assert.ok(selectors.length > 1);
    for (const s of selectors) {
      assert.ok(encodeURIComponent(s).length <= FRESH_BY_NAME.selectorChars, `${encodeURIComponent(s).length}`);
      assert.match(s, /^kubernetes\.io\/hostname in \([^()]+\)$/);
    }
    const covered = selectors.flatMap((s) => /\((.*)\)/.exec(s)![1]!.split(','));
    assert.deepEqual(covered, [...hostnames].sort());
    // Full: one more hostname would not have fitted in any but the last.
    for (const s of selectors.slice(0, -1)) {
      assert.ok(
        encodeURIComponent(`${s.slice(0, -1)},ip-10-0-255-999.eu-west-1.compute.internal)`).length >
          FRESH_BY_NAME.selectorChars,
      );
    }
  });

  it('asks for nothing when no worker is named', () => {
    assert.deepEqual(hostnameSelectors([]), []);
  });
});
