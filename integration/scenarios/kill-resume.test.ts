// (e) kill -9 at each step boundary in turn (right after a step starts and right after it finished),
// re-running after every kill; then run to completion. After every kill: quorum intact, at most one
// replacement in flight, and never a duplicate replacement.
import assert from 'node:assert/strict';
import type { KubeswapEvent } from '../../src/domain/events.ts';
import { clusterTruth, describeRun, kubeswap, useSandbox } from './harness.ts';

/** Where to kill, in the order a swap passes them: [event code, step kind for plan.step]. */
const BOUNDARIES: Array<[KubeswapEvent['code'], string?]> = [
  ['plan.step', 'create-replacement'],
  ['replacement.created'],
  ['plan.step', 'register-target'],
  ['target.registered'],
  // The Node drains while the target drains (one step, issue 15): killed as the drain starts, then once the
  // target is out (the drain may still be running: the re-run finishes it as a step of its own).
  ['plan.step', 'deregister-target'],
  ['node.drain-started'],
  ['target.deregistered'],
  ['plan.step', 'remove-member'],
  ['etcd.member-removed'],
  ['plan.step', 'terminate'],
  // Started in the background (issue 15): the re-run waits for the machine to be gone before deleting its Node.
  ['machine.terminating'],
  ['plan.step', 'delete-node'],
  ['node.deleted'],
];

describe('scenario: kill -9 at every step boundary, then resume', function () {
  this.timeout(40 * 60_000);
  const sandbox = useSandbox({ controlPlanes: 3 });

  const apply = (killAfter?: (e: KubeswapEvent) => boolean) =>
    kubeswap(sandbox(), ['apply', '--to', sandbox().versions.to, '--yes', '--gate-passes', '2'], { killAfter });

  /** The control-plane Nodes before the first kill: the swaps the report must show. */
  let original: string[] | undefined;
  for (const [code, step] of BOUNDARIES) {
    it(`survives a kill right after ${code}${step ? ` (${step})` : ''}`, async () => {
      const sb = sandbox();
      original ??= (await clusterTruth(sb)).nodes.map((n) => n.name);
      const run = await apply((e) => e.code === code && (!step || e.data?.['step'] === step));
      assert.equal(run.signal, 'SIGKILL', `the run reached ${code}: ${describeRun(run)}`);
      const t = await clusterTruth(sb);
      const voters = t.members.filter((m) => !m.isLearner && m.name);
      assert.ok(voters.length >= 3, `at least 3 started voters: ${t.members.map((m) => m.name).join(',')}`);
      const extra = t.running.length - 3;
      assert.ok(extra <= 1, `at most one replacement in flight (${t.running.length} running)`);
    });
  }

  it('completes on the final re-run with no duplicate replacements', async () => {
    const sb = sandbox();
    const before = await clusterTruth(sb);
    const run = await apply();
    assert.equal(run.exitCode, 0, describeRun(run));
    const after = await clusterTruth(sb);
    assert.equal(after.members.length, 3);
    assert.ok(after.nodes.every((n) => n.ready && n.version === sb.versions.to));
    assert.equal(after.running.length, 3);
    // 3 original + 3 replacements in all: a resumed run found its replacement instead of launching another.
    assert.equal(
      after.running.length + after.terminated.length,
      6,
      `instances: ${JSON.stringify(after.running)} ${after.terminated}`,
    );
    void before;
    // The report of the whole run, its processes killed at every boundary included, from what they kept in the cluster.
    const report = await kubeswap(sb, ['report', '--output', 'text']);
    assert.equal(report.exitCode, 0, describeRun(report));
    assert.match(report.stdout, /Result: success/);
    const sections = report.stdout.split('\n').filter((l) => l.trim().startsWith('section '));
    assert.equal(original?.length, 3);
    for (const node of original!)
      assert.equal(sections.filter((s) => s.trim() === `section ${node}`).length, 1, `${node}: ${sections}`);
    assert.equal(sections.length, 3, sections.join('\n'));
    assert.equal(report.stdout.match(/\| 1 \| replaced in /g)?.length, 3, report.stdout);
  });
});
