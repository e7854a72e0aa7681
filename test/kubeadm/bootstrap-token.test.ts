import assert from 'node:assert/strict';
import { inspect } from 'node:util';
import {
  BOOTSTRAP_TOKEN_PATTERN,
  cleanupRunTokens,
  createBootstrapToken,
  findRunToken,
  JoinCredentials,
  rfc3339,
} from '../../src/engine/prepare/bootstrap-token.ts';
import { FakeKube } from './fake-kube.ts';

const now = new Date('2026-03-01T10:00:00.123Z');

describe('bootstrap tokens like kubeadm makes them', () => {
  it('writes the Secret kubeadm writes: type, id, secret, RFC3339 expiry, both usages and the node group', async () => {
    const fake = new FakeKube();
    const token = await createBootstrapToken(fake.port(), { runId: 'r1', ttlSeconds: 3600, now, purpose: 'join' });
    assert.match(token.token, BOOTSTRAP_TOKEN_PATTERN);
    const secret = (await fake.port().getSecret('kube-system', `bootstrap-token-${token.id}`))!;
    assert.equal(secret.type, 'bootstrap.kubernetes.io/token');
    assert.deepEqual(Object.keys(secret.data).sort(), [
      'auth-extra-groups',
      'description',
      'expiration',
      'token-id',
      'token-secret',
      'usage-bootstrap-authentication',
      'usage-bootstrap-signing',
    ]);
    assert.equal(`${secret.data['token-id']}.${secret.data['token-secret']}`, token.token);
    assert.equal(secret.data.expiration, '2026-03-01T11:00:00Z');
    assert.equal(secret.data['usage-bootstrap-authentication'], 'true');
    assert.equal(secret.data['usage-bootstrap-signing'], 'true');
    assert.equal(secret.data['auth-extra-groups'], 'system:bootstrappers:kubeadm:default-node-token');
    assert.match(secret.data.description!, /kubeswap run r1/);
    assert.deepEqual(secret.labels, { 'kubeswap.io/run-id': 'r1', 'kubeswap.io/token-purpose': 'join' });
  });

  it('gives a kubeadm-certs TTL proxy no usages, so it cannot authenticate (copycerts createShortLivedBootstrapToken)', async () => {
    const fake = new FakeKube();
    const token = await createBootstrapToken(fake.port(), {
      runId: 'r1',
      ttlSeconds: 60,
      now,
      purpose: 'kubeadm-certs',
    });
    const secret = (await fake.port().getSecret('kube-system', token.secretName))!;
    assert.deepEqual(Object.keys(secret.data).sort(), ['description', 'expiration', 'token-id', 'token-secret']);
  });

  it('draws ids and secrets over [a-z0-9] only', async () => {
    const fake = new FakeKube();
    const seen = new Set<string>();
    for (let i = 0; i < 50; i++) {
      const t = await createBootstrapToken(fake.port(), { runId: 'r', ttlSeconds: 60, now, purpose: 'join' });
      assert.match(t.token, BOOTSTRAP_TOKEN_PATTERN);
      seen.add(t.id);
    }
    assert.equal(seen.size, 50);
  });

  it('formats expiration like Go time.RFC3339 in UTC', () => {
    assert.equal(rfc3339(new Date('2026-01-02T03:04:05.678Z')), '2026-01-02T03:04:05Z');
  });
});

describe('cleaning up tokens of earlier runs', () => {
  const userToken = {
    namespace: 'kube-system',
    name: 'bootstrap-token-abcdef',
    type: 'bootstrap.kubernetes.io/token',
    data: { 'token-id': 'abcdef', 'token-secret': '0123456789abcdef', expiration: '2026-03-01T09:00:00Z' },
    labels: {},
  };

  it('deletes only kubeswap-labelled tokens of other runs and leaves tokens people made', async () => {
    const fake = new FakeKube().withSecret(userToken);
    const port = fake.port();
    const killed = await createBootstrapToken(port, { runId: 'killed', ttlSeconds: 3600, now, purpose: 'join' });
    const current = await createBootstrapToken(port, { runId: 'current', ttlSeconds: 3600, now, purpose: 'join' });
    const deleted = await cleanupRunTokens(port, { keepRunId: 'current' });
    assert.deepEqual(deleted, [killed.secretName]);
    assert.deepEqual(
      fake.secretNames(),
      [`kube-system/${current.secretName}`, 'kube-system/bootstrap-token-abcdef'].sort(),
    );
  });

  it('can limit the cleanup to tokens expiring before an instant', async () => {
    const fake = new FakeKube();
    const port = fake.port();
    const short = await createBootstrapToken(port, { runId: 'a', ttlSeconds: 60, now, purpose: 'join' });
    await createBootstrapToken(port, { runId: 'b', ttlSeconds: 7200, now, purpose: 'join' });
    const deleted = await cleanupRunTokens(port, { expiresBefore: new Date(now.getTime() + 3600_000) });
    assert.deepEqual(deleted, [short.secretName]);
  });

  it('finds the live token of a run so a resumed run can reuse it', async () => {
    const fake = new FakeKube();
    const made = await createBootstrapToken(fake.port(), { runId: 'r1', ttlSeconds: 3600, now, purpose: 'join' });
    const found = await findRunToken(fake.port(), 'r1', 'join');
    assert.deepEqual(found, { ...made });
    assert.equal(await findRunToken(fake.port(), 'r2', 'join'), undefined);
  });
});

describe('JoinCredentials', () => {
  const credentials = new JoinCredentials('abcdef.0123456789abcdef', ['sha256:' + 'a'.repeat(64)], 'f'.repeat(64));
  const leaks = (text: string) => text.includes('0123456789abcdef') || text.includes('f'.repeat(64));

  it('never shows the token secret or the certificate key when printed, serialised or spread', () => {
    assert.equal(leaks(JSON.stringify(credentials)), false);
    assert.equal(leaks(JSON.stringify({ nested: credentials })), false);
    assert.equal(leaks(inspect(credentials, { showHidden: true, depth: 5 })), false);
    assert.equal(leaks(`${credentials}`), false);
    assert.equal(leaks(JSON.stringify({ ...credentials })), false);
    assert.deepEqual(credentials.redact(), {
      token: 'abcdef.<redacted>',
      caCertHashes: ['sha256:' + 'a'.repeat(64)],
      certificateKey: '<redacted>',
    });
  });

  it('hands the secrets to whoever asks for them by name (the templates)', () => {
    assert.equal(credentials.token, 'abcdef.0123456789abcdef');
    assert.equal(credentials.certificateKey, 'f'.repeat(64));
  });
});
