// The certificate a TLS server presents, read from the handshake (node:tls getPeerCertificate): how the readiness
// report learns when each apiserver's and etcd member's serving certificate expires without reading their files.
// Only the dates and names are read and nothing is sent, so the chain is not verified here (an expired certificate
// must still be readable to be reported); the connection is closed right after the handshake.
import { connect } from 'node:tls';
import { type CertificateView, certificateView } from '../../domain/readiness/x509.ts';

export const HANDSHAKE_TIMEOUT_MS = 5_000;

export function servingCertificate(url: string, timeoutMs = HANDSHAKE_TIMEOUT_MS): Promise<CertificateView> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect({
      host: hostname.replace(/^\[|\]$/g, ''),
      port: Number(port || 443),
      // SNI needs a name, not an IP address (RFC 6066 §3).
      ...(/^[\d.]+$|:/.test(hostname) ? {} : { servername: hostname }),
      rejectUnauthorized: false,
      timeout: timeoutMs,
    });
    socket.once('secureConnect', () => {
      const cert = socket.getPeerX509Certificate();
      socket.destroy();
      if (cert) resolve(certificateView(cert));
      else reject(new Error(`${url} presented no certificate`));
    });
    socket.once('timeout', () => {
      socket.destroy();
      reject(new Error(`${url}: no TLS handshake within ${timeoutMs} ms`));
    });
    socket.once('error', (err) => reject(new Error(`${url}: ${err.message}`)));
  });
}
