import assert from 'node:assert/strict';
import { KubeswapError } from '../../src/domain/errors.ts';
import { ensureKubeletConfigAndRbac, kubeletConfigPlan } from '../../src/engine/prepare/kubelet-config.ts';
import type { RbacObject } from '../../src/ports/kube.ts';
import { FakeObjects } from './fake-objects.ts';
import { fixture } from './fixtures.ts';

const names = (objects: RbacObject[]) => objects.map((o) => `${o.kind}/${o.name}`);
const kubeletConfigAccess = (rbac: RbacObject[]) => rbac.filter((o) => o.name.startsWith('kubeadm:kubelet-config'));

describe('kubelet-config plan', () => {
  const cases = [
    {
      name: 'copies kubelet-config-1.22 to kubelet-config-1.23 for a target below 1.24',
      from: 'v1.22.17',
      to: 'v1.23.17',
      existing: ['kubelet-config-1.22'],
      copy: { from: 'kubelet-config-1.22', to: 'kubelet-config-1.23' },
      access: ['Role/kubeadm:kubelet-config-1.23', 'RoleBinding/kubeadm:kubelet-config-1.23'],
      verify: ['kubelet-config-1.23'],
    },
    {
      name: 'copies kubelet-config-1.23 to the unversioned kubelet-config for 1.23 -> 1.24',
      from: 'v1.23.17',
      to: 'v1.24.17',
      existing: ['kubelet-config-1.23'],
      copy: { from: 'kubelet-config-1.23', to: 'kubelet-config' },
      access: ['Role/kubeadm:kubelet-config', 'RoleBinding/kubeadm:kubelet-config'],
      verify: ['kubelet-config'],
    },
    {
      name: 'plans no copy when the target ConfigMap already exists (a resumed run)',
      from: 'v1.23.17',
      to: 'v1.24.17',
      existing: ['kubelet-config-1.23', 'kubelet-config'],
      copy: undefined,
      access: ['Role/kubeadm:kubelet-config', 'RoleBinding/kubeadm:kubelet-config'],
      verify: ['kubelet-config'],
    },
    {
      name: 'only verifies kubelet-config from 1.25 on',
      from: 'v1.36.3',
      to: 'v1.37.2',
      existing: ['kubelet-config'],
      copy: undefined,
      access: ['Role/kubeadm:kubelet-config', 'RoleBinding/kubeadm:kubelet-config'],
      verify: ['kubelet-config'],
    },
    {
      name: 'plans no copy for a patch upgrade below 1.24',
      from: 'v1.22.10',
      to: 'v1.22.17',
      existing: ['kubelet-config-1.22'],
      copy: undefined,
      access: ['Role/kubeadm:kubelet-config-1.22', 'RoleBinding/kubeadm:kubelet-config-1.22'],
      verify: ['kubelet-config-1.22'],
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const plan = kubeletConfigPlan(c.from, c.to, { configMaps: c.existing });
      assert.deepEqual(plan.copy, c.copy);
      assert.deepEqual(names(kubeletConfigAccess(plan.rbac)), c.access);
      assert.deepEqual(plan.verify, c.verify);
    });
  }

  it('lets nodes and bootstrap tokens get only the target ConfigMap, as kubeadm createConfigMapRBACRules does', () => {
    const [role, binding] = kubeletConfigAccess(kubeletConfigPlan('v1.22.17', 'v1.23.17', { configMaps: [] }).rbac);
    assert.deepEqual(role, {
      kind: 'Role',
      namespace: 'kube-system',
      name: 'kubeadm:kubelet-config-1.23',
      rules: [{ apiGroups: [''], resources: ['configmaps'], verbs: ['get'], resourceNames: ['kubelet-config-1.23'] }],
    });
    assert.deepEqual(binding, {
      kind: 'RoleBinding',
      namespace: 'kube-system',
      name: 'kubeadm:kubelet-config-1.23',
      roleRef: { kind: 'Role', name: 'kubeadm:kubelet-config-1.23' },
      subjects: [
        { kind: 'Group', name: 'system:nodes' },
        { kind: 'Group', name: 'system:bootstrappers:kubeadm:default-node-token' },
      ],
    });
  });

  const joinRbac = [
    {
      to: 'v1.28.15',
      has: [
        'ClusterRole/kubeadm:get-nodes',
        'ClusterRoleBinding/kubeadm:get-nodes',
        'ClusterRoleBinding/kubeadm:apiserver-kubelet-client',
      ],
      lacks: ['ClusterRoleBinding/kubeadm:cluster-admins'],
    },
    { to: 'v1.29.0', has: ['ClusterRoleBinding/kubeadm:cluster-admins'], lacks: [] },
    {
      to: 'v1.37.2',
      has: [
        'ClusterRoleBinding/kubeadm:kubelet-bootstrap',
        'Role/kubeadm:bootstrap-signer-clusterinfo',
        'ClusterRoleBinding/kubeadm:apiserver-kubelet-client',
      ],
      lacks: [],
    },
  ];
  for (const c of joinRbac) {
    it(`includes the join RBAC kubeadm ${c.to} expects`, () => {
      const rbac = names(kubeletConfigPlan('v1.28.0', c.to, { configMaps: ['kubelet-config'] }).rbac);
      for (const name of c.has) assert.ok(rbac.includes(name), `${name} missing`);
      for (const name of c.lacks) assert.ok(!rbac.includes(name), `${name} unexpected`);
    });
  }

  it('binds the apiserver kubelet client to system:kubelet-api-admin', () => {
    const binding = kubeletConfigPlan('v1.36.3', 'v1.37.2', { configMaps: [] }).rbac.find(
      (o) => o.name === 'kubeadm:apiserver-kubelet-client',
    );
    assert.deepEqual(binding, {
      kind: 'ClusterRoleBinding',
      name: 'kubeadm:apiserver-kubelet-client',
      roleRef: { kind: 'ClusterRole', name: 'system:kubelet-api-admin' },
      subjects: [{ kind: 'User', name: 'kube-apiserver-kubelet-client' }],
    });
  });
});

