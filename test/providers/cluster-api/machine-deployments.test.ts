// Worker pools of the Cluster API provider: the MachineDeployment's template clone (image + the user's RFC 6902
// patches), the bump (version, template, strategy), idempotency across re-runs, and how a rollout is read back.
import assert from 'node:assert/strict';
import { createClusterApiProvider } from '../../../providers/cluster-api/index.ts';
import {
  BOOTSTRAP_CLONED_FROM,
  BUMPED_AT_ANNOTATION,
  bootstrapDrift,
  bootstrapTemplateClone,
  bumpPatch,
  CLONED_FROM_TEMPLATE,
  DEPLOYMENT_NAME_LABEL,
  deploymentDrift,
  rolloutOf,
  SET_NAME_LABEL,
  templateClone,
} from '../../../providers/cluster-api/machine-deployments.ts';
import type { ClusterApiOptions } from '../../../providers/cluster-api/options.ts';
import { clusterApiOptions } from '../../../providers/cluster-api/options.ts';
import type { KubeswapError } from '../../../src/domain/errors.ts';
import { FakeCapi, machineCluster } from './fake-capi.ts';

const INFRA = 'infrastructure.cluster.x-k8s.io/v1alpha1';
const CORE = 'cluster.x-k8s.io/v1beta2';
const TEMPLATE = {
  apiVersion: INFRA,
  kind: 'SandboxMachineTemplate',
  metadata: { name: 'md-0-template', labels: { 'cluster.x-k8s.io/cluster-name': 'c1' } },
  spec: { template: { spec: { image: 'img-1', size: 'small' } } },
};
/** md-0's KubeadmConfigTemplate: a worker join (CABPK renders each Machine's bootstrap data from it). */
const BOOTSTRAP_TEMPLATE = {
  apiVersion: 'bootstrap.cluster.x-k8s.io/v1beta2',
  kind: 'KubeadmConfigTemplate',
  metadata: { name: 'md-0', labels: { 'cluster.x-k8s.io/cluster-name': 'c1' } },
  spec: { template: { spec: { joinConfiguration: { nodeRegistration: { kubeletExtraArgs: [] } } } } },
};
const DESIRED = { version: 'v1.37.2', imageId: 'img-2', force: false };
const labels = (extra: Record<string, string> = {}) => ({ 'cluster.x-k8s.io/cluster-name': 'c1', ...extra });

/** machineCluster plus MachineDeployment md-0 (2 replicas at v1.36.3) with its MachineSet and Machines. */
function withDeployment(fake = machineCluster()): FakeCapi {
  fake.put(structuredClone(TEMPLATE));
  fake.put(structuredClone(BOOTSTRAP_TEMPLATE));
  fake.put({
    apiVersion: CORE,
    kind: 'MachineDeployment',
    metadata: { name: 'md-0', labels: labels() },
    spec: {
      clusterName: 'c1',
      replicas: 2,
      template: {
        spec: {
          clusterName: 'c1',
          version: 'v1.36.3',
          infrastructureRef: {
            apiGroup: 'infrastructure.cluster.x-k8s.io',
            kind: 'SandboxMachineTemplate',
            name: 'md-0-template',
          },
          bootstrap: {
            configRef: { apiGroup: 'bootstrap.cluster.x-k8s.io', kind: 'KubeadmConfigTemplate', name: 'md-0' },
          },
        },
      },
    },
  });
  fake.put(machineSet('md-0-old', 'v1.36.3', 'md-0-template'));
  for (const id of ['a', 'b']) fake.put(workerMachine(`md-0-old-${id}`, 'md-0-old', 'v1.36.3'));
  return fake;
}

