/** `kafka` sink configuration: pure schema, checks and parsing (no I/O; files are read when the transport is built). */
import { EVENT_TYPES } from '../../event/types';
import type { JsonSchemaObject } from '../../formatters/types';
import { KAFKA_KEYS } from '../../formatters/kafka';

export const DEFAULT_TOPIC = 'aegisbpf.events';
export const COMPRESSIONS = ['none', 'gzip', 'snappy', 'lz4', 'zstd'] as const;
export const SASL_MECHANISMS = ['scram-sha-256', 'scram-sha-512', 'plain'] as const;
/** Kafka's topic name rule (kafka.common.internals.Topic): 1–249 of [a-zA-Z0-9._-], not "." or "..". */
const TOPIC_NAME = /^[a-zA-Z0-9._-]{1,249}$/;
const TEMPLATE = /\{\{\s*([^}]*?)\s*\}\}/g;

export type Compression = (typeof COMPRESSIONS)[number];
export type KeyChoice = (typeof KAFKA_KEYS)[number];

export interface KafkaTlsOptions {
  readonly caFile: string | undefined;
  readonly certFile: string | undefined;
  readonly keyFile: string | undefined;
  /** Verify the broker certificate chain and host name (default true). */
  readonly verify: boolean;
  readonly serverName: string | undefined;
}

export interface KafkaSaslOptions {
  readonly mechanism: (typeof SASL_MECHANISMS)[number];
  readonly username: string;
  /** Inline password, or undefined when it is read from passwordFile when the transport is built. */
  readonly password: string | undefined;
  readonly passwordFile: string | undefined;
}

export interface KafkaSinkConfig {
  /** host:port of the bootstrap brokers. */
  readonly brokers: readonly { readonly host: string; readonly port: number }[];
  /** Topic, or a template with `{{type}}` (the event type). */
  readonly topic: string;
  /** Partition key; undefined keeps the key of the `kafka` format (its `key` option, default host). */
  readonly key: KeyChoice | undefined;
  readonly compression: Compression;
  /** all: every in-sync replica has the record; leader: only the partition leader (weaker: lost if it dies). */
  readonly acks: 'all' | 'leader';
  readonly idempotent: boolean;
  readonly clientId: string;
  readonly tls: KafkaTlsOptions | undefined;
  readonly sasl: KafkaSaslOptions | undefined;
}

export const kafkaConfigSchema: { properties: Record<string, JsonSchemaObject>; required: string[] } = {
  properties: {
    brokers: {
      type: 'array',
      minItems: 1,
      maxItems: 64,
      items: { type: 'string', minLength: 3 },
      description: 'Bootstrap brokers, host:port (the client learns the rest of the cluster from them).',
    },
    topic: {
      type: 'string',
      minLength: 1,
      maxLength: 249,
      description: `Topic (default "${DEFAULT_TOPIC}"); "{{type}}" is replaced by the event type, e.g. "aegisbpf.{{type}}" (not \${…}: that is environment expansion).`,
    },
    key: {
      type: 'string',
      enum: [...KAFKA_KEYS],
      description:
        'Partition key (ordering scope): host (default), exec_id (per process) or none (round-robin). Overrides the kafka format key option.',
    },
    compression: {
      type: 'string',
      enum: [...COMPRESSIONS],
      description: 'Record batch compression (default none; zstd needs Node >= 22.15, which aegisbpf requires).',
    },
    acks: {
      type: 'string',
      enum: ['all', 'leader'],
      description:
        'all (default): delivered once every in-sync replica has the record. leader: once the leader has it (weaker; logged at start).',
    },
    idempotent: {
      type: 'boolean',
      description:
        'Idempotent producer (default true with acks: all): the broker discards a resent duplicate of a record the client retries.',
    },
    client_id: { type: 'string', minLength: 1, maxLength: 200, description: 'Kafka client id (default "aegisbpf").' },
    tls: {
      type: 'object',
      additionalProperties: false,
      description: 'Connect with TLS (certificate verified by default).',
      properties: {
        ca_file: { type: 'string', minLength: 1, description: 'PEM CA of the brokers (default: the system CAs).' },
        cert_file: { type: 'string', minLength: 1, description: 'PEM client certificate (mutual TLS), with key_file.' },
        key_file: { type: 'string', minLength: 1, description: 'PEM private key of cert_file.' },
        verify: {
          type: 'boolean',
          description:
            'Verify the certificate and host name (default true). false is for throw-away test clusters only.',
        },
        server_name: { type: 'string', minLength: 1, description: 'Host name to verify instead of the broker host.' },
      },
    },
    sasl: {
      type: 'object',
      additionalProperties: false,
      required: ['mechanism', 'username'],
      description: 'SASL authentication; the password is never logged.',
      properties: {
        mechanism: { type: 'string', enum: [...SASL_MECHANISMS], description: 'SASL mechanism.' },
        username: { type: 'string', minLength: 1, description: 'SASL user.' },
        password: { type: 'string', minLength: 1, description: 'SASL password (secret; prefer password_file).' },
        password_file: { type: 'string', minLength: 1, description: 'File holding the SASL password.' },
      },
    },
  },
  required: ['brokers'],
};

