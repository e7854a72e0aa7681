// (j) bad inputs: each refused with a clear message and exit 2, and nothing changed in the cluster
// (etcd members, Nodes, kubeadm-config, lock, progress record) or in moto (instances).
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { type ApiServerFixture, startApiServer } from '../fixtures/apiserver.ts';
import { createEtcdPki, type EtcdPki } from '../fixtures/pki.ts';
import { type Sandbox, upSandbox } from '../sandbox/index.ts';
import { clusterTruth, describeRun, essentials, kubeswap } from './harness.ts';

interface BadInput {
  name: string;
  args: (ctx: Context) => string[];
  message: RegExp;
}
interface Context {
  sb: Sandbox;
  dir: string;
  pki: EtcdPki;
  plain: ApiServerFixture;
}

const TO = (ctx: Context) => ctx.sb.versions.to;
/** The sandbox's config without its target group (beside it, so its relative paths still hold). */
const noLoadBalancerConfig = (ctx: Context) => join(ctx.sb.stateDir, 'kubeswap-no-lb.yaml');
const CASES: BadInput[] = [
  { name: 'a version without v and patch', args: () => ['--to', '1.37'], message: /not a Kubernetes version/ },
  { name: 'a version that is not a version', args: () => ['--to', 'latest'], message: /not a Kubernetes version/ },
  { name: 'a version that skips a minor', args: () => ['--to', 'v1.38.0'], message: /minor/i },
  { name: 'a minor downgrade', args: () => ['--to', 'v1.35.4'], message: /downgrade/i },
  { name: 'a major version change', args: () => ['--to', 'v2.0.0'], message: /major/i },
  { name: 'a patch downgrade', args: () => ['--to', 'v1.36.1'], message: /downgrade/i },
  { name: 'neither --to nor --image', args: () => [], message: /--to vX\.Y\.Z, --image ID, or both/ },
  {
    name: 'an unknown image',
    args: (c) => ['--to', TO(c), '--image', 'ami-0000000000doesnotexist'],
    message: /ami-0000000000doesnotexist/,
  },
  {
    name: 'an image built for another Kubernetes version than --to',
    args: (c) => ['--to', TO(c), '--image', c.sb.aws.images[c.sb.versions.from]!],
    message: /is for Kubernetes v\d+\.\d+\.\d+ .*not v/,
  },
  {
    name: 'render mode without the shared certificates (no key, no PKI folder, not on the image)',
    args: (c) => ['--to', TO(c), '--user-data', 'render'],
    message: /render mode needs the shared control-plane certificates/,
  },
  {
    name: 'a missing launch template',
    args: (c) => ['--to', TO(c), '--launch-template', 'lt-0missing000000000'],
    message: /launch template/i,
  },
  {
    name: 'a missing launch template version',
    args: (c) => ['--to', TO(c), '--launch-template-version', '99'],
    message: /version/i,
  },
  {
    name: 'a kubeconfig that does not exist',
    args: (c) => ['--to', TO(c), '--kubeconfig', '/nonexistent/kubeconfig'],
    message: /does not exist/,
  },
  {
    name: 'a kubeconfig that is not YAML',
    args: (c) => ['--to', TO(c), '--kubeconfig', join(c.dir, 'garbage.kubeconfig')],
    message: /kubeconfig/i,
  },
  {
    name: 'an unknown kubeconfig context',
    args: (c) => ['--to', TO(c), '--context', 'no-such-context'],
    message: /no-such-context/,
  },
  {
    name: 'an identity RBAC denies',
    args: (c) => ['--to', TO(c), '--kubeconfig', join(c.dir, 'viewer.kubeconfig')],
    message: /forbidden|denied|cannot|401|403|Unauthorized/i,
  },
  {
    name: 'etcd certificates from another CA',
    args: (c) => [
      '--to',
      TO(c),
      '--etcd-cert',
      c.pki.foreignClient.cert,
      '--etcd-key',
      c.pki.foreignClient.key,
      '--etcd-ca',
      c.pki.foreignClient.ca,
    ],
    message: /etcd/i,
  },
  {
    name: 'an etcd CA that does not exist',
    args: (c) => ['--to', TO(c), '--etcd-ca', '/nonexistent/ca.crt'],
    message: /does not exist/,
  },
  {
    name: 'an unreachable etcd',
    args: (c) => ['--to', TO(c), '--etcd-endpoints', 'https://127.0.0.1:9'],
    message: /etcd/i,
  },
  {
    name: 'an etcd endpoint that is not a URL',
    args: (c) => ['--to', TO(c), '--etcd-endpoints', '127.0.0.1:2379'],
    message: /not a URL/,
  },
  {
    name: 'a cluster that kubeadm did not build',
    args: (c) => ['--to', TO(c), '--kubeconfig', c.plain.kubeconfig],
    message: /kubeadm-config/,
  },
  {
    name: 'an unreachable AWS endpoint',
    args: (c) => ['--to', TO(c), '--aws-endpoint', 'http://127.0.0.1:9'],
    message: /./,
  },
  {
    name: 'a cluster name that owns no machine',
    args: (c) => ['--to', TO(c), '--cluster-name', 'someone-else'],
    message: /machine/i,
  },
  {
    name: 'no API load balancer configured, without --no-load-balancer',
    args: (c) => ['--to', TO(c), '--config', noLoadBalancerConfig(c)],
    message: /no API load balancer is configured/,
  },
  {
    name: '--no-load-balancer with a target group configured',
    args: (c) => ['--to', TO(c), '--no-load-balancer'],
    message: /--no-load-balancer was given but a load balancer is configured/,
  },
  {
    name: 'a saved plan of another format version',
    args: (c) => [join(c.dir, 'future.plan.json')],
    message: /format version 2; this kubeswap reads version 1/,
  },
  { name: 'max surge 2', args: (c) => ['--to', TO(c), '--max-surge', '2'], message: /--max-surge must be 0 or 1/ },
  { name: 'zero gate passes', args: (c) => ['--to', TO(c), '--gate-passes', '0'], message: /--gate-passes/ },
  {
    name: 'a duration that is not one',
    args: (c) => ['--to', TO(c), '--drain-timeout', 'soon'],
    message: /not a duration/,
  },
  {
    name: 'an unknown output format',
    args: (c) => ['--to', TO(c), '--output', 'yaml'],
    message: /Invalid values|output/,
  },
  { name: 'an unknown flag', args: (c) => ['--to', TO(c), '--surge-max', '1'], message: /Unknown argument/ },
  {
    name: 'a config file that does not exist',
    args: (c) => ['--to', TO(c), '--config', '/nonexistent/kubeswap.yaml'],
    message: /does not exist/,
  },
];