/** A MachineSet of md-0 as Cluster API makes it: the MachineDeployment's template refs at the time. */
function machineSet(name: string, version: string, template: string, bootstrap = 'md-0') {
  return {
    apiVersion: CORE,
    kind: 'MachineSet',
    metadata: { name, labels: labels({ [DEPLOYMENT_NAME_LABEL]: 'md-0' }) },
    spec: {
      template: {
        spec: {
          version,
          infrastructureRef: { kind: 'SandboxMachineTemplate', name: template },
          bootstrap: { configRef: { kind: 'KubeadmConfigTemplate', name: bootstrap } },
        },
      },
    },
  };
}

function workerMachine(name: string, set: string, version: string, over: Record<string, unknown> = {}) {
  return {
    apiVersion: CORE,
    kind: 'Machine',
    metadata: { name, labels: labels({ [DEPLOYMENT_NAME_LABEL]: 'md-0', [SET_NAME_LABEL]: set }), ...over },
    spec: { clusterName: 'c1', version, providerID: `sandbox://${name}` },
    status: { phase: 'Running' },
  };
}

const options = (over: Partial<ClusterApiOptions> = {}): ClusterApiOptions => ({
  namespace: 'default',
  clusterName: 'c1',
  infrastructurePatches: [],
  bootstrapPatches: [],
  pollIntervalMs: 1,
  pools: [{ name: 'workers', machineDeployments: ['md-0'] }],
  ...over,
});

describe('cluster-api provider: MachineDeployment pools (pure parts)', () => {
  it('clones the infrastructure template with the image and the patches on what it makes, named from its content', () => {
    const patch = [{ op: 'replace' as const, path: '/spec/size', value: 'large' }];
    const { object, unchanged } = templateClone(TEMPLATE, 'img-2', patch);
    assert.equal(unchanged, false);
    assert.deepEqual(object.spec, { template: { spec: { image: 'img-2', size: 'large' } } });
    assert.match(object.metadata.name, /^md-0-template-[0-9a-f]{8}$/);
    assert.equal(object.metadata.annotations?.[CLONED_FROM_TEMPLATE], 'md-0-template');
    assert.deepEqual(object.metadata.labels, TEMPLATE.metadata.labels);
    // Same input, same name (a re-run finds it); a clone of a clone does not grow the name.
    assert.equal(templateClone(TEMPLATE, 'img-2', patch).object.metadata.name, object.metadata.name);
    const again = templateClone(object, 'img-3', []);
    assert.match(again.object.metadata.name, /^md-0-template-[0-9a-f]{8}$/);
    // Already what the target asks for: nothing to clone.
    assert.equal(templateClone(object, 'img-2', patch).unchanged, true);
  });

  it('refuses an --image on an unknown kind and a patch that does not apply, with codes', () => {
    const unknown = { ...TEMPLATE, kind: 'FooMachineTemplate' };
    assert.throws(
      () => templateClone(unknown, 'img-2', []),
      (e: KubeswapError) => e.code === 'image.unsupported-kind',
    );
    assert.throws(
      () => templateClone(TEMPLATE, undefined, [{ op: 'replace', path: '/spec/nope/deeper', value: 1 }]),
      (e: KubeswapError) => e.code === 'patch.invalid',
    );
  });

  it('says why a MachineDeployment drifts: version, image, patches; nothing once bumped', () => {
    const md = withDeployment().find('MachineDeployment', 'md-0')!;
    assert.deepEqual(
      deploymentDrift(md, TEMPLATE, DESIRED, []).map((d) => d.code),
      ['version', 'image'],
    );
    assert.deepEqual(
      deploymentDrift(md, TEMPLATE, { version: 'v1.36.3', imageId: '(each Machine keeps its infrastructure image)' }, [
        { op: 'replace', path: '/spec/size', value: 'large' },
      ]).map((d) => d.code),
      ['patches'],
    );
    const bumped = structuredClone(md);
    (bumped.spec!['template'] as { spec: Record<string, unknown> }).spec['version'] = 'v1.37.2';
    assert.deepEqual(deploymentDrift(bumped, templateClone(TEMPLATE, 'img-2', []).object, DESIRED, []), []);
  });

  it('bumps version and template, and sets the strategy unless it is kept', () => {
    assert.deepEqual(bumpPatch('t-1', DESIRED, { maxSurge: 2, maxUnavailable: '25%' }), {
      spec: {
        template: { spec: { version: 'v1.37.2', infrastructureRef: { name: 't-1' } } },
        rollout: { strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: 2, maxUnavailable: '25%' } } },
      },
    });
    assert.deepEqual(bumpPatch('t-1', DESIRED, 'keep'), {
      spec: { template: { spec: { version: 'v1.37.2', infrastructureRef: { name: 't-1' } } } },
    });
  });

  it('reads a rollout: Machines of the current template are up to date, deletions carry the drain message', () => {
    const fake = withDeployment();
    const md = fake.find('MachineDeployment', 'md-0')!;
    (md.spec!['template'] as { spec: Record<string, unknown> }).spec['version'] = 'v1.37.2';
    const sets = [
      machineSet('md-0-old', 'v1.36.3', 'md-0-template'),
      machineSet('md-0-new', 'v1.37.2', 'md-0-template'),
    ];
    const budget =
      "Drain not completed yet:\n* Pod default/web-1: cannot evict pod as it would violate the pod's disruption budget. The disruption budget web needs 2 healthy pods and has 2 currently";
    const machines = [
      workerMachine('md-0-old-a', 'md-0-old', 'v1.36.3', { deletionTimestamp: '2026-01-01T00:10:00Z' }),
      workerMachine('md-0-new-x', 'md-0-new', 'v1.37.2'),
    ];
    machines[0]!.status = { phase: 'Deleting', conditions: [{ type: 'Deleting', message: budget }] } as never;
    const r = rolloutOf('workers', md, sets, machines, []);
    assert.equal(r.replicas, 2);
    assert.deepEqual(r.strategy, { maxSurge: 1, maxUnavailable: 0 });
    assert.deepEqual(
      r.machines.map((m) => [m.id, m.upToDate, m.phase]),
      [
        ['md-0-new-x', true, 'running'],
        ['md-0-old-a', false, 'deleting'],
      ],
    );
    assert.equal(r.machines.find((m) => m.id === 'md-0-old-a')?.deleting, budget);
  });
});