type Raw = Readonly<Record<string, unknown>>;
const obj = (v: unknown): Raw | undefined =>
  v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Raw) : undefined;
const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

/** `host:port` → its parts, or a problem. IPv6 as `[::1]:9092`. */
export function parseBroker(text: string): { host: string; port: number } | string {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:\s[\]]+)):(\d{1,5})$/.exec(text);
  if (m === null) return 'must be host:port (IPv6 as [addr]:port)';
  const port = Number(m[3]);
  if (port < 1 || port > 65535) return 'port must be 1-65535';
  return { host: (m[1] ?? m[2]) as string, port };
}

/** The topic of one event type; `topic` was checked by checkKafkaConfig. */
export function topicFor(template: string, type: string): string {
  return template.replace(TEMPLATE, () => type);
}

export function isTopicTemplate(topic: string): boolean {
  return /\{\{/.test(topic);
}

/** Semantic checks the schema cannot express. Pure; messages relative to the sink. */
export function checkKafkaConfig(raw: Raw): string[] {
  const problems: string[] = [];
  const brokers = Array.isArray(raw.brokers) ? raw.brokers : [];
  brokers.forEach((b, i) => {
    if (typeof b !== 'string') return;
    const p = parseBroker(b);
    if (typeof p === 'string') problems.push(`brokers.${i}: ${p}, got ${JSON.stringify(b)}`);
  });
  const topic = str(raw.topic);
  if (topic !== undefined) {
    for (const m of topic.matchAll(TEMPLATE))
      if (m[1] !== 'type') problems.push(`topic: unknown placeholder "${m[0]}"; the only one is {{type}}`);
    const sample = topicFor(topic, EVENT_TYPES[0]);
    if (problems.length === 0 && (!TOPIC_NAME.test(sample) || sample === '.' || sample === '..'))
      problems.push(
        `topic: ${JSON.stringify(topic)} is not a valid Kafka topic name (1-249 of letters, digits, '.', '_', '-')`,
      );
  }
  if (raw.acks === 'leader' && raw.idempotent === true)
    problems.push('idempotent: needs acks: all (Kafka refuses an idempotent producer with acks: leader)');
  const tls = obj(raw.tls);
  if (tls !== undefined && (tls.cert_file === undefined) !== (tls.key_file === undefined))
    problems.push('tls: cert_file and key_file go together');
  const sasl = obj(raw.sasl);
  if (sasl !== undefined) {
    if (sasl.password !== undefined && sasl.password_file !== undefined)
      problems.push('sasl.password: set either password or password_file, not both');
    if (sasl.password === undefined && sasl.password_file === undefined)
      problems.push('sasl.password_file: is required (or sasl.password)');
  }
  return problems;
}

/** Convert the validated keys into the transport's config. Pure. */
export function parseKafkaConfig(raw: Raw): KafkaSinkConfig {
  const brokers = (Array.isArray(raw.brokers) ? raw.brokers : [])
    .map((b) => (typeof b === 'string' ? parseBroker(b) : 'x'))
    .filter((b): b is { host: string; port: number } => typeof b !== 'string');
  const acks = raw.acks === 'leader' ? 'leader' : 'all';
  const tls = obj(raw.tls);
  const sasl = obj(raw.sasl);
  return {
    brokers,
    topic: str(raw.topic) ?? DEFAULT_TOPIC,
    key: KAFKA_KEYS.find((k) => k === raw.key),
    compression: COMPRESSIONS.find((c) => c === raw.compression) ?? 'none',
    acks,
    idempotent: typeof raw.idempotent === 'boolean' ? raw.idempotent : acks === 'all',
    clientId: str(raw.client_id) ?? 'aegisbpf',
    tls:
      tls === undefined
        ? undefined
        : {
            caFile: str(tls.ca_file),
            certFile: str(tls.cert_file),
            keyFile: str(tls.key_file),
            verify: tls.verify !== false,
            serverName: str(tls.server_name),
          },
    sasl:
      sasl === undefined
        ? undefined
        : {
            mechanism: SASL_MECHANISMS.find((m) => m === sasl.mechanism) ?? 'scram-sha-512',
            username: str(sasl.username) ?? '',
            password: str(sasl.password),
            passwordFile: str(sasl.password_file),
          },
  };
}
