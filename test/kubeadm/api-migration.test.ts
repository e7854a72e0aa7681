import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { apiVersionNeed, kubeadmReads, migrateClusterConfiguration } from '../../src/domain/kubeadm/api-migration.ts';
import { parseClusterConfiguration } from '../../src/domain/kubeadm/cluster-config.ts';
import { parseTargetVersion } from '../../src/domain/kubeadm/versions.ts';

const V3 = 'kubeadm.k8s.io/v1beta3';
const V4 = 'kubeadm.k8s.io/v1beta4';
const fixture = (name: string) => readFileSync(new URL(`fixtures/v1beta3/${name}.yaml.txt`, import.meta.url), 'utf8');
const version = (v: string) => parseTargetVersion(v)!;

describe('kubeadm API versions the target reads', () => {
  const table = [
    ['kubeadm.k8s.io/v1beta2', 'v1.26.0', true],
    ['kubeadm.k8s.io/v1beta2', 'v1.27.0', false],
    [V3, 'v1.21.0', false],
    [V3, 'v1.36.3', true],
    [V3, 'v1.37.2', false],
    [V4, 'v1.30.0', false],
    [V4, 'v1.31.0', true],
    [V4, 'v1.38.0-rc.1', true],
  ] as const;
  for (const [api, kubeadm, reads] of table) {
    it(`kubeadm ${kubeadm} ${reads ? 'reads' : 'refuses'} ${api}`, () =>
      assert.equal(kubeadmReads(api, version(kubeadm)), reads));
  }

  it('keeps v1beta3 for a 1.36 target and converts it to v1beta4 for 1.37', () => {
    assert.deepEqual(apiVersionNeed(V3, version('v1.36.3')), { kind: 'keep' });
    assert.deepEqual(apiVersionNeed(V3, version('v1.37.2')), { kind: 'migrate', from: V3, to: V4 });
    assert.deepEqual(apiVersionNeed(V4, version('v1.37.2')), { kind: 'keep' });
  });

  it('has no conversion for v1beta2 to a kubeadm that reads neither it nor v1beta3', () =>
    assert.deepEqual(apiVersionNeed('kubeadm.k8s.io/v1beta2', version('v1.37.2')), {
      kind: 'unsupported',
      from: 'kubeadm.k8s.io/v1beta2',
    }));
});

describe('v1beta3 -> v1beta4 ClusterConfiguration, as kubeadm converts it', () => {
  it('turns every extraArgs map into a list of {name, value} sorted by name', () => {
    const out = parse(migrateClusterConfiguration(fixture('external-etcd'), V4).text);
    assert.equal(out.apiVersion, V4);
    assert.deepEqual(out.apiServer.extraArgs, [
      { name: 'audit-log-maxage', value: '30' },
      { name: 'audit-log-path', value: '/var/log/kubernetes/audit.log' },
      { name: 'authorization-mode', value: 'Node,RBAC' },
      { name: 'enable-admission-plugins', value: '' },
    ]);
    const all = parse(migrateClusterConfiguration(fixture('local-etcd-everything'), V4).text);
    assert.deepEqual(all.controllerManager.extraArgs, [{ name: 'bind-address', value: '0.0.0.0' }]);
    assert.deepEqual(all.scheduler.extraArgs, [{ name: 'bind-address', value: '0.0.0.0' }]);
    assert.deepEqual(all.etcd.local.extraArgs, [{ name: 'listen-metrics-urls', value: 'http://0.0.0.0:2381' }]);
  });

  it('moves timeoutForControlPlane out of ClusterConfiguration and says where v1beta4 keeps it', () => {
    const migrated = migrateClusterConfiguration(fixture('external-etcd'), V4);
    assert.equal(parse(migrated.text).apiServer.timeoutForControlPlane, undefined);
    assert.deepEqual(migrated.moved, [
      {
        setting: 'apiServer.timeoutForControlPlane',
        value: '4m0s',
        to: 'JoinConfiguration timeouts.controlPlaneComponentHealthCheck',
      },
    ]);
  });

  it('fills the certificate settings v1beta3 lacked with the values the cluster used, and httpEndpoints', () => {
    const out = parse(migrateClusterConfiguration(fixture('external-etcd'), V4).text);
    assert.equal(out.encryptionAlgorithm, 'RSA-2048');
    assert.equal(out.certificateValidityPeriod, '8760h0m0s');
    assert.equal(out.caCertificateValidityPeriod, '87600h0m0s');
    assert.deepEqual(out.etcd.external.httpEndpoints, out.etcd.external.endpoints);
  });

  it('keeps every other setting and the comments', () => {
    const before = parse(fixture('local-etcd-everything'));
    const migrated = migrateClusterConfiguration(fixture('local-etcd-everything'), V4).text;
    const after = parse(migrated);
    for (const key of [
      'clusterName',
      'controlPlaneEndpoint',
      'certificatesDir',
      'imageRepository',
      'kubernetesVersion',
    ])
      assert.equal(after[key], before[key], key);
    for (const key of ['featureGates', 'networking', 'dns']) assert.deepEqual(after[key], before[key], key);
    assert.deepEqual(after.apiServer.extraVolumes, before.apiServer.extraVolumes);
    assert.deepEqual(after.apiServer.certSANs, before.apiServer.certSANs);
    const { extraArgs: _a, ...localAfter } = after.etcd.local;
    const { extraArgs: _b, ...localBefore } = before.etcd.local;
    assert.deepEqual(localAfter, localBefore);
    assert.match(
      migrateClusterConfiguration(fixture('external-etcd'), V4).text,
      /# An external etcd cluster[^\n]*\n[\s\S]*:6443 # NLB\n[\s\S]*# kubeadm sorts the list/,
    );
    // kubeswap reads the result like any other kubeadm-config.
    assert.equal(parseClusterConfiguration(migrated).apiVersion, V4);
  });

  it('refuses a conversion it does not know', () =>
    assert.throws(
      () => migrateClusterConfiguration(fixture('minimal').replace(V3, 'kubeadm.k8s.io/v1beta2'), V4),
      /no conversion from kubeadm.k8s.io\/v1beta2/,
    ));
});
