/**
 * The REST API listener: node:https (node:http on loopback without a certificate), no framework. A request goes
 * through, in order: route match (404/405) → for routes that need a key: the per-address failure limit (429), the
 * key (401, audited), the permission (403, audited) → query and body validation against the route's schemas
 * (413, 415, 400) → the handler → for control operations, the audit record with the result.
 *
 * Why no framework: the API is a dozen routes; node:https plus ajv (already a dependency) gives exact control of
 * what is read (the body limit is enforced while reading), of the error shape, and of the TLS options (mTLS refused
 * at the handshake by `requestCert` + `rejectUnauthorized`), without another dependency in a security tool.
 */
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import type { ValidateFunction, ErrorObject } from 'ajv';
import { SensorError } from '../../native/errors';
import { AegisError, describeError, isAegisError } from '../../util/errors';
import type { Logger } from '../../util/logger';
import { createAjv2020 } from '../../util/precompiled-validator';
import { ApiError, errorBody } from './api-error';
import type { AuditEntry, AuditLog } from './audit-log';
import type { KeyRing } from './keys';
import { authenticate } from './keys';
import type { FailureLimiter } from './rate-limit';
import type { Caller, RouteResponse, RouteSpec } from './routes';

export interface ApiServerOptions {
  readonly host: string;
  readonly port: number;
  readonly tls: { readonly certFile: string; readonly keyFile: string; readonly clientCaFile?: string } | undefined;
  readonly routes: readonly RouteSpec[];
  readonly keys: KeyRing;
  readonly audit: AuditLog;
  readonly limiter: FailureLimiter;
  readonly maxBodyBytes: number;
  readonly logger: Logger;
}

export interface ApiServer {
  /** Throws AEGIS_ERR_API_LISTEN. */
  listen(): Promise<AddressInfo>;
  address(): AddressInfo | undefined;
  close(): Promise<void>;
}

/** The policy engine's refusals, as HTTP statuses (the body keeps their codes and messages). */
const SENSOR_STATUS: Readonly<Record<string, number>> = {
  AEGIS_ERR_POLICY_INVALID: 400,
  AEGIS_ERR_POLICY_READ: 400,
  AEGIS_ERR_POLICY_UNENFORCEABLE: 422,
  AEGIS_ERR_POLICY_MAP_FULL: 422,
  AEGIS_ERR_POLICY_NO_PREVIOUS: 409,
};

interface CompiledRoute {
  readonly spec: RouteSpec;
  readonly re: RegExp;
  readonly params: readonly string[];
  readonly query: ValidateFunction | undefined;
  readonly body: ValidateFunction | undefined;
}

function describeAjv(where: string, errors: readonly ErrorObject[] | null | undefined): string {
  const list = (errors ?? []).slice(0, 5).map((e) => {
    const at = `${where}${e.instancePath.replace(/\//g, '.')}`;
    if (e.keyword === 'additionalProperties')
      return `${at}: unknown field "${String((e.params as { additionalProperty: string }).additionalProperty)}"`;
    if (e.keyword === 'enum')
      return `${at}: must be one of ${(e.params as { allowedValues: unknown[] }).allowedValues.map(String).join(', ')}`;
    return `${at}: ${e.message ?? 'invalid'}`;
  });
  return list.join('; ');
}

function send(
  res: http.ServerResponse,
  status: number,
  body: string,
  headers: Readonly<Record<string, string>> = {},
): void {
  if (res.headersSent) return;
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(body),
    'cache-control': 'no-store',
    'x-content-type-options': 'nosniff',
    ...headers,
  });
  res.end(body);
}

const fail = (res: http.ServerResponse, e: ApiError): void =>
  send(res, e.status, errorBody(e.code, e.message), e.headers);

/**
 * Read the body up to `maxBytes`. A larger body is read to its end and discarded before the 413 is sent (so that a
 * client still writing gets the answer instead of a reset), up to DRAIN_FACTOR × maxBytes; past that, or a body
 * that never ends (requestTimeout), the connection is destroyed.
 */
