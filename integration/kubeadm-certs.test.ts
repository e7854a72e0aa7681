// What kubeswap uploads to kube-system/kubeadm-certs, the REAL kubeadm decrypts: `kubeadm join phase
// control-plane-prepare download-certs` (copycerts.DownloadCerts) runs against a real kube-apiserver
// (integration/fixtures/apiserver.ts) and must write files byte-identical to the PKI kubeswap read. The PKI itself
// is made by `kubeadm init phase certs`, and kubeadm-config / kubelet-config by `kubeadm init phase upload-config`,
// so everything kubeadm reads is what kubeadm wrote. Discovery is a discovery file with embedded credentials: the
// fixture apiserver runs without --enable-bootstrap-token-auth, so token discovery cannot authenticate there.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import * as k8s from '@kubernetes/client-node';
import { parse, stringify } from 'yaml';
import { type Kube, openKube } from '../src/adapters/kube/client.ts';
import { openSecretBytes } from '../src/adapters/kube/secret-bytes.ts';
import { caCertHash } from '../src/domain/kubeadm/ca-pin.ts';
import { cleanupRunTokens, createBootstrapToken } from '../src/engine/prepare/bootstrap-token.ts';
import { deleteKubeadmCerts, SHARED_CERT_FILES, uploadKubeadmCerts } from '../src/engine/prepare/kubeadm-certs.ts';
import { prepareRenderMode } from '../src/engine/prepare/render-mode.ts';
import { type ApiServerFixture, findKubeApiserver, startApiServer } from './fixtures/apiserver.ts';
import { kubernetesBinary, readVersions } from './sandbox/binaries.ts';

const run = promisify(execFile);
const kubeadmBinary = (version: string) => {
  const path = kubernetesBinary(version, 'kubeadm');
  return existsSync(path) ? path : undefined;
};
const { from: FROM, to: TO } = readVersions();
// The target's kubeadm downloads the certs on a real replacement; check every kubeadm the cache holds.
const kubeadms = [TO, FROM].map((version) => ({ version, path: kubeadmBinary(version) }));

async function kubeadm(binary: string, args: string[]): Promise<string> {
  try {
    const { stdout, stderr } = await run(binary, [...args, '-v=1'], { maxBuffer: 16 * 1024 * 1024 });
    return stdout + stderr;
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; message: string };
    throw new Error(`kubeadm ${args.slice(0, 4).join(' ')} failed:\n${(e.stderr ?? e.message).slice(-3000)}`);
  }
}

