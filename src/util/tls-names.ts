/**
 * The names a peer certificate is valid for, for "host name mismatch" messages. Node's own message lists only the
 * SANs of the kind it compared: connecting to 127.0.0.1 with a certificate for `localhost` says "IP: 127.0.0.1 is
 * not in the cert's list: " (an empty list), which tells the operator nothing. docs/sinks.md promises the names.
 */
import type { PeerCertificate } from 'node:tls';

/** `DNS:localhost, IP Address:10.0.0.1` (or `CN=name` when the certificate has no SAN); undefined if unknown. */
export function certificateNames(cert: Partial<PeerCertificate> | undefined): string | undefined {
  if (cert === undefined || cert === null) return undefined;
  const san = typeof cert.subjectaltname === 'string' ? cert.subjectaltname.trim() : '';
  if (san !== '') return san;
  const cn = cert.subject?.CN;
  return typeof cn === 'string' && cn !== '' ? `CN=${cn}` : undefined;
}

/**
 * For an ERR_TLS_CERT_ALTNAME_INVALID error (tls.checkServerIdentity's, which carries `host` and `cert`): a sentence
 * naming the host that was checked and the names the certificate has. Undefined for any other error.
 */
export function describeHostMismatch(err: unknown): string | undefined {
  if (err === null || typeof err !== 'object') return undefined;
  const e = err as { code?: unknown; host?: unknown; cert?: Partial<PeerCertificate>; cause?: unknown };
  if (e.code !== 'ERR_TLS_CERT_ALTNAME_INVALID')
    return e.cause === undefined ? undefined : describeHostMismatch(e.cause);
  const names = certificateNames(e.cert);
  const host = typeof e.host === 'string' ? e.host : 'the host';
  return `host name mismatch: the certificate is for ${names ?? 'no name'}, not ${host}`;
}
