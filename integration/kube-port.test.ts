// The Kubernetes port against a real kube-apiserver and etcd (integration/fixtures/apiserver.ts). The
// test itself plays the kubelet and the controller manager where needed: it publishes Node and pod
// status and sets PodDisruptionBudget status through the status subresources.
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { createServer, type Socket } from 'node:net';
import * as k8s from '@kubernetes/client-node';
import { type Kube, openKube } from '../src/adapters/kube/client.ts';
import { KubeAuthError, KubeUnavailableError } from '../src/adapters/kube/errors.ts';
import { systemClock } from '../src/domain/clock.ts';
import { drainNode } from '../src/engine/act/drain.ts';
import { acquireLock, releaseLock, renewLock } from '../src/engine/run/lock.ts';
import { ConflictError } from '../src/ports/kube.ts';
import { fakeClock } from '../test/adapters/kube/fake-kube.ts';
import { type ApiServerFixture, findKubeApiserver, startApiServer } from './fixtures/apiserver.ts';

describe('kube port against a real kube-apiserver', function () {
  this.timeout(180_000);
  let fixture: ApiServerFixture;
  let kube: Kube;
  let core: k8s.CoreV1Api;
  let policy: k8s.PolicyV1Api;

  before(async function () {
    if (!findKubeApiserver()) {
      console.warn('    no kube-apiserver built yet (integration/components/build.sh kubernetes ...): skipping');
      this.skip();
    }
    fixture = await startApiServer();
    kube = openKube({ kubeconfig: fixture.kubeconfig, timeoutMs: 10_000 });
    const kc = new k8s.KubeConfig();
    kc.loadFromFile(fixture.kubeconfig);
    core = kc.makeApiClient(k8s.CoreV1Api);
    policy = kc.makeApiClient(k8s.PolicyV1Api);
    await seedCluster(core);
  });

  after(async () => {
    kube?.close();
    await fixture?.stop();
  });

  it('reports the version the binary was stamped with and names the kubeconfig it uses', async () => {
    assert.equal(await kube.serverVersion(), fixture.version);
    assert.deepEqual(
      { server: kube.summary.server, context: kube.summary.context, user: kube.summary.user },
      { server: fixture.server, context: 'fixture', user: 'fixture-admin' },
    );
  });

  it('lists nodes with readiness, role, provider id and their mirror static pods', async () => {
    const nodes = await kube.listNodes();
    const cp = nodes.find((n) => n.name === 'cp-1')!;
    assert.equal(cp.controlPlane, true);
    assert.equal(cp.ready, true);
    assert.equal(cp.providerId, 'aws:///eu-west-1a/i-0123');
    assert.equal(cp.kubeletVersion, 'v1.36.3');
    assert.ok(cp.createdAt instanceof Date && cp.createdAt.getTime() > 0);
    assert.deepEqual(cp.staticPods, {
      etcd: { component: 'etcd', name: 'etcd-cp-1', ready: true },
      'kube-apiserver': { component: 'kube-apiserver', name: 'kube-apiserver-cp-1', ready: false },
    });
    const worker = nodes.find((n) => n.name === 'worker-1')!;
    assert.deepEqual([worker.controlPlane, worker.ready], [false, false]);
    assert.deepEqual(await kube.etcdClientUrls(), ['https://10.0.0.11:2379']);
  });

  it('cordons and uncordons with a merge patch, and sets and removes annotations', async () => {
    await kube.setUnschedulable('worker-1', true);
    assert.equal((await core.readNode({ name: 'worker-1' })).spec?.unschedulable, true);
    await kube.setUnschedulable('worker-1', false);
    assert.notEqual((await core.readNode({ name: 'worker-1' })).spec?.unschedulable, true);

    await kube.annotateNode('cp-1', { 'kubeswap.io/drained': 'run-1', 'keep.me': 'yes' });
    await kube.annotateNode('cp-1', { 'kubeswap.io/drained': null });
    const annotations = (await core.readNode({ name: 'cp-1' })).metadata?.annotations ?? {};
    assert.equal(annotations['kubeswap.io/drained'], undefined);
    assert.equal(annotations['keep.me'], 'yes');
  });

  it('records a Node event that kubectl describe node would show', async () => {
    await kube.recordNodeEvent({ node: 'cp-1', reason: 'Draining', message: 'kubeswap is draining', type: 'Normal' });
    const events = await core.listNamespacedEvent({
      namespace: 'default',
      fieldSelector: 'involvedObject.kind=Node,involvedObject.name=cp-1,involvedObject.uid=cp-1',
    });
    const event = events.items.find((e) => e.reason === 'Draining');
    assert.ok(event, 'event stored');
    assert.equal(event.reportingComponent, 'kubeswap');
    // MicroTime comes back as a string although typed V1MicroTime.
    assert.equal(typeof event.eventTime, 'string');
  });

  it('lists the pods on a node, flagging DaemonSet and mirror pods', async () => {
    const pods = await kube.podsOnNode('cp-1');
    const byName = Object.fromEntries(pods.map((p) => [p.name, p]));
    assert.deepEqual(Object.keys(byName).sort(), ['etcd-cp-1', 'kube-apiserver-cp-1', 'proxy-cp-1', 'web-1']);
    assert.equal(byName['proxy-cp-1']!.daemonSet, true);
    assert.equal(byName['etcd-cp-1']!.mirror, true);
    assert.deepEqual(
      [byName['web-1']!.daemonSet, byName['web-1']!.mirror, byName['web-1']!.phase],
      [false, false, 'Running'],
    );
  });

  it('answers blocked (429) while a budget allows no disruption, evicted once it does, gone for a missing pod', async () => {
    await setBudgetStatus(policy, 0);
    assert.equal(await kube.evictPod('apps', 'web-1'), 'blocked');
    const [budget] = await kube.listDisruptionBudgets('apps');
    assert.deepEqual([budget!.name, budget!.disruptionsAllowed, budget!.matchLabels], ['web', 0, { app: 'web' }]);

    const drained = await drainNode(kube, 'cp-1', { timeoutMs: 1500, pollMs: 300, clock: systemClock });
    assert.deepEqual(drained, {
      ok: false,
      blocking: [{ pod: 'apps/web-1', pdbs: ['apps/web'], waitingFor: 'eviction' }],
    });
    assert.equal((await core.readNode({ name: 'cp-1' })).spec?.unschedulable, true);

    await setBudgetStatus(policy, 1);
    const uid = (await core.readNamespacedPod({ namespace: 'apps', name: 'web-1' })).metadata!.uid!;
    assert.equal(await kube.evictPod('apps', 'web-1'), 'evicted');
    // No kubelet: the bound pod stays, terminating, with its uid.
    const evicted = await core.readNamespacedPod({ namespace: 'apps', name: 'web-1' });
    assert.ok(evicted.metadata?.deletionTimestamp);
    assert.equal(await kube.podExists('apps', 'web-1', uid), true);
    assert.equal(await kube.podExists('apps', 'web-1', 'another-uid'), false);
    assert.equal(await kube.evictPod('apps', 'no-such-pod'), 'gone');
    assert.equal(await kube.podExists('apps', 'no-such-pod', uid), false);
    // The terminating pod no kubelet will end: removed at once, but only under its own uid.
    assert.equal(await kube.forceDeletePod('apps', 'web-1', 'another-uid'), 'gone');
    assert.equal(await kube.podExists('apps', 'web-1', uid), true);
    assert.equal(await kube.forceDeletePod('apps', 'web-1', uid), 'deleted');
    assert.equal(await kube.podExists('apps', 'web-1', uid), false);
    assert.equal(await kube.forceDeletePod('apps', 'web-1', uid), 'gone');
  });

  it('guards ConfigMap replaces by resourceVersion and reports create/delete idempotently', async () => {
    const cm = {
      namespace: 'kube-system',
      name: 'kubeswap-progress',
      data: { phase: 'a' },
      labels: { x: 'y' },
      annotations: {},
    };
    assert.equal(await kube.createConfigMap(cm), 'created');
    assert.equal(await kube.createConfigMap(cm), 'exists');
    const read = (await kube.getConfigMap('kube-system', 'kubeswap-progress'))!;
    assert.deepEqual([read.data, read.labels], [{ phase: 'a' }, { x: 'y' }]);
    const written = await kube.replaceConfigMap({ ...read, data: { phase: 'b' } });
    assert.notEqual(written.resourceVersion, read.resourceVersion);
    await assert.rejects(kube.replaceConfigMap({ ...read, data: { phase: 'stale' } }), ConflictError);
    assert.equal((await kube.getConfigMap('kube-system', 'kubeswap-progress'))!.data.phase, 'b');
    assert.equal(await kube.deleteConfigMap('kube-system', 'kubeswap-progress'), 'deleted');
    assert.equal(await kube.deleteConfigMap('kube-system', 'kubeswap-progress'), 'gone');
    assert.equal(await kube.getConfigMap('kube-system', 'kubeswap-progress'), undefined);
  });

  it('stores Secrets base64-encoded and reads them back decoded, filtered by type and label', async () => {
    const token = {
      namespace: 'kube-system',
      name: 'bootstrap-token-abcdef',
      type: 'bootstrap.kubernetes.io/token',
      data: { 'token-id': 'abcdef', 'token-secret': '0123456789abcdef', 'usage-bootstrap-authentication': 'true' },
      labels: { 'kubeswap.io/run': 'r1' },
    };
    assert.equal(await kube.createSecret(token), 'created');
    assert.equal(await kube.createSecret(token), 'exists');
    const raw = await core.readNamespacedSecret({ namespace: 'kube-system', name: token.name });
    assert.equal(raw.data?.['token-id'], Buffer.from('abcdef').toString('base64'));
    assert.deepEqual((await kube.getSecret('kube-system', token.name))!.data, token.data);
    await kube.createSecret({ ...token, name: 'other', type: 'Opaque', data: { a: 'line\n' } });
    const tokens = await kube.listSecrets('kube-system', { type: 'bootstrap.kubernetes.io/token' });
    assert.deepEqual(
      tokens.map((s) => s.name),
      [token.name],
    );
    const labelled = await kube.listSecrets('kube-system', { labelSelector: 'kubeswap.io/run=r1' });
    assert.deepEqual(labelled.map((s) => s.name).sort(), ['bootstrap-token-abcdef', 'other']);
    assert.equal((await kube.getSecret('kube-system', 'other'))!.data.a, 'line\n');
    assert.equal(await kube.deleteSecret('kube-system', 'other'), 'deleted');
    assert.equal(await kube.deleteSecret('kube-system', 'other'), 'gone');
    assert.equal(await kube.getSecret('kube-system', 'other'), undefined);
  });

  it('creates missing RBAC objects once and never overwrites them', async () => {
    const objects = [
      {
        kind: 'Role' as const,
        namespace: 'kube-system',
        name: 'kubeadm:kubelet-config',
        rules: [{ apiGroups: [''], resources: ['configmaps'], verbs: ['get'], resourceNames: ['kubelet-config'] }],
      },
      {
        kind: 'RoleBinding' as const,
        namespace: 'kube-system',
        name: 'kubeadm:kubelet-config',
        roleRef: { kind: 'Role' as const, name: 'kubeadm:kubelet-config' },
        subjects: [{ kind: 'Group' as const, name: 'system:nodes' }],
      },
      {
        kind: 'ClusterRole' as const,
        name: 'kubeadm:get-nodes',
        rules: [{ apiGroups: [''], resources: ['nodes'], verbs: ['get'] }],
      },
      {
        kind: 'ClusterRoleBinding' as const,
        name: 'kubeadm:get-nodes',
        roleRef: { kind: 'ClusterRole' as const, name: 'kubeadm:get-nodes' },
        subjects: [{ kind: 'Group' as const, name: 'system:bootstrappers:kubeadm:default-node-token' }],
      },
    ];
    assert.deepEqual(await kube.ensureRbac(objects), [
      'Role/kubeadm:kubelet-config',
      'RoleBinding/kubeadm:kubelet-config',
      'ClusterRole/kubeadm:get-nodes',
      'ClusterRoleBinding/kubeadm:get-nodes',
    ]);
    assert.deepEqual(await kube.ensureRbac(objects), []);
    assert.equal(
      await kube.rbacExists({ kind: 'RoleBinding', namespace: 'kube-system', name: 'kubeadm:kubelet-config' }),
      true,
    );
    assert.equal(await kube.rbacExists({ kind: 'ClusterRoleBinding', name: 'kubeadm:cluster-admins' }), false);
  });

  it('takes the Lease lock, refuses a second holder, and lets a lock unchanged for its TTL be taken over', async () => {
    const t0 = new Date();
    const first = await acquireLock(kube, { holder: 'run-a@host-a#1', ttlSeconds: 60, clock: fakeClock(t0) });
    assert.equal(first.acquired, true);
    const lease = (await kube.getLease('kube-system', 'kubeswap-lock'))!;
    assert.ok(lease.renewTime instanceof Date);
    assert.equal(lease.renewTime.getTime(), t0.getTime());
    // On the wire, MicroTime needs exactly 6 fractional digits.
    const raw = await k8sRawLease(fixture);
    assert.match(raw.spec.renewTime, /\.\d{6}Z$/);

    const second = await acquireLock(kube, {
      holder: 'run-b@host-b#2',
      ttlSeconds: 60,
      clock: fakeClock(new Date(t0.getTime() + 1000)),
    });
    assert.deepEqual(second, { acquired: false, holder: 'run-a@host-a#1', expiresAt: new Date(t0.getTime() + 60_000) });

    // Looks expired by our clock: watched (on a fake clock, reading the real Lease) for its TTL, then taken.
    const later = new Date(t0.getTime() + 61_000);
    const third = await acquireLock(kube, { holder: 'run-b@host-b#2', ttlSeconds: 60, clock: fakeClock(later) });
    assert.equal(third.acquired, true);
    assert.deepEqual(third.acquired && third.tookOverFrom, { holder: 'run-a@host-a#1', because: 'expired' });
    assert.equal((await kube.getLease('kube-system', 'kubeswap-lock'))!.leaseTransitions, 1);
    assert.deepEqual(await renewLock(kube, { holder: 'run-a@host-a#1', ttlSeconds: 60, now: later }), {
      renewed: false,
      holder: 'run-b@host-b#2',
    });
    assert.equal(await releaseLock(kube, { holder: 'run-b@host-b#2', now: later }), 'released');
    const stale = (await kube.getLease('kube-system', 'kubeswap-lock'))!;
    await kube.replaceLease({ ...stale, holderIdentity: 'x@y#1' });
    await assert.rejects(kube.replaceLease({ ...stale, holderIdentity: 'z@y#1' }), ConflictError);
    assert.equal(await kube.deleteLease('kube-system', 'kubeswap-lock'), 'deleted');
    assert.equal(await kube.deleteLease('kube-system', 'kubeswap-lock'), 'gone');
  });

  it('turns 401 and 403 into auth errors naming the identity', async () => {
    const viewer = openKube({ kubeconfig: fixture.kubeconfigFor('viewer', fixture.viewerToken) });
    await assert.rejects(viewer.listNodes(), (err: Error) => {
      assert.ok(err instanceof KubeAuthError, String(err));
      assert.match(err.message, /user "viewer" \(context "fixture"\) is not allowed \(403 Forbidden\)/);
      // listNodes reads Nodes and kube-system Pods side by side: whichever refusal comes first is the one reported.
      assert.match(err.message, /User "viewer" cannot list resource "(nodes|pods)"/);
      return true;
    });
    viewer.close();
    const stranger = openKube({ kubeconfig: fixture.kubeconfigFor('stranger', 'not-a-token') });
    await assert.rejects(stranger.serverVersion(), (err: Error) => {
      assert.ok(err instanceof KubeAuthError, String(err));
      assert.match(err.message, /rejected the credentials of user "stranger"/);
      return true;
    });
    stranger.close();
  });

  it('fails with an unavailable error when the server never answers or refuses connections', async () => {
    const { stop, port } = await silentServer();
    try {
      const silent = openKube({
        kubeconfig: kubeconfigAt(fixture, `https://127.0.0.1:${port}`),
        timeoutMs: 300,
        retry: { retries: 0 },
      });
      const started = Date.now();
      await assert.rejects(silent.listNodes(), (err: Error) => {
        assert.ok(err instanceof KubeUnavailableError, String(err));
        assert.match(err.message, /did not answer in time/);
        return true;
      });
      assert.ok(Date.now() - started < 5000);
      silent.close();
    } finally {
      stop();
    }
    const refused = openKube({ kubeconfig: kubeconfigAt(fixture, `https://127.0.0.1:${port}`), retry: { retries: 0 } });
    await assert.rejects(
      refused.listNodes(),
      (err: Error) => err instanceof KubeUnavailableError && /ECONNREFUSED/.test(err.message),
    );
    refused.close();
  });
});

