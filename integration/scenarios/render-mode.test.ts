// Render mode on the sandbox (issue 4): a wrong CA pin makes the replacement fail its join -> rollback,
// exit 3, no token left; a run killed mid-way leaves no live token after the re-run, which completes the
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

  it('leaves no live token after a killed run is re-run to completion', async () => {
    const killed = await kubeswap(sb, render(...withPki()), { killAfter: (e) => e.code === 'target.registered' });
    runs.push(killed);
    assert.equal(killed.signal, 'SIGKILL', describeRun(killed));
    await harvestSecrets(killed);
    assert.ok((await liveTokens()).length >= 1, 'the killed run left its token');
    const run = await kubeswap(sb, render(...withPki()));
    runs.push(run);
    assert.equal(run.exitCode, 0, describeRun(run));
    await harvestSecrets(run);
    assert.deepEqual(await liveTokens(), []);
    const certs = await core.listNamespacedSecret({
      namespace: 'kube-system',
      fieldSelector: 'metadata.name=kubeadm-certs',
    });
    assert.deepEqual(certs.items, [], 'the uploaded kubeadm-certs was deleted');
    const after = await clusterTruth(sb);
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
