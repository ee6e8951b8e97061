/**
 * The `api` configuration section: the authenticated REST API of `aegisbpf run` (docs/api.md). Off unless the
 * section is present (and not `enabled: false`).
 *
 *   api:
 *     listen: 127.0.0.1:9443
 *     tls: { cert_file: …, key_file: …, client_ca_file: … }   # client_ca_file: require client certificates (mTLS)
 *     keys_file: /var/lib/aegisbpf/api-keys.json               # default <data_dir>/api-keys.json
 *
 * Least exposure: without a certificate the API speaks plain HTTP, so it may only listen on a loopback address;
 * a non-loopback `listen` without `tls` is a configuration error, never a warning. Pure (no I/O): the files are
 * read when the daemon starts the listener.
 */
import net from 'node:net';
import path from 'node:path';
import { byteSizeSchema } from '../util/byte-size';
import type { ConfigSection } from './config-section';

export const DEFAULT_API_LISTEN = '127.0.0.1:9443';
export const DEFAULT_API_MAX_BODY_BYTES = 1024 * 1024;
export const DEFAULT_API_EVENTS_RING = 10_000;
export const DEFAULT_API_AUTH_FAILURES_PER_MINUTE = 10;

export interface ApiEndpointOptions {
  readonly host: string;
  readonly port: number;
  readonly tls: { readonly certFile: string; readonly keyFile: string; readonly clientCaFile?: string } | undefined;
  readonly keysFile: string;
  readonly auditFile: string;
  readonly maxBodyBytes: number;
  readonly eventsRing: number;
  readonly authFailuresPerMinute: number;
}

/** `host:port`, `[v6]:port`. */
export function parseListen(listen: string): { host: string; port: number } | undefined {
  const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(listen);
  if (m === null) return undefined;
  const port = Number(m[3]);
  if (port > 65535) return undefined;
  return { host: (m[1] ?? m[2]) as string, port };
}

export function isLoopbackHost(host: string): boolean {
  if (host === 'localhost' || host === '::1') return true;
  return net.isIPv4(host) && host.startsWith('127.');
}

const fileSchema = (description: string): Readonly<Record<string, unknown>> => ({
  type: 'string',
  minLength: 1,
  description,
});

export const apiConfigSection: ConfigSection = {
  key: 'api',
  schema: {
    type: 'object',
    additionalProperties: false,
    description:
      'The authenticated REST API (/api/v1/…: stats, policy, live blocklist, events, audit). Off unless configured. See docs/api.md.',
    properties: {
      enabled: { type: 'boolean', description: 'Serve the API (default true when the section is present).' },
      listen: {
        type: 'string',
        minLength: 3,
        description: `host:port to listen on (default ${DEFAULT_API_LISTEN}); a non-loopback address needs tls.`,
      },
      tls: {
        type: 'object',
        additionalProperties: false,
        required: ['cert_file', 'key_file'],
        description: 'Serve HTTPS with this certificate; with client_ca_file, require client certificates (mTLS).',
        properties: {
          cert_file: fileSchema('PEM certificate chain of the API.'),
          key_file: fileSchema('PEM private key of the certificate.'),
          client_ca_file: fileSchema(
            'PEM CA bundle: clients must present a certificate signed by it (refused at the handshake otherwise).',
          ),
        },
      },
      keys_file: fileSchema(
        'API keys and roles (default <data_dir>/api-keys.json; written by `aegisbpf auth`/`rbac`).',
      ),
      audit_file: fileSchema('The hash-chained audit log (default <data_dir>/audit.log).'),
      max_body_bytes: byteSizeSchema(
        1024,
        `Largest request body (default ${DEFAULT_API_MAX_BODY_BYTES}); larger bodies get 413.`,
        64 * 1024 * 1024,
      ),
      events_ring: {
        type: 'integer',
        minimum: 0,
        maximum: 1_000_000,
        description: `Recent events kept in memory for GET /api/v1/events (default ${DEFAULT_API_EVENTS_RING}; 0: none).`,
      },
      auth_failures_per_minute: {
        type: 'integer',
        minimum: 1,
        maximum: 100_000,
        description: `Failed authentications allowed per client address per minute before 429 (default ${DEFAULT_API_AUTH_FAILURES_PER_MINUTE}).`,
      },
    },
  },
  check(raw) {
    const problems: string[] = [];
    const listen = typeof raw.listen === 'string' ? raw.listen : DEFAULT_API_LISTEN;
    const parsed = parseListen(listen);
    if (parsed === undefined) problems.push(`listen: '${listen}' is not host:port (IPv6: [::1]:9443)`);
    else if (raw.tls === undefined && !isLoopbackHost(parsed.host))
      problems.push(
        `listen: '${listen}' is not a loopback address and api.tls is not set; the API would accept keys in clear text over the network (configure tls.cert_file and tls.key_file, or listen on 127.0.0.1)`,
      );
    return problems;
  },
};

type Raw = Readonly<Record<string, unknown>>;

/** undefined when the API is off. */
export function resolveApiOptions(document: Raw, dataDir: string): ApiEndpointOptions | undefined {
  const a = document.api;
  if (a === undefined || a === null || typeof a !== 'object') return undefined;
  const api = a as Raw;
  if (api.enabled === false) return undefined;
  const { host, port } = parseListen(typeof api.listen === 'string' ? api.listen : DEFAULT_API_LISTEN) ?? {
    host: '127.0.0.1',
    port: 9443,
  };
  const tls = api.tls as Raw | undefined;
  const str = (v: unknown, dflt: string): string => (typeof v === 'string' ? path.resolve(v) : dflt);
  const num = (v: unknown, dflt: number): number => (typeof v === 'number' ? v : dflt);
  return {
    host,
    port,
    tls:
      tls === undefined
        ? undefined
        : {
            certFile: path.resolve(String(tls.cert_file)),
            keyFile: path.resolve(String(tls.key_file)),
            ...(typeof tls.client_ca_file === 'string' ? { clientCaFile: path.resolve(tls.client_ca_file) } : {}),
          },
    keysFile: str(api.keys_file, path.join(dataDir, 'api-keys.json')),
    auditFile: str(api.audit_file, path.join(dataDir, 'audit.log')),
    maxBodyBytes: num(api.max_body_bytes, DEFAULT_API_MAX_BODY_BYTES),
    eventsRing: num(api.events_ring, DEFAULT_API_EVENTS_RING),
    authFailuresPerMinute: num(api.auth_failures_per_minute, DEFAULT_API_AUTH_FAILURES_PER_MINUTE),
  };
}
