// The exec provider end to end: kubeswap drives the sandbox's moto through a user's command
// (exec-provider/moto-machines.py, boto3), which launches, lists and terminates the EC2 instances the
// machine simulator boots, and keeps the API target group that the sandbox load balancer follows.
// 3 machines FROM -> TO: all replaced, old ones terminated, 3 voting members, the API up throughout. Then the worker
// pool `blue` (2 workers, tagged kubeswap-sandbox/pool=blue) follows with --workers-only: the command gets the pool's
// name in `list` and `create`, answers only that pool's machines and launches worker replacements.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as k8s from '@kubernetes/client-node';
import { parse, stringify } from 'yaml';
import type { Sandbox } from '../sandbox/index.ts';
import { POOL_TAG } from '../sandbox/workers.ts';
import { ApiProbe, assertUpgraded, clusterTruth, describeRun, kubeswap, sandboxEnv, useSandbox } from './harness.ts';

const COMMAND = join(dirname(fileURLToPath(import.meta.url)), 'exec-provider', 'moto-machines.py');
// The interpreter itself, not a pyenv shim: the sandbox's env file sets PATH to a value ending in a
// literal `$PATH`, where neither `env python3` nor a shim finds anything.
const PYTHON = execFileSync('python3', ['-c', 'import sys; print(sys.executable)'], { encoding: 'utf8' }).trim();

describe('scenario: 3-machine upgrade through the exec provider', function () {
  this.timeout(20 * 60_000);
  const sandbox = useSandbox({ controlPlanes: 3, workerPools: { blue: 2 } });

  /** The user's command: moto-machines.py over the sandbox's AWS, with the worker pool option. */
  const commandOf = (sb: Sandbox) => [
    PYTHON,
    COMMAND,
    '--cluster',
    sb.clusterName,
    '--launch-template',
    sb.aws.launchTemplateId,
    '--target-group',
    sb.aws.targetGroupArn,
    '--pool-tag',
    POOL_TAG,
    '--worker-launch-template',
    sb.aws.workerLaunchTemplateId!,
  ];

  /** The sandbox's own config, its aws-ec2 provider section swapped for the user's command (and the worker pool). */
  function execConfig(sb: Sandbox): string {
    const config = parse(readFileSync(join(sb.stateDir, 'kubeswap.yaml'), 'utf8')) as Record<string, unknown>;
    config['provider'] = {
      name: 'exec',
      command: commandOf(sb),
      timeout: '2m',
      loadBalancer: true,
    };
    // With exec the selector is the command's business (here --pool-tag); the config names it for people.
    config['workerPools'] = [{ name: 'blue', tag: `${POOL_TAG}=blue`, maxSurge: 1, maxUnavailable: 0 }];
    const configFile = join(sb.stateDir, 'kubeswap-exec.yaml');
    writeFileSync(configFile, stringify(config));
    return configFile;
  }

  it('replaces all three machines with the user command while the API stays up', async () => {
    const sb = sandbox();
    const configFile = execConfig(sb);
    const truth = await clusterTruth(sb);
    // The control plane's machines (the workers follow in the next case).
    const before = {
      ...truth,
      running: truth.running.filter((i) => truth.nodes.some((n) => n.providerId?.endsWith(i.id))),
    };
    const probe = new ApiProbe(sb).start();
    const run = await kubeswap(sb, [
      'apply',
      '--config',
      configFile,
      '--to',
      sb.versions.to,
      '--yes',
      '--gate-passes',
      '2',
      '--control-plane-only',
    ]);
    const api = await probe.stop();
    const after = await assertUpgraded(sb, before, run, api);
    const cps = after.running.filter((i) => after.nodes.some((n) => n.providerId?.endsWith(i.id)));
    assert.equal(cps.length, 3);
    assert.ok(cps.every((i) => i.image === sb.aws.images[sb.versions.to]));
    assert.equal(after.running.length, 3 + 2, 'the workers untouched by --control-plane-only');
    assert.equal(api.failures.length, 0, `API probe failures: ${api.failures.slice(0, 5).join('; ')}`);
  });

  it('then rolls the worker pool through the same command (--workers-only): worker replacements, pool by pool', async () => {
    const sb = sandbox();
    const kc = new k8s.KubeConfig();
    kc.loadFromFile(sb.kubeconfig);
    const core = kc.makeApiClient(k8s.CoreV1Api);
    const workers = async () =>
      (await core.listNode()).items
        .filter((n) => !('node-role.kubernetes.io/control-plane' in (n.metadata?.labels ?? {})))
        .map((n) => ({
          name: n.metadata!.name!,
          id: n.spec?.providerID?.split('/').pop() ?? '',
          version: n.status?.nodeInfo?.kubeletVersion,
          ready: n.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false,
        }));
    const old = await workers();
    assert.equal(old.length, 2);
    const before = await clusterTruth(sb);
    const run = await kubeswap(sb, [
      'apply',
      '--config',
      execConfig(sb),
      '--to',
      sb.versions.to,
      '--workers-only',
      '--yes',
      '--gate-passes',
      '1',
    ]);
    assert.equal(run.exitCode, 0, describeRun(run));
    assert.equal(run.events.filter((e) => e.code === 'swap.finished').length, 2, describeRun(run));
    const after = await clusterTruth(sb);
    assert.deepEqual(
      after.nodes.map((n) => n.providerId),
      before.nodes.map((n) => n.providerId),
      'the control plane is untouched',
    );
    for (const w of old) assert.ok(after.terminated.includes(w.id), `old worker ${w.id} terminated`);
    const now = await workers();
    assert.equal(now.length, 2, JSON.stringify(now));
    assert.ok(
      now.every((w) => w.ready && w.version === sb.versions.to && !old.some((o) => o.id === w.id)),
      JSON.stringify(now),
    );
    // The command tagged its replacements into the pool, so a re-run lists them as blue's.
    const listed = JSON.parse(
      execFileSync(PYTHON, [...commandOf(sb).slice(1), 'list'], {
        input: JSON.stringify({ protocol: 1, verb: 'list', pool: 'blue', providerIds: [] }),
        env: { ...process.env, ...sandboxEnv(sb), PATH: process.env['PATH'] ?? '' },
        encoding: 'utf8',
      }),
    ) as { machines: { id: string }[] };
    assert.deepEqual(listed.machines.map((m) => m.id).sort(), now.map((w) => w.id).sort());
  });
});