describe('cluster-api provider: where a Machine deletion is (Deleting condition reason, v1beta2)', () => {
  it('DrainingNode is the drain; WaitingForInfrastructureDeletion is past it; no condition says nothing', () => {
    const md = withDeployment().find('MachineDeployment', 'md-0')!;
    const sets = [machineSet('md-0-old', 'v1.36.3', 'md-0-template')];
    const deleting = (name: string, reason?: string) => {
      const m = workerMachine(name, 'md-0-old', 'v1.36.3', { deletionTimestamp: '2026-01-01T00:10:00Z' });
      m.status = {
        phase: 'Deleting',
        ...(reason ? { conditions: [{ type: 'Deleting', reason, message: reason }] } : {}),
      } as never;
      return m;
    };
    const r = rolloutOf(
      'workers',
      md,
      sets,
      [deleting('a', 'DrainingNode'), deleting('b', 'WaitingForInfrastructureDeletion'), deleting('c')],
      [],
    );
    assert.deepEqual(
      r.machines.map((m) => [m.id, m.deletingStage]),
      [
        ['a', 'drain'],
        ['b', 'after-drain'],
        ['c', undefined],
      ],
    );
  });
});

describe('cluster-api provider: MachineDeployment pools (over the management cluster)', () => {
  it("declares rollsPools and lists the pool's MachineDeployment with its drift and Machines", async () => {
    const fake = withDeployment();
    const p = createClusterApiProvider(options(), fake, async () => {});
    assert.equal(p.capabilities.rollsPools, true);
    assert.deepEqual((await p.resolveDesired({ version: 'v1.37.2', imageId: 'img-2' })).problems, []);
    const [r, ...rest] = await p.pools!.rollouts('workers', DESIRED);
    assert.equal(rest.length, 0);
    assert.equal(r!.name, 'md-0');
    assert.deepEqual(
      r!.drift.map((d) => d.code),
      ['version', 'image'],
    );
    assert.deepEqual(
      r!.machines.map((m) => [m.id, m.upToDate]),
      [
        ['md-0-old-a', true],
        ['md-0-old-b', true],
      ],
    );
    // Control-plane Machines are not worker Machines.
    assert.ok(r!.machines.every((m) => !m.id.startsWith('c1-cp')));
  });

  it('bumps idempotently: one template clone, the MachineDeployment pointed at it, no drift left', async () => {
    const fake = withDeployment();
    const p = createClusterApiProvider(options(), fake, async () => {});
    await p.resolveDesired({ version: 'v1.37.2', imageId: 'img-2' });
    await p.pools!.bump('workers', 'md-0', DESIRED, { maxSurge: 0, maxUnavailable: 1 });
    await p.pools!.bump('workers', 'md-0', DESIRED, { maxSurge: 0, maxUnavailable: 1 });
    const clones = fake.calls.filter((c) => c.startsWith('create SandboxMachineTemplate/'));
    assert.equal(clones.length, 1, fake.calls.join('\n'));
    const md = fake.find('MachineDeployment', 'md-0')!;
    const spec = (md.spec!['template'] as { spec: Record<string, unknown> }).spec;
    assert.equal(spec['version'], 'v1.37.2');
    const ref = spec['infrastructureRef'] as Record<string, string>;
    assert.equal(ref['name'], clones[0]!.split('/')[1]);
    assert.equal(ref['kind'], 'SandboxMachineTemplate', 'the merge keeps the rest of the reference');
    assert.deepEqual(md.spec!['rollout'], {
      strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: 0, maxUnavailable: 1 } },
    });
    const [r] = await p.pools!.rollouts('workers', DESIRED);
    assert.deepEqual(r!.drift, []);
    // The old MachineSet no longer makes the current template: its Machines are the rollout's to replace.
    assert.ok(r!.machines.every((m) => !m.upToDate));
    // The original template is left as it was (Cluster API templates are immutable).
    assert.deepEqual(fake.find('SandboxMachineTemplate', 'md-0-template')!.spec, TEMPLATE.spec);
  });

  it("without --image the workers keep their template's image: only the version drifts and is bumped", async () => {
    const fake = withDeployment();
    const p = createClusterApiProvider(options(), fake, async () => {});
    // The desired image is then the control plane's own (img-1 here), which says nothing about the workers.
    const { desired } = await p.resolveDesired({ version: 'v1.37.2' });
    const [r] = await p.pools!.rollouts('workers', desired!);
    assert.deepEqual(
      r!.drift.map((d) => d.code),
      ['version'],
    );
    await p.pools!.bump('workers', 'md-0', desired!, 'keep');
    assert.ok(!fake.calls.some((c) => c.startsWith('create SandboxMachineTemplate/')), fake.calls.join('\n'));
    const spec = (fake.find('MachineDeployment', 'md-0')!.spec!['template'] as { spec: Record<string, unknown> }).spec;
    assert.equal(spec['version'], 'v1.37.2');
    assert.equal((spec['infrastructureRef'] as Record<string, string>)['name'], 'md-0-template');
    assert.equal(fake.find('MachineDeployment', 'md-0')!.spec!['rollout'], undefined);
  });

  it('a pool without machineDeployment takes every MachineDeployment; two such pools are refused', () => {
    assert.deepEqual(clusterApiOptions({ clusterName: 'c1', pools: [{ name: 'w' }] }, 1).pools, [{ name: 'w' }]);
    assert.throws(
      () =>
        clusterApiOptions({ clusterName: 'c1', pools: [{ name: 'a' }, { name: 'b', machineDeployment: 'md-1' }] }, 1),
      (e: KubeswapError) => e.code === 'input.cluster-api',
    );
  });

  // A bump's clone already carries the patches: applying them to it again is not a no-op.
  async function bumpedWith(patch: ClusterApiOptions['infrastructurePatches']) {
    const fake = withDeployment();
    const t = fake.find('SandboxMachineTemplate', 'md-0-template')!;
    (t.spec!['template'] as { spec: Record<string, unknown> }).spec['tags'] = ['a'];
    const p = createClusterApiProvider(options({ infrastructurePatches: patch }), fake, async () => {});
    await p.resolveDesired({ version: 'v1.37.2', imageId: 'img-2' });
    await p.pools!.bump('workers', 'md-0', DESIRED, 'keep');
    return { fake, p };
  }
  const infraSpec = (fake: FakeCapi) => {
    const md = fake.find('MachineDeployment', 'md-0')!;
    const ref = (md.spec!['template'] as { spec: Record<string, { name: string }> }).spec['infrastructureRef']!;
    const t = fake.find('SandboxMachineTemplate', ref.name)!;
    return { name: ref.name, spec: (t.spec!['template'] as { spec: Record<string, unknown> }).spec };
  };

  it('an `add` to a list drifts nothing once bumped, and a re-clone starts from the original template', async () => {
    const { fake, p } = await bumpedWith([{ op: 'add', path: '/spec/tags/-', value: 'b' }]);
    assert.deepEqual(infraSpec(fake).spec['tags'], ['a', 'b']);
    const [r] = await p.pools!.rollouts('workers', DESIRED);
    assert.deepEqual(r!.drift, [], 'the clone carries the patches: no drift, no rollout for ever');
    // The next upgrade's image: cloned from md-0-template, not from the clone (which would add `b` twice).
    await p.pools!.bump('workers', 'md-0', { ...DESIRED, imageId: 'img-3' }, 'keep');
    const after = infraSpec(fake);
    assert.deepEqual(after.spec, { image: 'img-3', size: 'small', tags: ['a', 'b'] });
    assert.equal(
      fake.find('SandboxMachineTemplate', after.name)!.metadata.annotations?.[CLONED_FROM_TEMPLATE],
      'md-0-template',
    );
    assert.deepEqual((await p.pools!.rollouts('workers', { ...DESIRED, imageId: 'img-3' }))[0]!.drift, []);
  });

  it('a `remove` does not fail on the clone it made; other patches drift it and re-clone from the original', async () => {
    const patch = [{ op: 'remove' as const, path: '/spec/size' }];
    const { fake, p } = await bumpedWith(patch);
    assert.deepEqual(infraSpec(fake).spec, { image: 'img-2', tags: ['a'] });
    const [r] = await p.pools!.rollouts('workers', DESIRED);
    assert.deepEqual(r!.drift, []);
    await p.pools!.bump('workers', 'md-0', { ...DESIRED, imageId: 'img-3' }, 'keep');
    assert.deepEqual(infraSpec(fake).spec, { image: 'img-3', tags: ['a'] });
    // Other patches: the clone drifts once, and the bump applies them to the original template.
    const other = createClusterApiProvider(
      options({ infrastructurePatches: [{ op: 'replace', path: '/spec/size', value: 'large' }] }),
      fake,
      async () => {},
    );
    await other.resolveDesired({ version: 'v1.37.2', imageId: 'img-3' });
    const target = { ...DESIRED, imageId: 'img-3' };
    assert.deepEqual(
      (await other.pools!.rollouts('workers', target))[0]!.drift.map((d) => d.code),
      ['patches'],
    );
    await other.pools!.bump('workers', 'md-0', target, 'keep');
    assert.deepEqual(infraSpec(fake).spec, { image: 'img-3', size: 'large', tags: ['a'] });
    assert.deepEqual((await other.pools!.rollouts('workers', target))[0]!.drift, []);
  });

  it("records when it bumped on the MachineDeployment, read back as the rollout's bumpedAt", async () => {
    const { fake, p } = await bumpedWith([]);
    const at = fake.find('MachineDeployment', 'md-0')!.metadata.annotations?.[BUMPED_AT_ANNOTATION];
    assert.ok(at && !Number.isNaN(Date.parse(at)), String(at));
    const [r] = await p.pools!.rollouts('workers', DESIRED);
    assert.equal(r!.bumpedAt?.toISOString(), new Date(at).toISOString());
  });

  it('a MachineDeployment or template gone at the bump is a coded error, not a crash', async () => {
    const fake = withDeployment();
    const p = createClusterApiProvider(options(), fake, async () => {});
    await p.resolveDesired({ version: 'v1.37.2', imageId: 'img-2' });
    await assert.rejects(
      p.pools!.bump('workers', 'md-9', DESIRED, 'keep'),
      (e: KubeswapError) => e.code === 'pool.deployment-gone' && e.failure === 'needs-person' && /md-9/.test(e.message),
    );
    fake.objects.delete(FakeCapi.key('SandboxMachineTemplate', 'md-0-template'));
    await assert.rejects(
      p.pools!.bump('workers', 'md-0', DESIRED, 'keep'),
      (e: KubeswapError) => e.code === 'pool.template-gone' && /md-0-template does not exist/.test(e.message),
    );
  });
});

