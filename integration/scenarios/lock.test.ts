// (h) a second run while another holds the lock is refused with exit 2; `unlock` shows the holder and breaks
// a lock renewed within its TTL only with --force; a run whose lock is broken mid-upgrade stops acting
// (lock.lost, exit 4) while a second run finishes, and a sampler independent of kubeswap sees etcd answer
// throughout and never two replacements at once.
import assert from 'node:assert/strict';
import * as k8s from '@kubernetes/client-node';
import {
  ClusterSampler,
  clusterTruth,
  codes,
  describeRun,
  essentials,
  type KubeswapRun,
  kubeswap,
  useSandbox,
} from './harness.ts';

describe('scenario: the run lock', function () {
  this.timeout(10 * 60_000);
  const sandbox = useSandbox({ controlPlanes: 1 });
  let coord: k8s.CoordinationV1Api;
  before(() => {
    const sb = sandbox();
    const kc = new k8s.KubeConfig();
    kc.loadFromFile(sb.kubeconfig);
    coord = kc.makeApiClient(k8s.CoordinationV1Api);
  });

  it('refuses to run while another run on another host holds the lock, changing nothing', async () => {
    const sb = sandbox();
    const now = new k8s.V1MicroTime();
    await coord.createNamespacedLease({
      namespace: 'kube-system',
      body: {
        metadata: { name: 'kubeswap-lock' },
        spec: {
          holderIdentity: '20261122t000000-abcdef@ci-runner-7#4242',
          leaseDurationSeconds: 600,
          acquireTime: now,
          renewTime: now,
        },
      },
    });
    const before = await clusterTruth(sb);
    const run = await kubeswap(sb, ['apply', '--to', sb.versions.to, '--yes']);
    assert.equal(run.exitCode, 2, describeRun(run));
    assert.match(run.stdout, /lock\.held/);
    assert.match(run.stdout, /ci-runner-7/);
    assert.deepEqual(essentials(await clusterTruth(sb)), essentials(before));
    assert.equal(before.kubernetesVersion, (await clusterTruth(sb)).kubernetesVersion);
  });

  it('shows the holder; unlock refuses a lock renewed within its TTL, and breaks it with --force', async () => {
    const sb = sandbox();
    const status = await kubeswap(sb, ['status']);
    assert.equal(status.exitCode, 0, describeRun(status));
    assert.match(status.stdout, /ci-runner-7/);
    const refused = await kubeswap(sb, ['unlock']);
    assert.equal(refused.exitCode, 2, describeRun(refused));
    assert.match(refused.stdout, /held by .*ci-runner-7.*last renewed/);
    assert.match(refused.stderr, /renewed within its TTL.*\n.*unlock --force/);
    let lease = await coord.readNamespacedLease({ name: 'kubeswap-lock', namespace: 'kube-system' });
    assert.match(lease.spec?.holderIdentity ?? '', /ci-runner-7/, 'left alone');
    const unlock = await kubeswap(sb, ['unlock', '--force']);
    assert.equal(unlock.exitCode, 0, describeRun(unlock));
    lease = await coord.readNamespacedLease({ name: 'kubeswap-lock', namespace: 'kube-system' });
    assert.equal(lease.spec?.holderIdentity, undefined);
  });

  it('a run whose lock is broken mid-upgrade stops acting (exit 4); a second run finishes; etcd answers throughout', async () => {
    const sb = sandbox();
    const sampler = new ClusterSampler(sb).start();
    const args = ['apply', '--to', sb.versions.to, '--yes', '--gate-passes', '2'];
    let second: Promise<{ unlock: KubeswapRun; run: KubeswapRun }> | undefined;
    // Right after the first run launched the replacement: someone breaks its lock and starts a second run.
    const first = await kubeswap(sb, args, {
      onEvent: (e) => {
        if (second || e.code !== 'replacement.created') return;
        second = (async () => {
          const unlock = await kubeswap(sb, ['unlock', '--force']);
          return { unlock, run: await kubeswap(sb, args) };
        })();
      },
    });
    assert.ok(second, describeRun(first));
    const { unlock, run } = await second;
    await sampler.stop();
    console.log(
      `      ${sampler.samples} samples: at most ${sampler.maxInstances} instances, at least ${sampler.minVoters} voters, ` +
        `${sampler.failures} unanswered (at most ${sampler.longestOutage} in a row)`,
    );
    assert.equal(unlock.exitCode, 0, describeRun(unlock));
    assert.equal(first.exitCode, 4, describeRun(first));
    assert.ok(codes(first).includes('lock.lost'), describeRun(first));
    assert.equal(first.events.find((e) => e.code === 'run.failed')?.data?.['error'], 'lock.lost');
    assert.equal(run.exitCode, 0, describeRun(run));
    assert.ok(codes(run).includes('run.resumed'), 'the second run continues the same swap');
    const after = await clusterTruth(sb);
    assert.equal(after.kubernetesVersion, sb.versions.to);
    assert.deepEqual(
      after.members.map((m) => [m.isLearner, m.name !== '']),
      [[false, true]],
    );
    assert.ok(after.nodes.length === 1 && after.nodes[0]!.version === sb.versions.to, JSON.stringify(after.nodes));
    assert.equal(after.running.length, 1);
    assert.ok(sampler.samples > 20, `the sampler ran (${sampler.samples} samples)`);
    assert.ok(sampler.maxInstances <= 2, 'never a second replacement beside the first');
    assert.ok(sampler.minVoters >= 1, 'etcd kept a voting member');
    assert.ok(sampler.longestOutage <= 4, 'etcd never stopped answering for more than a second');
  });
});
