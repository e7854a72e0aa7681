import assert from 'node:assert/strict';
import { KubeswapError } from '../../src/domain/errors.ts';
import { bumpKubernetesVersion, parseClusterConfiguration } from '../../src/domain/kubeadm/cluster-config.ts';
import { fixture } from './fixtures.ts';

describe('kubeadm ClusterConfiguration', () => {
  const cases = [
    {
      file: 'cluster-configuration-v1beta2.yaml.txt',
      apiVersion: 'kubeadm.k8s.io/v1beta2',
      kubernetesVersion: 'v1.21.14',
      controlPlaneEndpoint: 'api.example.internal:6443',
      etcd: { mode: 'local', dataDir: '/var/lib/etcd', imageTag: undefined, extraArgs: [] },
    },
    {
      file: 'cluster-configuration-v1beta3.yaml.txt',
      apiVersion: 'kubeadm.k8s.io/v1beta3',
      kubernetesVersion: 'v1.23.17',
      controlPlaneEndpoint: 'api.prod-eu.example.com:6443',
      etcd: {
        mode: 'external',
        endpoints: ['https://10.0.1.10:2379', 'https://10.0.2.10:2379'],
        caFile: '/etc/kubernetes/pki/etcd/ca.crt',
        certFile: '/etc/kubernetes/pki/apiserver-etcd-client.crt',
        keyFile: '/etc/kubernetes/pki/apiserver-etcd-client.key',
      },
    },
    {
      file: 'cluster-configuration-v1beta4.yaml.txt',
      apiVersion: 'kubeadm.k8s.io/v1beta4',
      kubernetesVersion: 'v1.36.3',
      controlPlaneEndpoint: '127.0.0.1:16443',
      etcd: {
        mode: 'local',
        dataDir: '/var/lib/etcd',
        imageTag: undefined,
        extraArgs: [{ name: 'listen-metrics-urls', value: 'http://127.0.0.1:2381' }],
      },
    },
  ];

  for (const c of cases) {
    it(`reads the version, endpoint and etcd topology of a ${c.apiVersion} config`, () => {
      const config = parseClusterConfiguration(fixture(c.file));
      assert.equal(config.apiVersion, c.apiVersion);
      assert.equal(config.kubernetesVersion, c.kubernetesVersion);
      assert.equal(config.controlPlaneEndpoint, c.controlPlaneEndpoint);
      assert.deepEqual(config.etcd, c.etcd);
    });

    it(`bumps kubernetesVersion of a ${c.apiVersion} config and changes no other byte`, () => {
      const before = fixture(c.file);
      const bumped = bumpKubernetesVersion(before, 'v1.99.0');
      assert.equal(bumped.changed, true);
      assert.equal(bumped.previous, c.kubernetesVersion);
      assert.equal(parseClusterConfiguration(bumped.text).kubernetesVersion, 'v1.99.0');
      assert.equal(parseClusterConfiguration(bumped.text).apiVersion, c.apiVersion);
      assert.equal(bumped.text.replace('1.99.0', c.kubernetesVersion.slice(1)), before);
    });
  }

  it('keeps comments and the quote style of the version when bumping', () => {
    const bumped = bumpKubernetesVersion(fixture('cluster-configuration-v1beta3.yaml.txt'), '1.24.17');
    assert.match(bumped.text, /^# Written by kubeadm 1\.23/);
    assert.match(bumped.text, /kubernetesVersion: 'v1\.24\.17' {3}# bumped by kubeswap\n/);
    assert.match(bumped.text, /controlPlaneEndpoint: "api\.prod-eu\.example\.com:6443" # NLB/);
  });

  it('reports no change when the version is already the target', () => {
    const text = fixture('cluster-configuration-v1beta4.yaml.txt');
    assert.deepEqual(bumpKubernetesVersion(text, 'v1.36.3'), { text, changed: false, previous: 'v1.36.3' });
  });

  const refusals = [
    { name: 'text that is not YAML', text: 'a: [', code: 'kubeadm.config-invalid' },
    { name: 'a YAML list', text: '- a\n- b\n', code: 'kubeadm.config-invalid' },
    {
      name: 'an unknown kubeadm API version',
      text: 'apiVersion: kubeadm.k8s.io/v1beta1\nkubernetesVersion: v1.14.0\n',
      code: 'kubeadm.api-version-unsupported',
    },
    {
      name: 'another kind',
      text: 'apiVersion: kubeadm.k8s.io/v1beta3\nkind: InitConfiguration\nkubernetesVersion: v1.30.0\n',
      code: 'kubeadm.config-invalid',
    },
    {
      name: 'a config without kubernetesVersion',
      text: 'apiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\n',
      code: 'kubeadm.no-kubernetes-version',
    },
  ];
  for (const r of refusals) {
    it(`refuses ${r.name} with ${r.code}`, () => {
      assert.throws(
        () => parseClusterConfiguration(r.text),
        (err) => err instanceof KubeswapError && err.code === r.code,
      );
    });
  }

  it('refuses to bump to something that is not a version', () => {
    assert.throws(
      () => bumpKubernetesVersion(fixture('cluster-configuration-v1beta4.yaml.txt'), 'latest'),
      (err) => err instanceof KubeswapError && err.code === 'version.invalid',
    );
  });
});
