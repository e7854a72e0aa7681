// Render mode on the sandbox (issue 4): a wrong CA pin makes the replacement fail its join -> rollback,
// exit 3, no token left; a run killed while its replacement boots is re-run to completion, that replacement
// joining with the credentials the killed run gave it, and no live token is left; the re-run completes the
// 3-machine FROM -> TO upgrade with kubeswap-rendered joins. Throughout, no secret appears in any output.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DescribeInstanceAttributeCommand } from '@aws-sdk/client-ec2';
import * as k8s from '@kubernetes/client-node';
import { createEtcdPki } from '../fixtures/pki.ts';
import type { Sandbox } from '../sandbox/index.ts';
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

  /** Reads the secrets out of every replacement's user data: what must never appear elsewhere. */
  const harvestSecrets = async (run: KubeswapRun) => {
    const ec2 = sandboxEc2(sb);
    try {
      for (const e of run.events.filter((x) => x.code === 'replacement.created')) {
        const out = await ec2.send(
          new DescribeInstanceAttributeCommand({ InstanceId: String(e.data!['replacement']), Attribute: 'userData' }),
        );
        const text = Buffer.from(out.UserData?.Value ?? '', 'base64').toString('utf8');
        for (const m of text.matchAll(/\btoken: "?[a-z0-9]{6}\.([a-z0-9]{16})\b/g)) secrets.add(m[1]!);
        // Only the certificate key: the CA pin (sha256:<64 hex>) is public and printed on purpose.
        for (const m of text.matchAll(/\bcertificateKey: "?([0-9a-f]{64})\b/g)) secrets.add(m[1]!);
      }
    } finally {
      ec2.destroy();
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

  it('a re-run of a run killed while its replacement boots lets that replacement join, then leaves no token', async () => {
    // The replacement boots 20 s late, so it reads its user data and fetches the certificates after the re-run
    // has started: a re-run that sealed the certificates again under a new key at its start (as kubeswap did
    // before issuing credentials per replacement) left it unable to decrypt them, and it was rolled back.
    await sb.fault({ kind: 'slow-boot', next: true, seconds: 20 });
    const killed = await kubeswap(sb, render(...withPki()), { killAfter: (e) => e.code === 'replacement.created' });
    runs.push(killed);
    assert.equal(killed.signal, 'SIGKILL', describeRun(killed));
    await harvestSecrets(killed);
    const inFlight = String(killed.events.find((e) => e.code === 'replacement.created')!.data!['replacement']);
    assert.ok((await liveTokens()).length >= 1, 'the killed run left its token');
    const run = await kubeswap(sb, render(...withPki(), '--machine-timeout', '2m'));
    runs.push(run);
    assert.equal(run.exitCode, 0, describeRun(run));
    assert.deepEqual(
      run.events.filter((e) => e.code === 'replacement.rolled-back'),
      [],
      'the in-flight replacement joined',
    );
    await harvestSecrets(run);
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
