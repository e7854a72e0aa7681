// Render mode on the sandbox (issue 4): a wrong CA pin makes the replacement fail its join -> rollback,
// exit 3, no token left; a run killed while its replacement boots is re-run to completion, that replacement
// joining with the credentials the killed run gave it, and no live token is left; the re-run completes the
// 3-machine FROM -> TO upgrade with kubeswap-rendered joins kept in Parameter Store (`--bootstrap-secrets ssm`),
// none left behind. That re-run is remove-first (--max-surge 0), comes after the rollback, and its first launch loses
// its RunInstances response: the SDK's retry under the same ClientToken must get the same instance (issue 9 §3).
// Throughout, no secret appears in any output.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DescribeInstanceAttributeCommand, DescribeInstancesCommand } from '@aws-sdk/client-ec2';
import { GetParametersByPathCommand, SSMClient } from '@aws-sdk/client-ssm';
import * as k8s from '@kubernetes/client-node';
import { createEtcdPki } from '../fixtures/pki.ts';
import type { Sandbox } from '../sandbox/index.ts';
import { AWS_TEST_CREDENTIALS } from '../sandbox/state.ts';
import {
  clusterTruth,
  describeRun,
  essentials,
  type KubeswapRun,
  kubeswap,
  sandboxEc2,
  useSandbox,
} from './harness.ts';

