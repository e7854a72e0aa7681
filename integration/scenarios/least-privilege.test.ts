// Least privilege (issue 9 §8): kubeswap run with a ServiceAccount token bound to exactly templates/rbac, the real
// kube-apiserver (authorization-mode Node,RBAC) enforcing it. Preflight (SelfSubjectAccessReview) passes with the
// template, names the missing permission with a reduced role, and the whole upgrade of a 1-machine control plane
// runs with the token alone. The apiserver's own answer (`kubectl auth can-i --as`) is the independent check.
// The sandbox starts with a v1beta3 kubeadm-config (issue 9 §6), which the TO kubeadm no longer reads: the machine
// simulator runs the image's real `kubeadm config validate` on kubeadm-config before a join, so the replacement
// joins only because kubeswap converted it to v1beta4.
// moto enforces IAM here too (sandbox option awsIam): the upgrade runs with the token AND the keys of an IAM user holding
// exactly the launch-template mode's policy (as moto can evaluate it: actions, integration/scenarios/iam-policy.ts), so
// the two shipped permission sets are shown sufficient together, in one run. Before it, a policy missing an action the
// launch needs (ec2:DescribeLaunchTemplateVersions, read when the replacement is launched) is refused by AWS mid-run:
// exit 4 naming the action and the policy templates, no machine changed, the lock released (kubeadm-config was
// bumped, the first change of every run); the full upgrade after it is that run resumed with the shipped policy.
// One machine keeps the file lean; the permissions a swap needs do not depend on how many machines are swapped.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { parse, parseAllDocuments, stringify } from 'yaml';
import { REPO_ROOT, type Sandbox } from '../sandbox/index.ts';
import { ApiProbe, assertUpgraded, clusterTruth, describeRun, essentials, kubeswap, useSandbox } from './harness.ts';
import { policyFor } from './iam-policy.ts';

const SA = 'system:serviceaccount:kube-system:kubeswap';
const rbac = (file: string) => join(REPO_ROOT, 'templates/rbac', file);

