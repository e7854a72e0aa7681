import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { parse } from 'yaml';
import { parseUserData } from '../../integration/sandbox/join.ts';
import { KubeswapError } from '../../src/domain/errors.ts';
import { createBootstrapToken } from '../../src/engine/prepare/bootstrap-token.ts';
import { openCert } from '../../src/engine/prepare/kubeadm-certs.ts';
import { prepareRenderMode, type RenderModeOptions } from '../../src/engine/prepare/render-mode.ts';
import { FakeKube, fakePkiDir } from './fake-kube.ts';
import { fixture } from './fixtures.ts';

const now = new Date('2026-03-01T10:00:00Z');
const caPin = fixture('ca.crt.sha256').trim();

function clusterInfoKubeconfig(server: string): string {
  const ca = Buffer.from(fixture('ca.crt')).toString('base64');
  return `apiVersion: v1\nkind: Config\nclusters:\n- name: ""\n  cluster:\n    certificate-authority-data: ${ca}\n    server: ${server}\n`;
}

function cluster(): FakeKube {
  return new FakeKube().withConfigMap('kube-public', 'cluster-info', {
    kubeconfig: clusterInfoKubeconfig('https://api.example.internal:6443'),
  });
}

/** What `kubeadm init phase upload-certs --upload-certs` leaves: no kubeswap label. */
const userUpload = {
  namespace: 'kube-system',
  name: 'kubeadm-certs',
  type: 'Opaque',
  data: { 'ca.crt': 'sealed' },
  labels: {},
};

const base: RenderModeOptions = { runId: 'run-2', targetVersion: 'v1.37.2', now, machineTimeoutMs: 20 * 60_000 };
const first = { replaces: 'i-old1', attempt: 1 };
const joinTokens = (fake: FakeKube) =>
  [...fake.secrets.values()].filter((s) => s.labels['kubeswap.io/token-purpose'] === 'join');

/** A fake of our BootstrapSecretStore port: names -> values, and how a machine would fetch one. */
class FakeStore {
  readonly kind = 'ssm';
  readonly values = new Map<string, string>();
  async put(name: string, value: string) {
    this.values.set(name, value);
  }
  async delete(name: string) {
    return this.values.delete(name) ? ('deleted' as const) : ('gone' as const);
  }
  async list(runId?: string) {
    return [...this.values.keys()].filter((n) => !runId || n.startsWith(`${runId}/`));
  }
  fetchLines(name: string, path: string) {
    return [`fetch-secret '${name}' > ${path}`];
  }
}