describe('ensuring kubelet-config and RBAC', () => {
  const hash = {
    'kubeadm.kubernetes.io/component-config.hash': 'sha256:abc',
    'kubectl.kubernetes.io/last-applied-configuration': '{}',
  };

  it('copies kubelet-config-1.22 to kubelet-config-1.23 with its data and signature, and creates the RBAC', async () => {
    const kube = new FakeObjects().withConfigMap(
      'kubelet-config-1.22',
      { kubelet: fixture('kubelet-config-1.22.yaml.txt') },
      hash,
    );
    const plan = kubeletConfigPlan('v1.22.17', 'v1.23.17', { configMaps: ['kubelet-config-1.22'] });
    const created = await ensureKubeletConfigAndRbac(kube.port(), plan);
    const copy = kube.configMaps.get('kube-system/kubelet-config-1.23')!;
    assert.equal(copy.data['kubelet'], fixture('kubelet-config-1.22.yaml.txt'));
    assert.deepEqual(copy.annotations, { 'kubeadm.kubernetes.io/component-config.hash': 'sha256:abc' });
    assert.equal(created[0], 'ConfigMap/kubelet-config-1.23');
    assert.ok(created.includes('Role/kubeadm:kubelet-config-1.23'));
    assert.ok(created.includes('RoleBinding/kubeadm:kubelet-config-1.23'));
  });

  it('copies kubelet-config-1.23 to kubelet-config for 1.23 -> 1.24', async () => {
    const kube = new FakeObjects().withConfigMap('kubelet-config-1.23', {
      kubelet: fixture('kubelet-config-1.23.yaml.txt'),
    });
    const plan = kubeletConfigPlan('v1.23.17', 'v1.24.17', { configMaps: ['kubelet-config-1.23'] });
    const created = await ensureKubeletConfigAndRbac(kube.port(), plan);
    assert.equal(
      kube.configMaps.get('kube-system/kubelet-config')!.data['kubelet'],
      fixture('kubelet-config-1.23.yaml.txt'),
    );
    assert.ok(created.includes('Role/kubeadm:kubelet-config'));
    assert.ok(kube.configMaps.has('kube-system/kubelet-config-1.23'), 'the old ConfigMap stays for old kubelets');
  });

  it('never overwrites an existing ConfigMap or RBAC object', async () => {
    const existingRole: RbacObject = {
      kind: 'Role',
      namespace: 'kube-system',
      name: 'kubeadm:kubelet-config',
      rules: [],
    };
    const kube = new FakeObjects()
      .withConfigMap('kubelet-config-1.23', { kubelet: 'old' })
      .withConfigMap('kubelet-config', { kubelet: 'edited by a person' })
      .withRbac(existingRole);
    // The plan was made before the target appeared (a concurrent run): the copy must still not overwrite.
    const plan = kubeletConfigPlan('v1.23.17', 'v1.24.17', { configMaps: ['kubelet-config-1.23'] });
    const created = await ensureKubeletConfigAndRbac(kube.port(), plan);
    assert.equal(kube.configMaps.get('kube-system/kubelet-config')!.data['kubelet'], 'edited by a person');
    assert.equal(kube.rbac.get('Role/kube-system/kubeadm:kubelet-config'), existingRole);
    assert.ok(!created.includes('ConfigMap/kubelet-config'));
    assert.ok(!created.includes('Role/kubeadm:kubelet-config'));
  });

  it('creates nothing the second time (idempotent)', async () => {
    const kube = new FakeObjects().withConfigMap('kubelet-config', { kubelet: 'x' });
    const plan = kubeletConfigPlan('v1.36.3', 'v1.37.2', { configMaps: ['kubelet-config'] });
    assert.ok((await ensureKubeletConfigAndRbac(kube.port(), plan)).length > 0);
    assert.deepEqual(await ensureKubeletConfigAndRbac(kube.port(), plan), []);
  });

  const missing = [
    { name: 'blocks when kubelet-config is missing from 1.25 on', from: 'v1.36.3', to: 'v1.37.2', existing: {} },
    { name: 'blocks when the ConfigMap to copy from is missing', from: 'v1.22.17', to: 'v1.23.17', existing: {} },
  ];
  for (const c of missing) {
    it(c.name, async () => {
      const plan = kubeletConfigPlan(c.from, c.to, { configMaps: [] });
      await assert.rejects(
        ensureKubeletConfigAndRbac(new FakeObjects().port(), plan),
        (err) => err instanceof KubeswapError && err.code === 'kubeadm.kubelet-config-missing',
      );
    });
  }
});
