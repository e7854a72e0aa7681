// (k) --max-surge 0 on 3 machines: each old machine leaves (API target, drain, etcd member, VM,
// Node) before its replacement is created. A sampler watching moto and etcd independently of
// kubeswap records the most instances ever running and the fewest etcd members ever present.
import assert from 'node:assert/strict';
import { ApiProbe, ClusterSampler, clusterTruth, codes, describeRun, kubeswap, useSandbox } from './harness.ts';

describe('scenario: --max-surge 0 (remove first) on 3 machines', function () {
  this.timeout(20 * 60_000);
  const sandbox = useSandbox({ controlPlanes: 3 });

  it('plans the first machine to be removed before its replacement', async () => {
    const sb = sandbox();
    const run = await kubeswap(sb, ['plan', '--to', sb.versions.to, '--max-surge', '0']);
    assert.equal(run.exitCode, 0, describeRun(run));
    const report = JSON.parse(run.stdout.trim().split('\n').at(-1)!);
    assert.equal(report.next.step?.kind, 'begin-retirement', JSON.stringify(report.next));
  });

  it('replaces every machine without ever running a 4th instance, keeping at least 2 voters, across a kill -9', async () => {
    const sb = sandbox();
    const before = await clusterTruth(sb);
    const sampler = new ClusterSampler(sb).start();
    const probe = new ApiProbe(sb).start();
    const args = ['apply', '--to', sb.versions.to, '--yes', '--max-surge', '0', '--gate-passes', '2'];
    // Killed at the most exposed moment: the first old machine is gone, its replacement not yet created.
    const killed = await kubeswap(sb, args, { killAfter: (e) => e.code === 'machine.terminated' });
    assert.equal(killed.signal, 'SIGKILL', describeRun(killed));
    const status = await kubeswap(sb, ['status']);
    const recorded = JSON.parse(status.stdout.trim().split('\n').at(-1)!);
    assert.equal(
      recorded.retiring?.machine?.id,
      before.running[0]!.id,
      'the retiring record names the removed machine',
    );
    const run = await kubeswap(sb, args);
    const api = await probe.stop();
    await sampler.stop();
    console.log(
      `      API probe: ${api.requests} requests, ${api.failures.length} failed, longest gap ${api.longestGapMs} ms; ` +
        `${sampler.samples} samples: at most ${sampler.maxInstances} instances, at least ${sampler.minVoters} voters`,
    );
    assert.equal(run.exitCode, 0, describeRun(run));
    assert.ok(codes(run).includes('run.resumed'));
    assert.equal(codes(run).filter((c) => c === 'swap.finished').length, 3);
    assert.ok(sampler.samples > 20, `the sampler ran (${sampler.samples} samples)`);
    assert.equal(sampler.maxInstances, 3, 'never more than 3 instances running or pending');
    assert.equal(sampler.minVoters, 2, 'one member short during each swap, never fewer');

    const after = await clusterTruth(sb);
    assert.equal(after.kubernetesVersion, sb.versions.to);
    assert.equal(after.members.length, 3);
    assert.ok(after.members.every((m) => !m.isLearner && m.name));
    assert.equal(after.nodes.length, 3);
    assert.ok(after.nodes.every((n) => n.ready && n.version === sb.versions.to));
    assert.equal(after.running.length, 3, 'no duplicate replacement');
    for (const old of before.running) assert.ok(after.terminated.includes(old.id), `${old.id} terminated`);
    // Each replacement was launched after the machine it replaces had terminated.
    const events = [...killed.events, ...run.events];
    for (const old of before.running) {
      const terminated = events.findIndex((e) => e.code === 'machine.terminated' && e.message.includes(old.id));
      const created = events.findIndex(
        (e) => e.code === 'plan.step' && e.data?.['step'] === 'create-replacement' && e.message.includes(old.id),
      );
      assert.ok(terminated >= 0 && terminated < created, `${old.id} terminated before its replacement was created`);
    }
    const final = JSON.parse((await kubeswap(sb, ['status'])).stdout.trim().split('\n').at(-1)!);
    assert.equal(final.retiring, null, 'the retiring record is gone');
  });
});