describe('render mode', () => {
  it('with a secret store, keeps the join in the store and only its name in the user data', async () => {
    const store = new FakeStore();
    await store.put('run-1/leftover', 'from a killed run of another id');
    const fake = cluster().withSecret(userUpload);
    const mode = await prepareRenderMode(fake.port(), {
      ...base,
      certificateKey: 'ab'.repeat(32),
      secretStore: store,
    });
    assert.deepEqual(mode.summary.removedLeftovers, ['ssm:run-1/leftover']);
    assert.equal(mode.summary.secretsIn, 'ssm');
    const a = await mode.issue(first);
    const tokenSecret = joinTokens(fake)[0]!.bytes['token-secret']!.toString();
    assert.ok(!a.userData.includes(tokenSecret) && !a.userData.includes('ab'.repeat(32)), 'no secret in user data');
    assert.match(a.userData, new RegExp(`fetch-secret '${a.storedAs}' > /etc/kubeadm/join.yaml`));
    const stored = store.values.get(a.storedAs!)!;
    assert.ok(stored.includes(tokenSecret) && stored.includes('ab'.repeat(32)), 'the store holds the join');
    const b = await mode.issue({ replaces: 'i-old2', attempt: 1 });
    assert.deepEqual(await store.list(), [b.storedAs], "the previous replacement's entry is gone");
    await mode.cleanup();
    assert.deepEqual(await store.list(), []);
  });

  it('issues a join token per replacement, pins the cluster-info CA and renders a control-plane join', async () => {
    const fake = cluster().withSecret(userUpload);
    const mode = await prepareRenderMode(fake.port(), { ...base, certificateKey: 'ab'.repeat(32) });
    assert.deepEqual(joinTokens(fake), [], 'no token before a replacement is created');
    const issued = await mode.issue({ ...first, nodeName: 'cp-new' });
    const [token] = joinTokens(fake);
    assert.equal(issued.tokenId, token!.bytes['token-id']!.toString());
    assert.equal(mode.summary.caCertHash, caPin);
    assert.equal(mode.summary.certificates, 'user-key');
    const intent = parseUserData(issued.userData);
    assert.equal(intent.kind, 'join');
    assert.deepEqual(intent.kind === 'join' && intent.request, {
      token: `${token!.bytes['token-id']}.${token!.bytes['token-secret']}`,
      apiServerEndpoint: 'api.example.internal:6443',
      caCertHashes: [caPin],
      unsafeSkipCAVerification: false,
      controlPlane: true,
      certificateKey: 'ab'.repeat(32),
      nodeName: 'cp-new',
    });
  });

  it('keeps the port kubeadm needs when cluster-info names the default https port implicitly', async () => {
    const fake = new FakeKube().withConfigMap('kube-public', 'cluster-info', {
      kubeconfig: clusterInfoKubeconfig('https://api.example.internal'),
    });
    const mode = await prepareRenderMode(fake.port(), base);
    const intent = parseUserData((await mode.issue(first)).userData);
    assert.equal(intent.kind === 'join' && intent.request.apiServerEndpoint, 'api.example.internal:443');
  });

  it('keeps secrets out of its summary and of what it says it issued', async () => {
    const fake = cluster().withSecret(userUpload);
    const mode = await prepareRenderMode(fake.port(), { ...base, certificateKey: 'ab'.repeat(32) });
    const { userData: _secret, ...issued } = await mode.issue(first);
    const secret = joinTokens(fake)[0]!.bytes['token-secret']!.toString();
    const text = JSON.stringify([mode.summary, issued]);
    assert.equal(text.includes(secret) || text.includes('ab'.repeat(32)), false);
  });

  it('deletes tokens and the kubeadm-certs upload a killed run left, before making its own', async () => {
    const fake = cluster();
    const dir = fakePkiDir();
    try {
      const killedMode = await prepareRenderMode(fake.port(), {
        ...base,
        runId: 'run-1',
        pkiDir: dir,
        secretBytes: fake.secretBytes(),
      });
      await killedMode.issue(first);
      const killed = await createBootstrapToken(fake.port(), {
        runId: 'run-1',
        ttlSeconds: 3600,
        now,
        purpose: 'join',
      });
      const mode = await prepareRenderMode(fake.port(), { ...base, pkiDir: dir, secretBytes: fake.secretBytes() });
      assert.ok(mode.summary.removedLeftovers.includes(killed.secretName));
      assert.ok(mode.summary.removedLeftovers.includes('kube-system/kubeadm-certs'));
      assert.deepEqual(fake.secretNames(), [], 'nothing of run-2 before its first replacement');
      await mode.issue(first);
      const runs = new Set([...fake.secrets.values()].map((s) => s.labels['kubeswap.io/run-id']));
      assert.deepEqual([...runs], ['run-2']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('uploads the PKI dir under a fresh key that the rendered user data carries, and cleans everything up', async () => {
    const fake = cluster();
    const dir = fakePkiDir();
    try {
      const mode = await prepareRenderMode(fake.port(), { ...base, pkiDir: dir, secretBytes: fake.secretBytes() });
      assert.equal(mode.summary.certificates, 'uploaded');
      const join = parse(parse((await mode.issue(first)).userData).write_files[0].content);
      const key = join.controlPlane.certificateKey as string;
      const sealed = fake.secrets.get('kube-system/kubeadm-certs')!.bytes['ca.crt']!;
      assert.equal(openCert(sealed, key).toString(), fixture('ca.crt'));
      await mode.cleanup();
      await mode.cleanup();
      assert.deepEqual(fake.secretNames(), []);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('gives each replacement its own token that outlives its machine timeout, and keeps only the newest', async () => {
    const fake = cluster();
    const mode = await prepareRenderMode(fake.port(), { ...base, machineTimeoutMs: 2 * 3600_000 });
    assert.equal(mode.summary.credentialTtlSeconds, 2 * 3600 + 600, 'machine timeout + 10 min, over --token-ttl');
    const a = await mode.issue(first);
    assert.equal(new Date(a.tokenExpires).getTime(), now.getTime() + (2 * 3600 + 600) * 1000);
    const b = await mode.issue({ replaces: 'i-old2', attempt: 1 });
    assert.notEqual(b.tokenId, a.tokenId);
    assert.deepEqual(
      joinTokens(fake).map((s) => s.bytes['token-id']!.toString()),
      [b.tokenId],
    );
  });

  it('reuses the token a killed process issued for the same attempt while it outlives a machine timeout', async () => {
    const fake = cluster();
    const killed = await (await prepareRenderMode(fake.port(), base)).issue(first);
    const later = (minutes: number) => ({ ...base, now: new Date(now.getTime() + minutes * 60_000) });
    const resumed = await (await prepareRenderMode(fake.port(), later(5))).issue(first);
    assert.equal(resumed.tokenReused, true);
    assert.equal(resumed.tokenId, killed.tokenId);
    const retry = await (await prepareRenderMode(fake.port(), later(5))).issue({ ...first, attempt: 2 });
    assert.equal(retry.tokenReused, false, 'a new attempt gets a new token');
    const stale = await (await prepareRenderMode(fake.port(), later(50))).issue({ ...first, attempt: 2 });
    assert.equal(stale.tokenReused, false, '15 min left is less than the 20 min machine timeout');
    assert.deepEqual(
      joinTokens(fake).map((s) => s.bytes['token-id']!.toString()),
      [stale.tokenId],
    );
  });

  it('leaves the certificates of a killed run in place until the next replacement is created', async () => {
    const fake = cluster();
    const dir = fakePkiDir();
    try {
      const pki = { ...base, pkiDir: dir, secretBytes: fake.secretBytes() };
      const inFlight = await (await prepareRenderMode(fake.port(), pki)).issue(first);
      const key = parse(parse(inFlight.userData).write_files[0].content).controlPlane.certificateKey as string;
      const resumed = await prepareRenderMode(fake.port(), pki);
      const sealed = fake.secrets.get('kube-system/kubeadm-certs')!.bytes['ca.crt']!;
      assert.equal(openCert(sealed, key).toString(), fixture('ca.crt'), 'the in-flight replacement can still join');
      await resumed.issue({ replaces: 'i-old2', attempt: 1 });
      const resealed = fake.secrets.get('kube-system/kubeadm-certs')!.bytes['ca.crt']!;
      assert.throws(() => openCert(resealed, key), 'the next replacement gets a fresh key');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('tries every deletion in cleanup even when one fails, then reports the failure', async () => {
    const fake = cluster();
    const dir = fakePkiDir();
    try {
      const mode = await prepareRenderMode(fake.port(), { ...base, pkiDir: dir, secretBytes: fake.secretBytes() });
      fake.failDelete.add(`bootstrap-token-${(await mode.issue(first)).tokenId}`);
      await assert.rejects(mode.cleanup(), /injected failure/);
      assert.equal(fake.secrets.has('kube-system/kubeadm-certs'), false);
      await mode.cleanup();
      assert.deepEqual(fake.secretNames(), []);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('collects every invalid option in one refusal and touches nothing', async () => {
    const fake = cluster();
    await assert.rejects(
      prepareRenderMode(fake.port(), {
        ...base,
        targetVersion: 'v1.21.14',
        ttlSeconds: 5,
        certificateKey: 'nothex',
        pkiDir: '/nowhere',
      }),
      (err) => {
        assert.ok(err instanceof KubeswapError);
        assert.deepEqual(
          err.problems.map((p) => p.code),
          [
            'render.version-unsupported',
            'token-ttl.invalid',
            'certificates.conflict',
            'certificate-key.invalid',
            'internal.secret-bytes-missing',
          ],
        );
        return true;
      },
    );
    assert.deepEqual(fake.secretNames(), []);
  });

  it('refuses a certificate key when the kubeadm-certs upload it belongs to is gone, and keeps a user upload', async () => {
    await assert.rejects(
      prepareRenderMode(cluster().port(), { ...base, certificateKey: 'ab'.repeat(32) }),
      (err) => err instanceof KubeswapError && err.code === 'certificate-key.no-upload',
    );
    const fake = cluster().withSecret(userUpload);
    const mode = await prepareRenderMode(fake.port(), { ...base, certificateKey: 'ab'.repeat(32) });
    await mode.issue(first);
    await mode.cleanup();
    assert.deepEqual(fake.secretNames(), ['kube-system/kubeadm-certs']);
    fake.secrets.delete('kube-system/kubeadm-certs');
    await assert.rejects(
      mode.issue({ replaces: 'i-old2', attempt: 1 }),
      (err) => err instanceof KubeswapError && err.code === 'certificate-key.no-upload',
      'an upload that expired mid-run is refused before the next replacement is created',
    );
  });

  it('refuses a PKI dir it cannot read before anything is created', async () => {
    const fake = cluster();
    await assert.rejects(
      prepareRenderMode(fake.port(), { ...base, pkiDir: '/nonexistent-pki', secretBytes: fake.secretBytes() }),
      (err) => err instanceof KubeswapError && err.code === 'pki-dir.missing-file',
    );
    assert.deepEqual(fake.secretNames(), []);
  });

  it('refuses user data EC2 would reject (over 16 KB) before creating anything', async () => {
    const fake = cluster();
    const hooks = { beforeJoin: Array.from({ length: 400 }, (_, i) => `echo preparing step ${i} of the site setup`) };
    await assert.rejects(
      prepareRenderMode(fake.port(), { ...base, hooks }),
      (err) => err instanceof KubeswapError && err.code === 'render.user-data-too-large',
    );
    assert.deepEqual(fake.secretNames(), []);
  });

  it('refuses when cluster-info is missing and no endpoint and CA were given', async () => {
    await assert.rejects(
      prepareRenderMode(new FakeKube().port(), base),
      (err) => err instanceof KubeswapError && err.code === 'render.cluster-info-missing',
    );
  });
});
