import assert from 'node:assert/strict';
import { DEFAULT_ENGINE_OPTIONS, type EngineOptions } from '../../../src/engine/ports.ts';
import { apply, inspect } from '../../../src/engine/run/run.ts';
import {
  type ClusterFingerprint,
  PLAN_FORMAT,
  PLAN_FORMAT_VERSION,
  parseSavedPlan,
  staleProblems,
} from '../../../src/engine/run/saved-plan.ts';
import { machine, NEW_IMAGE, node, TO } from '../builders.ts';
import { FakeWorld, failure } from '../fake-world.ts';

const options: EngineOptions = { ...DEFAULT_ENGINE_OPTIONS, gatePasses: 2, pollIntervalMs: 1000, snapshotDir: '/tmp' };
const request = { version: TO, force: false };

const fingerprint: ClusterFingerprint = {
  kubeadmConfig: 'abc',
  machines: ['cp-a=i-cp-a', 'cp-b=i-cp-b'],
  imageId: 'ami-1',
  template: 'lt-1:3',
};

describe('worker pools in the plan', () => {
  it('refuses a pool that selects no machine (exit 2 class), naming it', async () => {
    const world = new FakeWorld(['cp-a', 'cp-b', 'cp-c']);
    const err = await failure(
      inspect(world.ports(), request, { pools: [{ name: 'blue', maxSurge: 1, maxUnavailable: 0 }] }),
    );
    assert.equal(err.failure, 'invalid');
    assert.match(err.message, /worker pool blue has no machine/);
    assert.ok(!world.calls.some((c) => c.startsWith('createReplacement')));
  });
});

