/**
 * The one place an `@elastic/elasticsearch` client is built (for the sink and for `aegisbpf rules install elastic`).
 *
 * The client's own retries are off (`maxRetries: 0`): deciding whether and when to retry belongs to the sink core
 * (full jitter, Retry-After, deadlines, per-item retry); a second retry loop inside the client would fight it and
 * hide attempts from the counters. Request bodies are compressed by the transport itself (gzip level 1 by default;
 * the client only offers level 6, measured in docs/dependencies.md). TLS verification is on unless the
 * configuration turns it off.
 */
import fs from 'node:fs';
import type * as ElasticsearchModule from '@elastic/elasticsearch';
import type { Client, ClientOptions } from '@elastic/elasticsearch';
import { AegisError, describeError } from '../../util/errors';
import type { Auth, TlsOptions } from './config';
import tls from 'node:tls';
import type { PeerCertificate } from 'node:tls';
import { describeHostMismatch } from '../../util/tls-names';

export interface ConnectionOptions {
  readonly urls: readonly string[];
  readonly auth: Auth;
  readonly tls: TlsOptions;
  /** Hard ceiling per request; the sink core aborts sooner through the request's AbortSignal. */
  readonly requestTimeoutMillis?: number;
}

export type { Client };

/**
 * The client library is loaded on first use, not when this module is: with its HTTP stack (undici), Apache Arrow and
 * OpenTelemetry it is ~500 modules and ~25 MB of heap, which a daemon without an elasticsearch sink (and every other
 * CLI command) should not pay for in start-up time and resident memory (docs/dependencies.md).
 */
function loadClient(): typeof Client {
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- deliberately lazy (above); the types come from the import type
  return (require('@elastic/elasticsearch') as typeof ElasticsearchModule).Client;
}

export function createEsClient(options: ConnectionOptions): Client {
  const clientOptions: ClientOptions = {
    nodes: [...options.urls],
    maxRetries: 0,
    compression: false,
    requestTimeout: options.requestTimeoutMillis ?? 300_000,
    name: 'aegisbpf',
    // The client's telemetry header describes the client, not us; leave it out.
    enableMetaHeader: false,
  };
  if (options.auth.kind === 'api_key') clientOptions.auth = { apiKey: options.auth.apiKey };
  else if (options.auth.kind === 'basic')
    clientOptions.auth = { username: options.auth.username, password: options.auth.password };
  if (options.urls.some((u) => u.startsWith('https:'))) {
    let ca: string | undefined;
    if (options.tls.caFile !== undefined) {
      try {
        ca = fs.readFileSync(options.tls.caFile, 'utf8');
      } catch (err) {
        throw new AegisError(
          'AEGIS_ERR_CONFIG_READ',
          `tls.ca_file: cannot read ${options.tls.caFile}: ${describeError(err)}`,
          { cause: err },
        );
      }
    }
    clientOptions.tls = {
      rejectUnauthorized: options.tls.verify,
      ...(ca === undefined ? {} : { ca }),
      ...(options.tls.serverName === undefined ? {} : { servername: options.tls.serverName }),
      // The client's connection error keeps only the message, not the certificate: put its names in the message,
      // so a host-name mismatch for an IP address says what the certificate is for (docs/sinks.md).
      checkServerIdentity: (host: string, cert: PeerCertificate): Error | undefined => {
        const err = tls.checkServerIdentity(host, cert);
        const described = err === undefined ? undefined : describeHostMismatch(err);
        if (err !== undefined && described !== undefined) err.message = `${described} (${err.message})`;
        return err;
      },
    };
  }
  return new (loadClient())(clientOptions);
}

/** A request's outcome, success or HTTP error alike, or the error thrown before any answer. */
export type RawResponse =
  | {
      readonly ok: true;
      readonly status: number;
      readonly body: unknown;
      readonly headers: Readonly<Record<string, string | string[] | undefined>>;
    }
  | { readonly ok: false; readonly error: unknown };

export interface RequestSpec {
  readonly method: 'GET' | 'PUT' | 'POST' | 'HEAD' | 'DELETE';
  readonly path: string;
  readonly querystring?: Readonly<Record<string, string>>;
  /** JSON body (serialized by the client). */
  readonly body?: unknown;
  /** Pre-built NDJSON body, possibly gzipped (then pass `content-encoding: gzip` in headers). */
  readonly bulkBody?: string | Buffer;
  readonly headers?: Readonly<Record<string, string>>;
  readonly signal?: AbortSignal;
}

/**
 * One request through the client with its retries off, returning any HTTP status as a value (never throwing for
 * 4xx/5xx): callers classify statuses themselves.
 */
export async function rawRequest(client: Client, spec: RequestSpec): Promise<RawResponse> {
  try {
    const params: {
      method: string;
      path: string;
      querystring?: Record<string, string>;
      body?: unknown;
      bulkBody?: string | Buffer;
    } = {
      method: spec.method,
      path: spec.path,
    };
    if (spec.querystring !== undefined) params.querystring = { ...spec.querystring };
    if (spec.body !== undefined) params.body = spec.body;
    if (spec.bulkBody !== undefined) params.bulkBody = spec.bulkBody;
    const result = await client.transport.request(params as Parameters<Client['transport']['request']>[0], {
      meta: true,
      maxRetries: 0,
      ignore: ALL_ERROR_STATUSES,
      ...(spec.headers === undefined ? {} : { headers: { ...spec.headers } }),
      ...(spec.signal === undefined ? {} : { signal: spec.signal }),
    });
    return { ok: true, status: result.statusCode ?? 0, body: result.body, headers: result.headers ?? {} };
  } catch (err) {
    return { ok: false, error: err };
  }
}

/** Every 4xx and 5xx status: the client returns them as results instead of throwing ResponseError. */
const ALL_ERROR_STATUSES: number[] = Array.from({ length: 200 }, (_, i) => 400 + i);

/** The first value of a response header. */
export function header(
  headers: Readonly<Record<string, string | string[] | undefined>>,
  name: string,
): string | undefined {
  const v = headers[name.toLowerCase()];
  return Array.isArray(v) ? v[0] : v;
}
