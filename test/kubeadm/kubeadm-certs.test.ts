import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { decryptUploadedCert } from '../../integration/sandbox/join.ts';
import { KubeswapError } from '../../src/domain/errors.ts';
import {
  createCertificateKey,
  deleteKubeadmCerts,
  openCert,
  readPkiDir,
  SHARED_CERT_FILES,
  sealCert,
  secretKeyFor,
  uploadKubeadmCerts,
} from '../../src/engine/prepare/kubeadm-certs.ts';
import { FakeKube, fakePkiDir } from './fake-kube.ts';

const now = new Date('2026-03-01T10:00:00Z');

describe('kubeadm-certs encryption (copycerts + util/crypto)', () => {
  it('makes 32-byte hex keys', () => {
    assert.match(createCertificateKey(), /^[0-9a-f]{64}$/);
    assert.notEqual(createCertificateKey(), createCertificateKey());
  });

  it('seals as nonce(12) || ciphertext || tag(16) and opens with the same key', () => {
    const key = createCertificateKey();
    const data = Buffer.from('-----BEGIN CERTIFICATE-----\n...\n');
    const sealed = sealCert(data, key);
    assert.equal(sealed.length, 12 + data.length + 16);
    assert.deepEqual(openCert(sealed, key), data);
    // The sandbox's independent decoder (written from the same source) agrees.
    assert.deepEqual(decryptUploadedCert(sealed, key), data);
  });

  it('uses a fresh nonce per file, so equal files never give equal ciphertexts', () => {
    const key = createCertificateKey();
    assert.notDeepEqual(sealCert(Buffer.from('x'), key), sealCert(Buffer.from('x'), key));
  });

  it('fails to open with another key', () => {
    const sealed = sealCert(Buffer.from('secret'), createCertificateKey());
    assert.throws(() => openCert(sealed, createCertificateKey()));
  });

  it('names Secret keys after the files with / replaced by - (certOrKeyNameToSecretName)', () => {
    assert.deepEqual(SHARED_CERT_FILES.map(secretKeyFor), [
      'ca.crt',
      'ca.key',
      'front-proxy-ca.crt',
      'front-proxy-ca.key',
      'sa.pub',
      'sa.key',
      'etcd-ca.crt',
      'etcd-ca.key',
    ]);
  });
});

describe('uploading kubeadm-certs', () => {
  let dir: string;
  beforeEach(() => {
    dir = fakePkiDir();
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('uploads every file sealed under a fresh key, owned by a TTL proxy token, with the RBAC joins need', async () => {
    const fake = new FakeKube();
    const { certificateKey, proxyTokenId } = await uploadKubeadmCerts(fake.port(), fake.secretBytes(), {
      pkiDir: dir,
      runId: 'r1',
      ttlSeconds: 3600,
      now,
    });
    const stored = fake.secrets.get('kube-system/kubeadm-certs')!;
    assert.deepEqual(Object.keys(stored.bytes).sort(), SHARED_CERT_FILES.map(secretKeyFor).sort());
    const files = await readPkiDir(dir);
    for (const [file, bytes] of files)
      assert.deepEqual(openCert(stored.bytes[secretKeyFor(file)]!, certificateKey), bytes);
    const proxy = fake.secrets.get(`kube-system/bootstrap-token-${proxyTokenId}`)!;
    assert.deepEqual(stored.ownerReferences, [{ kind: 'Secret', name: proxy.name, uid: proxy.uid, controller: true }]);
    assert.equal(stored.labels['kubeswap.io/run-id'], 'r1');
    assert.deepEqual(
      fake.rbac.map((o) => `${o.kind}/${o.name}`),
      ['Role/kubeadm:kubeadm-certs', 'RoleBinding/kubeadm:kubeadm-certs'],
    );
  });

  it('refuses a PKI dir of another cluster before uploading anything', async () => {
    const fake = new FakeKube();
    await assert.rejects(
      uploadKubeadmCerts(fake.port(), fake.secretBytes(), {
        pkiDir: dir,
        runId: 'r1',
        ttlSeconds: 3600,
        now,
        expectedCaPin: `sha256:${'0'.repeat(64)}`,
      }),
      (err) => err instanceof KubeswapError && err.code === 'pki-dir.foreign-ca',
    );
    assert.deepEqual(fake.secretNames(), []);
  });

  it('names every missing file at once', async () => {
    rmSync(join(dir, 'sa.key'));
    rmSync(join(dir, 'etcd'), { recursive: true });
    await assert.rejects(readPkiDir(dir), (err) => {
      assert.ok(err instanceof KubeswapError);
      assert.deepEqual(
        err.problems.map((p) => p.message.match(/read (\S+)/)?.[1]),
        ['sa.key', 'etcd/ca.crt', 'etcd/ca.key'],
      );
      return true;
    });
  });

  it('deletes only a kubeadm-certs Secret kubeswap uploaded, never one the user uploaded', async () => {
    const fake = new FakeKube().withSecret({
      namespace: 'kube-system',
      name: 'kubeadm-certs',
      type: 'Opaque',
      data: { 'ca.crt': 'x' },
      labels: {},
    });
    assert.equal(await deleteKubeadmCerts(fake.port(), { exceptRunId: 'r1' }), 'not-ours');
    assert.equal(await deleteKubeadmCerts(fake.port(), { runId: 'r1' }), 'not-ours');
    assert.deepEqual(fake.secretNames(), ['kube-system/kubeadm-certs']);
  });
});