/** What a kubelet and kubeadm would have published: two Nodes, mirror pods, a DaemonSet pod, a workload and its PDB. */
async function seedCluster(core: k8s.CoreV1Api): Promise<void> {
  const node = (name: string, labels: Record<string, string>, providerID?: string) => ({
    metadata: { name, labels },
    spec: { providerID },
  });
  await core.createNode({
    body: node('cp-1', { 'node-role.kubernetes.io/control-plane': '' }, 'aws:///eu-west-1a/i-0123'),
  });
  await core.createNode({ body: node('worker-1', {}) });
  const cp = await core.readNode({ name: 'cp-1' });
  cp.status = {
    conditions: [
      {
        type: 'Ready',
        status: 'True',
        reason: 'KubeletReady',
        lastHeartbeatTime: new Date(),
        lastTransitionTime: new Date(),
      },
    ],
    nodeInfo: { kubeletVersion: 'v1.36.3' } as k8s.V1NodeSystemInfo,
  };
  await core.replaceNodeStatus({ name: 'cp-1', body: cp });

  await core.createNamespace({ body: { metadata: { name: 'apps' } } });
  const mirror = { 'kubernetes.io/config.mirror': 'hash' };
  await createPod(
    core,
    'kube-system',
    'etcd-cp-1',
    {
      annotations: { ...mirror, 'kubeadm.kubernetes.io/etcd.advertise-client-urls': 'https://10.0.0.11:2379' },
      labels: { component: 'etcd', tier: 'control-plane' },
    },
    true,
  );
  await createPod(
    core,
    'kube-system',
    'kube-apiserver-cp-1',
    { annotations: mirror, labels: { tier: 'control-plane' } },
    false,
  );
  await createPod(
    core,
    'kube-system',
    'proxy-cp-1',
    {
      ownerReferences: [
        {
          apiVersion: 'apps/v1',
          kind: 'DaemonSet',
          name: 'kube-proxy',
          uid: '9a4f6b0e-0000-4000-8000-000000000001',
          controller: true,
        },
      ],
    },
    true,
  );
  await createPod(core, 'apps', 'web-1', { labels: { app: 'web' } }, true);
}

