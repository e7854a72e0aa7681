// Certificates as the readiness report reads them: who, by whom, valid until when. node:crypto parses DER and PEM.
import { X509Certificate } from 'node:crypto';

export interface CertificateView {
  subject: string;
  issuer: string;
  notBefore: Date;
  notAfter: Date;
}

export function certificateView(cert: X509Certificate): CertificateView {
  return {
    subject: oneLine(cert.subject),
    issuer: oneLine(cert.issuer),
    notBefore: new Date(cert.validFrom),
    notAfter: new Date(cert.validTo),
  };
}

/** Every certificate of a PEM bundle; a CA bundle in rotation holds two, and the one expiring first matters. */
export function pemCertificates(pem: string): CertificateView[] {
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  return blocks.map((block) => certificateView(new X509Certificate(block)));
}

/** The certificate of a bundle that expires first, or undefined for an empty bundle. */
export function firstToExpire(pem: string): CertificateView | undefined {
  return pemCertificates(pem).sort((a, b) => a.notAfter.getTime() - b.notAfter.getTime())[0];
}

function oneLine(name: string): string {
  return name.split('\n').filter(Boolean).join(', ');
}