describe('cluster-api provider: bootstrapPatches on a MachineDeployment (its KubeadmConfigTemplate)', () => {
  const FILE = { path: '/etc/kubeswap-patched', content: 'patched\n' };
  const addFile = [{ op: 'add' as const, path: '/spec/files', value: [FILE] }];
  const bootstrapRef = (fake: FakeCapi) => {
    const spec = (fake.find('MachineDeployment', 'md-0')!.spec!['template'] as { spec: Record<string, unknown> }).spec;
    return (spec['bootstrap'] as { configRef: Record<string, string> }).configRef;
  };
  /** The provider over `fake`, counting the KubeadmConfigTemplate reads. */
  function provider(fake: FakeCapi, bootstrapPatches: ClusterApiOptions['bootstrapPatches']) {
    const reads: string[] = [];
    const get = fake.get.bind(fake);
    const port = Object.assign(Object.create(fake) as FakeCapi, {
      get: async (apiVersion: string, kind: string, name: string) => {
        if (kind === 'KubeadmConfigTemplate') reads.push(name);
        return get(apiVersion, kind, name);
      },
    });
    const p = createClusterApiProvider(options({ bootstrapPatches }), port, async () => {});
    return { p, reads };
  }

  it('clones the template with the patches on the KubeadmConfig it makes (paths as on a KubeadmConfig)', () => {
    const { object, unchanged } = bootstrapTemplateClone(BOOTSTRAP_TEMPLATE, addFile);
    assert.equal(unchanged, false);
    assert.deepEqual(object.spec, {
      template: { spec: { ...BOOTSTRAP_TEMPLATE.spec.template.spec, files: [FILE] } },
    });
    assert.match(object.metadata.name, /^md-0-[0-9a-f]{8}$/);
    assert.equal(object.metadata.annotations?.[CLONED_FROM_TEMPLATE], 'md-0');
    assert.equal(bootstrapTemplateClone(BOOTSTRAP_TEMPLATE, []).unchanged, true);
    assert.throws(
      () => bootstrapTemplateClone(BOOTSTRAP_TEMPLATE, [{ op: 'replace', path: '/spec/nope/deeper', value: 1 }]),
      (e: KubeswapError) => e.code === 'patch.invalid' && /bootstrapPatches/.test(e.message),
    );
  });

  it('drifts a MachineDeployment the patches change; refuses one without a KubeadmConfigTemplate before any change', () => {
    const md = withDeployment().find('MachineDeployment', 'md-0')!;
    assert.deepEqual(
      bootstrapDrift(md, BOOTSTRAP_TEMPLATE, addFile).map((d) => d.code),
      ['patches'],
    );
    assert.deepEqual(bootstrapDrift(md, undefined, []), []);
    const secretOnly = structuredClone(md);
    (secretOnly.spec!['template'] as { spec: Record<string, unknown> }).spec['bootstrap'] = { dataSecretName: 's' };
    assert.throws(
      () => bootstrapDrift(secretOnly, undefined, addFile),
      (e: KubeswapError) => e.code === 'patch.no-bootstrap-template' && e.failure === 'invalid',
    );
  });

  it('bumps the MachineDeployment onto a patched clone, idempotently, and Machines of its old MachineSet are old', async () => {
    const fake = withDeployment();
    const { p } = provider(fake, addFile);
    await p.resolveDesired({ version: 'v1.37.2', imageId: 'img-2' });
    assert.deepEqual(
      (await p.pools!.rollouts('workers', DESIRED))[0]!.drift.map((d) => d.code),
      ['version', 'image', 'patches'],
    );
    await p.pools!.bump('workers', 'md-0', DESIRED, 'keep');
    await p.pools!.bump('workers', 'md-0', DESIRED, 'keep');
    const clones = fake.calls.filter((c) => c.startsWith('create KubeadmConfigTemplate/'));
    assert.equal(clones.length, 1, fake.calls.join('\n'));
    const ref = bootstrapRef(fake);
    assert.equal(ref['name'], clones[0]!.split('/')[1]);
    assert.equal(ref['kind'], 'KubeadmConfigTemplate', 'the merge keeps the rest of the reference');
    const clone = fake.find('KubeadmConfigTemplate', ref['name']!)!;
    assert.deepEqual((clone.spec!['template'] as { spec: Record<string, unknown> }).spec['files'], [FILE]);
    assert.equal(fake.find('MachineDeployment', 'md-0')!.metadata.annotations?.[BOOTSTRAP_CLONED_FROM], 'md-0');
    assert.deepEqual(fake.find('KubeadmConfigTemplate', 'md-0')!.spec, BOOTSTRAP_TEMPLATE.spec, 'original untouched');
    const [r] = await p.pools!.rollouts('workers', DESIRED);
    assert.deepEqual(r!.drift, [], 'the clone carries the patches: no drift');
    assert.ok(
      r!.machines.every((m) => !m.upToDate),
      'the old MachineSet makes the old KubeadmConfigTemplate',
    );
  });

  it('without bootstrapPatches reads no KubeadmConfigTemplate, and puts back the original of an earlier clone', async () => {
    const fake = withDeployment();
    await (async () => {
      const { p } = provider(fake, addFile);
      await p.resolveDesired({ version: 'v1.37.2', imageId: 'img-2' });
      await p.pools!.bump('workers', 'md-0', DESIRED, 'keep');
    })();
    const { p, reads } = provider(fake, []);
    await p.resolveDesired({ version: 'v1.37.2', imageId: 'img-2' });
    assert.deepEqual(
      (await p.pools!.rollouts('workers', DESIRED))[0]!.drift.map((d) => d.code),
      ['patches'],
    );
    assert.deepEqual(reads, [], 'the drift is read off the MachineDeployment');
    await p.pools!.bump('workers', 'md-0', DESIRED, 'keep');
    assert.equal(bootstrapRef(fake)['name'], 'md-0');
    assert.equal(fake.find('MachineDeployment', 'md-0')!.metadata.annotations?.[BOOTSTRAP_CLONED_FROM], undefined);
    assert.deepEqual((await p.pools!.rollouts('workers', DESIRED))[0]!.drift, []);
    // A pool never patched: nothing read, nothing changed in its bootstrap reference.
    const plain = withDeployment();
    const untouched = provider(plain, []);
    await untouched.p.resolveDesired({ version: 'v1.37.2', imageId: 'img-2' });
    await untouched.p.pools!.rollouts('workers', DESIRED);
    await untouched.p.pools!.bump('workers', 'md-0', DESIRED, 'keep');
    assert.deepEqual(untouched.reads, []);
    assert.equal(bootstrapRef(plain)['name'], 'md-0');
  });
});