async function createPod(core: k8s.CoreV1Api, namespace: string, name: string, meta: k8s.V1ObjectMeta, ready: boolean) {
  await core.createNamespacedPod({
    namespace,
    body: {
      metadata: { name, namespace, ...meta },
      spec: { nodeName: 'cp-1', containers: [{ name: 'c', image: 'registry.k8s.io/pause:3.10' }] },
    },
  });
  const pod = await core.readNamespacedPod({ namespace, name });
  // Running and Ready, or the eviction API would skip the budget check for it.
  pod.status = { phase: 'Running', conditions: [{ type: 'Ready', status: ready ? 'True' : 'False' }] };
  await core.replaceNamespacedPodStatus({ namespace, name, body: pod });
}

/** Plays the disruption controller: a budget whose status says how many disruptions are allowed. */
async function setBudgetStatus(policy: k8s.PolicyV1Api, allowed: number): Promise<void> {
  const existing = await policy
    .readNamespacedPodDisruptionBudget({ namespace: 'apps', name: 'web' })
    .catch(() => undefined);
  const pdb =
    existing ??
    (await policy.createNamespacedPodDisruptionBudget({
      namespace: 'apps',
      body: { metadata: { name: 'web' }, spec: { minAvailable: 1, selector: { matchLabels: { app: 'web' } } } },
    }));
  // The eviction API refuses while observedGeneration lags the budget's generation ("still being processed").
  pdb.status = {
    observedGeneration: pdb.metadata?.generation,
    disruptionsAllowed: allowed,
    currentHealthy: 1 + allowed,
    desiredHealthy: 1,
    expectedPods: 1 + allowed,
  };
  await policy.replaceNamespacedPodDisruptionBudgetStatus({ namespace: 'apps', name: 'web', body: pdb });
}

