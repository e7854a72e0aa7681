import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createCipheriv, createHmac, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { stringify } from 'yaml';
import {
  caCertHash,
  decryptUploadedCert,
  parseUserData,
  renderHostnameTemplate,
  renderJoinRecipe,
  SHARED_CERTIFICATES,
  verifyDetachedJws,
} from '../../integration/sandbox/join.ts';
import { type ClusterFacts, joinRefusals } from '../../integration/sandbox/join-preflight.ts';

const TOKEN_ID = 'abcdef';
const TOKEN_SECRET = '0123456789abcdef';
const TOKEN = `${TOKEN_ID}.${TOKEN_SECRET}`;

/** The detached JWS the bootstrap signer writes: HS256 over the kubeconfig, keyed by the token secret. */
function sign(content: string, secret: string): string {
  const header = Buffer.from(JSON.stringify({ alg: 'HS256', kid: TOKEN_ID })).toString('base64url');
  const payload = Buffer.from(content).toString('base64url');
  const signature = createHmac('sha256', secret).update(`${header}.${payload}`).digest('base64url');
  return `${header}..${signature}`;
}

describe('sandbox join: user data', () => {
  const joinConfiguration = stringify({
    apiVersion: 'kubeadm.k8s.io/v1beta4',
    kind: 'JoinConfiguration',
    discovery: { bootstrapToken: { token: TOKEN, apiServerEndpoint: '127.0.0.1:6443', caCertHashes: ['sha256:aa'] } },
    controlPlane: { certificateKey: 'ff'.repeat(32) },
    nodeRegistration: { name: 'cp-new' },
  });

  it('finds a JoinConfiguration in a cloud-config write_files entry, gzip+base64 encoded', () => {
    const cloudConfig = `#cloud-config\n${stringify({
      write_files: [
        {
          path: '/run/kubeadm/kubeadm-join-config.yaml',
          encoding: 'gz+b64',
          content: gzipSync(joinConfiguration).toString('base64'),
        },
      ],
      runcmd: ['kubeadm join --config /run/kubeadm/kubeadm-join-config.yaml'],
    })}`;
    const intent = parseUserData(cloudConfig);
    assert.equal(intent.kind, 'join');
    assert.deepEqual(intent.kind === 'join' && intent.request, {
      token: TOKEN,
      apiServerEndpoint: '127.0.0.1:6443',
      caCertHashes: ['sha256:aa'],
      unsafeSkipCAVerification: false,
      controlPlane: true,
      certificateKey: 'ff'.repeat(32),
      nodeName: 'cp-new',
    });
  });

  it("reads Cluster API's bootstrap data: cloud-config behind the Jinja header, certificates in write_files", () => {
    // The shape CABPK v1.14 renders for a control-plane join (bootstrap/kubeadm/internal/cloudinit).
    const cabpk = `## template: jinja\n#cloud-config\n${stringify({
      write_files: [
        { path: '/etc/kubernetes/pki/ca.crt', content: 'CA CERT\n' },
        { path: '/etc/kubernetes/pki/etcd/ca.key', content: 'ETCD CA KEY\n' },
        {
          path: '/run/kubeadm/kubeadm-join-config.yaml',
          content: joinConfiguration
            .replace(/certificateKey: \S+/, 'localAPIEndpoint: {}')
            .replace('name: cp-new', "name: '{{ ds.meta_data.local_hostname }}'"),
        },
      ],
      runcmd: ['kubeadm join --config /run/kubeadm/kubeadm-join-config.yaml  && echo success'],
    })}`;
    const intent = parseUserData(cabpk);
    assert.equal(intent.kind, 'join');
    if (intent.kind !== 'join') return;
    assert.equal(intent.request.controlPlane, true);
    assert.equal(intent.request.certificateKey, undefined);
    assert.deepEqual(intent.request.certificates, { 'ca.crt': 'CA CERT\n', 'etcd/ca.key': 'ETCD CA KEY\n' });
    assert.equal(
      renderHostnameTemplate(intent.request.nodeName, 'ip-10-0-1-9.ec2.internal'),
      'ip-10-0-1-9.ec2.internal',
    );
    assert.equal(renderHostnameTemplate('cp-fixed', 'ip-10-0-1-9.ec2.internal'), 'cp-fixed');
  });

  it('reads a plain kubeadm join command line in a shell script', () => {
    const script = `#!/bin/bash\nkubeadm join 127.0.0.1:6443 --token ${TOKEN} --discovery-token-ca-cert-hash sha256:bb --control-plane\n`;
    const intent = parseUserData(script);
    assert.equal(intent.kind === 'join' && intent.request.token, TOKEN);
    assert.deepEqual(intent.kind === 'join' && intent.request.caCertHashes, ['sha256:bb']);
    assert.equal(intent.kind === 'join' && intent.request.controlPlane, true);
  });

  it('recognises the launch template recipe and rejects user data without join instructions', () => {
    assert.deepEqual(parseUserData(renderJoinRecipe('c1')), { kind: 'recipe' });
    assert.deepEqual(parseUserData('#!/bin/bash\necho hello\n'), { kind: 'none' });
  });
});

