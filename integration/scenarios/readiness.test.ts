// Readiness (issue 13 §1): the sandbox holds an object applied through an API the target removed (its last-applied
// annotation), a Helm 3 release Secret made the way Helm 3 makes them with such an API in its manifest, and a client
// that called a deprecated API FROM still serves and TO removes (networking.k8s.io/v1beta1 ServiceCIDR, removed in
// 1.37: served on FROM through --runtime-config), so the apiserver's metric shows it. `plan` names each; `apply`
// refuses with exit 2 and nothing changed; --accept-removed-apis gets past the check (--dry-run stops right after
// it). A client certificate that expires within a day is reported, and blocks once the run could outlast it.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import * as k8s from '@kubernetes/client-node';
import type { ReadinessReport } from '../../src/domain/readiness/report.ts';
import { readVersions } from '../sandbox/binaries.ts';
import { REPO_ROOT } from '../sandbox/index.ts';
import { clusterTruth, describeRun, essentials, kubeswap, useSandbox } from './harness.ts';

const FROM = readVersions(REPO_ROOT).from;

/** GET with the admin kubeconfig's credentials against one apiserver, bypassing the load balancer. */
async function adminGet(kc: k8s.KubeConfig, url: string): Promise<string> {
  const options: Parameters<typeof request>[1] = { method: 'GET' };
  await kc.applyToHTTPSOptions(options);
  return new Promise((resolve, reject) => {
    request(url, options, (res) => {
      let body = '';
      res.on('data', (chunk) => {
        body += chunk;
      });
      res.on('end', () => resolve(body));
    })
      .on('error', reject)
      .end();
  });
}
const SERVE_DEPRECATED = ['--runtime-config=networking.k8s.io/v1beta1=true'];