function k8sRawLease(fixture: ApiServerFixture): Promise<{ spec: { renewTime: string } }> {
  return new Promise((resolve, reject) => {
    const req = request(
      `${fixture.server}/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/kubeswap-lock`,
      { ca: readFileSync(fixture.caFile), headers: { Authorization: `Bearer ${fixture.adminToken}` } },
      (res) => {
        let body = '';
        res.on('data', (c) => (body += c)).on('end', () => resolve(JSON.parse(body)));
      },
    );
    req.on('error', reject).end();
  });
}

function kubeconfigAt(fixture: ApiServerFixture, server: string): string {
  const path = `${fixture.kubeconfig}-${server.split(':').pop()}`;
  writeFileSync(path, readFileSync(fixture.kubeconfig, 'utf8').replace(fixture.server, server));
  return path;
}

/** A TCP server that accepts connections and never says a word (not even a TLS handshake). */
function silentServer(): Promise<{ stop(): void; port: number }> {
  return new Promise((resolve) => {
    const sockets: Socket[] = [];
    const server = createServer((s) => sockets.push(s));
    const stop = () => {
      server.close();
      for (const s of sockets) s.destroy();
    };
    server.listen(0, '127.0.0.1', () => resolve({ stop, port: (server.address() as { port: number }).port }));
  });
}
