/**
 * `webhook` sink configuration: pure schema, checks and parsing. No I/O here: `hmac.secret_file` and the TLS files
 * are read when the sink is built (src/sinks/webhook/index.ts).
 *
 * `url` is a secret (Slack and many chat services put the credential in the URL path), so it is never logged and
 * can come from `url_file`; `authorization` (an `Authorization` header value) and `routing_key` (PagerDuty) too.
 */
import type { JsonSchemaObject } from '../../formatters/types';
import { formatSpecName } from '../../formatters/registry';
import type { FormatSpec } from '../../formatters/types';
import { compileBodyTemplate } from './template';
import type { BodyTemplate } from './template';

export type WebhookMethod = 'POST' | 'PUT' | 'PATCH';
/** `array`: one request per batch, body a JSON array; `single`: one request per event. */
export type WebhookBodyMode = 'array' | 'single';
export type WebhookPreset = 'slack' | 'pagerduty' | 'alertmanager';

export interface WebhookHmacConfig {
  /** Resolved when built: the key bytes read from `hmac.secret_file` (one trailing newline removed). */
  readonly secretFile: string;
  readonly header: string;
  readonly timestampHeader: string;
}

export interface WebhookTlsConfig {
  readonly verify: boolean;
  readonly caFile?: string;
  readonly certFile?: string;
  readonly keyFile?: string;
  readonly serverName?: string;
}

export interface WebhookSinkConfig {
  readonly url: string;
  readonly method: WebhookMethod;
  readonly body: WebhookBodyMode;
  readonly headers: Readonly<Record<string, string>>;
  readonly authorization: string | undefined;
  readonly preset: WebhookPreset | undefined;
  readonly routingKey: string | undefined;
  readonly template: BodyTemplate | undefined;
  readonly hmac: WebhookHmacConfig | undefined;
  readonly tls: WebhookTlsConfig;
  /** Sockets in the keep-alive pool: the sink's request concurrency. */
  readonly maxSockets: number;
}

export const WEBHOOK_DEFAULTS = {
  signatureHeader: 'X-Aegis-Signature',
  timestampHeader: 'X-Aegis-Timestamp',
  maxEvents: 100,
  maxBytes: 1_000_000,
  batchTimeoutMillis: 1000,
  concurrency: 1,
  requestTimeoutMillis: 30_000,
} as const;

/** Body mode each preset implies (the receiver's API decides: Alertmanager takes a list, the others one event). */
export const PRESET_BODY: Readonly<Record<WebhookPreset, WebhookBodyMode>> = {
  slack: 'single',
  pagerduty: 'single',
  alertmanager: 'array',
};

/** Headers the sink sets itself; configuring them would break framing or signing. */
const RESERVED_HEADERS = new Set(['content-length', 'transfer-encoding', 'host', 'connection', 'content-encoding']);
const HEADER_NAME = "^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,128}$";

const str = (description: string): JsonSchemaObject => ({ type: 'string', minLength: 1, maxLength: 4096, description });

export const webhookConfigSchema: { properties: Record<string, JsonSchemaObject>; required: string[] } = {
  properties: {
    url: {
      type: 'string',
      minLength: 1,
      pattern: '^https?://',
      description:
        'Receiver URL (https:// recommended). Treated as a secret: never logged (chat webhooks carry their credential in the path); url_file reads it from a file.',
    },
    method: { type: 'string', enum: ['POST', 'PUT', 'PATCH'], description: 'HTTP method (default POST).' },
    body: {
      type: 'string',
      enum: ['array', 'single'],
      description:
        'array: one request per batch, body a JSON array of the batch (default); single: one request per event, body the formatted event.',
    },
    headers: {
      type: 'object',
      description: 'Extra request headers (not secret: use authorization for credentials).',
      propertyNames: { pattern: HEADER_NAME },
      additionalProperties: { type: 'string', maxLength: 4096, pattern: '^[^\\r\\n\\u0000]*$' },
    },
    authorization: {
      type: 'string',
      minLength: 1,
      pattern: '^[^\\r\\n\\u0000]*$',
      description: 'Value of the Authorization header (e.g. "Bearer …"); a secret: never logged.',
    },
    preset: {
      type: 'string',
      enum: ['slack', 'pagerduty', 'alertmanager'],
      description:
        'Shape the body for a known receiver: Slack incoming webhook, PagerDuty Events v2, Alertmanager POST /api/v2/alerts (docs/sinks.md).',
    },
    routing_key: {
      type: 'string',
      minLength: 1,
      maxLength: 128,
      description: 'PagerDuty integration (routing) key, with preset: pagerduty; a secret.',
    },
    body_template: str(
      'A JSON document rendered per event; "{{ field }}" placeholders inside its strings are replaced by the field value (JSON-escaped), "{{ $event }}" as a whole string by the event object, "{{ $summary }}" by a one-line summary.',
    ),
    hmac: {
      type: 'object',
      additionalProperties: false,
      required: ['secret_file'],
      description:
        'Sign each request: <header>: sha256=HEX(HMAC-SHA256(secret, "<timestamp>.<body>")) with <timestamp_header>: Unix seconds.',
      properties: {
        secret_file: { type: 'string', minLength: 1, description: 'File holding the HMAC key (read at start).' },
        header: str(`Signature header (default ${WEBHOOK_DEFAULTS.signatureHeader}).`),
        timestamp_header: str(`Signed timestamp header (default ${WEBHOOK_DEFAULTS.timestampHeader}).`),
      },
    },
    tls: {
      type: 'object',
      additionalProperties: false,
      properties: {
        verify: { type: 'boolean', description: 'Verify the server certificate and name (default true).' },
        ca_file: str('PEM file with the CA(s) that signed the receiver certificate (default: the system CAs).'),
        cert_file: str('PEM client certificate (mutual TLS), with key_file.'),
        key_file: str('PEM private key of cert_file.'),
        server_name: str('Name to verify the certificate against and send as SNI (default: the URL host).'),
      },
    },
  },
  required: ['url'],
};

