import assert from 'node:assert/strict';
import { createClusterApiProvider, provider, workloadKubeconfigFrom } from '../../../providers/cluster-api/index.ts';
import { PRE_TERMINATE_HOOK } from '../../../providers/cluster-api/machines.ts';
import { type ClusterApiOptions, clusterApiOptions } from '../../../providers/cluster-api/options.ts';
import type { KubeswapError } from '../../../src/domain/errors.ts';
import type { Machine } from '../../../src/domain/model.ts';
import { FakeCapi, machineCluster } from './fake-capi.ts';

const options = (over: Partial<ClusterApiOptions> = {}): ClusterApiOptions => ({
  namespace: 'default',
  clusterName: 'c1',
  infrastructurePatches: [],
  bootstrapPatches: [],
  pollIntervalMs: 1,
  ...over,
});
const ids = (n: number) => Array.from({ length: n }, (_, i) => `sandbox://c1-cp-${i}`);
const setup = (over: Partial<ClusterApiOptions> = {}, fake = machineCluster()) => ({
  fake,
  p: createClusterApiProvider(options(over), fake, async () => {}),
});
const request = (replaces: Machine, attempt = 1) => ({
  pool: 'control-plane',
  replaces,
  runId: 'run-1',
  token: `kubeswap-${attempt}abcdef0123456789`,
  desired: { version: 'v1.37.2', imageId: 'img-2', force: false },
});

describe('cluster-api provider: reading Machines', () => {
  it('lists the control-plane Machines the Nodes point at, with phase, image, version, and links providerIDs back', async () => {
    const { p } = setup();
    const machines = await p.listMachines('control-plane', ids(3));
    assert.deepEqual(
      machines.map((m) => [m.id, m.phase, m.imageId, m.zone]),
      [
        ['c1-cp-0', 'running', 'img-1', 'fd-0'],
        ['c1-cp-1', 'running', 'img-1', 'fd-1'],
        ['c1-cp-2', 'running', 'img-1', 'fd-2'],
      ],
    );
    assert.equal(p.machineIdOf('sandbox://c1-cp-1'), 'c1-cp-1');
    assert.equal(p.machineIdOf('aws:///us-east-1a/i-0abc'), undefined);
    assert.deepEqual(await p.listMachines('workers', ids(3)), []);
  });

  it('lists a Machine without spec.providerID that status.nodeRef links to a Node, naming that Node', async () => {
    const { p, fake } = setup();
    delete fake.find('Machine', 'c1-cp-2')!.spec!['providerID'];
    const machines = await p.listMachines('control-plane', ids(2));
    assert.deepEqual(
      machines.map((m) => [m.id, m.providerId, m.nodeName]),
      [
        ['c1-cp-0', 'sandbox://c1-cp-0', 'c1-cp-0'],
        ['c1-cp-1', 'sandbox://c1-cp-1', 'c1-cp-1'],
        ['c1-cp-2', '', 'c1-cp-2'],
      ],
    );
  });

  it('says why a Machine drifts: version, image, and patches that would change it', async () => {
    const { p } = setup({ infrastructurePatches: [{ op: 'replace', path: '/spec/size', value: 'large' }] });
    const [m] = await p.listMachines('control-plane', ids(1));
    const codes = p.drift(m!, { version: 'v1.37.2', imageId: 'img-2', force: false }).map((r) => r.code);
    assert.deepEqual(codes, ['version', 'image', 'patches']);
    const { p: plain } = setup();
    const [same] = await plain.listMachines('control-plane', ids(1));
    assert.deepEqual(plain.drift(same!, { version: 'v1.36.3', imageId: 'img-1', force: false }), []);
  });
  it('drifts a Machine whose template changed, or whose KubeadmConfig the bootstrapPatches change', async () => {
    const target = { version: 'v1.36.3', imageId: 'img-1', force: false };
    const fake = machineCluster();
    fake.find('SandboxMachineTemplate', 'cp-template')!.spec = {
      template: { spec: { image: 'img-9', size: 'large' } },
    };
    const { p } = setup({}, fake);
    const [m] = await p.listMachines('control-plane', ids(1));
    // The image is --image's to judge: only the size makes the template drift.
    assert.deepEqual(
      p.drift(m!, target).map((r) => r.code),
      ['template'],
    );
    const { p: patched } = setup({ bootstrapPatches: [{ op: 'add', path: '/spec/files/-', value: { path: '/x' } }] });
    const [b] = await patched.listMachines('control-plane', ids(1));
    assert.deepEqual(
      patched.drift(b!, target).map((r) => r.message),
      ['the configured bootstrapPatches change its KubeadmConfig'],
    );
  });

  it("does not drift a Machine for fields its template never set (defaults, the controller's own writes)", async () => {
    const target = { version: 'v1.36.3', imageId: 'img-1', force: false };
    const fake = machineCluster();
    const infra = fake.find('SandboxMachine', 'c1-cp-0')!;
    // As CAPA's webhook and controller leave an AWSMachine: a defaulted block and an instance field the template lacks.
    infra.spec = { ...infra.spec, instanceID: 'i-0abc', cloudInit: { secureSecretsBackend: 'secrets-manager' } };
    const { p } = setup({}, fake);
    const [m] = await p.listMachines('control-plane', ids(1));
    assert.deepEqual(p.drift(m!, target), []);
    // A value the template does set, changed, still drifts it; so does a list of another length.
    fake.find('SandboxMachineTemplate', 'cp-template')!.spec = {
      template: { spec: { image: 'img-1', size: 'small', tags: ['a'] } },
    };
    const { p: changed } = setup({}, fake);
    const [again] = await changed.listMachines('control-plane', ids(1));
    assert.deepEqual(
      changed.drift(again!, target).map((r) => r.code),
      ['template'],
    );
  });

  it('does not drift a replacement made with the same patches again, even for an `add` to a list', async () => {
    const target = { version: 'v1.37.2', imageId: 'img-2', force: false };
    const patches = {
      infrastructurePatches: [{ op: 'add' as const, path: '/spec/tags', value: ['a'] }],
      bootstrapPatches: [{ op: 'add' as const, path: '/spec/files/-', value: { path: '/x' } }],
    };
    const fake = machineCluster();
    const { p } = setup(patches, fake);
    const [old] = await p.listMachines('control-plane', ids(1));
    const made = await p.createReplacement(request(old!));
    const listed = (await p.listMachines('control-plane', ids(1))).find((m) => m.id === made.id)!;
    assert.deepEqual(p.drift(listed, target), []);
    // Other patches on a later run do drift it.
    const { p: other } = setup({ ...patches, bootstrapPatches: [] }, fake);
    const again = (await other.listMachines('control-plane', ids(1))).find((m) => m.id === made.id)!;
    assert.deepEqual(
      other.drift(again, target).map((r) => r.code),
      ['patches'],
    );
  });
});

