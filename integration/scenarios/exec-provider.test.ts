// The exec provider end to end: kubeswap drives the sandbox's moto through a user's command
// (exec-provider/moto-machines.py, boto3), which launches, lists and terminates the EC2 instances the
// machine simulator boots, and keeps the API target group that the sandbox load balancer follows.
// 3 machines FROM -> TO: all replaced, old ones terminated, 3 voting members, the API up throughout.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse, stringify } from 'yaml';
import { ApiProbe, assertUpgraded, clusterTruth, kubeswap, useSandbox } from './harness.ts';

const COMMAND = join(dirname(fileURLToPath(import.meta.url)), 'exec-provider', 'moto-machines.py');
// The interpreter itself, not a pyenv shim: the sandbox's env file sets PATH to a value ending in a
// literal `$PATH`, where neither `env python3` nor a shim finds anything.
const PYTHON = execFileSync('python3', ['-c', 'import sys; print(sys.executable)'], { encoding: 'utf8' }).trim();

describe('scenario: 3-machine upgrade through the exec provider', function () {
  this.timeout(20 * 60_000);
  const sandbox = useSandbox({ controlPlanes: 3 });

  it('replaces all three machines with the user command while the API stays up', async () => {
    const sb = sandbox();
    // The sandbox's own config, with its aws-ec2 provider section swapped for the user's command.
    const config = parse(readFileSync(join(sb.stateDir, 'kubeswap.yaml'), 'utf8')) as Record<string, unknown>;
    config['provider'] = {
      name: 'exec',
      command: [
        PYTHON,
        COMMAND,
        '--cluster',
        sb.clusterName,
        '--launch-template',
        sb.aws.launchTemplateId,
        '--target-group',
        sb.aws.targetGroupArn,
      ],
      timeout: '2m',
      loadBalancer: true,
    };
    const configFile = join(sb.stateDir, 'kubeswap-exec.yaml');
    writeFileSync(configFile, stringify(config));

    const before = await clusterTruth(sb);
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
    ]);
    const api = await probe.stop();
    const after = await assertUpgraded(sb, before, run, api);
    assert.equal(after.running.length, 3);
    assert.ok(after.running.every((i) => i.image === sb.aws.images[sb.versions.to]));
    assert.equal(api.failures.length, 0, `API probe failures: ${api.failures.slice(0, 5).join('; ')}`);
  });
});
