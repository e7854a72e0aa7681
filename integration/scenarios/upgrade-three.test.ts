// (a) 3 machines FROM -> TO: every machine replaced, old instances terminated, old Nodes gone, 3 healthy
// voting members, kubeadm-config at TO; an API probe through the load balancer runs the whole time.
import assert from 'node:assert/strict';
import { ApiProbe, assertUpgraded, clusterTruth, codes, describeRun, kubeswap, useSandbox } from './harness.ts';

describe('scenario: 3-machine upgrade FROM -> TO', function () {
  this.timeout(20 * 60_000);
  const sandbox = useSandbox({ controlPlanes: 3 });

  it('plans every machine, oldest first, and exits 0', async () => {
    const sb = sandbox();
    const run = await kubeswap(sb, ['plan', '--to', sb.versions.to]);
    assert.equal(run.exitCode, 0, describeRun(run));
    const report = JSON.parse(run.stdout.trim().split('\n').at(-1)!);
    assert.deepEqual(
      report.machines.map((m: { node: string }) => m.node),
      sb.machines.map((m) => m.node),
    );
    const detailed = await kubeswap(sb, ['plan', '--to', sb.versions.to, '--detailed-exitcode']);
    assert.equal(detailed.exitCode, 5, `changes pending: ${describeRun(detailed)}`);
  });

  it('replaces all three machines while the API stays up', async () => {
    const sb = sandbox();
    const before = await clusterTruth(sb);
    const probe = new ApiProbe(sb).start();
    const run = await kubeswap(sb, ['apply', '--to', sb.versions.to, '--yes', '--gate-passes', '2']);
    const api = await probe.stop();
    const after = await assertUpgraded(sb, before, run, api);
    // kubeswap's own availability figures (issue 13 §2) against the independent probe run beside it.
    const own = run.events.find((e) => e.code === 'availability.run')?.data ?? {};
    const perSwap = run.events.filter((e) => e.code === 'availability.swap');
    console.log(
      `      kubeswap measured: ${own['requests']} requests, ${own['failed']} failed, longest gap ${own['longestGapMs']} ms, p95 ${own['p95Ms']} ms`,
    );
    assert.equal(perSwap.length, 3, describeRun(run));
    assert.ok(Number(own['requests']) > 0, describeRun(run));
    assert.equal(Number(own['failed']) > 0, api.failures.length > 0, 'both probes see failures, or neither');
    assert.ok(
      Math.abs(Number(own['longestGapMs']) - api.longestGapMs) < 1500,
      `longest gaps agree: kubeswap ${own['longestGapMs']} ms, independent ${api.longestGapMs} ms`,
    );
    const oldNames = new Set(before.nodes.map((n) => n.name));
    assert.ok(
      after.nodes.every((n) => !oldNames.has(n.name)),
      'old Nodes deleted',
    );
    assert.ok(after.running.every((i) => i.image === sb.aws.images[sb.versions.to]));
  });

  it('finds nothing to do on a second run', async () => {
    const sb = sandbox();
    const run = await kubeswap(sb, ['apply', '--to', sb.versions.to, '--yes']);
    assert.equal(run.exitCode, 0, describeRun(run));
    assert.ok(codes(run).includes('run.nothing-to-do'));
    const detailed = await kubeswap(sb, ['plan', '--to', sb.versions.to, '--detailed-exitcode']);
    assert.equal(detailed.exitCode, 0, `nothing to do: ${describeRun(detailed)}`);
  });
});
