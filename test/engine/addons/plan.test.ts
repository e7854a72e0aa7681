import assert from 'node:assert/strict';
import { parseAddonImageConfig } from '../../../src/domain/addons/images.ts';
import { type AddonObservation, planCoreDns, planKubeProxy, rolledOut } from '../../../src/engine/addons/plan.ts';
import { KUBEADM_COREFILE } from '../../domain/addons/fixtures.ts';
import { workload } from './fake-addons.ts';

const TO = 'v1.37.2';
function observed(change: Partial<AddonObservation> = {}, config = ''): AddonObservation {
  return {
    config: parseAddonImageConfig(`apiVersion: kubeadm.k8s.io/v1beta4\nkubernetesVersion: ${TO}\n${config}`),
    kubeProxy: workload('DaemonSet', 'kube-proxy', 'registry.k8s.io/kube-proxy:v1.36.3', 3),
    kubeProxyConfigApiVersion: 'kubeproxy.config.k8s.io/v1alpha1',
    coreDns: workload('Deployment', 'coredns', 'registry.k8s.io/coredns/coredns:v1.14.2', 2),
    corefile: KUBEADM_COREFILE,
    ...change,
  };
}

describe('addon plan: kube-proxy', () => {
  it("sets the target kubeadm's image and keeps the ConfigMap when its API version stays", () => {
    const d = planKubeProxy(observed(), TO, false);
    assert.equal(d.action, 'update');
    assert.equal(d.to, 'registry.k8s.io/kube-proxy:v1.37.2');
    assert.match(
      d.notes.join(),
      /ConfigMap kube-proxy kept: its KubeProxyConfiguration kubeproxy.config.k8s.io\/v1alpha1/,
    );
  });

  it('follows imageRepository from kubeadm-config', () => {
    const d = planKubeProxy(observed({}, 'imageRepository: mirror.example.com\n'), TO, false);
    assert.equal(d.to, 'mirror.example.com/kube-proxy:v1.37.2');
  });

  it('waits for a rollout already started, and is current once it finished', () => {
    const set = workload('DaemonSet', 'kube-proxy', 'registry.k8s.io/kube-proxy:v1.37.2', 3);
    assert.equal(planKubeProxy(observed({ kubeProxy: set }), TO, false).action, 'current');
    assert.equal(planKubeProxy(observed({ kubeProxy: { ...set, updated: 1 } }), TO, false).action, 'wait');
  });

  const skips: { name: string; change: Partial<AddonObservation>; reason: RegExp }[] = [
    { name: 'kube-proxy is absent (replaced by the CNI)', change: { kubeProxy: undefined }, reason: /no DaemonSet/ },
    {
      name: 'a Helm release owns it',
      change: {
        kubeProxy: {
          ...workload('DaemonSet', 'kube-proxy', 'x', 3),
          labels: { 'k8s-app': 'kube-proxy', 'app.kubernetes.io/managed-by': 'Helm' },
        },
      },
      reason: /not kubeadm's: it is managed by Helm/,
    },
    {
      name: 'it lacks the kubeadm label',
      change: { kubeProxy: { ...workload('DaemonSet', 'kube-proxy', 'x', 3), labels: {} } },
      reason: /no label k8s-app=kube-proxy/,
    },
    {
      name: 'the Kubernetes port cannot read workloads',
      change: { unsupported: 'no workloads' },
      reason: /no workloads/,
    },
  ];
  for (const s of skips) {
    it(`skips when ${s.name}`, () => {
      const d = planKubeProxy(observed(s.change), TO, false);
      assert.equal(d.action, 'skip');
      assert.match(d.reason, s.reason);
    });
  }

  it('is blocked, never skipped, when reading the workloads failed (e.g. RBAC refused it), and says what to grant', () => {
    for (const d of [
      planKubeProxy(observed({ unreadable: '403 forbidden' }), TO, false),
      planCoreDns(observed({ unreadable: '403 forbidden' }), TO, false),
    ]) {
      assert.equal(d.action, 'blocked');
      assert.match(d.reason, /403 forbidden/);
      assert.match(d.hint ?? '', /templates\/rbac\/kubeswap.yaml/);
    }
  });

  it('skips with --skip-addons and with proxy.disabled', () => {
    assert.equal(planKubeProxy(observed(), TO, true).reason, '--skip-addons');
    assert.match(planKubeProxy(observed({}, 'proxy:\n  disabled: true\n'), TO, false).reason, /proxy.disabled/);
  });

  it('is blocked when the KubeProxyConfiguration API version would change', () => {
    const d = planKubeProxy(observed({ kubeProxyConfigApiVersion: 'kubeproxy.config.k8s.io/v1alpha2' }), TO, false);
    assert.equal(d.action, 'blocked');
    assert.match(d.hint!, /config.conf of ConfigMap kube-system\/kube-proxy/);
  });
});

describe('addon plan: CoreDNS', () => {
  it('moves to the CoreDNS of the target kubeadm, Corefile kept', () => {
    const d = planCoreDns(observed(), TO, false);
    assert.equal(d.action, 'update');
    assert.equal(d.to, 'registry.k8s.io/coredns/coredns:v1.14.6');
    assert.match(d.notes.join(), /Corefile kept/);
  });

  it('leaves CoreDNS alone when the Corefile uses a plugin the target does not support, saying what to do', () => {
    const corefile = KUBEADM_COREFILE.replace('loop\n', 'loop\n    proxy . 8.8.8.8\n');
    const d = planCoreDns(observed({ corefile }), TO, false);
    assert.equal(d.action, 'blocked');
    assert.match(d.reason, /plugin "proxy" is unsupported/);
    assert.match(d.hint!, /kubectl -n kube-system edit configmap coredns/);
    assert.match(d.hint!, /re-run kubeswap apply with the same --to/);
  });

  it('is blocked without a Corefile to check', () => {
    assert.equal(planCoreDns(observed({ corefile: undefined }), TO, false).action, 'blocked');
  });

  it('honours a dns.imageTag pin without a Corefile check', () => {
    const d = planCoreDns(observed({ corefile: 'garbage {' }, 'dns:\n  imageTag: v1.14.2\n'), TO, false);
    assert.equal(d.action, 'current');
  });

  it('skips a target minor whose CoreDNS kubeswap does not know, and a Deployment that is not kubeadm', () => {
    assert.match(planCoreDns(observed(), 'v1.99.0', false).reason, /does not know which CoreDNS/);
    const other = { ...workload('Deployment', 'coredns', 'x', 2), labels: { 'k8s-app': 'coredns' } };
    assert.equal(planCoreDns(observed({ coreDns: other }), TO, false).action, 'skip');
  });
});

describe('rollout status (kubectl rollout status)', () => {
  const w = workload('Deployment', 'coredns', 'x', 2);
  const table = [
    { name: 'finished', change: {}, done: true },
    { name: 'generation not observed yet', change: { generation: 2 }, done: false },
    { name: 'one pod still old', change: { updated: 1 }, done: false },
    { name: 'new pods not available', change: { available: 1 }, done: false },
    { name: 'an old pod still terminating', change: { total: 3 }, done: false },
  ];
  for (const t of table) it(t.name, () => assert.equal(rolledOut({ ...w, ...t.change }), t.done));
});