describe('saved plan', () => {
  it('fingerprints what the plan observed and resolved, and lists the cluster-wide changes', async () => {
    const world = new FakeWorld(['cp-a', 'cp-b', 'cp-c']);
    const report = await inspect(world.ports(), request);
    assert.deepEqual(report.fingerprint.machines, ['cp-a=i-cp-a', 'cp-b=i-cp-b', 'cp-c=i-cp-c']);
    assert.equal(report.fingerprint.imageId, NEW_IMAGE);
    assert.match(report.fingerprint.kubeadmConfig, /^[0-9a-f]{64}$/);
    assert.deepEqual(report.changes.kubeadmConfig, { from: 'v1.36.3', to: TO });
    assert.ok(report.changes.objects.length > 0);
    assert.ok(
      report.changes.objects.every((o) => /^(Cluster)?Role(Binding)? \S+ \(when missing\)$/.test(o)),
      `${report.changes.objects}`,
    );
    assert.equal(report.changes.machines, 3);
    assert.match(report.changes.loadBalancer, /registered .* deregistered/);
  });

  it('runs when nothing moved since the plan', async () => {
    const world = new FakeWorld(['cp-a']);
    const report = await inspect(world.ports(), request);
    const outcome = await apply(world.ports(), { ...request, expect: report.fingerprint }, options);
    assert.equal(outcome.swaps, 1);
  });

  const refusedWith = async (world: FakeWorld, expect: ClusterFingerprint) => {
    const err = await failure(apply(world.ports(), { ...request, expect }, options));
    assert.equal(err.failure, 'invalid', 'exit 2: nothing changed');
    assert.equal(err.code, 'plan.stale');
    assert.deepEqual(
      world.calls.filter((c) => !c.startsWith('get')),
      [],
      'no mutating call',
    );
    assert.ok(!world.log.codes().includes('lock.acquired'));
    return err.problems!.map((p) => p.code);
  };

  it('refuses, changing nothing, when another image is tagged for the version since', async () => {
    const world = new FakeWorld(['cp-a', 'cp-b', 'cp-c']);
    const { fingerprint: saved } = await inspect(world.ports(), request);
    const resolve = world.provider.resolveDesired;
    world.provider.resolveDesired = async (w) =>
      w.imageId ? resolve(w) : { desired: { version: w.version, imageId: 'ami-newest', force: false }, problems: [] };
    const err = await failure(apply(world.ports(), { ...request, expect: saved }, options));
    assert.equal(err.code, 'plan.stale');
    assert.match(err.message, /ami-newest.*ami-new/);
    assert.deepEqual(await refusedWith(world, saved), ['plan.stale.image']);
  });

  it('refuses when the control-plane machines changed since', async () => {
    const world = new FakeWorld(['cp-a', 'cp-b', 'cp-c']);
    const { fingerprint: saved } = await inspect(world.ports(), request);
    world.nodes.set('cp-d', node('cp-d'));
    world.machines.push(machine('cp-d'));
    const codes = await refusedWith(world, saved);
    assert.deepEqual(codes, ['plan.stale.machines']);
  });

  it('refuses when a worker of a pool was added or replaced since, as for the control plane', async () => {
    const pools = [{ name: 'blue', maxSurge: 1, maxUnavailable: 0 }];
    const world = new FakeWorld(['cp-a']).addWorker('w-1', 'blue');
    const { fingerprint: saved } = await inspect(world.ports(), request, { pools });
    assert.deepEqual(saved.workers, ['blue:w-1=i-w-1']);
    // Someone scaled the pool out after the review: a machine the plan never showed, no Node yet.
    world.machines.push(machine('w-2', { pool: 'blue' }));
    const err = await failure(apply(world.ports(), { ...request, expect: saved }, { ...options, pools }));
    assert.equal(err.failure, 'invalid', 'exit 2: nothing changed');
    assert.deepEqual(
      err.problems!.map((p) => p.code),
      ['plan.stale.workers'],
    );
    assert.match(err.problems![0]!.message, /new blue:\+i-w-2/);
    assert.deepEqual(
      world.calls.filter((c) => !c.startsWith('get')),
      [],
      'no mutating call',
    );
    // The worker's machine replaced behind the same Node name: gone and new both named.
    const now = { ...saved, workers: ['blue:w-1=i-w-9'] };
    assert.match(staleProblems(saved, now)[0]!.message, /gone blue:w-1=i-w-1; new blue:w-1=i-w-9/);
    // A plan saved before workers were fingerprinted reads as none: a cluster with pool machines is refused.
    assert.deepEqual(
      staleProblems({ ...saved, workers: undefined }, saved).map((p) => p.code),
      ['plan.stale.workers'],
    );
  });

  it('refuses when kubeadm-config changed since', async () => {
    const world = new FakeWorld(['cp-a', 'cp-b', 'cp-c']);
    const { fingerprint: saved } = await inspect(world.ports(), request);
    const cm = world.configMaps.get('kube-system/kubeadm-config')!;
    cm.data['ClusterConfiguration'] += 'controlPlaneEndpoint: lb.example:6443\n';
    assert.deepEqual(await refusedWith(world, saved), ['plan.stale.kubeadm-config']);
  });

  it('refuses a stale plan with exit 4, not 2, while a run of it is in progress (that run changed the cluster)', async () => {
    const world = new FakeWorld(['cp-a', 'cp-b', 'cp-c']);
    const { fingerprint: saved } = await inspect(world.ports(), request);
    world.nodes.set('cp-d', node('cp-d'));
    world.machines.push(machine('cp-d'));
    const record = { runId: 'r-1', version: TO, imageId: NEW_IMAGE, state: 'running', machines: {} };
    world.configMaps.set('kube-system/kubeswap-progress', {
      namespace: 'kube-system',
      name: 'kubeswap-progress',
      data: { progress: JSON.stringify(record) },
      resourceVersion: '1',
    } as never);
    const err = await failure(apply(world.ports(), { ...request, expect: saved }, options));
    assert.equal(err.failure, 'needs-person');
    assert.equal(err.code, 'plan.stale');
    assert.doesNotMatch(`${err.hint} ${err.problems?.map((p) => p.hint).join(' ')}`, /nothing was changed/i);
  });

  it('names each cause: image, launch template, machines gone and new, kubeadm-config', () => {
    const now = {
      kubeadmConfig: 'def',
      machines: ['cp-a=i-cp-a', 'cp-b=i-new'],
      imageId: 'ami-2',
      template: 'lt-1:4',
    };
    const problems = staleProblems(fingerprint, now);
    assert.deepEqual(
      problems.map((p) => p.code),
      ['plan.stale.image', 'plan.stale.template', 'plan.stale.machines', 'plan.stale.kubeadm-config'],
    );
    assert.match(problems[1]!.message, /lt-1:4.*lt-1:3/);
    assert.match(problems[2]!.message, /gone cp-b=i-cp-b; new cp-b=i-new/);
    assert.deepEqual(staleProblems(fingerprint, { ...fingerprint }), []);
  });

  it('reads back what it wrote, and refuses another format, another version or a file that is not JSON', () => {
    const plan = {
      format: PLAN_FORMAT,
      formatVersion: PLAN_FORMAT_VERSION,
      desired: { version: TO, imageId: 'ami-1', force: false },
      fingerprint,
    };
    assert.deepEqual(parseSavedPlan(JSON.stringify(plan), 'p.json'), plan);
    const code = (text: string) => {
      try {
        parseSavedPlan(text, 'p.json');
        return 'parsed';
      } catch (err) {
        return `${(err as { code: string }).code}: ${(err as Error).message}`;
      }
    };
    assert.match(code(JSON.stringify({ ...plan, formatVersion: 2 })), /plan-file.invalid: .*format version 2/);
    assert.match(code(JSON.stringify({ ...plan, format: 'terraform' })), /plan-file.invalid: .*not a kubeswap/);
    assert.match(code('{'), /plan-file.invalid: .*not JSON/);
    assert.match(code(JSON.stringify({ ...plan, fingerprint: undefined })), /plan-file.invalid: .*incomplete/);
  });
});

describe('the load balancer is never skipped silently', () => {
  it('refuses without a load balancer unless the operator opts out, and the plan says so', async () => {
    const world = new FakeWorld(['cp-a']);
    delete (world.provider as { loadBalancer?: unknown }).loadBalancer;
    const err = await failure(inspect(world.ports(), request));
    assert.equal(err.failure, 'invalid');
    assert.equal(err.code, 'input.no-load-balancer');
    const report = await inspect(world.ports(), { ...request, withoutLoadBalancer: true });
    assert.match(report.changes.loadBalancer, /^none \(--no-load-balancer\)/);
  });

  it('refuses --no-load-balancer when a load balancer is configured', async () => {
    const world = new FakeWorld(['cp-a']);
    const err = await failure(inspect(world.ports(), { ...request, withoutLoadBalancer: true }));
    assert.equal(err.code, 'input.no-load-balancer');
  });
});