const DRAIN_FACTOR = 8;
function readBody(req: http.IncomingMessage, maxBytes: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const tooLarge = (): ApiError =>
      new ApiError(413, 'AEGIS_ERR_API_TOO_LARGE', `body larger than ${maxBytes} bytes`, { connection: 'close' });
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > maxBytes * DRAIN_FACTOR) req.destroy();
      else if (size <= maxBytes) chunks.push(c);
    });
    req.on('end', () => (size > maxBytes ? reject(tooLarge()) : resolve(Buffer.concat(chunks))));
    req.on('error', reject);
    req.on('close', () => {
      if (!req.complete) reject(tooLarge());
    });
  });
}

const UNAUTHORIZED = (): ApiError =>
  new ApiError(401, 'AEGIS_ERR_API_UNAUTHORIZED', 'authentication required', { 'www-authenticate': 'Bearer' });
const FORBIDDEN = (): ApiError => new ApiError(403, 'AEGIS_ERR_API_FORBIDDEN', 'forbidden');

export function createApiServer(options: ApiServerOptions): ApiServer {
  const { logger, audit, keys, limiter } = options;
  const ajv = createAjv2020({ allErrors: true, strict: false });
  const routes: CompiledRoute[] = options.routes.map((spec) => {
    const params = [...spec.path.matchAll(/\{([a-z_]+)\}/g)].map((m) => m[1] as string);
    const re = new RegExp(`^${spec.path.replace(/\{[a-z_]+\}/g, '([^/]+)').replace(/\./g, '\\.')}$`);
    return {
      spec,
      re,
      params,
      query: ajv.compile(spec.query ?? { type: 'object', additionalProperties: false, properties: {} }),
      body: spec.body === undefined ? undefined : ajv.compile(spec.body),
    };
  });

  // Every record of a request goes through the group-committed append (no synchronous fsync on the event loop).
  const record = async (entry: AuditEntry): Promise<void> => {
    try {
      await audit.appendDurable(entry);
    } catch (err) {
      logger.error('An API operation could not be written to the audit log.', {
        code: 'AEGIS_ERR_AUDIT_WRITE',
        error: describeError(err),
        operation: entry,
      });
      throw new ApiError(500, 'AEGIS_ERR_AUDIT_WRITE', 'the operation could not be recorded in the audit log');
    }
  };

  const handle = async (req: http.IncomingMessage, res: http.ServerResponse): Promise<void> => {
    const address = req.socket.remoteAddress ?? 'unknown';
    const rawUrl = req.url ?? '/';
    const q = rawUrl.indexOf('?');
    const pathname = q < 0 ? rawUrl : rawUrl.slice(0, q);
    const candidates = routes.filter((r) => r.re.test(pathname));
    if (candidates.length === 0) throw new ApiError(404, 'AEGIS_ERR_API_NOT_FOUND', 'no such route');
    const route = candidates.find((r) => r.spec.method === req.method);
    if (route === undefined)
      throw new ApiError(405, 'AEGIS_ERR_API_METHOD', `${req.method ?? ''} is not allowed here`, {
        allow: candidates.map((r) => r.spec.method).join(', '),
      });
    const spec = route.spec;

    // Authentication and authorization, before anything of the request is read or parsed.
    let actor = 'anonymous';
    const cn =
      options.tls?.clientCaFile !== undefined ? (req.socket as TLSSocket).getPeerCertificate().subject?.CN : undefined;
    const certSubject = Array.isArray(cn) ? cn.join(',') : cn;
    if (spec.permission !== undefined) {
      const now = Date.now();
      const wait = limiter.blockedFor(address, now);
      if (wait > 0)
        throw new ApiError(429, 'AEGIS_ERR_API_RATE_LIMITED', 'too many failed authentications', {
          'retry-after': String(wait),
        });
      const header = req.headers.authorization;
      const presented = header?.startsWith('Bearer ') === true ? header.slice(7).trim() : undefined;
      let auth = authenticate(keys.document(), presented, new Date(now));
      // An id this daemon does not know yet may be a key created since the last look at the file.
      if (!auth.ok && auth.reason === 'unknown') auth = authenticate(keys.refresh(), presented, new Date(now));
      if (!auth.ok) {
        limiter.recordFailure(address, now);
        const id = /^aegis_ak_([0-9a-f]{16})_/.exec(presented ?? '')?.[1];
        await record({
          actor: id !== undefined ? `key id ${id}` : certSubject !== undefined ? `cert CN=${certSubject}` : 'anonymous',
          actor_type: 'anonymous',
          action: 'auth.failure',
          target: `${req.method ?? ''} ${pathname}`.slice(0, 200),
          source: address,
          result: 'denied',
          detail: auth.reason,
        });
        throw UNAUTHORIZED();
      }
      actor = certSubject !== undefined ? `${auth.name} (cert CN=${certSubject})` : auth.name;
      if (!auth.permissions.includes(spec.permission)) {
        await record({
          actor,
          actor_type: 'api-key',
          action: 'auth.forbidden',
          target: `${spec.method} ${spec.path}`,
          source: address,
          result: 'denied',
          detail: `role ${auth.role} lacks ${spec.permission}`,
        });
        throw FORBIDDEN();
      }
    }

    // Parameters
    const params: Record<string, string> = {};
    const m = route.re.exec(pathname) as RegExpExecArray;
    for (const [i, name] of route.params.entries()) {
      try {
        params[name] = decodeURIComponent(m[i + 1] as string);
      } catch {
        throw new ApiError(400, 'AEGIS_ERR_API_BAD_REQUEST', `path parameter ${name}: not valid URL encoding`);
      }
    }
    const query: Record<string, string> = {};
    for (const [k, v] of new URLSearchParams(q < 0 ? '' : rawUrl.slice(q + 1))) {
      if (Object.hasOwn(query, k))
        throw new ApiError(400, 'AEGIS_ERR_API_BAD_REQUEST', `query parameter ${k}: given more than once`);
      query[k] = v;
    }
    if (!(route.query as ValidateFunction)(query))
      throw new ApiError(400, 'AEGIS_ERR_API_BAD_REQUEST', describeAjv('query', route.query?.errors));

    // Body
    const raw = await readBody(req, options.maxBodyBytes);
    let body: unknown;
    if (route.body === undefined) {
      if (raw.length > 0) throw new ApiError(400, 'AEGIS_ERR_API_BAD_REQUEST', 'this route takes no body');
    } else if (raw.length === 0 && spec.method === 'POST' && spec.path.endsWith('/rollback')) {
      body = {};
    } else {
      const type = (req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase();
      if (type !== 'application/json')
        throw new ApiError(415, 'AEGIS_ERR_API_UNSUPPORTED_MEDIA', 'send Content-Type: application/json');
      try {
        body = JSON.parse(raw.toString('utf8'));
      } catch (err) {
        throw new ApiError(400, 'AEGIS_ERR_API_BAD_REQUEST', `body: not valid JSON (${(err as Error).message})`);
      }
      if (!route.body(body))
        throw new ApiError(400, 'AEGIS_ERR_API_BAD_REQUEST', describeAjv('body', route.body.errors));
    }

    // Handler, then the audit record of a control operation (its result, success or failure).
    const caller: Caller = { actor, address };
    const failure = (err: unknown): AuditEntry => ({
      actor,
      actor_type: 'api-key',
      action: spec.auditAction as string,
      target: params.entry ?? '',
      source: address,
      result: 'failure',
      detail: `${isAegisError(err) || err instanceof SensorError ? err.code + ': ' : ''}${(err as Error).message}`,
    });
    let out: RouteResponse;
    try {
      out = await spec.handle({ caller, query, params, body });
    } catch (err) {
      if (spec.auditAction !== undefined && !(err instanceof ApiError && err.status === 400))
        await record(failure(err));
      throw err;
    }
    // The store write (when the operation has one) and the audit record go to disk concurrently; the answer waits
    // for both, so a 2xx means the change and its record are durable.
    const [stored, audited] = await Promise.allSettled([
      out.durable,
      out.audit !== undefined ? record({ ...out.audit, actor, actor_type: 'api-key', source: address }) : undefined,
    ]);
    if (stored.status === 'rejected') {
      const err: unknown = stored.reason;
      logger.error('A blocklist change could not be stored; the kernel change was undone.', {
        code: isAegisError(err) ? err.code : 'AEGIS_ERR_INTERNAL',
        error: describeError(err),
      });
      // Its `success` record may already be written: this one says it did not last.
      if (spec.auditAction !== undefined) await record({ ...failure(err), target: out.audit?.target ?? '' });
      throw err;
    }
    if (audited.status === 'rejected') throw audited.reason;
    send(res, out.status, JSON.stringify(out.body));
  };

  const onRequest = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    handle(req, res).catch((err: unknown) => {
      if (err instanceof ApiError) fail(res, err);
      else if (err instanceof SensorError && SENSOR_STATUS[err.code] !== undefined)
        send(res, SENSOR_STATUS[err.code] as number, errorBody(err.code, err.message));
      else {
        logger.error('An API request failed.', { code: 'AEGIS_ERR_INTERNAL', url: req.url, error: describeError(err) });
        send(res, 500, errorBody(isAegisError(err) ? err.code : 'AEGIS_ERR_INTERNAL', 'internal error'));
      }
    });
  };

  let server: http.Server | https.Server | undefined;
  let bound: AddressInfo | undefined;
  const serverOptions = { requestTimeout: 30_000, headersTimeout: 10_000, maxHeaderSize: 16384 };

  return {
    async listen() {
      let srv: http.Server | https.Server;
      if (options.tls !== undefined) {
        let tlsOptions: https.ServerOptions;
        try {
          tlsOptions = {
            cert: fs.readFileSync(options.tls.certFile),
            key: fs.readFileSync(options.tls.keyFile),
            minVersion: 'TLSv1.2',
            ...(options.tls.clientCaFile !== undefined
              ? { ca: fs.readFileSync(options.tls.clientCaFile), requestCert: true, rejectUnauthorized: true }
              : {}),
          };
          srv = https.createServer({ ...serverOptions, ...tlsOptions }, onRequest);
        } catch (err) {
          throw new AegisError('AEGIS_ERR_API_LISTEN', `Cannot load the API certificate: ${describeError(err)}`, {
            cause: err,
          });
        }
      } else {
        srv = http.createServer(serverOptions, onRequest);
      }
      srv.maxConnections = 256;
      // Requests Node's HTTP parser refuses (bad characters in the target, oversized headers) never reach the
      // handler: answer them in the API's error shape too, then close.
      srv.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => {
        if (!socket.writable) return;
        const large = err.code === 'HPE_HEADER_OVERFLOW';
        const body = errorBody(
          'AEGIS_ERR_API_BAD_REQUEST',
          large ? 'request headers too large' : 'malformed HTTP request',
        );
        socket.end(
          `HTTP/1.1 ${large ? '431 Request Header Fields Too Large' : '400 Bad Request'}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
        );
      });
      await new Promise<void>((resolve, reject) => {
        const onError = (err: Error): void =>
          reject(
            new AegisError('AEGIS_ERR_API_LISTEN', `Cannot listen on ${options.host}:${options.port}: ${err.message}`),
          );
        srv.once('error', onError);
        srv.listen(options.port, options.host, () => {
          srv.off('error', onError);
          resolve();
        });
      });
      server = srv;
      bound = srv.address() as AddressInfo;
      return bound;
    },
    address: () => bound,
    async close() {
      const srv = server;
      server = undefined;
      if (srv === undefined) return;
      await new Promise<void>((resolve) => {
        srv.close(() => resolve());
        srv.closeAllConnections();
      });
    },
  };
}
