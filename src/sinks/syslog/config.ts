/** `syslog` sink configuration: pure schema, checks and parsing (no I/O: certificate files are read when connecting). */
import path from 'node:path';
import type { JsonSchemaObject } from '../../formatters/types';
import { byteSizeSchema } from '../../util/byte-size';
import { durationMillisSchema } from '../../util/duration-schema';

export type SyslogTransportKind = 'udp' | 'tcp' | 'tls' | 'relp';
export type Framing = 'octet_counting' | 'lf';
export type TlsMinVersion = 'TLSv1.2' | 'TLSv1.3';

export interface SyslogTlsConfig {
  /** PEM CA bundle that signs the receiver's certificate; undefined: Node's bundled public CAs. */
  readonly caFile: string | undefined;
  /** Client certificate and key for mutual TLS. */
  readonly certFile: string | undefined;
  readonly keyFile: string | undefined;
  readonly keyPassphrase: string | undefined;
  /** Name the receiver's certificate must carry (SNI and the hostname check); default: `host`. */
  readonly serverName: string | undefined;
  readonly minVersion: TlsMinVersion;
}

export interface SyslogSinkConfig {
  readonly transport: SyslogTransportKind;
  readonly host: string;
  readonly port: number;
  readonly framing: Framing;
  /** Longest message sent; longer ones are truncated at the end (at a UTF-8 boundary) and counted. 0: no limit. */
  readonly maxMessageBytes: number;
  readonly connectTimeoutMillis: number;
  /** TLS settings: used by `tls`, and by `relp` when `relpTls`. */
  readonly tls: SyslogTlsConfig;
  readonly relpWindow: number;
  readonly relpTls: boolean;
}

export const DEFAULT_PORTS: Readonly<Record<SyslogTransportKind, number>> = {
  udp: 514,
  tcp: 514,
  tls: 6514,
  relp: 2514,
};
/** RFC 5426 §3.2: receivers SHOULD accept 2048 octets; larger datagrams risk IP fragmentation. */
export const DEFAULT_UDP_MAX_MESSAGE_BYTES = 2048;
/** Largest UDP payload over IPv4 (65535 − 8 UDP − 20 IP). */
export const UDP_MAX_PAYLOAD_BYTES = 65_507;
export const DEFAULT_CONNECT_TIMEOUT_MILLIS = 10_000;
/** librelp's default window (RELP_DFLT_WINDOW_SIZE). */
export const DEFAULT_RELP_WINDOW = 128;

export const syslogConfigSchema: { properties: Record<string, JsonSchemaObject>; required: string[] } = {
  properties: {
    transport: {
      type: 'string',
      enum: ['udp', 'tcp', 'tls', 'relp'],
      description:
        'udp (RFC 5426, fire-and-forget), tcp (RFC 6587), tls (RFC 5425, default), relp (rsyslog RELP, acknowledged). See docs/delivery.md for what each guarantees.',
    },
    host: { type: 'string', minLength: 1, description: 'Receiver host name or address.' },
    port: {
      type: 'integer',
      minimum: 1,
      maximum: 65535,
      description: 'Receiver port (default: udp 514, tcp 514, tls 6514, relp 2514).',
    },
    framing: {
      type: 'string',
      enum: ['octet_counting', 'lf'],
      description:
        'tcp only: octet_counting (RFC 6587 "LEN SP MSG", default) or lf (newline after each message, for old receivers; newlines inside a message are sent as \\n, which is lossy). tls and relp have their own framing.',
    },
    max_message_bytes: byteSizeSchema(
      0,
      `Longest message sent, in bytes; longer ones are truncated at the end and counted (udp default ${DEFAULT_UDP_MAX_MESSAGE_BYTES}, at most ${UDP_MAX_PAYLOAD_BYTES}; other transports default 0 = no limit: raise the receiver's maxMessageSize instead).`,
    ),
    connect_timeout_ms: durationMillisSchema(
      1,
      `Give up a connection attempt (and its TLS handshake) after this long (default ${DEFAULT_CONNECT_TIMEOUT_MILLIS}).`,
    ),
    tls: {
      type: 'object',
      additionalProperties: false,
      description:
        'TLS for transport tls (and relp with relp.tls). The receiver certificate and host name are always verified.',
      properties: {
        ca_file: {
          type: 'string',
          minLength: 1,
          description:
            "PEM file with the CA certificate(s) that sign the receiver certificate (default: Node's public CA bundle). Re-read on every connection attempt.",
        },
        cert_file: {
          type: 'string',
          minLength: 1,
          description: 'PEM client certificate for mutual TLS (with key_file).',
        },
        key_file: {
          type: 'string',
          minLength: 1,
          description:
            'PEM private key of cert_file. Encrypted keys take tls_key_passphrase / tls_key_passphrase_file.',
        },
        server_name: {
          type: 'string',
          minLength: 1,
          description:
            'Name the receiver certificate must carry (SNI and the host name check); default: host. Set it when connecting by IP address.',
        },
        min_version: {
          type: 'string',
          enum: ['TLSv1.2', 'TLSv1.3'],
          description: 'Lowest TLS version accepted (default TLSv1.2).',
        },
      },
    },
    relp: {
      type: 'object',
      additionalProperties: false,
      properties: {
        window: {
          type: 'integer',
          minimum: 1,
          maximum: 100_000,
          description: `Most syslog commands sent and not yet acknowledged (default ${DEFAULT_RELP_WINDOW}, librelp's). Also the most events a receiver restart can duplicate.`,
        },
        tls: {
          type: 'boolean',
          description: 'RELP over TLS (rsyslog imrelp tls="on"), with the settings under tls (default false).',
        },
      },
    },
    tls_key_passphrase: { type: 'string', minLength: 1, description: 'Passphrase of an encrypted tls.key_file.' },
  },
  required: ['host'],
};