describe('kubeadm-certs upload decrypted by the real kubeadm', function () {
  this.timeout(180_000);
  let fixture: ApiServerFixture;
  let kube: Kube;
  let secrets: ReturnType<typeof openSecretBytes>;
  let core: k8s.CoreV1Api;
  let dir: string;
  let sourcePki: string;
  let downloadPki: string;
  let discoveryFile: string;
  const anyKubeadm = kubeadms.find((k) => k.path);

  before(async function () {
    if (!findKubeApiserver() || !anyKubeadm) {
      console.warn('    no kube-apiserver or kubeadm built (integration/components/build.sh kubernetes ...): skipping');
      this.skip();
    }
    fixture = await startApiServer();
    kube = openKube({ kubeconfig: fixture.kubeconfig, timeoutMs: 10_000 });
    secrets = openSecretBytes({ kubeconfig: fixture.kubeconfig, timeoutMs: 10_000 });
    const kc = new k8s.KubeConfig();
    kc.loadFromFile(fixture.kubeconfig);
    core = kc.makeApiClient(k8s.CoreV1Api);
    dir = mkdtempSync(join(tmpdir(), 'kubeswap-kubeadm-certs-'));
    sourcePki = join(dir, 'source-pki');
    downloadPki = join(dir, 'download-pki');
    const endpoint = new URL(fixture.server).host;

    // The cluster's authorities, made by kubeadm itself (what a control-plane machine holds in /etc/kubernetes/pki).
    const initConfig = (certificatesDir: string) =>
      writeYaml(join(dir, `init-${certificatesDir.endsWith('source-pki') ? 'source' : 'download'}.yaml`), [
        {
          apiVersion: 'kubeadm.k8s.io/v1beta4',
          kind: 'InitConfiguration',
          localAPIEndpoint: { advertiseAddress: '10.0.0.10', bindPort: 6443 },
          nodeRegistration: { name: 'cp-1', criSocket: 'unix:///var/run/containerd/containerd.sock' },
        },
        {
          apiVersion: 'kubeadm.k8s.io/v1beta4',
          kind: 'ClusterConfiguration',
          clusterName: 'fixture',
          kubernetesVersion: FROM,
          controlPlaneEndpoint: endpoint,
          certificatesDir,
        },
      ]);
    const from = kubeadmBinary(FROM) ?? anyKubeadm!.path!;
    const sourceConfig = initConfig(sourcePki);
    for (const phase of ['ca', 'front-proxy-ca', 'etcd-ca', 'sa']) {
      await kubeadm(from, ['init', 'phase', 'certs', phase, '--config', sourceConfig]);
    }
    // kubeadm-config names where a joining machine writes the certs (certificatesDir): the download dir.
    const downloadConfig = initConfig(downloadPki);
    for (const what of ['kubeadm', 'kubelet']) {
      await kubeadm(from, [
        'init',
        'phase',
        'upload-config',
        what,
        '--config',
        downloadConfig,
        '--kubeconfig',
        fixture.kubeconfig,
      ]);
    }

    // cluster-info as `kubeadm init phase bootstrap-token` publishes it; file discovery refreshes from it.
    const caData = readFileSync(fixture.caFile).toString('base64');
    const clusterKubeconfig = (user?: { name: string; token: string }) =>
      stringify({
        apiVersion: 'v1',
        kind: 'Config',
        // kubeadm's cluster-info holds one unnamed cluster (phases/bootstraptoken/clusterinfo) and no context.
        clusters: [
          { name: user ? 'fixture' : '', cluster: { server: fixture.server, 'certificate-authority-data': caData } },
        ],
        users: user ? [{ name: user.name, user: { token: user.token } }] : [],
        contexts: user ? [{ name: 'fixture', context: { cluster: 'fixture', user: user.name } }] : [],
        'current-context': user ? 'fixture' : '',
      });
    await waitForNamespace(core, 'kube-public');
    await core.createNamespacedConfigMap({
      namespace: 'kube-public',
      body: { metadata: { name: 'cluster-info' }, data: { kubeconfig: clusterKubeconfig() } },
    });
    discoveryFile = join(dir, 'discovery.conf');
    writeFileSync(discoveryFile, clusterKubeconfig({ name: 'fixture-admin', token: fixture.adminToken }), {
      mode: 0o600,
    });
  });

  after(async () => {
    kube?.close();
    secrets?.close();
    await fixture?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  function joinConfig(certificateKey: string): string {
    return writeYaml(join(dir, 'join.yaml'), [
      {
        apiVersion: 'kubeadm.k8s.io/v1beta4',
        kind: 'JoinConfiguration',
        discovery: { file: { kubeConfigPath: discoveryFile } },
        nodeRegistration: { name: 'cp-new', criSocket: 'unix:///var/run/containerd/containerd.sock' },
        // kubeadm refuses a loopback advertise address; nothing listens on it in this phase.
        controlPlane: { localAPIEndpoint: { advertiseAddress: '10.0.0.11', bindPort: 6443 }, certificateKey },
      },
    ]);
  }

  const downloadCerts = (binary: string, certificateKey: string) =>
    kubeadm(binary, [
      'join',
      'phase',
      'control-plane-prepare',
      'download-certs',
      '--config',
      joinConfig(certificateKey),
    ]);

  for (const { version, path } of kubeadms) {
    it(`kubeadm ${version} download-certs writes byte-identical files from what kubeswap uploaded`, async function () {
      if (!path) {
        console.warn(`    kubeadm ${version} not built: skipping`);
        this.skip();
      }
      rmSync(downloadPki, { recursive: true, force: true });
      const pin = caCertHash(readFileSync(join(sourcePki, 'ca.crt')));
      const { certificateKey } = await uploadKubeadmCerts(kube, secrets, {
        pkiDir: sourcePki,
        runId: `run-${version.replaceAll('.', '-')}`,
        ttlSeconds: 3600,
        now: new Date(),
        expectedCaPin: pin,
      });
      const output = await downloadCerts(path!, certificateKey);
      assert.match(output, /\[download-certs\] Saving the certificates/);
      assert.equal(output.includes(certificateKey), false, 'kubeadm output must not echo the key');
      for (const file of SHARED_CERT_FILES) {
        assert.deepEqual(readFileSync(join(downloadPki, file)), readFileSync(join(sourcePki, file)), file);
      }
    });
  }

  it('kubeadm refuses the upload with any other key (GCM authentication)', async () => {
    await uploadKubeadmCerts(kube, secrets, {
      pkiDir: sourcePki,
      runId: 'run-wrong',
      ttlSeconds: 3600,
      now: new Date(),
    });
    await assert.rejects(
      downloadCerts(anyKubeadm!.path!, 'ab'.repeat(32)),
      /error decoding secret data with provided key/,
    );
  });

  it('owns kubeadm-certs by a TTL proxy token like kubeadm, and kubeadm token list reads our tokens', async () => {
    const runId = 'run-owner';
    const join = await createBootstrapToken(kube, { runId, ttlSeconds: 3600, now: new Date(), purpose: 'join' });
    const { proxyTokenId } = await uploadKubeadmCerts(kube, secrets, {
      pkiDir: sourcePki,
      runId,
      ttlSeconds: 3600,
      now: new Date(),
    });
    const stored = await core.readNamespacedSecret({ namespace: 'kube-system', name: 'kubeadm-certs' });
    const proxy = await core.readNamespacedSecret({
      namespace: 'kube-system',
      name: `bootstrap-token-${proxyTokenId}`,
    });
    assert.deepEqual(
      stored.metadata?.ownerReferences?.map((r) => [r.kind, r.name, r.uid, r.controller, r.blockOwnerDeletion]),
      [['Secret', proxy.metadata?.name, proxy.metadata?.uid, true, true]],
    );
    // `kubeadm token list` parses every bootstrap-token Secret (BootstrapTokenFromSecret): ours must read back right.
    const listed = (
      await kubeadm(anyKubeadm!.path!, ['token', 'list', '--kubeconfig', fixture.kubeconfig, '-o', 'json'])
    )
      .split(/\n(?=\{)/)
      .filter((chunk) => chunk.trimStart().startsWith('{'))
      .map((chunk) => JSON.parse(chunk.slice(0, chunk.lastIndexOf('}') + 1)));
    const ours = listed.find((t) => String(t.token).startsWith(`${join.id}.`));
    assert.deepEqual(ours?.usages, ['authentication', 'signing']);
    assert.deepEqual(ours?.groups, ['system:bootstrappers:kubeadm:default-node-token']);
    assert.match(ours?.description ?? '', /kubeswap run run-owner/);
    assert.equal(new Date(ours?.expires).getTime(), join.expires.getTime());
  });

  it('render mode end to end: its user data validates and its certificate key opens its upload', async () => {
    const version = anyKubeadm!.version;
    const mode = await prepareRenderMode(kube, {
      runId: 'run-render',
      targetVersion: version,
      // The fixture serves with its own CA; the cluster PKI kubeadm made here is another one, so name it.
      apiServerEndpoint: new URL(fixture.server).host,
      caCertPem: readFileSync(join(sourcePki, 'ca.crt'), 'utf8'),
      pkiDir: sourcePki,
      secretBytes: secrets,
      now: new Date(),
      machineTimeoutMs: 20 * 60_000,
    });
    const issued = await mode.issue({ replaces: 'i-old', attempt: 1, nodeName: 'cp-new' });
    const userData = parse(issued.userData, { version: '1.1' });
    const rendered = join(dir, 'rendered-join.yaml');
    writeFileSync(rendered, userData.write_files[0].content, { mode: 0o600 });
    assert.match(await kubeadm(anyKubeadm!.path!, ['config', 'validate', '--config', rendered]), /^ok$/m);
    const certificateKey = parse(userData.write_files[0].content).controlPlane.certificateKey;
    rmSync(downloadPki, { recursive: true, force: true });
    await downloadCerts(anyKubeadm!.path!, certificateKey);
    assert.deepEqual(readFileSync(join(downloadPki, 'sa.key')), readFileSync(join(sourcePki, 'sa.key')));
    await mode.cleanup();
    const left = await core.listNamespacedSecret({
      namespace: 'kube-system',
      labelSelector: 'kubeswap.io/run-id=run-render',
    });
    assert.deepEqual(
      left.items.map((s) => s.metadata?.name),
      [],
    );
  });

  it('cleanup removes every kubeswap token and the upload, and leaves a user token alone', async () => {
    await core.createNamespacedSecret({
      namespace: 'kube-system',
      body: {
        metadata: { name: 'bootstrap-token-usr123' },
        type: 'bootstrap.kubernetes.io/token',
        stringData: {
          'token-id': 'usr123',
          'token-secret': '0123456789abcdef',
          'usage-bootstrap-authentication': 'true',
        },
      },
    });
    // As a killed run leaves them: a join token and an upload; the next run (run-next) clears both.
    await createBootstrapToken(kube, { runId: 'run-killed', ttlSeconds: 3600, now: new Date(), purpose: 'join' });
    await uploadKubeadmCerts(kube, secrets, {
      pkiDir: sourcePki,
      runId: 'run-killed',
      ttlSeconds: 3600,
      now: new Date(),
    });
    assert.equal(await deleteKubeadmCerts(kube, { exceptRunId: 'run-next' }), 'deleted');
    await cleanupRunTokens(kube, { keepRunId: 'run-next' });
    const left = await core.listNamespacedSecret({ namespace: 'kube-system' });
    assert.deepEqual(
      left.items.map((s) => s.metadata?.name).filter((n) => n?.startsWith('bootstrap-token-') || n === 'kubeadm-certs'),
      ['bootstrap-token-usr123'],
    );
  });
});

function writeYaml(file: string, docs: object[]): string {
  mkdirSync(join(file, '..'), { recursive: true });
  writeFileSync(file, docs.map((d) => stringify(d)).join('---\n'), { mode: 0o600 });
  return file;
}

async function waitForNamespace(core: k8s.CoreV1Api, name: string): Promise<void> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      await core.readNamespace({ name });
      return;
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}
