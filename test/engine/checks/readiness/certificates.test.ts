import assert from 'node:assert/strict';
import { checkCertificates } from '../../../../src/engine/checks/readiness/certificates.ts';
import { cert, FakeReadiness, NOW } from './fake-readiness.ts';

const HOUR = 3_600_000;
const options = { now: NOW, expectedRunMs: 90 * 60_000, warningDays: 30, replaced: ['cp-a'] };

describe('readiness: certificates', () => {
  it('blocks an expired certificate and one expiring within the run, warns within --cert-warning-days', async () => {
    const port = new FakeReadiness();
    port.certs['clusterCa'] = cert(-1, 'CN=kubernetes');
    port.certs['client'] = { ...cert(0), notAfter: new Date(NOW.getTime() + HOUR) };
    port.certs['frontProxyCa'] = cert(10, 'CN=front-proxy-ca');
    const result = await checkCertificates(port, port.endpoints, [], options);
    const sev = Object.fromEntries(result.certificates.map((c) => [c.name, c.severity]));
    assert.equal(sev['cluster CA (kube-public/cluster-info)'], 'block');
    assert.equal(sev['kubeswap client certificate (kubeconfig)'], 'block');
    assert.equal(sev['front-proxy CA'], 'warn');
    assert.equal(sev['apiserver cp-a serving'], 'ok');
    assert.deepEqual(
      result.findings.map((f) => f.code),
      ['cert.expired', 'cert.expiring', 'cert.expiring'],
    );
  });

  it('reads days left of each apiserver and etcd member, noting the machines that get new certificates', async () => {
    const port = new FakeReadiness();
    port.serving['https://10.0.0.2:6443'] = cert(20);
    const result = await checkCertificates(port, port.endpoints, [{ member: 'cp-a', url: 'https://10.0.0.1:2379' }], {
      ...options,
      warningDays: 10,
    });
    const row = (name: string) => result.certificates.find((c) => c.name === name)!;
    assert.equal(row('apiserver cp-b serving').daysLeft, 20);
    assert.equal(row('apiserver cp-b serving').severity, 'ok');
    assert.match(row('etcd cp-a serving').note ?? '', /kubeadm join/);
    assert.equal(row('apiserver cp-b serving').note, undefined);
  });

  it('says what it could not read and leaves out a client certificate the kubeconfig does not use', async () => {
    const port = new FakeReadiness();
    port.certs['client'] = undefined;
    port.serving['https://10.0.0.1:6443'] = new Error('connect ECONNREFUSED');
    const result = await checkCertificates(port, port.endpoints, [], options);
    assert.ok(!result.certificates.some((c) => c.name.includes('client')));
    assert.deepEqual(
      result.findings.map((f) => [f.severity, f.subject]),
      [['skipped', 'apiserver cp-a serving']],
    );
  });
});