describe('scenario: bad inputs are refused with exit 2 and change nothing', function () {
  this.timeout(15 * 60_000);
  const ctx = {} as Context;
  let core: k8s.CoreV1Api;
  const state = async () => {
    const truth = await clusterTruth(ctx.sb);
    const cm = await core.readNamespacedConfigMap({ name: 'kubeadm-config', namespace: 'kube-system' });
    const lock = await core.listNamespacedConfigMap({
      namespace: 'kube-system',
      fieldSelector: 'metadata.name=kubeswap-progress',
    });
    return {
      ...essentials(truth),
      terminated: truth.terminated.length,
      kubeadmConfig: cm.metadata?.resourceVersion,
      progress: lock.items.length,
    };
  };
  let initial: Awaited<ReturnType<typeof state>>;

  before(async () => {
    ctx.sb = await upSandbox({ controlPlanes: 3, ownerPid: process.pid });
    ctx.dir = mkdtempSync(join(tmpdir(), 'kubeswap-bad-inputs-'));
    ctx.pki = await createEtcdPki(join(ctx.dir, 'pki'));
    ctx.plain = await startApiServer();
    writeFileSync(join(ctx.dir, 'garbage.kubeconfig'), 'this: [is not, a kubeconfig\n');
    const config = parseYaml(readFileSync(join(ctx.sb.stateDir, 'kubeswap.yaml'), 'utf8'));
    delete config.provider.targetGroupArn;
    writeFileSync(noLoadBalancerConfig(ctx), stringifyYaml(config));
    writeFileSync(
      join(ctx.dir, 'future.plan.json'),
      JSON.stringify({ format: 'kubeswap.io/saved-plan', formatVersion: 2, desired: {}, fingerprint: {} }),
    );
    const kc = new k8s.KubeConfig();
    kc.loadFromFile(ctx.sb.kubeconfig);
    core = kc.makeApiClient(k8s.CoreV1Api);
    // An identity the cluster knows but RBAC grants nothing: a ServiceAccount token with no bindings.
    await core.createNamespacedServiceAccount({ namespace: 'default', body: { metadata: { name: 'nobody' } } });
    const token = await core.createNamespacedServiceAccountToken({
      name: 'nobody',
      namespace: 'default',
      body: { spec: { audiences: [] } },
    });
    const cluster = kc.getCurrentCluster()!;
    const nobody = new k8s.KubeConfig();
    nobody.loadFromOptions({
      clusters: [cluster],
      users: [{ name: 'nobody', token: token.status!.token }],
      contexts: [{ name: 'nobody', cluster: cluster.name, user: 'nobody' }],
      currentContext: 'nobody',
    });
    writeFileSync(join(ctx.dir, 'viewer.kubeconfig'), nobody.exportConfig());
    initial = await state();
  });
  after(async () => {
    if (ctx.dir) rmSync(ctx.dir, { recursive: true, force: true });
    await ctx.plain?.stop();
    await ctx.sb?.down();
  });

  it(`has at least 20 cases (${CASES.length})`, () => assert.ok(CASES.length >= 20));

  for (const c of CASES) {
    it(`refuses ${c.name}`, async () => {
      const run = await kubeswap(ctx.sb, ['apply', '--yes', ...c.args(ctx)], { timeoutMs: 120_000 });
      const said = `${run.stdout}\n${run.stderr}`;
      assert.equal(run.exitCode, 2, describeRun(run));
      assert.match(said, c.message);
      assert.doesNotMatch(said, /\n\s+at .*\(.*\.ts:\d+/, 'no stack trace for a user error');
    });
  }

  it('plans without a load balancer once the operator opts out, and says so', async () => {
    const run = await kubeswap(ctx.sb, [
      'plan',
      '--to',
      TO(ctx),
      '--config',
      noLoadBalancerConfig(ctx),
      '--no-load-balancer',
    ]);
    assert.equal(run.exitCode, 0, describeRun(run));
    const report = JSON.parse(run.stdout.trim().split('\n').at(-1)!);
    assert.match(report.changes.loadBalancer, /^none \(--no-load-balancer\)/);
  });

  it('left the cluster and moto exactly as they were', async () => {
    assert.deepEqual(await state(), initial);
  });
});