describe('cluster-api provider: refusals before anything changes', () => {
  const codes = async (p: ReturnType<typeof setup>['p'], imageId?: string) =>
    (await p.resolveDesired({ version: 'v1.37.2', imageId })).problems.map((x) => x.code);

  it('resolves the target without --image to one fixed word, whatever images the Machines have now', async () => {
    const { p, fake } = setup();
    const before = fake.calls.length;
    const desired = { version: 'v1.37.2', imageId: '(each Machine keeps its infrastructure image)', force: false };
    assert.deepEqual(await p.resolveDesired({ version: 'v1.37.2' }), { desired, problems: [] });
    // An image-changing patch: the first replacement's new image changes neither the target nor its drift.
    const image = [{ op: 'replace' as const, path: '/spec/image', value: 'img-7' }];
    const { p: patched } = setup({ infrastructurePatches: image });
    const target = (await patched.resolveDesired({ version: 'v1.36.3' })).desired!;
    const [old] = await patched.listMachines('control-plane', ids(1));
    await patched.createReplacement({ ...request(old!), desired: target });
    assert.deepEqual((await patched.resolveDesired({ version: 'v1.36.3' })).desired, target);
    const made = (await patched.listMachines('control-plane', ids(1))).find((m) => m.replaces === 'c1-cp-0')!;
    assert.equal(made.imageId, 'img-7');
    assert.deepEqual(patched.drift(made, target), []);
    assert.equal(fake.calls.length, before, 'preflight writes nothing');
  });

  it('refuses a wrong cluster name', async () => {
    const { p } = setup({ clusterName: 'nope' });
    assert.deepEqual(await codes(p), ['cluster-api.cluster-not-found']);
  });

  it('refuses a KubeadmControlPlane-managed control plane and says to bump its version', async () => {
    const fake = machineCluster();
    fake.find('Cluster', 'c1')!.spec = {
      controlPlaneRef: { apiGroup: 'controlplane.cluster.x-k8s.io', kind: 'KubeadmControlPlane', name: 'c1-cp' },
    };
    const { p } = setup({}, fake);
    const { problems } = await p.resolveDesired({ version: 'v1.37.2' });
    assert.deepEqual(
      problems.map((x) => x.code),
      ['cluster-api.control-plane-managed'],
    );
    assert.match(problems[0]!.hint!, /kubeadmcontrolplane c1-cp .*"version":"v1.37.2"/);
  });

  it('refuses a Machine whose bootstrap is only a data secret, or whose infrastructure machine is gone', async () => {
    const fake = machineCluster();
    fake.find('Machine', 'c1-cp-1')!.spec!['bootstrap'] = { dataSecretName: 'c1-cp-1-bootstrap' };
    fake.objects.delete(FakeCapi.key('SandboxMachine', 'c1-cp-2'));
    const { p } = setup({}, fake);
    const { problems } = await p.resolveDesired({ version: 'v1.37.2' });
    assert.deepEqual(
      problems.map((x) => x.code),
      ['machine.not-clonable', 'machine.not-clonable'],
    );
    assert.match(problems[0]!.message, /c1-cp-1 .*no spec.bootstrap.configRef/);
    assert.match(problems[1]!.message, /SandboxMachine c1-cp-2 does not exist/);
  });

  it('refuses a JSON patch that does not apply, and --image on an infrastructure kind it does not know', async () => {
    const { p } = setup({ infrastructurePatches: [{ op: 'replace', path: '/spec/missing/field', value: 1 }] });
    assert.deepEqual(await codes(p), ['patch.invalid', 'patch.invalid', 'patch.invalid']);
    const fake = machineCluster(1);
    fake.find('SandboxMachine', 'c1-cp-0')!.kind = 'OtherMachine';
    fake.objects.set(FakeCapi.key('OtherMachine', 'c1-cp-0'), fake.find('SandboxMachine', 'c1-cp-0')!);
    fake.find('Machine', 'c1-cp-0')!.spec!['infrastructureRef'] = {
      apiGroup: 'infrastructure.cluster.x-k8s.io',
      kind: 'OtherMachine',
      name: 'c1-cp-0',
    };
    assert.deepEqual(await codes(setup({}, fake).p, 'img-2'), ['image.unsupported-kind']);
  });

  it('refuses a patch that is not RFC 6902 and a missing cluster name in the settings, together (exit 2)', () => {
    assert.throws(
      () => clusterApiOptions({ name: 'cluster-api', infrastructurePatches: [{ op: 'frobnicate', path: '/spec' }] }, 1),
      (err: KubeswapError) =>
        err.failure === 'invalid' && err.problems.length === 2 && /infrastructurePatches/.test(err.message),
    );
  });

  it('reads the workload kubeconfig from <cluster>-kubeconfig, and refuses a missing Secret (exit 2)', async () => {
    const fake = machineCluster();
    assert.equal(await workloadKubeconfigFrom(fake, 'c1', 'default'), 'apiVersion: v1\nkind: Config\n');
    await assert.rejects(workloadKubeconfigFrom(fake, 'c2', 'default'), (err: KubeswapError) => {
      return (
        err.failure === 'invalid' && err.code === 'cluster-api.kubeconfig-missing' && /c2-kubeconfig/.test(err.message)
      );
    });
    assert.equal(typeof provider.workloadKubeconfig, 'function');
  });
});

