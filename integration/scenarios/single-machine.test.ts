// (c) a 1-machine control plane: 1 -> 2 -> 1 members, never fewer than one.
import assert from 'node:assert/strict';
import { clusterTruth, describeRun, essentials, kubeswap, useSandbox } from './harness.ts';

describe('scenario: single control-plane machine', function () {
  this.timeout(15 * 60_000);
  const sandbox = useSandbox({ controlPlanes: 1 });

  it('refuses --max-surge 0, which would remove the only member, exit 2 and nothing changed', async () => {
    const sb = sandbox();
    const before = await clusterTruth(sb);
    const run = await kubeswap(sb, ['apply', '--to', sb.versions.to, '--yes', '--max-surge', '0']);
    assert.equal(run.exitCode, 2, describeRun(run));
    assert.match(run.stderr + run.stdout, /needs at least 3 etcd members/);
    assert.deepEqual(essentials(await clusterTruth(sb)), essentials(before));
  });

  it('replaces the only machine through a second member', async () => {
    const sb = sandbox();
    const before = await clusterTruth(sb);
    const run = await kubeswap(sb, ['apply', '--to', sb.versions.to, '--yes', '--gate-passes', '2']);
    assert.equal(run.exitCode, 0, describeRun(run));
    const after = await clusterTruth(sb);
    assert.equal(after.members.length, 1);
    assert.notEqual(after.members[0]!.id, before.members[0]!.id);
    assert.equal(after.nodes.length, 1);
    assert.equal(after.nodes[0]!.version, sb.versions.to);
    assert.ok(after.terminated.includes(before.running[0]!.id));
  });
});
