/**
 * The HTTP layer of the HEC sink, on Node's own http/https client (why not splunk-logging or undici:
 * docs/dependencies.md). One keep-alive agent per sink instance, bounded by `maxSockets` (the sink's request
 * concurrency plus one socket for the ack poll), so connections are reused across batches and never unbounded.
 *
 * Failures are values: `request()` never rejects. A failure says whether the request body had been handed to the
 * socket completely (`sent`): then the receiver may have processed it, and a resend may duplicate it.
 */
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { IncomingHttpHeaders } from 'node:http';
import { AegisError, describeError } from '../../util/errors';
import { describeHostMismatch } from '../../util/tls-names';

/** Node's host-name-mismatch message for an IP lists no names; add the certificate's (docs/sinks.md promises them). */
function withCertificateNames(text: string, err: unknown): string {
  const mismatch = describeHostMismatch(err);
  return mismatch === undefined ? text : `${text}: ${mismatch}`;
}

export interface HttpAnswer {
  readonly ok: true;
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  /** The response body as text, at most MAX_ANSWER_BYTES (HEC answers are tiny JSON objects). */
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
  readonly method: 'GET' | 'POST';
  /** Path and query, appended to the endpoint's base path. */
  readonly path: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly body?: Buffer;
}

export interface HttpClient {
  request(req: HttpRequest, signal: AbortSignal): Promise<HttpAnswer | HttpFailure>;
  close(): void;
}

const MAX_ANSWER_BYTES = 64 * 1024;

export interface HttpClientOptions {
  readonly endpoint: string;
  readonly maxSockets: number;
  readonly tls: { readonly verify: boolean; readonly caFile?: string };
}

export function createHttpClient(options: HttpClientOptions): HttpClient {
  const base = new URL(options.endpoint);
  const basePath = base.pathname.replace(/\/+$/, '');
  const secure = base.protocol === 'https:';
  // URL keeps IPv6 literals in brackets ([::1]); the http client wants the bare address.
  const hostname = base.hostname.replace(/^\[(.*)\]$/, '$1');
  let ca: Buffer | undefined;
  if (secure && options.tls.caFile !== undefined) {
    try {
      ca = fs.readFileSync(options.tls.caFile);
    } catch (err) {
      throw new AegisError(
        'AEGIS_ERR_CONFIG_READ',
        `tls.ca_file: cannot read ${options.tls.caFile}: ${describeError(err)}`,
        { cause: err },
      );
    }
  }
  const agentOptions = {
    keepAlive: true,
    maxSockets: options.maxSockets,
    maxFreeSockets: options.maxSockets,
    scheduling: 'lifo' as const,
  };
  const agent = secure
    ? new https.Agent({ ...agentOptions, rejectUnauthorized: options.tls.verify, ...(ca === undefined ? {} : { ca }) })
    : new http.Agent(agentOptions);
  const transport = secure ? https : http;

  const request = (req: HttpRequest, signal: AbortSignal): Promise<HttpAnswer | HttpFailure> =>
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
          protocol: base.protocol,
          hostname,
          port: base.port,
          path: basePath + req.path,
          method: req.method,
          headers,
          agent,
        },
        (res) => {
          const chunks: Buffer[] = [];
          let size = 0;
          res.on('data', (chunk: Buffer) => {
            if (size < MAX_ANSWER_BYTES) chunks.push(chunk);
            size += chunk.length;
          });
          res.on('end', () => {
            settle({
              ok: true,
              status: res.statusCode ?? 0,
              headers: res.headers,
              body: Buffer.concat(chunks).subarray(0, MAX_ANSWER_BYTES).toString('utf8'),
            });
          });
          res.on('error', (err) =>
            settle({ ok: false, error: `response failed: ${describeError(err)}`, sent: true, aborted: signal.aborted }),
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
      r.on('error', (err) =>
        settle({
          ok: false,
          error: withCertificateNames(describeError(err), err),
          sent,
          aborted: signal.aborted,
        }),
      );
      r.end(req.body);
    });

  return {
    request,
    close: () => agent.destroy(),
  };
}