type Raw = Readonly<Record<string, unknown>>;
const obj = (v: unknown): Raw => (v !== null && typeof v === 'object' ? (v as Raw) : {});
const optStr = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
const num = (v: unknown, fallback: number): number => (typeof v === 'number' ? v : fallback);

/** Semantic checks the schema cannot express. Messages are relative to the sink. */
export function checkWebhookConfig(raw: Raw): string[] {
  const problems: string[] = [];
  if (typeof raw.url === 'string') {
    let url: URL | undefined;
    try {
      url = new URL(raw.url);
    } catch {
      problems.push('url: is not a valid URL');
    }
    if (url !== undefined) {
      if (url.username !== '' || url.password !== '')
        problems.push('url: must not contain credentials; use authorization (or authorization_file)');
      if (url.protocol === 'http:' && raw.tls !== undefined) problems.push('tls: applies to https URLs only');
    }
  }
  for (const name of Object.keys(obj(raw.headers))) {
    const lower = name.toLowerCase();
    if (RESERVED_HEADERS.has(lower)) problems.push(`headers.${name}: is set by the sink itself`);
    if (lower === 'authorization') problems.push(`headers.${name}: use authorization (a secret, never logged)`);
  }
  const hmac = obj(raw.hmac);
  for (const k of ['header', 'timestamp_header']) {
    const h = hmac[k];
    if (typeof h === 'string' && !new RegExp(HEADER_NAME).test(h)) problems.push(`hmac.${k}: is not a header name`);
  }
  const tls = obj(raw.tls);
  if ((tls.cert_file === undefined) !== (tls.key_file === undefined))
    problems.push('tls: cert_file and key_file go together');
  const preset = optStr(raw.preset);
  if (preset !== undefined) {
    if (raw.body_template !== undefined) problems.push('body_template: set either preset or body_template, not both');
    if (raw.body !== undefined && raw.body !== PRESET_BODY[preset as WebhookPreset])
      problems.push(`body: preset ${preset} sends ${PRESET_BODY[preset as WebhookPreset]} bodies`);
    if (raw.format !== undefined) problems.push(`format: preset ${preset} shapes the body itself; remove format`);
  }
  if (preset === 'pagerduty' && raw.routing_key === undefined && raw.routing_key_file === undefined)
    problems.push('routing_key: is required with preset: pagerduty (set routing_key, or routing_key_file)');
  if (preset !== 'pagerduty' && (raw.routing_key !== undefined || raw.routing_key_file !== undefined))
    problems.push('routing_key: applies to preset: pagerduty only');
  if (typeof raw.body_template === 'string') {
    const compiled = compileBodyTemplate(raw.body_template);
    if ('error' in compiled) problems.push(`body_template: ${compiled.error}`);
    if (raw.format !== undefined) problems.push('format: body_template shapes the body itself; remove format');
  }
  const format = raw.format as FormatSpec | undefined;
  if (format !== undefined && raw.body === 'array' && formatSpecName(format) === 'kafka')
    problems.push('format: kafka records cannot go into a webhook body');
  return problems;
}

export function parseWebhookConfig(raw: Raw): WebhookSinkConfig {
  const tls = obj(raw.tls);
  const hmac = obj(raw.hmac);
  const request = obj(raw.request);
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(obj(raw.headers))) if (typeof v === 'string') headers[k] = v;
  const preset = optStr(raw.preset) as WebhookPreset | undefined;
  const templateText = optStr(raw.body_template);
  let template: BodyTemplate | undefined;
  if (templateText !== undefined) {
    const compiled = compileBodyTemplate(templateText);
    if ('error' in compiled) throw new Error(`body_template: ${compiled.error}`);
    template = compiled.template;
  }
  const body: WebhookBodyMode = preset !== undefined ? PRESET_BODY[preset] : raw.body === 'single' ? 'single' : 'array';
  const secretFile = optStr(hmac.secret_file);
  const t = (k: string): Partial<Record<string, string>> => {
    const v = optStr(tls[k]);
    return v === undefined ? {} : { [k]: v };
  };
  const caFile = t('ca_file').ca_file;
  const certFile = t('cert_file').cert_file;
  const keyFile = t('key_file').key_file;
  const serverName = t('server_name').server_name;
  return {
    url: String(raw.url),
    method: raw.method === 'PUT' || raw.method === 'PATCH' ? raw.method : 'POST',
    body,
    headers,
    authorization: optStr(raw.authorization),
    preset,
    routingKey: optStr(raw.routing_key),
    template,
    hmac:
      secretFile === undefined
        ? undefined
        : {
            secretFile,
            header: optStr(hmac.header) ?? WEBHOOK_DEFAULTS.signatureHeader,
            timestampHeader: optStr(hmac.timestamp_header) ?? WEBHOOK_DEFAULTS.timestampHeader,
          },
    tls: {
      verify: tls.verify !== false,
      ...(caFile === undefined ? {} : { caFile }),
      ...(certFile === undefined ? {} : { certFile }),
      ...(keyFile === undefined ? {} : { keyFile }),
      ...(serverName === undefined ? {} : { serverName }),
    },
    maxSockets: num(request.concurrency, WEBHOOK_DEFAULTS.concurrency),
  };
}