describe('scenario: render mode', function () {
  this.timeout(25 * 60_000);
  const sandbox = useSandbox({ controlPlanes: 3 });
  let sb: Sandbox;
  let core: k8s.CoreV1Api;
  const runs: KubeswapRun[] = [];
  const secrets = new Set<string>();

  before(() => {
    sb = sandbox();
    const kc = new k8s.KubeConfig();
    kc.loadFromFile(sb.kubeconfig);
    core = kc.makeApiClient(k8s.CoreV1Api);
  });

  const render = (...extra: string[]) => [
    'apply',
    '--to',
    sb.versions.to,
    '--yes',
    '--gate-passes',
    '2',
    '--user-data',
    'render',
    ...extra,
  ];
  const withPki = () => ['--pki-dir', join(sb.stateDir, 'pki')];

  /** Bootstrap tokens kubeswap made that still exist (the join token, and the proxy token owning kubeadm-certs). */
  const liveTokens = async () =>
    (
      await core.listNamespacedSecret({
        namespace: 'kube-system',
        fieldSelector: 'type=bootstrap.kubernetes.io/token',
        labelSelector: 'kubeswap.io/run-id',
      })
    ).items;

  /** The token secrets and certificate keys in a text: what must never appear elsewhere. */
  const secretsIn = (text: string) => [
    ...[...text.matchAll(/\btoken: "?[a-z0-9]{6}\.([a-z0-9]{16})\b/g)].map((m) => m[1]!),
    // Only the certificate key: the CA pin (sha256:<64 hex>) is public and printed on purpose.
    ...[...text.matchAll(/\bcertificateKey: "?([0-9a-f]{64})\b/g)].map((m) => m[1]!),
  ];

  /** The user data of every replacement a run created. */
  const userDataOf = async (run: KubeswapRun) => {
    const ec2 = sandboxEc2(sb);
    try {
      const texts: string[] = [];
      for (const e of run.events.filter((x) => x.code === 'replacement.created')) {
        const out = await ec2.send(
          new DescribeInstanceAttributeCommand({ InstanceId: String(e.data!['replacement']), Attribute: 'userData' }),
        );
        texts.push(Buffer.from(out.UserData?.Value ?? '', 'base64').toString('utf8'));
      }
      return texts;
    } finally {
      ec2.destroy();
    }
  };

  const harvestSecrets = async (run: KubeswapRun) => {
    for (const text of await userDataOf(run)) for (const secret of secretsIn(text)) secrets.add(secret);
  };

  /** Bootstrap secrets kept in Parameter Store (`--bootstrap-secrets ssm`), decrypted. */
  const storedJoins = async () => {
    const ssm = new SSMClient({ region: sb.aws.region, endpoint: sb.aws.endpoint, credentials: AWS_TEST_CREDENTIALS });
    try {
      const out = await ssm.send(
        new GetParametersByPathCommand({ Path: '/kubeswap', Recursive: true, WithDecryption: true }),
      );
      return out.Parameters ?? [];
    } finally {
      ssm.destroy();
    }
  };

  it('rolls back a replacement whose join refuses a wrong CA pin, exit 3, no token left', async () => {
    const before = await clusterTruth(sb);
    const otherDir = mkdtempSync(join(tmpdir(), 'kubeswap-other-ca-'));
    const other = await createEtcdPki(otherDir);
    const run = await kubeswap(
      sb,
      render('--ca-cert', other.ca.cert, '--certificates', 'image', '--machine-timeout', '40s'),
    );
    rmSync(otherDir, { recursive: true, force: true });
    runs.push(run);
    assert.equal(run.exitCode, 3, describeRun(run));
    await harvestSecrets(run);
    assert.deepEqual(essentials(await clusterTruth(sb)), essentials(before));
    assert.deepEqual(await liveTokens(), []);
  });

  it('a re-run of a run killed while its replacement boots lets that replacement join, then leaves no token (remove-first, a lost RunInstances response)', async () => {
    // The replacement boots 20 s late, so it reads its user data and fetches the certificates after the re-run
    // has started: a re-run that sealed the certificates again under a new key at its start (as kubeswap did
    // before issuing credentials per replacement) left it unable to decrypt them, and it was rolled back.
    // The joins travel through Parameter Store (--bootstrap-secrets ssm): the user data only names them.
    const ssm = ['--bootstrap-secrets', 'ssm', '--max-surge', '0'];
    const started = new Date();
    await sb.fault({ kind: 'slow-boot', next: true, seconds: 20 });
    // AWS launches the first replacement but its answer is lost: the SDK retries with the same ClientToken.
    await sb.awsLoseRunInstancesResponses(1);
    const killed = await kubeswap(sb, render(...withPki(), ...ssm), {
      killAfter: (e) => e.code === 'replacement.created',
    });
    runs.push(killed);
    assert.equal(killed.signal, 'SIGKILL', describeRun(killed));
    const inFlight = String(killed.events.find((e) => e.code === 'replacement.created')!.data!['replacement']);
    assert.deepEqual(
      await sb.awsLoseRunInstancesResponses(0),
      [inFlight],
      'the launch whose answer was lost is the one used',
    );
    assert.ok((await liveTokens()).length >= 1, 'the killed run left its token');
    const stored = await storedJoins();
    assert.equal(stored.length, 1, 'the in-flight replacement has its join in Parameter Store');
    assert.equal(stored[0]!.Type, 'SecureString');
    const storedSecrets = secretsIn(stored[0]!.Value ?? '');
    assert.equal(storedSecrets.length, 2, 'the stored join holds the token and the certificate key');
    for (const secret of storedSecrets) secrets.add(secret);
    for (const text of await userDataOf(killed)) {
      assert.deepEqual(secretsIn(text), [], 'no secret in the user data');
      assert.match(text, /aws ssm get-parameter/);
    }
    const run = await kubeswap(sb, render(...withPki(), ...ssm, '--machine-timeout', '2m'));
    runs.push(run);
    assert.equal(run.exitCode, 0, describeRun(run));
    assert.deepEqual(
      run.events.filter((e) => e.code === 'replacement.rolled-back'),
      [],
      'the in-flight replacement joined',
    );
    for (const text of await userDataOf(run)) assert.deepEqual(secretsIn(text), [], 'no secret in the user data');
    assert.deepEqual(await storedJoins(), [], 'every stored join was deleted');
    assert.deepEqual(await liveTokens(), []);
    const certs = await core.listNamespacedSecret({
      namespace: 'kube-system',
      fieldSelector: 'metadata.name=kubeadm-certs',
    });
    assert.deepEqual(certs.items, [], 'the uploaded kubeadm-certs was deleted');
    const after = await clusterTruth(sb);
    assert.ok(
      after.running.some((i) => i.id === inFlight),
      `${inFlight}, created by the killed run, serves now`,
    );
    // As AWS sees it: every instance launched since this case began is a replacement kubeswap reported, once.
    const created = [killed, run].flatMap((r) =>
      r.events.filter((e) => e.code === 'replacement.created').map((e) => String(e.data!['replacement'])),
    );
    const ec2 = sandboxEc2(sb);
    try {
      const launched = ((await ec2.send(new DescribeInstancesCommand({}))).Reservations ?? [])
        .flatMap((r) => r.Instances ?? [])
        .filter((i) => i.LaunchTime && i.LaunchTime >= new Date(started.getTime() - 1000))
        .map((i) => i.InstanceId!);
      assert.deepEqual(launched.sort(), [...new Set(created)].sort(), 'no second instance for the lost response');
    } finally {
      ec2.destroy();
    }
    assert.equal(after.members.length, 3);
    assert.ok(after.nodes.every((n) => n.ready && n.version === sb.versions.to));
  });

  it('never prints a token secret or certificate key in output, events or the progress record', async () => {
    assert.ok(secrets.size >= 2, `found the secrets to look for (${secrets.size})`);
    const events = await core.listEventForAllNamespaces({});
    const progress = await core.readNamespacedConfigMap({ name: 'kubeswap-progress', namespace: 'kube-system' });
    const streams = [
      ...runs.flatMap((r) => [r.stdout, r.stderr]),
      JSON.stringify(events.items.map((e) => e.message)),
      JSON.stringify(progress.data),
    ].join('\n');
    for (const secret of secrets) assert.ok(!streams.includes(secret), 'a secret leaked into an output stream');
  });
});
