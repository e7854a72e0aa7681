import assert from 'node:assert/strict';
import { parse } from 'yaml';
import { apply, inspect } from '../../src/engine/run/run.ts';
import { APPLY_OPTIONS, TO } from './builders.ts';
import { FakeWorld, failure } from './fake-world.ts';

const options = APPLY_OPTIONS;
const request = { version: TO, force: false };
const v1beta3 = `apiVersion: kubeadm.k8s.io/v1beta3
kind: ClusterConfiguration
kubernetesVersion: v1.36.3
apiServer:
  extraArgs:
    authorization-mode: Node,RBAC
  timeoutForControlPlane: 4m0s
`;

describe('apply over the fake world', () => {
  it('replaces every machine of a 3-machine control plane and leaves 3 voting members', async () => {
    const world = new FakeWorld(['cp-a', 'cp-b', 'cp-c']);
    const outcome = await apply(world.ports(), request, options);
    assert.equal(outcome.swaps, 3);
    assert.equal(world.members.length, 3);
    assert.ok(world.members.every((m) => !m.isLearner && m.name.startsWith('node-')));
    assert.ok([...world.nodes.values()].every((n) => n.kubeletVersion === TO));
    assert.equal(world.machines.filter((m) => m.phase === 'running').length, 3);
    assert.match(
      world.configMaps.get('kube-system/kubeadm-config')!.data['ClusterConfiguration']!,
      /kubernetesVersion: v1\.37\.2/,
    );
    const codes = world.log.codes();
    assert.equal(codes.filter((c) => c === 'swap.finished').length, 3);
    assert.ok(codes.indexOf('kubeadm-config.version-bumped') < codes.indexOf('replacement.created'));
    assert.ok(codes.indexOf('etcd.snapshot-saved') < codes.indexOf('kubeadm-config.version-bumped'));
  });

  it('reads kubeadm-config, the kubelet-config ConfigMaps and the join RBAC once before the first swap', async () => {
    const world = new FakeWorld(['cp-a']);
    const ports = world.ports();
    const reads: string[] = [];
    const rbacChecked: string[] = [];
    const ensured: string[] = [];
    const { getConfigMap, rbacExists, ensureRbac, createLease } = ports.kube;
    ports.kube.getConfigMap = (ns, name) => {
      reads.push(name);
      return getConfigMap(ns, name);
    };
    ports.kube.rbacExists = (object) => {
      rbacChecked.push(`${object.kind}/${object.name}`);
      return rbacExists(object);
    };
    ports.kube.ensureRbac = (objects) => {
      ensured.push(...objects.map((o) => `${o.kind}/${o.name}`));
      return ensureRbac(objects);
    };
    // Someone writes kubeadm-config after the plan read it: prepare's guarded replace fails and it reads again.
    ports.kube.createLease = async (lease) => {
      const cm = world.configMaps.get('kube-system/kubeadm-config')!;
      world.configMaps.set('kube-system/kubeadm-config', { ...cm, resourceVersion: `${cm.resourceVersion}0` });
      return createLease(lease);
    };
    let before: string[] | undefined;
    const emit = ports.emit;
    ports.emit = (event) => {
      if (event.code === 'replacement.created') before ??= [...reads];
      emit(event);
    };
    await apply(ports, request, options);
    assert.ok(before, 'a replacement was created');
    const count = (name: string) => before!.filter((r) => r === name).length;
    assert.equal(count('kubeadm-config'), 2, 'read by the plan, and once more after the foreign write (409)');
    assert.match(world.configMaps.get('kube-system/kubeadm-config')!.data['ClusterConfiguration']!, /v1\.37\.2/);
    for (const name of before.filter((r) => r.startsWith('kubelet-config')))
      assert.equal(count(name), 1, `${name} read once: ${before.join(', ')}`);
    assert.equal(new Set(rbacChecked).size, rbacChecked.length, `each RBAC object checked once: ${rbacChecked}`);
    assert.deepEqual(ensured, [], 'all present: prepare creates and reads none again');
    // The retiring record once under the lock (the plan's read came before it), for the start gate and the loop; the
    // progress record once, by the plan: the run's first write creates it from that read.
    assert.equal(count('kubeswap-retiring'), 2, `plan, then once under the lock: ${before.join(', ')}`);
    assert.equal(count('kubeswap-progress'), 1, `read by the plan only: ${before.join(', ')}`);
  });

  it('converts a v1beta3 kubeadm-config to v1beta4 for a 1.37 target, which no longer reads v1beta3', async () => {
    const world = new FakeWorld(['cp-a']);
    const cm = world.configMaps.get('kube-system/kubeadm-config')!;
    cm.data['ClusterConfiguration'] = v1beta3;
    const report = await inspect(world.ports(), request);
    assert.deepEqual(report.kubeadmApi, { from: 'kubeadm.k8s.io/v1beta3', to: 'kubeadm.k8s.io/v1beta4' });
    await apply(world.ports(), request, options);
    const stored = parse(world.configMaps.get('kube-system/kubeadm-config')!.data['ClusterConfiguration']!);
    assert.equal(stored.apiVersion, 'kubeadm.k8s.io/v1beta4');
    assert.equal(stored.kubernetesVersion, TO);
    assert.deepEqual(stored.apiServer.extraArgs, [{ name: 'authorization-mode', value: 'Node,RBAC' }]);
    const migrated = world.log.events.find((e) => e.code === 'kubeadm-config.api-migrated');
    assert.match(migrated!.message, /timeoutForControlPlane 4m0s/);
    // Converted before the first replacement joins: its kubeadm join downloads this configuration.
    const codes = world.log.codes();
    assert.ok(codes.indexOf('kubeadm-config.api-migrated') < codes.indexOf('replacement.created'));
  });

  it('keeps the v1beta3 bytes for a target whose kubeadm still reads them', async () => {
    const world = new FakeWorld(['cp-a']);
    world.configMaps.get('kube-system/kubeadm-config')!.data['ClusterConfiguration'] = v1beta3;
    const report = await inspect(world.ports(), { version: 'v1.36.4', force: false });
    assert.equal(report.kubeadmApi, undefined);
  });

  it('refuses a patch downgrade unless asked for', async () => {
    const world = new FakeWorld(['cp-a']);
    const err = await failure(inspect(world.ports(), { version: 'v1.36.1', force: false }));
    assert.deepEqual(
      err.problems?.map((p) => p.code),
      ['version.patch-downgrade'],
    );
    const report = await inspect(world.ports(), { version: 'v1.36.1', force: false, allowPatchDowngrade: true });
    assert.equal(report.desired.version, 'v1.36.1');
  });

  it('refuses up front, naming each permission the identity lacks (SelfSubjectAccessReview)', async () => {
    const world = new FakeWorld(['cp-a']);
    world.denied.add('create pods/eviction');
    world.denied.add('update leases');
    const err = await failure(apply(world.ports(), request, options));
    assert.equal(err.failure, 'invalid');
    assert.deepEqual(
      err.problems?.map((p) => p.message),
      [
        'this identity may not create pods/eviction (cluster-wide), needed to drain the old node',
        'this identity may not update coordination.k8s.io/leases kubeswap-lock in kube-system, needed to renew, check and release the run lock',
      ],
    );
    assert.equal(world.calls.length, 0);
  });

  it('checks the rights to create a missing kubeadm RBAC object up front: create, and bind on its role', async () => {
    const world = new FakeWorld(['cp-a']);
    world.missingRbac.add('ClusterRoleBinding/kubeadm:kubelet-bootstrap');
    world.denied.add('bind clusterroles');
    const err = await failure(inspect(world.ports(), request));
    assert.deepEqual(
      err.problems?.map((p) => p.message),
      [
        'ClusterRoleBinding kubeadm:kubelet-bootstrap, which kubeadm join needs, is missing and this identity may not create it: bind rbac.authorization.k8s.io/clusterroles system:node-bootstrapper (cluster-wide)',
      ],
    );
    world.denied.clear();
    assert.equal((await inspect(world.ports(), request)).desired.version, TO);
  });

  it('drains before removing the member and terminates before deleting the Node', async () => {
    const world = new FakeWorld(['cp-a']);
    await apply(world.ports(), request, options);
    const order = (prefix: string) => world.calls.findIndex((c) => c.startsWith(prefix));
    assert.ok(order('cordon cp-a') < order('removeMember'));
    assert.ok(order('terminate i-cp-a') < order('deleteNode cp-a'));
    assert.ok(order('register') < order('deregister i-cp-a'));
  });

  it("removes the deleted Node's kube-system DaemonSet pods at once, and no other pod", async () => {
    const world = new FakeWorld(['cp-a']);
    const pod = (namespace: string, name: string, daemonSet: boolean) => ({
      namespace,
      name,
      uid: `uid-${name}`,
      daemonSet,
      // The static pod's mirror goes with its Node (its owner), and drain leaves both kinds alone.
      mirror: !daemonSet,
      phase: 'Running',
      labels: {},
    });
    world.podsOn.set('cp-a', [
      pod('kube-system', 'kube-proxy-x', true),
      pod('monitoring', 'node-exporter-x', true),
      pod('kube-system', 'etcd-cp-a', false),
    ]);
    const ports = world.ports();
    let listed = 0;
    const podsOnNode = ports.kube.podsOnNode;
    ports.kube.podsOnNode = (node) => {
      if (node === 'cp-a') listed++;
      return podsOnNode(node);
    };
    await apply(ports, request, options);
    const order = (prefix: string) => world.calls.findIndex((c) => c.startsWith(prefix));
    assert.deepEqual(
      world.calls.filter((c) => c.startsWith('forceDeletePod')),
      ['forceDeletePod kube-system/kube-proxy-x'],
    );
    assert.equal(listed, 1, "the drain's list only: the release starts from what the drain last saw");
    assert.ok(order('deleteNode cp-a') < order('forceDeletePod'));
    const released = world.log.events.find((e) => e.code === 'node.pods-released');
    assert.deepEqual(released?.data, { pods: ['kube-proxy-x'] });
  });

  it('cordons the old Node in the same patch as its retiring mark, and the drain sends no second cordon', async () => {
    const world = new FakeWorld(['cp-a']);
    await apply(world.ports(), request, options);
    assert.deepEqual(
      world.calls.filter((c) => c.startsWith('cordon cp-a')),
      ['cordon cp-a (with annotations)'],
    );
    assert.equal(world.nodes.get('cp-a'), undefined, 'and the swap went on to its end');
  });

  it('reports nothing to do on a second run', async () => {
    const world = new FakeWorld(['cp-a', 'cp-b', 'cp-c']);
    await apply(world.ports(), request, options);
    const again = await apply(world.ports(), request, options);
    assert.equal(again.result, 'nothing-to-do');
  });

  it('rolls back a replacement that never boots: exit class rolled-back, old machines untouched', async () => {
    const world = new FakeWorld(['cp-a', 'cp-b', 'cp-c']);
    world.pendingFault = 'never-boots';
    const err = await failure(apply(world.ports(), request, options));
    assert.equal(err.failure, 'rolled-back');
    assert.deepEqual(
      world.machines.filter((m) => m.phase === 'running').map((m) => m.id),
      ['i-cp-a', 'i-cp-b', 'i-cp-c'],
    );
    assert.equal(world.members.length, 3);
    assert.ok(world.log.codes().includes('replacement.rolled-back'));
  });

  it('after a rollback, a re-run launches a new replacement even once the provider no longer lists the old one', async () => {
    const world = new FakeWorld(['cp-a', 'cp-b', 'cp-c']);
    world.pendingFault = 'never-boots';
    assert.equal((await failure(apply(world.ports(), request, options))).failure, 'rolled-back');
    // Hours later: the torn-down replacement is no longer listed, but its idempotency token is remembered.
    world.forgetGone = true;
    const outcome = await apply(world.ports(), request, options);
    assert.equal(outcome.swaps, 3);
    assert.ok(world.log.events.some((e) => e.data?.['reason'] === 'replacement.token-reused'));
    assert.equal(world.machines.filter((m) => m.phase === 'running').length, 3);
  });

  it('removes the learner a dying join leaked, then a re-run completes', async () => {
    const world = new FakeWorld(['cp-a', 'cp-b', 'cp-c']);
    world.pendingFault = 'dies-after-member-add';
    const err = await failure(apply(world.ports(), request, options));
    assert.equal(err.failure, 'rolled-back');
    assert.ok(world.members.every((m) => !m.isLearner));
    const outcome = await apply(world.ports(), request, options);
    assert.equal(outcome.swaps, 3);
  });

  it('puts the old machine back exactly when its replacement is lost after the old machine was drained, a kill mid-rollback included', async () => {
    const world = new FakeWorld(['cp-a', 'cp-b', 'cp-c']);
    world.crashBefore = 'removeMember';
    await assert.rejects(apply(world.ports(), request, options), /simulated crash/);
    const r = world.machines.find((m) => m.replaces)!;
    const oldNode = [...world.nodes.values()].find((n) => n.providerId === `aws:///us-east-1a/${r.replaces}`)!;
    assert.equal(world.targets.get(r.replaces!), 'absent', 'the old machine was deregistered');
    assert.equal(oldNode.unschedulable, true, 'and cordoned');
    // The replacement is lost (its instance terminated by someone else): its Node goes NotReady, the gate fails.
    Object.assign(r, { phase: 'gone', status: 'terminated' });
    const rNode = [...world.nodes.values()].find((n) => n.providerId === r.providerId)!;
    world.nodes.set(rNode.name, { ...rNode, ready: false });
    world.now += 10 * 60_000;
    // The re-run's rollback is killed before it removes the replacement's member; the next one finishes it.
    world.crashBefore = 'removeMember';
    await assert.rejects(apply(world.ports(), request, options), /simulated crash/);
    world.now += 10 * 60_000;
    const err = await failure(apply(world.ports(), request, options));
    assert.deepEqual([err.failure, err.code], ['rolled-back', 'replacement.rolled-back']);
    assert.equal(world.targets.get(r.replaces!), 'serving', 'the old machine serves the API again');
    const restored = world.nodes.get(oldNode.name)!;
    assert.equal(restored.unschedulable, false, 'and is uncordoned');
    assert.deepEqual(restored.annotations, {}, 'and no longer marked as retiring');
    assert.deepEqual(world.members.map((m) => m.name).sort(), ['cp-a', 'cp-b', 'cp-c']);
    assert.equal(world.nodes.has(rNode.name), false);
  });

  for (const boundary of [
    'createReplacement',
    'register',
    'deregister',
    'cordon',
    'moveLeader',
    'removeMember',
    'terminate',
    'deleteNode',
  ]) {
    it(`resumes to completion after a crash before ${boundary}`, async () => {
      const world = new FakeWorld(['cp-a', 'cp-b', 'cp-c']);
      world.crashBefore = boundary;
      await assert.rejects(apply(world.ports(), request, options), /simulated crash/);
      // The crashed process is gone; its lease holder pid is still "alive" (it is us), so expire it.
      world.now += 10 * 60_000;
      const outcome = await apply(world.ports(), request, options);
      assert.equal(outcome.result, 'done');
      assert.equal(world.members.length, 3);
      assert.equal(world.machines.filter((m) => m.phase === 'running').length, 3);
      assert.equal(world.machines.filter((m) => m.replaces).length, 3, 'no duplicate replacement was launched');
    });
  }

  it('a resumed run that is blocked exits as needs-person (4), never as "nothing changed" (2)', async () => {
    const world = new FakeWorld(['cp-a', 'cp-b', 'cp-c']);
    world.crashBefore = 'register';
    await assert.rejects(apply(world.ports(), request, options), /simulated crash/);
    // Someone launched a second replacement meanwhile: two in flight is a blocker.
    const ours = world.machines.find((m) => m.replaces)!;
    world.machines.push({ ...ours, id: 'i-rogue', providerId: 'aws:///us-east-1a/i-rogue', replaces: 'i-cp-b' });
    const err = await failure(apply(world.ports(), request, options));
    assert.deepEqual([err.failure, err.code], ['needs-person', 'swap.several-in-flight']);
  });

  it('refuses a second run while another holds the lock', async () => {
    const world = new FakeWorld(['cp-a', 'cp-b', 'cp-c']);
    world.leases.set('kube-system/kubeswap-lock', {
      namespace: 'kube-system',
      name: 'kubeswap-lock',
      holderIdentity: 'other@elsewhere#1',
      leaseDurationSeconds: 60,
      renewTime: new Date(world.now),
      resourceVersion: '1',
    });
    const err = await failure(apply(world.ports(), request, options));
    assert.deepEqual([err.failure, err.code], ['blocked', 'lock.held']);
    assert.equal(world.calls.length, 0);
  });

  it('dry-run changes nothing', async () => {
    const world = new FakeWorld(['cp-a', 'cp-b', 'cp-c']);
    const outcome = await apply(world.ports(), request, { ...options, dryRun: true });
    assert.equal(outcome.result, 'dry-run');
    assert.equal(world.calls.length, 0);
    assert.match(world.configMaps.get('kube-system/kubeadm-config')!.data['ClusterConfiguration']!, /v1\.36\.3/);
  });
});
