import assert from 'node:assert/strict';
import { KubeswapError } from '../../src/domain/errors.ts';
import { caCertHash } from '../../src/domain/kubeadm/ca-pin.ts';
import { fixture } from './fixtures.ts';

describe('CA pin for kubeadm join', () => {
  // Expected value computed with: openssl x509 -pubkey -noout -in ca.crt | openssl pkey -pubin -outform der
  //   | openssl dgst -sha256 (the recipe in the kubeadm join docs).
  it('hashes the DER SubjectPublicKeyInfo of the CA, as --discovery-token-ca-cert-hash expects', () => {
    assert.equal(caCertHash(fixture('ca.crt')), fixture('ca.crt.sha256').trim());
  });

  it('accepts the certificate as a Buffer', () => {
    assert.equal(caCertHash(Buffer.from(fixture('ca.crt'))), fixture('ca.crt.sha256').trim());
  });

  it('refuses text that is not a certificate', () => {
    assert.throws(
      () => caCertHash('not a pem'),
      (err) => err instanceof KubeswapError && err.code === 'kubeadm.ca-invalid',
    );
  });
});
