// The sandbox as built by `up`: real etcd over TLS, real apiservers behind the load balancer, kubeadm's state,
// real RBAC. Every test reads the cluster through the real components' own clients.
import assert from 'node:assert/strict';
import * as k8s from '@kubernetes/client-node';
import { parse } from 'yaml';
import { type Sandbox, upSandbox } from './index.ts';
import { kubeClients } from './join-fixtures.ts';

const CONTROL_PLANES = 3;

describe('sandbox topology (3 machines, real components)', function () {
  this.timeout(600_000);
  let sb: Sandbox;

  before(async () => {
    sb = await upSandbox({ controlPlanes: CONTROL_PLANES, ownerPid: process.pid });
  });
  after(async () => {
    await sb?.down();
  });

  it('etcdctl over TLS shows N started voting members and exactly one leader', async () => {
    const members = (await sb.etcdctl(['member', 'list', '-w', 'simple'])).trim().split('\n');
    assert.equal(members.length, CONTROL_PLANES);
    for (const line of members) {
      const [, status, name, , , learner] = line.split(', ');
      assert.equal(status, 'started');
      assert.equal(learner, 'false');
      assert.ok(
        sb.machines.some((m) => m.node === name),
        `member ${name} is a machine`,
      );
    }
    const status = JSON.parse((await sb.etcdctl(['endpoint', 'status', '-w', 'json'])).replace(/:(\d{16,})/g, ':"$1"'));
    const leaders = new Set(status.map((s: any) => String(s.Status.leader)));
    assert.equal(leaders.size, 1, 'all members agree on one leader');
    assert.equal(status.filter((s: any) => String(s.Status.leader) === String(s.Status.header.member_id)).length, 1);
  });

  it('through the load balancer /version reports FROM', async () => {
    const { kc } = kubeClients(sb.kubeconfig);
    assert.equal(kc.getCurrentCluster()?.server, sb.apiServer);
    const version = await kc.makeApiClient(k8s.VersionApi).getCode();
    assert.equal(version.gitVersion, sb.versions.from);
  });

  it('kubectl lists N Ready control-plane Nodes with providerID and kubelet version', async () => {
    const nodes = JSON.parse(
      await sb.kubectl(['get', 'nodes', '-l', 'node-role.kubernetes.io/control-plane', '-o', 'json']),
    );
    assert.equal(nodes.items.length, CONTROL_PLANES);
    for (const node of nodes.items) {
      const ready = node.status.conditions.find((c: any) => c.type === 'Ready');
      assert.equal(ready.status, 'True', `${node.metadata.name} Ready`);
      assert.match(node.spec.providerID, /^aws:\/\/\/us-east-1[abc]\/i-[0-9a-f]+$/);
      assert.equal(node.status.nodeInfo.kubeletVersion, sb.versions.from);
      assert.ok(
        node.spec.taints.some(
          (t: any) => t.key === 'node-role.kubernetes.io/control-plane' && t.effect === 'NoSchedule',
        ),
      );
    }
  });

  it('mirror pods carry kubeadm endpoint annotations and are Ready', async () => {
    const { core } = kubeClients(sb.kubeconfig);
    for (const m of sb.machines) {
      const apiserver = await core.readNamespacedPod({ name: `kube-apiserver-${m.node}`, namespace: 'kube-system' });
      const port = new URL(m.apiServer).port;
      assert.equal(
        apiserver.metadata?.annotations?.['kubeadm.kubernetes.io/kube-apiserver.advertise-address.endpoint'],
        `127.0.0.1:${port}`,
      );
      const etcd = await core.readNamespacedPod({ name: `etcd-${m.node}`, namespace: 'kube-system' });
      assert.ok(
        sb.etcd.endpoints.includes(
          etcd.metadata?.annotations?.['kubeadm.kubernetes.io/etcd.advertise-client-urls'] ?? '',
        ),
      );
      for (const pod of [apiserver, etcd]) {
        assert.ok(pod.metadata?.annotations?.['kubernetes.io/config.mirror']);
        assert.equal(pod.status?.conditions?.find((c) => c.type === 'Ready')?.status, 'True');
      }
    }
  });

  it('kubeadm-config holds the ClusterConfiguration kubeadm wrote, and kubeadm made the rest of its state', async () => {
    const { core } = kubeClients(sb.kubeconfig);
    const cm = await core.readNamespacedConfigMap({ name: 'kubeadm-config', namespace: 'kube-system' });
    const config = parse(cm.data!['ClusterConfiguration']!);
    assert.equal(config.kind, 'ClusterConfiguration');
    assert.equal(config.apiVersion, 'kubeadm.k8s.io/v1beta4');
    assert.equal(config.kubernetesVersion, sb.versions.from);
    assert.equal(config.controlPlaneEndpoint, new URL(sb.apiServer).host);
    await core.readNamespacedConfigMap({ name: 'kubelet-config', namespace: 'kube-system' });
    await core.readNamespacedConfigMap({ name: 'cluster-info', namespace: 'kube-public' });
    await core.readNamespacedConfigMap({ name: 'kube-proxy', namespace: 'kube-system' });
    await core.readNamespacedConfigMap({ name: 'coredns', namespace: 'kube-system' });
  });

  it('a non-admin identity (a service account token) is denied by RBAC', async () => {
    const { kc, core } = kubeClients(sb.kubeconfig);
    await core.createNamespacedServiceAccount({ namespace: 'default', body: { metadata: { name: 'nobody' } } });
    const request = await core.createNamespacedServiceAccountToken({
      name: 'nobody',
      namespace: 'default',
      body: { spec: { audiences: [], expirationSeconds: 600 } },
    });
    const limited = new k8s.KubeConfig();
    limited.loadFromOptions({
      clusters: [kc.getCurrentCluster()!],
      users: [{ name: 'nobody', token: request.status!.token }],
      contexts: [{ name: 'nobody', cluster: kc.getCurrentCluster()!.name, user: 'nobody' }],
      currentContext: 'nobody',
    });
    await assert.rejects(
      limited.makeApiClient(k8s.CoreV1Api).listNamespacedSecret({ namespace: 'kube-system' }),
      (err: unknown) => err instanceof k8s.ApiException && err.code === 403,
    );
  });

  it('the AWS side matches: images tagged per version, instances tagged and registered in the target group', async () => {
    assert.deepEqual(Object.keys(sb.aws.images).sort(), [sb.versions.from, sb.versions.to].sort());
    assert.equal(sb.aws.subnetIds.length, 3);
    const status = await sb.status();
    assert.deepEqual([...status.loadBalancer].sort(), sb.machines.map((m) => m.instanceId).sort());
  });

  it('kube-controller-manager and kube-scheduler of TO run the addons on the kwok Nodes', async () => {
    const apps = kubeClients(sb.kubeconfig).kc.makeApiClient(k8s.AppsV1Api);
    const deadline = Date.now() + 120_000;
    for (;;) {
      const coredns = await apps.readNamespacedDeployment({ name: 'coredns', namespace: 'kube-system' });
      if ((coredns.status?.readyReplicas ?? 0) >= 1) break;
      if (Date.now() > deadline) assert.fail('coredns never became ready');
      await new Promise((r) => setTimeout(r, 1000));
    }
  });
});
