// (d) 5 machines, with the etcd leader on the first machine to be replaced: leadership is moved off it.
import assert from 'node:assert/strict';
import { clusterTruth, codes, describeRun, kubeswap, sandboxEtcd, useSandbox } from './harness.ts';

describe('scenario: 5 machines, leader on the first one replaced', function () {
  this.timeout(30 * 60_000);
  const sandbox = useSandbox({ controlPlanes: 5 });

  it('moves leadership off the first machine, then replaces all five', async () => {
    const sb = sandbox();
    const plan = await kubeswap(sb, ['plan', '--to', sb.versions.to]);
    const first = JSON.parse(plan.stdout.trim().split('\n').at(-1)!).machines[0].node as string;
    const etcd = sandboxEtcd(sb);
    try {
      const target = (await etcd.memberList()).find((m) => m.name === first)!;
      await etcd.moveLeader(target.id);
    } finally {
      etcd.close();
    }
    const run = await kubeswap(sb, ['apply', '--to', sb.versions.to, '--yes', '--gate-passes', '2']);
    assert.equal(run.exitCode, 0, describeRun(run));
    const moved = run.events.filter((e) => e.code === 'etcd.leader-moved');
    assert.ok(
      moved.some((e) => e.machine === first),
      `leadership moved off ${first}: ${codes(run).join(',')}`,
    );
    assert.ok(moved.findIndex((e) => e.machine === first) >= 0);
    const after = await clusterTruth(sb);
    assert.equal(after.members.length, 5);
    assert.ok(after.members.every((m) => !m.isLearner && m.name));
    assert.ok(after.nodes.every((n) => n.ready && n.version === sb.versions.to));
  });
});
