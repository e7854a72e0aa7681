// (c) a 1-machine control plane: 1 -> 2 -> 1 members, never fewer than one. First, on the same cluster, the
// package as users get it: `npm pack`, installed with `npm install -g` into a temp prefix, plans against it.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { REPO_ROOT } from '../sandbox/index.ts';
import { clusterTruth, describeRun, essentials, kubeswap, sandboxEnv, useSandbox } from './harness.ts';

const run = promisify(execFile);

describe('scenario: single control-plane machine', function () {
  this.timeout(15 * 60_000);
  const sandbox = useSandbox({ controlPlanes: 1 });

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
