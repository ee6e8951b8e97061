/**
 * The HTTP layer of the HTTP sinks (splunk_hec, webhook), on Node's own http/https client (why not splunk-logging or
 * undici: docs/dependencies.md). One keep-alive agent per sink instance, bounded by `maxSockets`, so connections are
 * reused across batches and never unbounded. TLS is verified unless configured off, with a private CA and a client
 * certificate (mutual TLS). Redirects are not followed (a signed body must not be replayed to another origin).
 *
 * Failures are values: `request()` never rejects. A failure says whether the request body had been handed to the
 * socket completely (`sent`): then the receiver may have acted on it, and a resend may duplicate it. Messages name
 * the receiver by `errorPrefix` only, never by the full URL (a webhook's path can carry its credential).
 */
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import tls from 'node:tls';
import type { IncomingHttpHeaders } from 'node:http';
import { AegisError, describeError } from '../../util/errors';
import { describeHostMismatch } from '../../util/tls-names';

export interface HttpAnswer {
  readonly ok: true;
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  /** The start of the response body as text, at most `maxAnswerBytes`. */
  readonly body: string;
}

export interface HttpFailure {
  readonly ok: false;
  readonly error: string;
  /** True when the whole request had been written: the receiver may have acted on it. */
  readonly sent: boolean;
  readonly aborted: boolean;
}

export interface HttpRequest {
  readonly method: string;
  /** Path and query, appended to the client's `pathPrefix`. */
  readonly path: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly body?: Buffer;
}

export interface HttpClient {
  request(req: HttpRequest, signal: AbortSignal): Promise<HttpAnswer | HttpFailure>;
  /** Open a connection (TCP, and the TLS handshake with verification) and close it again. */
  probe(signal: AbortSignal): Promise<{ ok: true } | { ok: false; error: string }>;
  close(): void;
}

export interface HttpTlsOptions {
  readonly verify: boolean;
  readonly caFile?: string;
  readonly certFile?: string;
  readonly keyFile?: string;
  /** SNI and the name the certificate is checked against, where it differs from the URL's host. */
  readonly serverName?: string;
}

export interface HttpClientOptions {
  /** The receiver's URL: its scheme, host and port are used; its path only through `pathPrefix`. */
  readonly url: string;
  /** Put before every request's path (e.g. the base path of a HEC endpoint behind a proxy); default none. */
  readonly pathPrefix?: string;
  readonly maxSockets: number;
  readonly tls: HttpTlsOptions;
  /** How much of an answer's body is kept (default 64 KiB). */
  readonly maxAnswerBytes?: number;
  /** Put before error messages, e.g. `https://host:port: ` (default none). */
  readonly errorPrefix?: string;
}

const DEFAULT_MAX_ANSWER_BYTES = 64 * 1024;

function readPem(key: string, file: string | undefined): Buffer | undefined {
  if (file === undefined) return undefined;
  try {
    return fs.readFileSync(file);
  } catch (err) {
    throw new AegisError('AEGIS_ERR_CONFIG_READ', `${key}: cannot read ${file}: ${describeError(err)}`, {
      cause: err,
    });
  }
}

