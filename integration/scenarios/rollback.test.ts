// (f) a replacement that never boots is rolled back: exit 3, cluster exactly as before.
// (g) a join that dies after adding its etcd member: the learner is removed, exit 3.
// Both leave the cluster as it was, so they share one sandbox; a final run then completes, after "an hour":
// AWS no longer lists the torn-down replacements but still holds their ClientTokens (the sandbox's AWS front
// emulates both, integration/AWS-EMULATION.md), so the re-run must launch under a new token, not an old one.
import assert from 'node:assert/strict';
import { clusterTruth, codes, describeRun, essentials, kubeswap, useSandbox } from './harness.ts';

describe('scenario: failed replacements are rolled back', function () {
  this.timeout(20 * 60_000);
  const sandbox = useSandbox({ controlPlanes: 3 });

  const apply = () =>
    kubeswap(sandbox(), [
      'apply',
      '--to',
      sandbox().versions.to,
      '--yes',
      '--gate-passes',
      '2',
      '--machine-timeout',
      '45s',
    ]);

  it('(f) tears down a replacement that never boots and exits 3', async () => {
    const sb = sandbox();
    const before = await clusterTruth(sb);
    await sb.fault({ kind: 'never-boot', next: true });
    const run = await apply();
    assert.equal(run.exitCode, 3, describeRun(run));
    assert.ok(codes(run).includes('replacement.rolled-back'));
    const after = await clusterTruth(sb);
    assert.deepEqual(essentials(after), essentials(before));
    const created = run.events.find((e) => e.code === 'replacement.created')!.data!['replacement'] as string;
    assert.ok(after.terminated.includes(created), 'the replacement instance is terminated');
  });

  it('(g) removes the learner a dying join left behind and exits 3', async () => {
    const sb = sandbox();
    const before = await clusterTruth(sb);
    await sb.fault({ kind: 'die-after-member-add', next: true });
    const run = await apply();
    assert.equal(run.exitCode, 3, describeRun(run));
    const rolledBack = run.events.find((e) => e.code === 'replacement.rolled-back')!;
    assert.equal((rolledBack.data!['removedMembers'] as string[]).length, 1, 'the leaked learner was removed');
    const after = await clusterTruth(sb);
    assert.deepEqual(essentials(after), essentials(before));
    assert.ok(after.members.every((m) => !m.isLearner));
  });

  it('completes on a re-run once the fault is gone, an hour later, with a new ClientToken', async () => {
    const sb = sandbox();
    assert.ok((await sb.awsForgetTerminated()) >= 2, 'the two torn-down replacements are no longer listed');
    const run = await apply();
    assert.equal(run.exitCode, 0, describeRun(run));
    assert.ok(
      run.events.some((e) => e.data?.['reason'] === 'replacement.token-reused'),
      'the first attempt tokens were seen as used',
    );
    const after = await clusterTruth(sb);
    assert.equal(after.members.length, 3);
    assert.ok(after.nodes.every((n) => n.version === sb.versions.to));
  });
});
