/**
 * `nats` sink configuration: pure schema, checks and parsing. `credentials_file` and the TLS files are read when
 * the sink is built.
 */
import type { JsonSchemaObject } from '../../formatters/types';
import { durationMillisSchema } from '../../util/duration-schema';
import { compileSubject } from './subject';

export interface NatsTlsConfig {
  readonly verify: boolean;
  readonly caFile?: string;
  readonly certFile?: string;
  readonly keyFile?: string;
}

export interface NatsSinkConfig {
  readonly servers: readonly string[];
  readonly subject: string;
  readonly jetstream: boolean;
  readonly credentialsFile: string | undefined;
  readonly token: string | undefined;
  /** Undefined: plain connection unless a server URL says tls://. */
  readonly tls: NatsTlsConfig | undefined;
  /** JetStream: how long one publish waits for its ack. */
  readonly ackTimeoutMillis: number;
  /** One connection attempt is abandoned after this long. */
  readonly connectTimeoutMillis: number;
  readonly connectionName: string;
}

export const NATS_DEFAULTS = {
  subject: 'aegisbpf.events.{{type}}',
  ackTimeoutMillis: 5000,
  connectTimeoutMillis: 5000,
  maxEvents: 1000,
  maxBytes: 1_000_000,
  batchTimeoutMillis: 100,
  concurrency: 4,
  requestTimeoutMillis: 30_000,
} as const;

const str = (description: string): JsonSchemaObject => ({ type: 'string', minLength: 1, maxLength: 4096, description });

export const natsConfigSchema: { properties: Record<string, JsonSchemaObject>; required: string[] } = {
  properties: {
    servers: {
      type: 'array',
      minItems: 1,
      maxItems: 64,
      items: { type: 'string', pattern: '^(nats|tls)://[^\\s/]+$' },
      description: 'Server URLs, e.g. ["nats://nats-1:4222", "nats://nats-2:4222"] (tls:// requires TLS).',
    },
    subject: str(
      `Subject template; {{field}} placeholders take the event's value with . * > and whitespace replaced by _ (default ${NATS_DEFAULTS.subject}).`,
    ),
    jetstream: {
      type: 'boolean',
      description:
        'true (default): JetStream publish, delivered = the stream acknowledged it, Nats-Msg-Id deduplication. false: core NATS publish, fire-and-forget.',
    },
    credentials_file: str('NATS credentials file (.creds: user JWT and NKey seed), read at start.'),
    token: { type: 'string', minLength: 1, description: 'Authentication token (a secret; or token_file).' },
    ack_timeout_ms: durationMillisSchema(
      1,
      `JetStream: one publish waits this long for its ack before it is retried (default ${NATS_DEFAULTS.ackTimeoutMillis}).`,
    ),
    connect_timeout_ms: durationMillisSchema(
      1,
      `One connection attempt is abandoned after this long (default ${NATS_DEFAULTS.connectTimeoutMillis}).`,
    ),
    tls: {
      type: 'object',
      additionalProperties: false,
      description: 'Require TLS (also implied by tls:// servers).',
      properties: {
        verify: { type: 'boolean', description: 'Verify the server certificate and name (default true).' },
        ca_file: str('PEM file with the CA(s) that signed the server certificate (default: the system CAs).'),
        cert_file: str('PEM client certificate (mutual TLS), with key_file.'),
        key_file: str('PEM private key of cert_file.'),
      },
    },
  },
  required: ['servers'],
};

type Raw = Readonly<Record<string, unknown>>;
const obj = (v: unknown): Raw => (v !== null && typeof v === 'object' ? (v as Raw) : {});
const optStr = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
const num = (v: unknown, fallback: number): number => (typeof v === 'number' ? v : fallback);

export function checkNatsConfig(raw: Raw): string[] {
  const problems: string[] = [];
  const subject = optStr(raw.subject) ?? NATS_DEFAULTS.subject;
  const compiled = compileSubject(subject);
  if ('error' in compiled) problems.push(`subject: ${compiled.error}`);
  const tls = obj(raw.tls);
  if ((tls.cert_file === undefined) !== (tls.key_file === undefined))
    problems.push('tls: cert_file and key_file go together');
  if (raw.credentials_file !== undefined && (raw.token !== undefined || raw.token_file !== undefined))
    problems.push('token: set either credentials_file or token, not both');
  const request = obj(raw.request);
  const ack = num(raw.ack_timeout_ms, NATS_DEFAULTS.ackTimeoutMillis);
  const attempt = num(request.timeout_ms, NATS_DEFAULTS.requestTimeoutMillis);
  if (raw.jetstream !== false && ack >= attempt)
    problems.push(`ack_timeout_ms: must be < request.timeout_ms (${attempt}), which bounds the whole attempt`);
  return problems;
}

export function parseNatsConfig(raw: Raw): NatsSinkConfig {
  const servers = Array.isArray(raw.servers) ? raw.servers.map(String) : [];
  const tlsRaw = raw.tls === undefined ? undefined : obj(raw.tls);
  const secure = servers.some((s) => s.startsWith('tls://'));
  let tls: NatsTlsConfig | undefined;
  if (tlsRaw !== undefined || secure) {
    const t = tlsRaw ?? {};
    const caFile = optStr(t.ca_file);
    const certFile = optStr(t.cert_file);
    const keyFile = optStr(t.key_file);
    tls = {
      verify: t.verify !== false,
      ...(caFile === undefined ? {} : { caFile }),
      ...(certFile === undefined ? {} : { certFile }),
      ...(keyFile === undefined ? {} : { keyFile }),
    };
  }
  return {
    servers,
    subject: optStr(raw.subject) ?? NATS_DEFAULTS.subject,
    jetstream: raw.jetstream !== false,
    credentialsFile: optStr(raw.credentials_file),
    token: optStr(raw.token),
    tls,
    ackTimeoutMillis: num(raw.ack_timeout_ms, NATS_DEFAULTS.ackTimeoutMillis),
    connectTimeoutMillis: num(raw.connect_timeout_ms, NATS_DEFAULTS.connectTimeoutMillis),
    connectionName: 'aegisbpf',
  };
}