export function createHttpClient(options: HttpClientOptions): HttpClient {
  const url = new URL(options.url);
  const secure = url.protocol === 'https:';
  // URL keeps IPv6 literals in brackets ([::1]); the http client wants the bare address.
  const hostname = url.hostname.replace(/^\[(.*)\]$/, '$1');
  const port = url.port === '' ? (secure ? 443 : 80) : Number(url.port);
  const pathPrefix = options.pathPrefix ?? '';
  const maxAnswerBytes = options.maxAnswerBytes ?? DEFAULT_MAX_ANSWER_BYTES;
  const errorPrefix = options.errorPrefix ?? '';
  const ca = secure ? readPem('tls.ca_file', options.tls.caFile) : undefined;
  const cert = secure ? readPem('tls.cert_file', options.tls.certFile) : undefined;
  const key = secure ? readPem('tls.key_file', options.tls.keyFile) : undefined;
  const tlsOptions = {
    rejectUnauthorized: options.tls.verify,
    ...(ca === undefined ? {} : { ca }),
    ...(cert === undefined ? {} : { cert }),
    ...(key === undefined ? {} : { key }),
    ...(options.tls.serverName === undefined ? {} : { servername: options.tls.serverName }),
  };
  const agentOptions = {
    keepAlive: true,
    maxSockets: options.maxSockets,
    maxFreeSockets: options.maxSockets,
    scheduling: 'lifo' as const,
  };
  const agent = secure ? new https.Agent({ ...agentOptions, ...tlsOptions }) : new http.Agent(agentOptions);
  const transport = secure ? https : http;
  // Node's host-name-mismatch message for an IP lists no names; add the certificate's (docs/sinks.md promises them).
  const describe = (err: unknown): string => {
    const mismatch = describeHostMismatch(err);
    const text = `${errorPrefix}${describeError(err)}`;
    return mismatch === undefined ? text : `${text}: ${mismatch}`;
  };

  const request: HttpClient['request'] = (req, signal) =>
    new Promise((resolve) => {
      if (signal.aborted) {
        resolve({ ok: false, error: 'aborted before sending', sent: false, aborted: true });
        return;
      }
      let settled = false;
      let sent = false;
      const settle = (v: HttpAnswer | HttpFailure): void => {
        if (settled) return;
        settled = true;
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      };
      const headers: Record<string, string | number> = { ...req.headers };
      if (req.body !== undefined) headers['Content-Length'] = req.body.length;
      const r = transport.request(
        {
          protocol: url.protocol,
          hostname,
          port,
          path: pathPrefix + req.path,
          method: req.method,
          headers,
          agent,
          ...(secure && options.tls.serverName !== undefined ? { servername: options.tls.serverName } : {}),
        },
        (res) => {
          const chunks: Buffer[] = [];
          let size = 0;
          res.on('data', (chunk: Buffer) => {
            if (size < maxAnswerBytes) chunks.push(chunk);
            size += chunk.length;
          });
          res.on('end', () =>
            settle({
              ok: true,
              status: res.statusCode ?? 0,
              headers: res.headers,
              body: Buffer.concat(chunks).subarray(0, maxAnswerBytes).toString('utf8'),
            }),
          );
          res.on('error', (err) =>
            settle({ ok: false, error: `response failed: ${describe(err)}`, sent: true, aborted: signal.aborted }),
          );
        },
      );
      const onAbort = (): void => {
        r.destroy();
        settle({ ok: false, error: 'aborted', sent, aborted: true });
      };
      signal.addEventListener('abort', onAbort, { once: true });
      r.on('finish', () => {
        sent = true;
      });
      r.on('error', (err) => settle({ ok: false, error: describe(err), sent, aborted: signal.aborted }));
      r.end(req.body);
    });

  const probe: HttpClient['probe'] = (signal) =>
    new Promise((resolve) => {
      const done = (v: { ok: true } | { ok: false; error: string }): void => {
        signal.removeEventListener('abort', onAbort);
        socket.destroy();
        resolve(v);
      };
      const onAbort = (): void => done({ ok: false, error: `${errorPrefix}healthcheck aborted` });
      // SNI carries names only (RFC 6066): an IP literal is verified without one.
      const sni = options.tls.serverName ?? (net.isIP(hostname) === 0 ? hostname : undefined);
      const socket = secure
        ? tls.connect({ host: hostname, port, ...tlsOptions, ...(sni === undefined ? {} : { servername: sni }) }, () =>
            done({ ok: true }),
          )
        : net.connect(port, hostname, () => done({ ok: true }));
      socket.on('error', (err) => done({ ok: false, error: describe(err) }));
      if (signal.aborted) onAbort();
      else signal.addEventListener('abort', onAbort, { once: true });
    });

  return { request, probe, close: () => agent.destroy() };
}
