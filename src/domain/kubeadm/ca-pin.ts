// The value of `kubeadm join --discovery-token-ca-cert-hash`: `sha256:` + hex SHA-256 of the CA
// certificate's DER SubjectPublicKeyInfo (kubeadm util/pubkeypin), not of the whole certificate.
import { createHash, X509Certificate } from 'node:crypto';
import { KubeswapError } from '../errors.ts';

export function caCertHash(caPem: string | Buffer): string {
  let certificate: X509Certificate;
  try {
    certificate = new X509Certificate(caPem);
  } catch (err) {
    throw new KubeswapError(
      'invalid',
      'kubeadm.ca-invalid',
      `the cluster CA is not a PEM certificate: ${(err as Error).message}`,
      { cause: err },
    );
  }
  const spki = certificate.publicKey.export({ type: 'spki', format: 'der' });
  return `sha256:${createHash('sha256').update(spki).digest('hex')}`;
}