describe('scenario: least privilege, a ServiceAccount bound to templates/rbac', function () {
  this.timeout(15 * 60_000);
  const sandbox = useSandbox({ controlPlanes: 1, kubeadmApi: 'v1beta3', awsIam: true });
  let kubeconfig: string;
  const USER = 'kubeswap';

  const applyAs = (sb: Sandbox, key: { accessKeyId: string; secretAccessKey: string }) =>
    kubeswap(sb, ['apply', '--to', sb.versions.to, '--yes', '--gate-passes', '2', '--kubeconfig', kubeconfig], {
      env: { AWS_ACCESS_KEY_ID: key.accessKeyId, AWS_SECRET_ACCESS_KEY: key.secretAccessKey },
    });

  before(async () => {
    const sb = sandbox();
    await sb.kubectl(['apply', '-f', rbac('kubeswap.yaml'), '-f', rbac('bind-serviceaccount.yaml')]);
    const token = (await sb.kubectl(['-n', 'kube-system', 'create', 'token', 'kubeswap', '--duration', '1h'])).trim();
    // The sandbox's cluster (server, CA) with the token as the only credential.
    const admin = new k8s.KubeConfig();
    admin.loadFromFile(sb.kubeconfig);
    const cluster = admin.getCurrentCluster()!;
    const kc = new k8s.KubeConfig();
    kc.loadFromOptions({
      clusters: [cluster],
      users: [{ name: 'kubeswap', token }],
      contexts: [{ name: 'kubeswap', cluster: cluster.name, user: 'kubeswap' }],
      currentContext: 'kubeswap',
    });
    kubeconfig = join(sb.stateDir, 'kubeswap-sa.kubeconfig');
    writeFileSync(kubeconfig, kc.exportConfig(), { mode: 0o600 });
  });

  /** Waits until the apiserver's authorizer gives `verb resource` to the ServiceAccount (RBAC is cached). */
  async function waitCanI(verb: string, resource: string, want: boolean): Promise<void> {
    const sb = sandbox();
    // `kubectl auth can-i create pods/eviction` would ask for the pod named eviction: name the subresource.
    const [kind, subresource] = resource.split('/');
    const what = subresource ? [kind!, '--subresource', subresource] : [kind!];
    for (let i = 0; i < 50; i++) {
      const answer = await sb.kubectl(['auth', 'can-i', verb, ...what, '--as', SA]).catch(() => 'no');
      if (answer.trim() === (want ? 'yes' : 'no')) return;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    assert.fail(`the apiserver never answered ${want ? 'yes' : 'no'} to ${verb} ${resource} for ${SA}`);
  }

  it('the apiserver refuses the token what the template does not grant (the token is really least-privileged)', async () => {
    const sb = sandbox();
    await waitCanI('create', 'pods/eviction', true);
    assert.equal(
      (
        await sb.kubectl(['auth', 'can-i', 'list', 'secrets', '-n', 'kube-system', '--as', SA]).catch(() => 'no')
      ).trim(),
      'no',
    );
    assert.equal((await sb.kubectl(['auth', 'can-i', '*', '*', '--as', SA]).catch(() => 'no')).trim(), 'no');
  });

  it('plan passes preflight with the template', async () => {
    const sb = sandbox();
    const run = await kubeswap(sb, ['plan', '--to', sb.versions.to, '--kubeconfig', kubeconfig]);
    assert.equal(run.exitCode, 0, describeRun(run));
    const report = JSON.parse(run.stdout.trim().split('\n').at(-1)!);
    assert.deepEqual(report.kubeadmApi, { from: 'kubeadm.k8s.io/v1beta3', to: 'kubeadm.k8s.io/v1beta4' });
  });

  it('with a reduced role, apply is refused up front naming the missing permission, exit 2, nothing changed', async () => {
    const sb = sandbox();
    const before = await clusterTruth(sb);
    const docs = parseAllDocuments(await sb.kubectl(['get', 'clusterrole', 'kubeswap', '-o', 'yaml'])).map((d) =>
      d.toJS(),
    );
    const role = docs[0];
    const reduced = {
      apiVersion: role.apiVersion,
      kind: role.kind,
      metadata: { name: 'kubeswap' },
      rules: role.rules.filter((r: { resources: string[] }) => !r.resources.includes('pods/eviction')),
    };
    const file = join(sb.stateDir, 'reduced-role.yaml');
    writeFileSync(file, stringify(reduced));
    await sb.kubectl(['replace', '-f', file]);
    try {
      await waitCanI('create', 'pods/eviction', false);
      const run = await kubeswap(sb, ['apply', '--to', sb.versions.to, '--yes', '--kubeconfig', kubeconfig]);
      assert.equal(run.exitCode, 2, describeRun(run));
      assert.match(run.stdout, /may not create pods\/eviction \(cluster-wide\), needed to drain the old node/);
      // Only that one is missing: every other permission the template grants was confirmed.
      const failed = run.events.find((e) => e.code === 'run.failed') as { data?: { problems?: { code: string }[] } };
      assert.deepEqual(
        failed?.data?.problems?.map((p) => p.code),
        ['access.denied'],
        describeRun(run),
      );
      assert.deepEqual(essentials(await clusterTruth(sb)), essentials(before));
      const lease = await sb.kubectl(['-n', 'kube-system', 'get', 'lease', 'kubeswap-lock']).catch(() => 'absent');
      assert.equal(lease, 'absent');
    } finally {
      await sb.kubectl(['apply', '-f', rbac('kubeswap.yaml')]);
      await waitCanI('create', 'pods/eviction', true);
    }
  });

  it('an IAM policy lacking an action the launch needs: exit 4 naming the action AWS refused, no machine changed, lock released', async () => {
    const sb = sandbox();
    const before = await clusterTruth(sb);
    assert.equal(await storedApiVersion(), 'kubeadm.k8s.io/v1beta3');
    const key = await sb.awsIamUser(USER, policyFor(sb, 'ec2:DescribeLaunchTemplateVersions'));
    const run = await applyAs(sb, key);
    assert.equal(run.exitCode, 4, describeRun(run));
    const failed = run.events.find((e) => e.code === 'run.failed')!;
    assert.equal(failed.data?.['error'], 'aws.access-denied', describeRun(run));
    assert.match(failed.message, /not authorized to perform: ec2:DescribeLaunchTemplateVersions/);
    assert.match(String(failed.data?.['hint']), /templates\/iam/);
    assert.deepEqual(essentials(await clusterTruth(sb)), essentials(before), 'no machine changed');
    const lease = await sb
      .kubectl(['-n', 'kube-system', 'get', 'lease', 'kubeswap-lock', '-o', 'json'])
      .catch(() => '');
    assert.ok(!lease || !JSON.parse(lease).spec?.holderIdentity, 'no lock left held');
  });

  it('the whole upgrade runs with the ServiceAccount token and the IAM user alone (the refused run resumed)', async () => {
    const sb = sandbox();
    const before = await clusterTruth(sb);
    const key = await sb.awsIamUser(USER, policyFor(sb));
    const api = new ApiProbe(sb).start();
    const started = Date.now();
    const run = await applyAs(sb, key);
    const probe = await api.stop();
    console.log(
      `      upgrade with the ServiceAccount token and the IAM user: ${Math.round((Date.now() - started) / 1000)} s`,
    );
    await assertUpgraded(sb, before, run, probe);
    assert.equal(await storedApiVersion(), 'kubeadm.k8s.io/v1beta4');
  });

  async function storedApiVersion(): Promise<string> {
    const out = await sandbox().kubectl(['-n', 'kube-system', 'get', 'cm', 'kubeadm-config', '-o', 'yaml']);
    return parse(parse(out).data.ClusterConfiguration).apiVersion;
  }
});
