/** `splunk_hec` sink configuration: pure schema, checks and parsing (no I/O: `tls.ca_file` is read when built). */
import type { JsonSchemaObject } from '../../formatters/types';
import { durationMillisSchema } from '../../util/duration-schema';
import { formatSpecName } from '../../formatters/registry';
import type { FormatSpec } from '../../formatters/types';

export type EndpointTarget = 'event' | 'raw';

export interface HecAckConfig {
  /** Wait for indexer acknowledgement before a batch counts as delivered (default true). */
  readonly enabled: boolean;
  /** One shared `/services/collector/ack` query per channel per interval. */
  readonly pollIntervalMillis: number;
  /** A batch not acknowledged this long after its 200 is resent (counted as possible duplicates). */
  readonly timeoutMillis: number;
}

export interface HecSinkConfig {
  /** Base URL, no trailing slash: `https://splunk.example.com:8088` (a path prefix is kept, for proxies). */
  readonly endpoint: string;
  readonly endpointTarget: EndpointTarget;
  /** The HEC token. Never logged; only ever sent as `Authorization: Splunk <token>`. */
  readonly token: string;
  readonly compression: 'gzip' | 'none';
  /** zlib level 1 (fastest) … 9 (smallest). */
  readonly compressionLevel: number;
  /** Fixed channel GUID; undefined: a random one per sink instance (recommended). */
  readonly channel: string | undefined;
  readonly acknowledgements: HecAckConfig;
  /** Query-string metadata for the `/raw` endpoint (with `/event`, the `hec` format carries metadata per event). */
  readonly raw: {
    readonly sourcetype: string;
    readonly source?: string;
    readonly index?: string;
    readonly host?: string;
  };
  readonly tls: { readonly verify: boolean; readonly caFile?: string };
  /** Sockets in the keep-alive pool: the sink's request concurrency plus one for the ack poll. */
  readonly maxSockets: number;
}

export const HEC_DEFAULTS = {
  /**
   * gzip level 1: on aegisbpf events it compresses ~9.7× against level 6's ~13×, for about a third of the CPU; level
   * 6 was the sink's largest CPU cost (docs/benchmarks.md). A host sensor's CPU is scarcer than HEC bandwidth.
   */
  compressionLevel: 1,
  pollIntervalMillis: 500,
  ackTimeoutMillis: 60_000,
  sourcetype: 'aegisbpf',
  concurrency: 16,
  requestTimeoutMillis: 90_000,
  /** 1 MB uncompressed: below HEC's request limit on every deployment the reference knows of. */
  maxBodyBytes: 1_000_000,
  maxEvents: 10_000,
  batchTimeoutMillis: 1000,
} as const;

const GUID = '^[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}$';
const str = (description: string): JsonSchemaObject => ({ type: 'string', minLength: 1, maxLength: 1024, description });

export const hecConfigSchema: { properties: Record<string, JsonSchemaObject>; required: string[] } = {
  properties: {
    endpoint: {
      type: 'string',
      minLength: 1,
      pattern: '^https?://',
      description: 'HEC base URL, e.g. https://splunk.example.com:8088 (the sink appends /services/collector/…).',
    },
    token: {
      type: 'string',
      minLength: 1,
      description:
        'HEC token (use ${SPLUNK_HEC_TOKEN} or token_file). Sent as "Authorization: Splunk <token>"; never logged.',
    },
    endpoint_target: {
      type: 'string',
      enum: ['event', 'raw'],
      description:
        'event: /services/collector/event with the hec format (default); raw: /services/collector/raw, one formatted event per line.',
    },
    compression: { type: 'string', enum: ['gzip', 'none'], description: 'Request body compression (default gzip).' },
    compression_level: {
      type: 'integer',
      minimum: 1,
      maximum: 9,
      description: `gzip level, 1 fastest … 9 smallest (default ${HEC_DEFAULTS.compressionLevel}).`,
    },
    channel: {
      type: 'string',
      pattern: GUID,
      description: 'Fixed X-Splunk-Request-Channel GUID (default: a random GUID per sink instance).',
    },
    acknowledgements: {
      type: 'object',
      additionalProperties: false,
      description:
        'Indexer acknowledgement: a batch is delivered only when /services/collector/ack confirms its ackId.',
      properties: {
        enabled: {
          type: 'boolean',
          description: 'Wait for indexer acknowledgement (default true). Without it, HTTP 200 means delivered.',
        },
        poll_interval_ms: durationMillisSchema(
          10,
          `Interval of the shared ack query while batches are pending (default ${HEC_DEFAULTS.pollIntervalMillis}); after a query that found everything acknowledged, the next one comes after 50 ms.`,
          600_000,
        ),
        timeout_ms: durationMillisSchema(
          100,
          `Resend a batch not acknowledged this long after HEC accepted it; possible duplicates are counted (default ${HEC_DEFAULTS.ackTimeoutMillis}).`,
        ),
      },
    },
    sourcetype: str(
      `With endpoint_target: raw, the sourcetype query parameter (default ${HEC_DEFAULTS.sourcetype}). With event, set it on the hec format.`,
    ),
    source: str('With endpoint_target: raw, the source query parameter.'),
    index: str("With endpoint_target: raw, the index query parameter (default: the token's default index)."),
    host: str("With endpoint_target: raw, the host query parameter (default: the connection's host)."),
    tls: {
      type: 'object',
      additionalProperties: false,
      properties: {
        verify: { type: 'boolean', description: 'Verify the server certificate and name (default true).' },
        ca_file: {
          type: 'string',
          minLength: 1,
          description: 'PEM file with the CA(s) that signed the HEC certificate (default: the system CAs).',
        },
      },
    },
  },
  required: ['endpoint', 'token'],
};