type Raw = Readonly<Record<string, unknown>>;
const obj = (v: unknown): Raw => (v !== null && typeof v === 'object' ? (v as Raw) : {});
const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

function transportOf(raw: Raw): SyslogTransportKind {
  const t = raw.transport;
  return t === 'udp' || t === 'tcp' || t === 'relp' ? t : 'tls';
}

export function checkSyslogConfig(raw: Raw): string[] {
  const problems: string[] = [];
  const transport = transportOf(raw);
  const tls = obj(raw.tls);
  const relp = obj(raw.relp);
  if (raw.framing === 'lf' && transport !== 'tcp') {
    problems.push(
      `framing: lf is only for transport tcp (${transport} ${transport === 'udp' ? 'sends one message per datagram' : 'has its own framing'})`,
    );
  }
  if (
    transport === 'udp' &&
    typeof raw.max_message_bytes === 'number' &&
    (raw.max_message_bytes === 0 || raw.max_message_bytes > UDP_MAX_PAYLOAD_BYTES)
  ) {
    problems.push(`max_message_bytes: must be 1–${UDP_MAX_PAYLOAD_BYTES} for udp (one message per datagram)`);
  }
  if (typeof raw.max_message_bytes === 'number' && raw.max_message_bytes > 0 && raw.max_message_bytes < 480) {
    problems.push('max_message_bytes: must be at least 480 (RFC 5424 §6.1: every receiver accepts 480 octets)');
  }
  const usesTls = transport === 'tls' || (transport === 'relp' && relp.tls === true);
  if (raw.tls !== undefined && !usesTls) {
    problems.push(
      transport === 'relp'
        ? 'tls: set relp.tls: true to use TLS with relp'
        : `tls: transport ${transport} does not use TLS (use transport: tls)`,
    );
  }
  if ((tls.cert_file === undefined) !== (tls.key_file === undefined))
    problems.push('tls: cert_file and key_file go together (mutual TLS needs both)');
  if (
    (raw.tls_key_passphrase !== undefined || raw.tls_key_passphrase_file !== undefined) &&
    tls.key_file === undefined
  ) {
    problems.push('tls_key_passphrase: set only with tls.key_file');
  }
  for (const k of ['ca_file', 'cert_file', 'key_file'] as const) {
    const v = tls[k];
    if (typeof v === 'string' && v.endsWith('/')) problems.push(`tls.${k}: must name a file, not a directory`);
  }
  if (raw.relp !== undefined && transport !== 'relp')
    problems.push(`relp: only for transport relp (this sink uses ${transport})`);
  return problems;
}

export function parseSyslogConfig(raw: Raw): SyslogSinkConfig {
  const transport = transportOf(raw);
  const tls = obj(raw.tls);
  const relp = obj(raw.relp);
  const file = (v: unknown): string | undefined => (typeof v === 'string' ? path.resolve(v) : undefined);
  const maxMessageBytes =
    typeof raw.max_message_bytes === 'number'
      ? raw.max_message_bytes
      : transport === 'udp'
        ? DEFAULT_UDP_MAX_MESSAGE_BYTES
        : 0;
  return {
    transport,
    host: String(raw.host),
    port: typeof raw.port === 'number' ? raw.port : DEFAULT_PORTS[transport],
    framing: transport === 'tcp' && raw.framing === 'lf' ? 'lf' : 'octet_counting',
    maxMessageBytes,
    connectTimeoutMillis:
      typeof raw.connect_timeout_ms === 'number' ? raw.connect_timeout_ms : DEFAULT_CONNECT_TIMEOUT_MILLIS,
    tls: {
      caFile: file(tls.ca_file),
      certFile: file(tls.cert_file),
      keyFile: file(tls.key_file),
      keyPassphrase: str(raw.tls_key_passphrase),
      serverName: str(tls.server_name),
      minVersion: tls.min_version === 'TLSv1.3' ? 'TLSv1.3' : 'TLSv1.2',
    },
    relpWindow: typeof relp.window === 'number' ? relp.window : DEFAULT_RELP_WINDOW,
    relpTls: relp.tls === true,
  };
}
