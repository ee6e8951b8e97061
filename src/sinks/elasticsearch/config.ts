/** `elasticsearch` sink configuration: pure schema, checks and parsing (no I/O; secrets are resolved by the caller). */
import type { JsonSchemaObject } from '../../formatters/types';
import { ECS_DATASET } from '../../formatters/ecs';
import type { IndexPattern } from './target';
import { checkIndexPattern, parseIndexPattern } from './target';

export const DEFAULT_INDEX = 'aegisbpf-%{+yyyy.MM.dd}';
export const DEFAULT_NAMESPACE = 'default';
export const DEFAULT_COMPRESSION_LEVEL = 1;

export type Auth =
  | { readonly kind: 'none' }
  | { readonly kind: 'api_key'; readonly apiKey: string }
  | { readonly kind: 'basic'; readonly username: string; readonly password: string };

export type WriteTarget =
  /** A time-based index name per event, from the event's own timestamp (so a resend lands in the same index). */
  | { readonly kind: 'index'; readonly pattern: IndexPattern }
  /** `logs-aegisbpf.events-<namespace>`: append-only, `create` only, auto-created from a matching template. */
  | { readonly kind: 'data_stream'; readonly name: string; readonly namespace: string };

export interface TlsOptions {
  /** PEM file of the CA that signed the cluster's certificate (the system CAs are used when absent). */
  readonly caFile: string | undefined;
  /** Verify the certificate chain and host name (default true; false only for throw-away test clusters). */
  readonly verify: boolean;
  /** Host name to verify instead of the URL's (SNI), e.g. when connecting by IP. */
  readonly serverName: string | undefined;
}

export interface ElasticsearchSinkConfig {
  readonly urls: readonly string[];
  readonly target: WriteTarget;
  /** Ingest pipeline for every document (`?pipeline=`); undefined uses the index's default pipeline, if any. */
  readonly pipeline: string | undefined;
  readonly auth: Auth;
  readonly tls: TlsOptions;
  /** gzip level of request bodies; 0 sends them uncompressed. */
  readonly compressionLevel: number;
  /** Install the index templates, component templates, ingest pipeline and ILM policy before the first send. */
  readonly installContent: boolean;
}

const NAMESPACE_PATTERN = '^[a-z0-9_.]{1,100}$';

export const elasticsearchConfigSchema: { properties: Record<string, JsonSchemaObject>; required: string[] } = {
  properties: {
    url: {
      description: 'Elasticsearch URL (http:// or https://, no credentials in it), or a list of node URLs.',
      oneOf: [
        { type: 'string', minLength: 1 },
        { type: 'array', minItems: 1, maxItems: 64, items: { type: 'string', minLength: 1 } },
      ],
    },
    index: {
      type: 'string',
      minLength: 1,
      maxLength: 200,
      description: `Index name per event; %{+yyyy.MM.dd} (tokens yyyy, YYYY, yy, MM, dd, HH) is the event's own UTC date, so a resend lands in the same index (default "${DEFAULT_INDEX}"). Not with data_stream.`,
    },
    data_stream: {
      type: 'object',
      additionalProperties: false,
      description: `Write to the data stream logs-${ECS_DATASET}-<namespace> instead of an index (Elasticsearch >= 7.9 with a data stream template: aegisbpf rules install elastic).`,
      properties: {
        namespace: {
          type: 'string',
          pattern: NAMESPACE_PATTERN,
          description: `Data stream namespace: lowercase, no '-' (default "${DEFAULT_NAMESPACE}").`,
        },
      },
    },
    pipeline: {
      type: 'string',
      minLength: 1,
      maxLength: 512,
      description: 'Ingest pipeline for every document (default: none, or the index default_pipeline).',
    },
    api_key: {
      type: 'string',
      minLength: 1,
      description: 'API key, base64 "id:key" as Elasticsearch returns it in `encoded` (secret).',
    },
    username: {
      type: 'string',
      minLength: 1,
      description: 'Basic authentication user (with password or password_file).',
    },
    password: { type: 'string', minLength: 1, description: 'Basic authentication password (secret).' },
    tls: {
      type: 'object',
      additionalProperties: false,
      properties: {
        ca_file: {
          type: 'string',
          minLength: 1,
          description: 'PEM file of the CA that signed the cluster certificate (default: the system CAs).',
        },
        verify: {
          type: 'boolean',
          description:
            'Verify the certificate and host name (default true). false is for throw-away test clusters only.',
        },
        server_name: {
          type: 'string',
          minLength: 1,
          description: 'Host name to verify instead of the URL host (SNI).',
        },
      },
    },
    compression: { type: 'string', enum: ['gzip', 'none'], description: 'Request body compression (default gzip).' },
    compression_level: {
      type: 'integer',
      minimum: 1,
      maximum: 9,
      description: `gzip level (default ${DEFAULT_COMPRESSION_LEVEL}: most of the size gain for a fraction of the CPU).`,
    },
    install_content: {
      type: 'boolean',
      description:
        'Install the aegisbpf index templates, component templates, ingest pipeline and ILM policy (where the cluster has ILM) before the first send, idempotently (default false; needs manage_index_templates, manage_ingest_pipelines, manage_ilm).',
    },
  },
  required: ['url'],
};