describe('cluster-api provider: replacement and retirement', () => {
  it('clones the template with the new image and patches, turns the KubeadmConfig into a join, and creates the Machine at the target', async () => {
    const { p, fake } = setup({
      infrastructurePatches: [{ op: 'add', path: '/spec/size', value: 'large' }],
      bootstrapPatches: [{ op: 'add', path: '/spec/files/-', value: { path: '/etc/extra', content: 'x' } }],
    });
    // Changed since c1-cp-0 was created: the clone follows the template, as a MachineSet would.
    fake.find('SandboxMachineTemplate', 'cp-template')!.spec = {
      template: { spec: { image: 'img-1', size: 'medium', disk: 20 } },
    };
    const [old] = await p.listMachines('control-plane', ids(1));
    const created = await p.createReplacement(request(old!));
    assert.equal(created.id, 'c1-cp-1abcdef012');
    assert.deepEqual([created.replaces, created.runId, created.zone], ['c1-cp-0', 'run-1', 'fd-0']);
    const machine = fake.find('Machine', created.id)!;
    assert.equal(machine.spec!['version'], 'v1.37.2');
    assert.equal(machine.spec!['providerID'], undefined);
    assert.deepEqual(machine.spec!['infrastructureRef'], {
      apiGroup: 'infrastructure.cluster.x-k8s.io',
      kind: 'SandboxMachine',
      name: created.id,
    });
    assert.deepEqual(machine.metadata.labels, {
      'cluster.x-k8s.io/cluster-name': 'c1',
      'cluster.x-k8s.io/control-plane': '',
    });
    const infra = fake.find('SandboxMachine', created.id)!;
    assert.deepEqual(infra.spec, { image: 'img-2', size: 'large', disk: 20 });
    assert.equal(infra.metadata.annotations!['cluster.x-k8s.io/cloned-from-name'], 'cp-template');
    assert.equal(infra.metadata.ownerReferences![0]!.uid, machine.metadata.uid);
    const config = fake.find('KubeadmConfig', created.id)!.spec!;
    assert.equal(config['initConfiguration'], undefined);
    assert.deepEqual(
      config['joinConfiguration'],
      { controlPlane: {}, nodeRegistration: { name: '{{ ds.meta_data.local_hostname }}' } },
      'old token dropped (CABPK issues one), node registration kept from the init',
    );
    assert.equal((config['files'] as unknown[]).length, 2);
    assert.deepEqual(config['clusterConfiguration'], { certificatesDir: '/etc/kubernetes/pki' }, 'kept for CABPK');
  });

  it('turns the init configuration of the first machine into a join that keeps its node registration', async () => {
    const { p, fake } = setup();
    const [old] = await p.listMachines('control-plane', ids(1));
    fake.find('KubeadmConfig', 'c1-cp-0')!.spec = {
      initConfiguration: { nodeRegistration: { name: '{{ ds.meta_data.local_hostname }}' } },
    };
    const created = await p.createReplacement(request(old!));
    assert.deepEqual(fake.find('KubeadmConfig', created.id)!.spec, {
      joinConfiguration: { controlPlane: {}, nodeRegistration: { name: '{{ ds.meta_data.local_hostname }}' } },
    });
  });

  it('finds what an attempt created on a re-run (deterministic names), and a new attempt makes a new Machine', async () => {
    const { p, fake } = setup();
    const [old] = await p.listMachines('control-plane', ids(1));
    const first = await p.createReplacement(request(old!));
    const creates = fake.calls.filter((c) => c.startsWith('create')).length;
    const again = await p.createReplacement(request(old!));
    assert.equal(again.id, first.id);
    assert.equal(fake.calls.filter((c) => c.startsWith('create')).length, creates, 'nothing created twice');
    assert.equal(creates, 3);
    const retry = await p.createReplacement(request(old!, 2));
    assert.notEqual(retry.id, first.id);
    // The replacements are listed although no Node points at them yet.
    assert.deepEqual((await p.listMachines('control-plane', ids(3))).map((m) => m.id).slice(3), [first.id, retry.id]);
  });

  it('retires in Cluster API order: hook, delete, held while drained, then terminate releases it and it is gone', async () => {
    const { p, fake } = setup();
    await p.listMachines('control-plane', ids(3));
    await p.startDeletion!('c1-cp-0');
    assert.deepEqual(fake.calls, [`patch Machine/c1-cp-0 {"${PRE_TERMINATE_HOOK}":""}`, 'delete Machine/c1-cp-0']);
    const [held] = await p.listMachines('control-plane', ids(1));
    assert.deepEqual([held!.phase, held!.held], ['deleting', true]);
    await p.startDeletion!('c1-cp-0');
    assert.equal(fake.calls.length, 2, 'starting again changes nothing');
    await p.terminate('c1-cp-0', 1000);
    assert.equal(fake.find('Machine', 'c1-cp-0'), undefined);
    assert.deepEqual(await p.listMachines('control-plane', ids(1)), []);
    await p.terminate('c1-cp-0', 1000);
  });

  it('puts the hook on a Machine someone else is deleting, without deleting it again', async () => {
    const { p, fake } = setup();
    const m = fake.find('Machine', 'c1-cp-1')!;
    m.metadata.deletionTimestamp = new Date().toISOString();
    m.status = { ...m.status, phase: 'Deleting' };
    const listed = (await p.listMachines('control-plane', ids(3))).find((x) => x.id === 'c1-cp-1')!;
    assert.deepEqual([listed.phase, listed.unheld, listed.held], ['deleting', true, false]);
    await p.startDeletion!('c1-cp-1');
    assert.deepEqual(fake.calls, [`patch Machine/c1-cp-1 {"${PRE_TERMINATE_HOOK}":""}`]);
    const hooked = (await p.listMachines('control-plane', ids(3))).find((x) => x.id === 'c1-cp-1')!;
    assert.equal(hooked.unheld, undefined);
  });

  it('rolls back a replacement that never got a Node: its Machine and clones are deleted', async () => {
    const { p, fake } = setup();
    const [old] = await p.listMachines('control-plane', ids(1));
    const created = await p.createReplacement(request(old!));
    await p.terminate(created.id, 1000);
    for (const kind of ['Machine', 'SandboxMachine', 'KubeadmConfig'])
      assert.equal(fake.find(kind, created.id), undefined);
    assert.ok(fake.find('Machine', 'c1-cp-0'), 'the old Machine is untouched');
  });

  it('ends the wait for a deleting Machine on an interrupt, with its reason; Cluster API goes on deleting it', async () => {
    const fake = machineCluster();
    const interrupt = new AbortController();
    const reason = new Error('interrupted');
    let pauses = 0;
    const p = createClusterApiProvider(options(), fake, async (_ms, signal) => {
      if (++pauses === 1) interrupt.abort(reason);
      signal?.throwIfAborted();
    });
    fake.remove = async () => {}; // a finalizer still at work
    await assert.rejects(p.terminate('c1-cp-0', 200, { signal: interrupt.signal }), (err) => err === reason);
    assert.equal(pauses, 1);
    assert.ok(fake.find('Machine', 'c1-cp-0'));
  });

  it('fails a termination that does not finish in time with what to look at', async () => {
    const { p, fake } = setup();
    fake.find('Machine', 'c1-cp-0')!.metadata.annotations = { [`${PRE_TERMINATE_HOOK.split('/')[0]}/other`]: '' };
    fake.remove = async () => {}; // a finalizer that never completes
    await assert.rejects(p.terminate('c1-cp-0', 0), (err: KubeswapError) => err.code === 'terminate.timeout');
  });
});