describe('scenario: readiness report blocks removed APIs and near-expiry certificates', function () {
  this.timeout(8 * 60_000);
  const sandbox = useSandbox({ controlPlanes: 1, apiServerArgs: { [FROM]: SERVE_DEPRECATED } });
  let dir: string;
  let initial: unknown;
  let kc: k8s.KubeConfig;

  const state = async () => {
    const sb = sandbox();
    const core = kc.makeApiClient(k8s.CoreV1Api);
    const cm = await core.readNamespacedConfigMap({ name: 'kubeadm-config', namespace: 'kube-system' });
    const ours = await core.listNamespacedConfigMap({ namespace: 'kube-system', labelSelector: '' });
    const leases = await kc
      .makeApiClient(k8s.CoordinationV1Api)
      .listNamespacedLease({ namespace: 'kube-system', fieldSelector: 'metadata.name=kubeswap-lock' });
    return {
      ...essentials(await clusterTruth(sb)),
      kubeadmConfig: cm.metadata?.resourceVersion,
      progress: ours.items.filter((c) => c.metadata?.name?.startsWith('kubeswap-')).length,
      lock: leases.items.length,
    };
  };

  before(async () => {
    const sb = sandbox();
    dir = mkdtempSync(join(tmpdir(), 'kubeswap-readiness-'));
    kc = new k8s.KubeConfig();
    kc.loadFromFile(sb.kubeconfig);
    const core = kc.makeApiClient(k8s.CoreV1Api);
    await core.createNamespace({ body: { metadata: { name: 'shop' } } });

    // 1. An object kubectl once applied through extensions/v1beta1: the live object is apps/v1 (the apiserver
    // converted it), the annotation keeps what was applied.
    const applied = {
      apiVersion: 'extensions/v1beta1',
      kind: 'Deployment',
      metadata: { name: 'web', namespace: 'shop' },
      spec: { replicas: 0, template: { metadata: { labels: { app: 'web' } }, spec: { containers: [] } } },
    };
    await kc.makeApiClient(k8s.AppsV1Api).createNamespacedDeployment({
      namespace: 'shop',
      body: {
        metadata: {
          name: 'web',
          annotations: { 'kubectl.kubernetes.io/last-applied-configuration': JSON.stringify(applied) },
        },
        spec: {
          replicas: 0,
          selector: { matchLabels: { app: 'web' } },
          template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'web', image: 'web:1' }] } },
        },
      },
    });

    // 2. A Helm 3 release Secret (helm pkg/storage/driver/secrets.go newSecretsObject): type helm.sh/release.v1,
    // labels owner/name/status/version, data.release = base64(gzip(release JSON)), base64-encoded again as data.
    const release = {
      name: 'db',
      namespace: 'shop',
      version: 1,
      info: { status: 'deployed' },
      manifest:
        '---\n# Source: db/templates/pdb.yaml\napiVersion: policy/v1beta1\nkind: PodDisruptionBudget\nmetadata:\n  name: db\nspec:\n  minAvailable: 1\n---\n# Source: db/templates/cm.yaml\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: db-config\n',
    };
    await core.createNamespacedSecret({
      namespace: 'shop',
      body: {
        metadata: {
          name: 'sh.helm.release.v1.db.v1',
          labels: { owner: 'helm', name: 'db', status: 'deployed', version: '1' },
        },
        type: 'helm.sh/release.v1',
        data: { release: Buffer.from(gzipSync(JSON.stringify(release)).toString('base64')).toString('base64') },
      },
    });

    // 3. A client calling the deprecated API; the metric is checked independently before kubeswap reads it.
    await sb.kubectl(['get', 'servicecidrs.v1beta1.networking.k8s.io']);
    const apiserver = sb.refresh().machines[0];
    assert.ok(apiserver, 'a control-plane machine');
    const pki = join(sb.stateDir, 'pki');
    const metrics = await adminGet(kc, `${apiserver.apiServer}/metrics`);
    assert.match(
      metrics,
      /apiserver_requested_deprecated_apis\{group="networking.k8s.io",removed_release="1.37",resource="servicecidrs"/,
    );

    // 4. A kubeconfig whose client certificate (system:masters, signed by the cluster CA) expires in one day.
    const key = join(dir, 'short.key');
    const csr = join(dir, 'short.csr');
    const crt = join(dir, 'short.crt');
    execFileSync('openssl', ['genrsa', '-out', key, '2048'], { stdio: 'ignore' });
    execFileSync('openssl', ['req', '-new', '-key', key, '-subj', '/O=system:masters/CN=kubeswap-short', '-out', csr]);
    execFileSync(
      'openssl',
      ['x509', '-req', '-in', csr, '-CA', join(pki, 'ca.crt'), '-CAkey', join(pki, 'ca.key')].concat([
        '-CAcreateserial',
        '-days',
        '1',
        '-out',
        crt,
      ]),
      { stdio: 'ignore' },
    );
    const short = new k8s.KubeConfig();
    short.loadFromFile(sb.kubeconfig);
    const user = short.getCurrentUser()!;
    short.users = short.users.map((u) =>
      u.name === user.name
        ? {
            ...u,
            certFile: undefined,
            keyFile: undefined,
            certData: readFileSync(crt).toString('base64'),
            keyData: readFileSync(key).toString('base64'),
          }
        : u,
    );
    writeFileSync(join(dir, 'short.kubeconfig'), short.exportConfig());
    initial = await state();
  });
  after(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('plan names the removed APIs: the client API per apiserver, the last-applied object, the Helm release', async () => {
    const sb = sandbox();
    const summary = join(dir, 'summary.md');
    const run = await kubeswap(sb, ['plan', '--to', sb.versions.to, '--summary', summary], { timeoutMs: 120_000 });
    assert.equal(run.exitCode, 2, describeRun(run));
    const line = run.stdout.split('\n').find((l) => l.includes('"plan.report"'));
    assert.ok(line, describeRun(run));
    const report = (JSON.parse(line) as { readiness: ReadinessReport }).readiness;
    const blocked = report.apis
      .filter((a) => a.severity === 'block')
      .map((a) => `${a.via} ${a.apiVersion} ${a.kind} ${a.subject}`);
    const node = sb.refresh().machines[0]!.node;
    assert.deepEqual(blocked.sort(), [
      'helm policy/v1beta1 PodDisruptionBudget PodDisruptionBudget shop/db in helm release shop/db v1',
      'last-applied extensions/v1beta1 Deployment Deployment shop/web (last-applied)',
      `metric networking.k8s.io/v1beta1 ServiceCIDR clients of apiserver ${node}`,
    ]);
    // Versions and certificates were read from the real components (TLS handshakes with apiserver and etcd).
    assert.ok(
      report.components.some((c) => c.component === 'kube-apiserver' && c.now === FROM),
      JSON.stringify(report.components),
    );
    for (const name of [
      'cluster CA (kube-public/cluster-info)',
      'front-proxy CA',
      `apiserver ${node} serving`,
      `etcd ${node} serving`,
    ])
      assert.ok(
        report.certificates.some((c) => c.name === name && c.daysLeft > 300),
        `${name}: ${JSON.stringify(report.certificates)}`,
      );
    // The same in text, as people read it.
    const text = await kubeswap(sb, ['plan', '--to', sb.versions.to, '--output', 'text'], { timeoutMs: 120_000 });
    assert.equal(text.exitCode, 2, describeRun(text));
    for (const name of [
      /BLOCK +extensions\/v1beta1 Deployment .*Deployment shop\/web/,
      /helm release shop\/db v1/,
      /clients of apiserver/,
    ])
      assert.match(text.stdout, name);
    console.log(text.stdout.replace(/^/gm, '      | '));
    const markdown = readFileSync(summary, 'utf8');
    assert.match(markdown, /## Readiness for v1\.37/);
    assert.match(markdown, /⛔ block \| extensions\/v1beta1 Deployment/);
  });

  it('apply refuses with exit 2 naming each one, and nothing changed', async () => {
    const sb = sandbox();
    const run = await kubeswap(sb, ['apply', '--yes', '--to', sb.versions.to], { timeoutMs: 120_000 });
    assert.equal(run.exitCode, 2, describeRun(run));
    const failed = run.events.find((e) => e.code === 'run.failed');
    assert.equal(failed?.data?.['error'], 'readiness.blocked', describeRun(run));
    for (const name of [/Deployment shop\/web/, /helm release shop\/db v1/, /clients of apiserver .*ServiceCIDR/])
      assert.match(failed!.message, name);
    assert.match(String(failed?.data?.['hint']), /--accept-removed-apis/);
    assert.deepEqual(await state(), initial);
  });

  it('--accept-removed-apis gets past the check (dry run stops right after it)', async () => {
    const sb = sandbox();
    const run = await kubeswap(sb, ['apply', '--yes', '--dry-run', '--accept-removed-apis', '--to', sb.versions.to], {
      timeoutMs: 120_000,
    });
    assert.equal(run.exitCode, 0, describeRun(run));
    const checked = run.events.find((e) => e.code === 'readiness.checked');
    assert.equal(checked?.level, 'warn', describeRun(run));
    assert.ok(
      run.events.some((e) => e.code === 'dry-run.step'),
      describeRun(run),
    );
    assert.deepEqual(await state(), initial);
  });

  it('reports a client certificate expiring within a day, and blocks when the run could outlast it', async () => {
    const sb = sandbox();
    const short = join(dir, 'short.kubeconfig');
    const base = ['--yes', '--dry-run', '--accept-removed-apis', '--to', sb.versions.to, '--kubeconfig', short];
    const warned = await kubeswap(sb, ['apply', ...base], { timeoutMs: 120_000 });
    assert.equal(warned.exitCode, 0, describeRun(warned));
    const report = warned.events.find((e) => e.code === 'readiness.checked')?.data?.['report'] as ReadinessReport;
    const client = report.certificates.find((c) => c.name.startsWith('kubeswap client certificate'));
    assert.deepEqual([client?.daysLeft, client?.severity], [0, 'warn'], JSON.stringify(report.certificates));
    // 1 machine x (24 h machine timeout + 10 m drain) outlasts a certificate valid for less than a day.
    const blocked = await kubeswap(sb, ['apply', ...base, '--machine-timeout', '24h'], { timeoutMs: 120_000 });
    assert.equal(blocked.exitCode, 2, describeRun(blocked));
    assert.match(
      blocked.events.find((e) => e.code === 'run.failed')?.message ?? '',
      /kubeswap client certificate.*within the run/,
    );
    assert.deepEqual(await state(), initial);
  });
});