type Raw = Readonly<Record<string, unknown>>;
const obj = (v: unknown): Raw => (v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Raw) : {});
const has = (raw: Raw, key: string): boolean => raw[key] !== undefined || raw[`${key}_file`] !== undefined;

function urlList(raw: Raw): string[] {
  const u = raw.url;
  if (typeof u === 'string') return [u];
  return Array.isArray(u) ? u.filter((x): x is string => typeof x === 'string') : [];
}

/** Semantic checks the schema cannot express. Pure; messages relative to the sink. */
export function checkElasticsearchConfig(raw: Raw): string[] {
  const problems: string[] = [];
  for (const [i, u] of urlList(raw).entries()) {
    const at = Array.isArray(raw.url) ? `url.${i}` : 'url';
    let parsed: URL;
    try {
      parsed = new URL(u);
    } catch {
      problems.push(`${at}: not a URL: ${JSON.stringify(u)}`);
      continue;
    }
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:')
      problems.push(`${at}: must be http:// or https://`);
    if (parsed.username !== '' || parsed.password !== '')
      problems.push(`${at}: must not contain credentials; use username and password_file (or api_key_file)`);
    if (parsed.search !== '' || parsed.hash !== '') problems.push(`${at}: must not have a query or fragment`);
  }
  if (raw.index !== undefined && raw.data_stream !== undefined)
    problems.push('index: set either index or data_stream, not both');
  if (typeof raw.index === 'string') problems.push(...checkIndexPattern(raw.index).map((p) => `index: ${p}`));
  if (has(raw, 'api_key') && (raw.username !== undefined || has(raw, 'password')))
    problems.push('api_key: set either api_key or username/password, not both');
  if (raw.username !== undefined && !has(raw, 'password'))
    problems.push('password: is required with username (set password, or password_file)');
  if (raw.username === undefined && has(raw, 'password')) problems.push('username: is required with password');
  const tls = obj(raw.tls);
  const urls = urlList(raw);
  if (
    (tls.ca_file !== undefined || tls.server_name !== undefined) &&
    urls.length > 0 &&
    urls.every((u) => u.startsWith('http:'))
  ) {
    problems.push('tls: only applies to https:// URLs');
  }
  if (raw.compression === 'none' && raw.compression_level !== undefined)
    problems.push('compression_level: only applies with compression: gzip');
  return problems;
}

/** Convert the validated keys (secrets already resolved from `*_file`) into the transport's config. Pure. */
export function parseElasticsearchConfig(raw: Raw): ElasticsearchSinkConfig {
  const ds = raw.data_stream === undefined ? undefined : obj(raw.data_stream);
  const namespace = typeof ds?.namespace === 'string' ? ds.namespace : DEFAULT_NAMESPACE;
  const target: WriteTarget =
    ds !== undefined
      ? { kind: 'data_stream', name: `logs-${ECS_DATASET}-${namespace}`, namespace }
      : { kind: 'index', pattern: parseIndexPattern(typeof raw.index === 'string' ? raw.index : DEFAULT_INDEX) };
  let auth: Auth = { kind: 'none' };
  if (typeof raw.api_key === 'string') auth = { kind: 'api_key', apiKey: raw.api_key };
  else if (typeof raw.username === 'string')
    auth = { kind: 'basic', username: raw.username, password: typeof raw.password === 'string' ? raw.password : '' };
  const tls = obj(raw.tls);
  return {
    urls: urlList(raw).map((u) => u.replace(/\/+$/, '')),
    target,
    pipeline: typeof raw.pipeline === 'string' ? raw.pipeline : undefined,
    auth,
    tls: {
      caFile: typeof tls.ca_file === 'string' ? tls.ca_file : undefined,
      verify: tls.verify !== false,
      serverName: typeof tls.server_name === 'string' ? tls.server_name : undefined,
    },
    compressionLevel:
      raw.compression === 'none'
        ? 0
        : typeof raw.compression_level === 'number'
          ? raw.compression_level
          : DEFAULT_COMPRESSION_LEVEL,
    installContent: raw.install_content === true,
  };
}