describe('templates/rbac/cluster-api-provider.yaml', () => {
  it('grants every verb the provider calls on the management cluster', async () => {
    const { parseAllDocuments } = await import('yaml');
    const { readFileSync } = await import('node:fs');
    const docs = parseAllDocuments(readFileSync('templates/rbac/cluster-api-provider.yaml', 'utf8')).map((d) =>
      d.toJS(),
    );
    const rules = docs.find((d) => d.kind === 'Role').rules as {
      apiGroups: string[];
      resources: string[];
      verbs: string[];
    }[];
    const allows = (group: string, resource: string, verb: string) =>
      rules.some((r) => r.apiGroups.includes(group) && r.resources.includes(resource) && r.verbs.includes(verb));
    const needed: [string, string, string[]][] = [
      ['cluster.x-k8s.io', 'clusters', ['get']],
      ['cluster.x-k8s.io', 'machines', ['get', 'list', 'create', 'patch', 'delete']],
      ['bootstrap.cluster.x-k8s.io', 'kubeadmconfigs', ['get', 'create']],
      ['infrastructure.cluster.x-k8s.io', 'awsmachines', ['get', 'create']],
      // Worker pools: the MachineDeployment's template is cloned, the MachineDeployment patched (machine-deployments.ts).
      ['infrastructure.cluster.x-k8s.io', 'awsmachinetemplates', ['get', 'create']],
      ['cluster.x-k8s.io', 'machinedeployments', ['get', 'list', 'patch']],
      ['cluster.x-k8s.io', 'machinesets', ['list']],
      // With bootstrapPatches: the MachineDeployment's KubeadmConfigTemplate is cloned too.
      ['bootstrap.cluster.x-k8s.io', 'kubeadmconfigtemplates', ['get', 'create']],
      ['', 'secrets', ['get']],
    ];
    for (const [group, resource, verbs] of needed) {
      for (const verb of verbs) assert.ok(allows(group, resource, verb), `${verb} ${resource}.${group}`);
    }
  });
});