type Raw = Readonly<Record<string, unknown>>;
const obj = (v: unknown): Raw => (v !== null && typeof v === 'object' ? (v as Raw) : {});
const num = (v: unknown, fallback: number): number => (typeof v === 'number' ? v : fallback);
const optStr = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

/** Semantic checks the schema cannot express. Messages are relative to the sink. */
export function checkHecConfig(raw: Raw): string[] {
  const problems: string[] = [];
  const endpoint = raw.endpoint;
  let url: URL | undefined;
  if (typeof endpoint === 'string') {
    try {
      url = new URL(endpoint);
    } catch {
      problems.push('endpoint: is not a valid URL');
    }
  }
  if (url !== undefined) {
    if (url.username !== '' || url.password !== '')
      problems.push('endpoint: must not contain credentials; put the HEC token in token (or token_file)');
    if (url.search !== '' || url.hash !== '') problems.push('endpoint: must not have a query string or fragment');
    if (/\/services\/collector/.test(url.pathname))
      problems.push(
        `endpoint: give the base URL only (e.g. ${url.origin}); the sink appends /services/collector/event, /raw and /ack itself`,
      );
    if (url.protocol === 'http:' && raw.tls !== undefined) problems.push('tls: applies to https endpoints only');
  }
  const target = raw.endpoint_target === 'raw' ? 'raw' : 'event';
  const format = raw.format as FormatSpec | undefined;
  if (target === 'event' && format !== undefined && formatSpecName(format) !== 'hec') {
    problems.push(
      `format: endpoint_target event needs the hec format (HEC event envelopes), not ${formatSpecName(format)}; use endpoint_target: raw for other formats`,
    );
  }
  if (target === 'raw') {
    if (format === undefined)
      problems.push('format: is required with endpoint_target: raw (e.g. json, which the aegisbpf sourcetype parses)');
    else if (formatSpecName(format) === 'hec')
      problems.push('format: hec envelopes belong on endpoint_target: event; /raw would index them as text');
  } else {
    for (const k of ['sourcetype', 'source', 'index', 'host']) {
      if (raw[k] !== undefined)
        problems.push(
          `${k}: applies to endpoint_target: raw only; with event, set it on the format: {type: hec, ${k}: …}`,
        );
    }
  }
  const acks = obj(raw.acknowledgements);
  const request = obj(raw.request);
  const ackTimeout = num(acks.timeout_ms, HEC_DEFAULTS.ackTimeoutMillis);
  const requestTimeout = num(request.timeout_ms, HEC_DEFAULTS.requestTimeoutMillis);
  if (acks.enabled !== false && ackTimeout >= requestTimeout) {
    problems.push(
      `acknowledgements.timeout_ms: must be < request.timeout_ms (${requestTimeout}), which bounds the whole attempt including the ack wait`,
    );
  }
  if (acks.enabled !== false && num(acks.poll_interval_ms, HEC_DEFAULTS.pollIntervalMillis) >= ackTimeout) {
    problems.push(`acknowledgements.poll_interval_ms: must be < acknowledgements.timeout_ms (${ackTimeout})`);
  }
  return problems;
}

export function parseHecConfig(raw: Raw): HecSinkConfig {
  const acks = obj(raw.acknowledgements);
  const tls = obj(raw.tls);
  const request = obj(raw.request);
  const caFile = optStr(tls.ca_file);
  const source = optStr(raw.source);
  const index = optStr(raw.index);
  const host = optStr(raw.host);
  return {
    endpoint: String(raw.endpoint).replace(/\/+$/, ''),
    endpointTarget: raw.endpoint_target === 'raw' ? 'raw' : 'event',
    token: String(raw.token),
    compression: raw.compression === 'none' ? 'none' : 'gzip',
    compressionLevel: num(raw.compression_level, HEC_DEFAULTS.compressionLevel),
    channel: optStr(raw.channel),
    acknowledgements: {
      enabled: acks.enabled !== false,
      pollIntervalMillis: num(acks.poll_interval_ms, HEC_DEFAULTS.pollIntervalMillis),
      timeoutMillis: num(acks.timeout_ms, HEC_DEFAULTS.ackTimeoutMillis),
    },
    raw: {
      sourcetype: optStr(raw.sourcetype) ?? HEC_DEFAULTS.sourcetype,
      ...(source === undefined ? {} : { source }),
      ...(index === undefined ? {} : { index }),
      ...(host === undefined ? {} : { host }),
    },
    tls: { verify: tls.verify !== false, ...(caFile === undefined ? {} : { caFile }) },
    maxSockets: num(request.concurrency, HEC_DEFAULTS.concurrency) + 1,
  };
}
