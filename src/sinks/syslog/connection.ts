/**
 * Opening the byte stream under tcp, tls and relp: TCP connect, then (for TLS) the handshake with verification,
 * bounded by `connect_timeout_ms` and the caller's abort signal. The caller owns the socket afterwards.
 */
import net from 'node:net';
import tls from 'node:tls';
import type { SyslogTlsConfig } from './config';
import { tlsConnectOptions } from './tls';

export interface StreamTarget {
  readonly host: string;
  readonly port: number;
  readonly connectTimeoutMillis: number;
  /** TLS settings, or undefined for plain TCP. */
  readonly tls: SyslogTlsConfig | undefined;
}

/** How long to wait, after a TLS 1.3 handshake, for the receiver to accept our certificate (see below). */
export const TLS13_ACCEPT_GRACE_MILLIS = 1000;

export class ConnectTimeoutError extends Error {
  readonly code = 'ETIMEDOUT';
  override readonly name = 'ConnectTimeoutError';
}

export class AbortedError extends Error {
  readonly code = 'ABORT_ERR';
  override readonly name = 'AbortedError';
}

/**
 * Connect (and handshake). Resolves with a connected socket; rejects with the error (a TLS verification error
 * keeps its code, see tls.ts). Keepalive is on so an idle connection to a vanished receiver is noticed.
 */
export async function openStream(target: StreamTarget, signal: AbortSignal): Promise<net.Socket> {
  if (signal.aborted) throw new AbortedError('aborted before connecting');
  const options = target.tls === undefined ? undefined : await tlsConnectOptions(target.tls, target.host, target.port);
  return new Promise<net.Socket>((resolve, reject) => {
    const socket: net.Socket =
      options === undefined ? net.connect({ host: target.host, port: target.port }) : tls.connect(options);
    let settled = false;
    const finish = (err: Error | undefined): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
      socket.off('error', onError);
      socket.off('close', onClose);
      if (err !== undefined) {
        socket.destroy();
        reject(err);
      } else {
        socket.setNoDelay(true);
        socket.setKeepAlive(true, 30_000);
        resolve(socket);
      }
    };
    const onError = (err: Error): void => finish(err);
    const onClose = (): void =>
      finish(
        Object.assign(
          new Error(
            options === undefined
              ? `${target.host}:${target.port} closed the connection during set-up`
              : `${target.host}:${target.port} closed the connection during the TLS handshake (does it require a client certificate, tls.cert_file / tls.key_file? does it speak TLS on this port?)`,
          ),
          { code: 'ECONNRESET' },
        ),
      );
    const onAbort = (): void => finish(new AbortedError('aborted while connecting'));
    const timer = setTimeout(
      () =>
        finish(
          new ConnectTimeoutError(
            `no connection to ${target.host}:${target.port} within ${target.connectTimeoutMillis} ms`,
          ),
        ),
      target.connectTimeoutMillis,
    );
    socket.on('error', onError);
    socket.on('close', onClose);
    signal.addEventListener('abort', onAbort, { once: true });
    if (options === undefined) {
      socket.once('connect', () => finish(undefined));
      return;
    }
    const tlsSocket = socket as tls.TLSSocket;
    tlsSocket.once('secureConnect', () => {
      // In TLS 1.3 the client finishes its handshake before the server has checked the client certificate: a
      // receiver that refuses it (mutual TLS) says so with an alert right after. Writing at once would count
      // events as delivered that the receiver never took. A server that accepted us sends its session tickets
      // (the 'session' event) at that point, so wait for them, or an error, or a short grace time.
      if (tlsSocket.getProtocol() !== 'TLSv1.3') {
        finish(undefined);
        return;
      }
      const grace = setTimeout(
        () => finish(undefined),
        Math.min(TLS13_ACCEPT_GRACE_MILLIS, target.connectTimeoutMillis),
      );
      tlsSocket.once('session', () => {
        clearTimeout(grace);
        // Not synchronously: 'session' is emitted from inside OpenSSL's read processing, and a write issued before
        // that returns (even from a microtask) corrupts the TLS record stream — rsyslog's ossl driver then fails
        // with "decryption failed or bad record mac" after the first ~100 KB. setImmediate runs after the read is done.
        setImmediate(() => finish(undefined));
      });
      tlsSocket.once('close', () => clearTimeout(grace));
    });
  });
}
