import assert from 'node:assert/strict';
import { apply, inspect } from '../../../src/engine/run/run.ts';
import { KUBEADM_COREFILE } from '../../domain/addons/fixtures.ts';
import { APPLY_OPTIONS, TO } from '../builders.ts';
import { FakeWorld, failure } from '../fake-world.ts';
import { FakeAddons } from './fake-addons.ts';

const options = APPLY_OPTIONS;
const request = { version: TO, force: false };
const BAD_COREFILE = KUBEADM_COREFILE.replace('loop\n', 'loop\n    proxy . 8.8.8.8\n');

function world(corefile?: string) {
  const w = new FakeWorld(['cp-a', 'cp-b', 'cp-c']);
  const addons = new FakeAddons(w.configMaps, { corefile });
  addons.install(w.kube);
  return { w, addons };
}

describe('addons after the control plane', () => {
  it('sets kube-proxy and CoreDNS to the target images after the last swap and waits for both rollouts', async () => {
    const { w, addons } = world();
    const outcome = await apply(w.ports(), request, options);
    assert.equal(outcome.result, 'done');
    assert.equal(addons.image('DaemonSet/kube-proxy'), 'registry.k8s.io/kube-proxy:v1.37.2');
    assert.equal(addons.image('Deployment/coredns'), 'registry.k8s.io/coredns/coredns:v1.14.6');
    const codes = w.log.codes();
    assert.ok(codes.lastIndexOf('swap.finished') < codes.indexOf('addon.image-set'));
    assert.equal(codes.filter((c) => c === 'addon.rolled-out').length, 2);
    assert.ok(codes.indexOf('addon.rolled-out') < codes.indexOf('run.finished'));
    const again = await apply(w.ports(), request, options);
    assert.equal(again.result, 'nothing-to-do');
    assert.equal(addons.imageSets.length, 2);
  });

  it('follows the rollouts from watches: no read of either workload while they roll out, and a first event from before the image change does not end the wait', async () => {
    const { w, addons } = world();
    addons.installWatch(w.kube);
    w.onSleep = () => addons.tick();
    let readsBeforeRollout = -1;
    const outcome = await apply(
      {
        ...w.ports(),
        emit: (e) => {
          if (e.code === 'addon.image-set') readsBeforeRollout = addons.reads;
          w.log.sink(e);
        },
      },
      request,
      options,
    );
    assert.equal(outcome.result, 'done');
    assert.equal(addons.reads, readsBeforeRollout, 'the rollouts were followed without a read');
    const rolled = w.log.events.filter((e) => e.code === 'addon.rolled-out');
    assert.equal(rolled.length, 2);
    // kube-proxy has 3 pods, CoreDNS 2: each is rolled out only once its watch showed every pod updated.
    assert.deepEqual(rolled.map((e) => [e.data?.['addon'], e.data?.['updated']]).sort(), [
      ['coredns', 2],
      ['kube-proxy', 3],
    ]);
    const waits = w.log.events.filter((e) => e.code === 'wait' && /updated/.test(e.message));
    assert.ok(waits.length > 0, 'the stale first events (fully rolled out, old image) were waited past');
  });

  it('lists the addon changes in the plan', async () => {
    const { w } = world();
    const report = await inspect(w.ports(), request);
    assert.deepEqual(
      report.addons.map((a) => [a.addon, a.action, a.to]),
      [
        ['coredns', 'update', 'registry.k8s.io/coredns/coredns:v1.14.6'],
        ['kube-proxy', 'update', 'registry.k8s.io/kube-proxy:v1.37.2'],
      ],
    );
  });

  it('leaves CoreDNS alone with an unsupported plugin: exit 4 after the control plane, and a re-run after the fix does only the addons', async () => {
    const { w, addons } = world(BAD_COREFILE);
    const err = await failure(apply(w.ports(), request, options));
    assert.equal(err.failure, 'needs-person');
    assert.equal(err.code, 'addon.coredns-blocked');
    assert.match(err.hint!, /edit configmap coredns/);
    assert.equal(w.log.codes().filter((c) => c === 'swap.finished').length, 3);
    assert.equal(addons.image('DaemonSet/kube-proxy'), 'registry.k8s.io/kube-proxy:v1.37.2');
    assert.equal(addons.image('Deployment/coredns'), 'registry.k8s.io/coredns/coredns:v1.14.2');

    addons.configMap('coredns', { Corefile: KUBEADM_COREFILE });
    const before = w.log.events.length;
    const again = await apply(w.ports(), request, options);
    assert.equal(again.result, 'done');
    const codes = w.log.events.slice(before).map((e) => e.code);
    assert.ok(!codes.includes('replacement.created'));
    assert.deepEqual(addons.imageSets.slice(1), ['Deployment/coredns=registry.k8s.io/coredns/coredns:v1.14.6']);
  });

  it('stops with exit 4 when a rollout does not finish within --addon-timeout', async () => {
    const { w, addons } = world();
    addons.stalled.add('DaemonSet/kube-proxy');
    const err = await failure(apply(w.ports(), request, { ...options, addonTimeoutMs: 30_000 }));
    assert.equal(err.failure, 'needs-person');
    assert.equal(err.code, 'addon.rollout-timeout');
    assert.match(err.hint!, /rollout status daemonset\/kube-proxy/);
  });

  it('changes neither addon with --skip-addons', async () => {
    const { w, addons } = world(BAD_COREFILE);
    const outcome = await apply(w.ports(), request, { ...options, skipAddons: true });
    assert.equal(outcome.result, 'done');
    assert.deepEqual(addons.imageSets, []);
    assert.equal(w.log.codes().filter((c) => c === 'addon.skipped').length, 2);
  });
});
