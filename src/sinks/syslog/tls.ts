/**
 * TLS for the syslog sink (RFC 5425, and RELP over TLS): Node's tls with verification always on.
 *
 * - The receiver's certificate must chain to `ca_file` (or Node's public CA bundle) and carry the expected name
 *   (`server_name`, else `host`; an IP address is matched against IP SANs). There is no switch to turn either check
 *   off and never a fallback to plaintext: a failure is an error naming its cause, the events wait in the buffer.
 * - Certificate and key files are read at every connection attempt, not once at start: fixing a CA bundle or
 *   rotating a client certificate takes effect at the next reconnect (or SIGHUP) without losing buffered events.
 * - TLS 1.2 is the floor (`min_version`), as RFC 9662 expects for syslog over TLS today.
 */
import fs from 'node:fs';
import net from 'node:net';
import tls from 'node:tls';
import { describeError } from '../../util/errors';
import { describeHostMismatch } from '../../util/tls-names';
import type { SyslogTlsConfig } from './config';

/** Connection options for tls.connect, with the files read now. Throws (with the key name) when a file cannot be read. */
export async function tlsConnectOptions(
  config: SyslogTlsConfig,
  host: string,
  port: number,
): Promise<tls.ConnectionOptions> {
  const read = async (key: string, file: string | undefined): Promise<Buffer | undefined> => {
    if (file === undefined) return undefined;
    try {
      return await fs.promises.readFile(file);
    } catch (err) {
      throw new TlsSetupError(`cannot read tls.${key} ${file}: ${describeError(err)}`, { cause: err });
    }
  };
  const [ca, cert, key] = await Promise.all([
    read('ca_file', config.caFile),
    read('cert_file', config.certFile),
    read('key_file', config.keyFile),
  ]);
  const expectedName = config.serverName ?? host;
  return {
    host,
    port,
    // SNI carries names only (RFC 6066 §3); an IP address is still checked against the certificate's IP SANs.
    servername: net.isIP(expectedName) === 0 ? expectedName : undefined,
    ca,
    cert,
    key,
    passphrase: config.keyPassphrase,
    minVersion: config.minVersion,
    rejectUnauthorized: true,
    checkServerIdentity: (_host, peer) => tls.checkServerIdentity(expectedName, peer),
  };
}

/** A local TLS problem (unreadable certificate or key): the operator must act. */
export class TlsSetupError extends Error {
  override readonly name = 'TlsSetupError';
}

/** Node / OpenSSL verification codes that mean "the receiver's certificate is not trusted". */
const UNTRUSTED = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_SIGNATURE_FAILURE',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
  'INVALID_CA',
  'PATH_LENGTH_EXCEEDED',
  'INVALID_PURPOSE',
]);

export interface TlsErrorDescription {
  /** A sentence naming the cause and what to check. */
  readonly reason: string;
  /** True when retrying cannot help until someone changes a certificate or the configuration. */
  readonly needsOperator: boolean;
}

/**
 * Describe a TLS connection failure in words an operator can act on, or undefined if it is not a TLS problem.
 * `where` is `host:port`; `config` names the files involved.
 */
export function describeTlsError(
  err: unknown,
  where: string,
  config: SyslogTlsConfig,
): TlsErrorDescription | undefined {
  if (err instanceof TlsSetupError) return { reason: `TLS setup failed: ${err.message}`, needsOperator: true };
  const code = (err as { code?: unknown }).code;
  const message = err instanceof Error ? err.message : String(err);
  const ca = config.caFile === undefined ? "Node's public CA bundle (set tls.ca_file)" : `tls.ca_file ${config.caFile}`;
  if (typeof code !== 'string') return undefined;
  if (UNTRUSTED.has(code)) {
    return {
      reason: `TLS: the certificate of ${where} is not trusted: it does not chain to a CA in ${ca} (${code}). Check that tls.ca_file holds the CA that signed the receiver's certificate.`,
      needsOperator: true,
    };
  }
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') {
    return {
      reason: `TLS: ${describeHostMismatch(err) ?? `host name mismatch: ${message}`} (${code}). Connect by a name in the receiver's certificate or set tls.server_name to it.`,
      needsOperator: true,
    };
  }
  if (code === 'CERT_HAS_EXPIRED')
    return {
      reason: `TLS: the certificate of ${where} has expired (${code}). Renew the receiver's certificate.`,
      needsOperator: true,
    };
  if (code === 'CERT_NOT_YET_VALID')
    return {
      reason: `TLS: the certificate of ${where} is not valid yet (${code}); check the clocks of both hosts.`,
      needsOperator: true,
    };
  if (code === 'CERT_REVOKED')
    return { reason: `TLS: the certificate of ${where} is revoked (${code}).`, needsOperator: true };
  if (
    code === 'ERR_SSL_WRONG_VERSION_NUMBER' ||
    code === 'ERR_SSL_PACKET_LENGTH_TOO_LONG' ||
    code === 'ECONNRESET_DURING_HANDSHAKE'
  ) {
    return {
      reason: `TLS: ${where} did not answer with TLS (${code}); is it a plain-TCP port? (aegisbpf never falls back to plaintext.)`,
      needsOperator: true,
    };
  }
  if (
    code.startsWith('ERR_SSL_TLSV1_ALERT_') ||
    code.startsWith('ERR_SSL_SSLV3_ALERT_') ||
    code.startsWith('ERR_SSL_TLSV13_ALERT_')
  ) {
    const alert = code
      .replace(/^ERR_SSL_(TLSV1|SSLV3|TLSV13)_ALERT_/, '')
      .toLowerCase()
      .replace(/_/g, ' ');
    const hint = /certificate required|unknown ca|bad certificate|certificate unknown|access denied|decrypt error/.test(
      alert,
    )
      ? ' The receiver refused our client certificate: check tls.cert_file / tls.key_file and the CA the receiver trusts.'
      : alert.includes('protocol version')
        ? ' No TLS version in common: check tls.min_version and the receiver.'
        : '';
    return {
      reason: `TLS: ${where} ended the handshake with the alert "${alert}" (${code}).${hint}`,
      needsOperator: true,
    };
  }
  if (code.startsWith('ERR_SSL_') || code.startsWith('ERR_OSSL_') || code.startsWith('ERR_TLS_')) {
    return { reason: `TLS: handshake with ${where} failed: ${message} (${code}).`, needsOperator: true };
  }
  return undefined;
}
