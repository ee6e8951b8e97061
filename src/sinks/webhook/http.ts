/**
 * The webhook's HTTP layer on Node's own http/https client: one keep-alive agent per sink, bounded by the request
 * concurrency; TLS verified unless configured off, with a private CA and a client certificate (mutual TLS).
 * Redirects are not followed (a signed body must not be replayed to another origin). Failures are values:
 * `request()` never rejects. The URL is a secret (chat webhooks carry their credential in the path): no message
 * built here contains it.
 */
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import tls from 'node:tls';
import type { IncomingHttpHeaders } from 'node:http';
import { AegisError, describeError } from '../../util/errors';
import { describeHostMismatch } from '../../util/tls-names';
import type { WebhookTlsConfig } from './config';

export interface HttpAnswer {
  readonly ok: true;
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  /** The first MAX_ANSWER_BYTES of the response body (dead-letter reasons quote its start). */
  readonly body: string;
}

export interface HttpFailure {
  readonly ok: false;
  readonly error: string;
  readonly aborted: boolean;
}

export interface WebhookHttpClient {
  request(
    method: string,
    headers: Readonly<Record<string, string>>,
    body: Buffer,
    signal: AbortSignal,
  ): Promise<HttpAnswer | HttpFailure>;
  /** Open a connection (TCP, and the TLS handshake with verification) and close it again. */
  probe(signal: AbortSignal): Promise<{ ok: true } | { ok: false; error: string }>;
  close(): void;
}

const MAX_ANSWER_BYTES = 4096;

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

export function createWebhookHttpClient(options: {
  readonly url: string;
  readonly maxSockets: number;
  readonly tls: WebhookTlsConfig;
}): WebhookHttpClient {
  const url = new URL(options.url);
  const secure = url.protocol === 'https:';
  const hostname = url.hostname.replace(/^\[(.*)\]$/, '$1');
  const port = url.port === '' ? (secure ? 443 : 80) : Number(url.port);
  const path = `${url.pathname}${url.search}`;
  const where = `${url.protocol}//${url.host}`;
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
  const describe = (err: unknown): string => {
    const mismatch = describeHostMismatch(err);
    const text = `${where}: ${describeError(err)}`;
    return mismatch === undefined ? text : `${text}: ${mismatch}`;
  };

  const request: WebhookHttpClient['request'] = (method, headers, body, signal) =>
    new Promise((resolve) => {
      if (signal.aborted) {
        resolve({ ok: false, error: 'aborted before sending', aborted: true });
        return;
      }
      let settled = false;
      const settle = (v: HttpAnswer | HttpFailure): void => {
        if (settled) return;
        settled = true;
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      };
      const r = transport.request(
        {
          protocol: url.protocol,
          hostname,
          port,
          path,
          method,
          headers: { ...headers, 'Content-Length': body.length },
          agent,
          ...(secure && options.tls.serverName !== undefined ? { servername: options.tls.serverName } : {}),
        },
        (res) => {
          const chunks: Buffer[] = [];
          let size = 0;
          res.on('data', (chunk: Buffer) => {
            if (size < MAX_ANSWER_BYTES) chunks.push(chunk);
            size += chunk.length;
          });
          res.on('end', () =>
            settle({
              ok: true,
              status: res.statusCode ?? 0,
              headers: res.headers,
              body: Buffer.concat(chunks).subarray(0, MAX_ANSWER_BYTES).toString('utf8'),
            }),
          );
          res.on('error', (err) =>
            settle({ ok: false, error: `response failed: ${describe(err)}`, aborted: signal.aborted }),
          );
        },
      );
      const onAbort = (): void => {
        r.destroy();
        settle({ ok: false, error: 'aborted', aborted: true });
      };
      signal.addEventListener('abort', onAbort, { once: true });
      r.on('error', (err) => settle({ ok: false, error: describe(err), aborted: signal.aborted }));
      r.end(body);
    });

  const probe: WebhookHttpClient['probe'] = (signal) =>
    new Promise((resolve) => {
      const done = (v: { ok: true } | { ok: false; error: string }): void => {
        signal.removeEventListener('abort', onAbort);
        socket.destroy();
        resolve(v);
      };
      const onAbort = (): void => done({ ok: false, error: `${where}: healthcheck aborted` });
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