describe('sandbox join: kubeadm preflight', () => {
  let dir: string;
  let caPem: string;
  let kubeconfig: string;
  const facts = (over: Partial<ClusterFacts> = {}): ClusterFacts => ({
    now: new Date('2026-01-01T00:00:00Z'),
    tokenSecret: {
      'token-id': TOKEN_ID,
      'token-secret': TOKEN_SECRET,
      expiration: '2026-01-02T00:00:00Z',
      'usage-bootstrap-authentication': 'true',
      'usage-bootstrap-signing': 'true',
    },
    clusterInfo: { kubeconfig, [`jws-kubeconfig-${TOKEN_ID}`]: sign(kubeconfig, TOKEN_SECRET) },
    kubernetesVersion: 'v1.37.2',
    imageVersion: 'v1.37.2',
    imageBringsCertificates: true,
    ...over,
  });
  const request = () => ({
    token: TOKEN,
    caCertHashes: [caCertHash(caPem)],
    unsafeSkipCAVerification: false,
    controlPlane: true,
  });

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'sandbox-join-'));
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'rsa:2048',
        '-nodes',
        '-subj',
        '/CN=kubernetes',
        '-days',
        '1',
        '-keyout',
        join(dir, 'ca.key'),
        '-out',
        join(dir, 'ca.crt'),
      ],
      { stdio: 'ignore' },
    );
    caPem = readFileSync(join(dir, 'ca.crt'), 'utf8');
    kubeconfig = stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [
        {
          name: '',
          cluster: {
            server: 'https://127.0.0.1:6443',
            'certificate-authority-data': Buffer.from(caPem).toString('base64'),
          },
        },
      ],
    });
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('the CA pin is the sha256 of the DER SubjectPublicKeyInfo, as openssl computes it', () => {
    const der = execFileSync('sh', [
      '-c',
      `openssl x509 -pubkey -noout -in ${join(dir, 'ca.crt')} | openssl pkey -pubin -outform der | openssl dgst -sha256 -hex`,
    ]);
    assert.equal(caCertHash(caPem), `sha256:${der.toString().trim().split(' ').pop()}`);
  });

  it('lets a valid token, pin and version join', () => {
    assert.deepEqual(joinRefusals(request(), facts()), []);
  });

  it('refuses a control-plane join without a certificate key when the image brings no certificates, as kubeadm does', () => {
    assert.match(
      joinRefusals(request(), facts({ imageBringsCertificates: false })).join(),
      /without a certificate key/,
    );
    assert.deepEqual(
      joinRefusals({ ...request(), controlPlane: false }, facts({ imageBringsCertificates: false })),
      [],
    );
  });

  it('lets a control-plane join without a certificate key through when the user data writes every shared certificate with the cluster CA', () => {
    const written = (ca: string) =>
      Object.fromEntries(SHARED_CERTIFICATES.map((n) => [n, n === 'ca.crt' ? ca : 'PEM']));
    const noImageCerts = facts({ imageBringsCertificates: false });
    assert.deepEqual(joinRefusals({ ...request(), certificates: written(caPem) }, noImageCerts), []);
    const { 'sa.key': _, ...withoutSaKey } = written(caPem);
    assert.match(joinRefusals({ ...request(), certificates: withoutSaKey }, noImageCerts).join(), /writes no sa\.key/);
    assert.match(
      joinRefusals({ ...request(), certificates: written('not a certificate') }, noImageCerts).join(),
      /not a certificate/,
    );
  });

  it('refuses a missing, expired or wrong token', () => {
    assert.match(joinRefusals(request(), facts({ tokenSecret: undefined }))[0]!, /does not exist/);
    assert.match(joinRefusals(request(), facts({ now: new Date('2026-01-03T00:00:00Z') }))[0]!, /expired/);
    assert.match(joinRefusals({ ...request(), token: 'abcdef.ffffffffffffffff' }, facts())[0]!, /different secret/);
  });

  it('refuses when cluster-info is not signed for the token or the CA pin differs', () => {
    assert.match(joinRefusals(request(), facts({ clusterInfo: { kubeconfig } }))[0]!, /no signature/);
    assert.match(joinRefusals({ ...request(), caCertHashes: ['sha256:00'] }, facts())[0]!, /CA cert hashes/);
  });

  it('refuses a kubelet newer than kubeadm-config kubernetesVersion (by minor), allows an older patch', () => {
    const refusals = joinRefusals(request(), facts({ kubernetesVersion: 'v1.36.3', imageVersion: 'v1.37.2' }));
    assert.match(refusals[0]!, /higher than the control plane version/);
    assert.deepEqual(joinRefusals(request(), facts({ kubernetesVersion: 'v1.37.0', imageVersion: 'v1.37.2' })), []);
    assert.deepEqual(joinRefusals(request(), facts({ kubernetesVersion: 'v1.37.2', imageVersion: 'v1.36.3' })), []);
  });

  it('checks the certificate key against kubeadm-certs like copycerts decrypts it', () => {
    const key = randomBytes(32);
    const nonce = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', key, nonce);
    const sealed = Buffer.concat([nonce, cipher.update(caPem), cipher.final(), cipher.getAuthTag()]);
    assert.equal(decryptUploadedCert(sealed, key.toString('hex')).toString(), caPem);
    const withKey = { ...request(), certificateKey: key.toString('hex') };
    assert.deepEqual(joinRefusals(withKey, facts({ uploadedCerts: { 'ca.crt': sealed } })), []);
    const wrong = { ...request(), certificateKey: 'ab'.repeat(32) };
    assert.match(joinRefusals(wrong, facts({ uploadedCerts: { 'ca.crt': sealed } }))[0]!, /does not decrypt/);
    assert.match(joinRefusals(withKey, facts())[0]!, /kubeadm-certs is missing/);
  });

  it('verifies detached JWS signatures and rejects tampered content', () => {
    const sig = sign('content', TOKEN_SECRET);
    assert.equal(verifyDetachedJws(sig, 'content', TOKEN_SECRET), true);
    assert.equal(verifyDetachedJws(sig, 'content2', TOKEN_SECRET), false);
  });
});
