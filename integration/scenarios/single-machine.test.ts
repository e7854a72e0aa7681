// (c) a 1-machine control plane: 1 -> 2 -> 1 members, never fewer than one. First, on the same cluster, the
// package as users get it: `npm pack`, installed with `npm install -g` into a temp prefix, plans against it.
// The swap is interrupted once (SIGINT) inside the old API target's deregistration delay, as a CI cancel would.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { DescribeTargetHealthCommand, ElasticLoadBalancingV2Client } from '@aws-sdk/client-elastic-load-balancing-v2';
import * as k8s from '@kubernetes/client-node';
import { REPO_ROOT } from '../sandbox/index.ts';
import { AWS_TEST_CREDENTIALS } from '../sandbox/state.ts';
import {
  clusterTruth,
  codes,
  describeRun,
  essentials,
  kubeswap,
  sandboxEnv,
  sandboxKube,
  useSandbox,
} from './harness.ts';

const run = promisify(execFile);

const DELAY_SECONDS = 60;

describe('scenario: single control-plane machine', function () {
  this.timeout(15 * 60_000);
  // ELBv2's draining emulated for a delay long enough that a run sleeping through it would outlast a CI cancel's
  // SIGTERM (7.5 s after its SIGINT) many times over; the re-run waits out what is left of it (about a minute).
  const sandbox = useSandbox({ controlPlanes: 1, targetDraining: true, deregistrationDelaySeconds: DELAY_SECONDS });

  it('npm pack, npm install -g: the installed kubeswap answers --version and plans against the cluster', async () => {
    const sb = sandbox();
    const dir = mkdtempSync(join(tmpdir(), 'kubeswap-pack-'));
    // The Node running the tests (>= 22) first on PATH, for npm and for the installed bin's `#!/usr/bin/env node`.
    const env = { ...process.env, PATH: `${dirname(process.execPath)}:${process.env['PATH']}` };
    try {
      await run('npm', ['pack', '--pack-destination', dir, '--loglevel=error'], { cwd: REPO_ROOT, env });
      const tarball = readdirSync(dir).find((f) => f.endsWith('.tgz'))!;
      const prefix = join(dir, 'prefix');
      await run(
        'npm',
        ['install', '-g', '--prefix', prefix, join(dir, tarball), '--no-audit', '--no-fund', '--loglevel=error'],
        { env, timeout: 5 * 60_000 },
      );
      const bin = join(prefix, 'bin', 'kubeswap');
      const version = await run(bin, ['--version'], { env });
      assert.match(version.stdout.trim(), /^\d+\.\d+\.\d+$/);
      const plan = await run(
        bin,
        ['plan', '--config', join(sb.stateDir, 'kubeswap.yaml'), '--to', sb.versions.to, '--output', 'json'],
        { env: { ...env, ...sandboxEnv(sb), PATH: env.PATH }, timeout: 120_000 },
      ).catch((err: { code?: number; stdout?: string; stderr?: string }) => err);
      assert.equal('code' in plan ? plan.code : 0, 0, `${plan.stdout}\n${plan.stderr}`);
      const report = JSON.parse(plan.stdout!.trim().split('\n').at(-1)!);
      assert.deepEqual(
        report.machines.map((m: { node: string }) => m.node),
        sb.machines.map((m) => m.node),
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses --max-surge 0, which would remove the only member, exit 2 and nothing changed', async () => {
    const sb = sandbox();
    const before = await clusterTruth(sb);
    const run = await kubeswap(sb, ['apply', '--to', sb.versions.to, '--yes', '--max-surge', '0']);
    assert.equal(run.exitCode, 2, describeRun(run));
    assert.match(run.stderr + run.stdout, /needs at least 3 etcd members/);
    assert.deepEqual(essentials(await clusterTruth(sb)), essentials(before));
  });

  it('replaces the only machine through a second member; Ctrl-C in the deregistration delay exits 130 at once, lock released, and the re-run finishes', async () => {
    const sb = sandbox();
    const before = await clusterTruth(sb);
    const args = ['apply', '--to', sb.versions.to, '--yes', '--gate-passes', '2'];
    const interrupted = await kubeswap(sb, args, {
      interruptAfter: {
        event: (e) => e.code === 'plan.step' && e.data?.['step'] === 'deregister-target',
        delayMs: 3000,
      },
    });
    assert.equal(interrupted.exitCode, 130, describeRun(interrupted));
    const tookMs = interrupted.endedAt! - interrupted.interruptedAt!;
    console.log(
      `      SIGINT inside the ${DELAY_SECONDS} s deregistration delay: exit ${interrupted.exitCode} after ${tookMs} ms`,
    );
    // Before the SIGTERM a CI cancel sends 7.5 s after its SIGINT (then SIGKILL): a clean end, not a killed one.
    assert.ok(tookMs < 7_500, `ended ${tookMs} ms after SIGINT: ${describeRun(interrupted)}`);
    assert.ok(!codes(interrupted).includes('target.deregistered'), describeRun(interrupted));
    // ELB's word, not kubeswap's: the old target was deregistered and drains on (the interrupt came inside the delay).
    const elb = new ElasticLoadBalancingV2Client({
      region: sb.aws.region,
      endpoint: sb.aws.endpoint,
      credentials: AWS_TEST_CREDENTIALS,
    });
    const health = await elb.send(
      new DescribeTargetHealthCommand({
        TargetGroupArn: sb.aws.targetGroupArn,
        Targets: [{ Id: before.running[0]!.id }],
      }),
    );
    elb.destroy();
    assert.equal(health.TargetHealthDescriptions?.[0]?.TargetHealth?.State, 'draining', describeRun(interrupted));
    assert.equal(interrupted.events.find((e) => e.code === 'run.failed')?.data?.['error'], 'run.interrupted');
    // The Lease itself, not kubeswap's word: released, not left for its TTL to run out.
    const coord = sandboxKube(sb).makeApiClient(k8s.CoordinationV1Api);
    const lease = await coord.readNamespacedLease({ name: 'kubeswap-lock', namespace: 'kube-system' });
    assert.equal(lease.spec?.holderIdentity, undefined, 'the lock is free');

    // The re-run finds the old target still draining, waits for its end, and finishes the swap.
    const run = await kubeswap(sb, args);
    assert.equal(run.exitCode, 0, describeRun(run));
    assert.ok(codes(run).includes('run.resumed'), describeRun(run));
    assert.ok(codes(run).includes('target.deregistered'), describeRun(run));
    const after = await clusterTruth(sb);
    assert.equal(after.members.length, 1);
    assert.notEqual(after.members[0]!.id, before.members[0]!.id);
    assert.equal(after.nodes.length, 1);
    assert.equal(after.nodes[0]!.version, sb.versions.to);
    assert.ok(after.terminated.includes(before.running[0]!.id));
  });
});
