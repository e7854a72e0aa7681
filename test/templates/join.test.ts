import assert from 'node:assert/strict';
import { parse } from 'yaml';
import { parseUserData } from '../../integration/sandbox/join.ts';
import { KubeswapError } from '../../src/domain/errors.ts';
import { JOIN_SCRIPT_PATH } from '../../templates/cloud-config.ts';
import { renderControlPlaneJoin } from '../../templates/control-plane-join.ts';
import { JOIN_CONFIG_PATH, joinApiVersion } from '../../templates/join-configuration.ts';
import { cases, credentials } from './cases.ts';
import { matchSnapshot } from './snapshot.ts';

/** cloud-init reads user data as YAML 1.1 (PyYAML); read it the same way. */
const asCloudInit = (text: string) => parse(text, { version: '1.1' });
const joinFileOf = (userData: string) => asCloudInit(asCloudInit(userData).write_files[0].content);

describe('join templates: snapshots', () => {
  for (const c of cases) {
    it(c.name, () => matchSnapshot(c.snapshot, c.render()));
  }
});

describe('join templates', () => {
  it('picks the JoinConfiguration version the target kubeadm reads', () => {
    assert.equal(joinApiVersion('v1.22.0'), 'kubeadm.k8s.io/v1beta3');
    assert.equal(joinApiVersion('v1.30.14'), 'kubeadm.k8s.io/v1beta3');
    assert.equal(joinApiVersion('v1.31.0'), 'kubeadm.k8s.io/v1beta4');
    assert.equal(joinApiVersion('v1.37.2'), 'kubeadm.k8s.io/v1beta4');
    assert.equal(joinApiVersion('v1.31.2-eks-1234abc'), 'kubeadm.k8s.io/v1beta4');
    assert.throws(
      () => joinApiVersion('v1.21.14'),
      (err) => err instanceof KubeswapError,
    );
  });

  it('starts with #cloud-config and keeps every scalar a string under YAML 1.1', () => {
    for (const c of cases) {
      const text = c.render();
      assert.ok(text.startsWith('#cloud-config\n'), c.name);
      const doc = asCloudInit(text);
      for (const file of doc.write_files) assert.equal(typeof file.permissions, 'string', `${c.name}: ${file.path}`);
      const join = joinFileOf(text);
      const args = join.nodeRegistration?.kubeletExtraArgs ?? {};
      const values = Array.isArray(args) ? args.map((a: { value: unknown }) => a.value) : Object.values(args);
      for (const value of values) assert.equal(typeof value, 'string', `${c.name}: ${String(value)}`);
    }
  });

  it('writes the join file and the script, and runs the script from runcmd', () => {
    const doc = asCloudInit(cases[0]!.render());
    assert.deepEqual(
      doc.write_files.map((f: { path: string; permissions: string }) => [f.path, f.permissions]),
      [
        [JOIN_CONFIG_PATH, '0600'],
        [JOIN_SCRIPT_PATH, '0700'],
      ],
    );
    assert.deepEqual(doc.runcmd, [['/bin/bash', JOIN_SCRIPT_PATH]]);
    const script: string = doc.write_files[1].content;
    const order = ['systemctl enable', 'kubeadm join --config', `rm -f ${JOIN_CONFIG_PATH}`, 'signal-ready'].map((s) =>
      script.indexOf(s),
    );
    assert.deepEqual(
      [...order].sort((a, b) => a - b),
      order,
    );
    assert.match(script, /set -euo pipefail/);
    assert.match(script, /--node-name "\$node_name"/);
  });

  it('is read by the sandbox machine simulator as a control-plane join with the token, pin and key', () => {
    const intent = parseUserData(cases[0]!.render());
    assert.deepEqual(intent.kind === 'join' && intent.request, {
      token: credentials.token,
      apiServerEndpoint: 'api.cluster.example.internal:6443',
      caCertHashes: credentials.caCertHashes,
      unsafeSkipCAVerification: false,
      controlPlane: true,
      certificateKey: credentials.certificateKey,
      nodeName: undefined,
    });
  });

  it('never hands the certificate key to a worker', () => {
    const worker = cases.find((c) => c.snapshot.startsWith('worker'))!.render();
    assert.equal(worker.includes(credentials.certificateKey), false);
    assert.equal(joinFileOf(worker).controlPlane, undefined);
  });

  it('marks a control-plane join even without a certificate key (certs provided by the image)', () => {
    const text = renderControlPlaneJoin({
      kubernetesVersion: 'v1.37.2',
      apiServerEndpoint: 'api:6443',
      credentials: { token: credentials.token, caCertHashes: credentials.caCertHashes },
    });
    assert.deepEqual(joinFileOf(text).controlPlane, {});
  });

  it('is a pure function of its input', () => {
    for (const c of cases) assert.equal(c.render(), c.render());
  });
});
