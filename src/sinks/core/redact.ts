/**
 * Redaction of a sink's own secrets from everything its receiver may echo back. Receivers are not ours: some put the
 * request's Authorization header into a 401/400 body or into WWW-Authenticate, and whatever a transport turns that
 * answer into (a SendResult or HealthResult reason) ends in the log, /ready, `stats` and dead-letter reasons. So the
 * sink core redacts every reason and every log field of the sink in one place (src/sinks/build.ts builds the
 * redactor from the sink's resolved secrets, sink.ts applies it), whether or not a transport remembered to.
 *
 * Every encoding a server can plausibly echo is covered: the raw value, base64 (standard and URL-safe, with or
 * without padding) of the value and of `user:password`, the `id:key` inside an Elasticsearch API key (base64 as
 * configured), each of these URL-encoded (either hex case) and JSON-escaped (including `\/`). `Bearer <token>`,
 * `Splunk <token>`, `Basic <b64>` and `ApiKey <b64>` keep their scheme word and lose the credential.
 */
import type { Logger, LogLevel } from '../../util/logger';
import type { HealthResult, SendResult, Transport } from './types';

export type Redactor = (text: string) => string;

/** What replaces a secret. */
export const REDACTED = '<redacted>';

/**
 * Secrets shorter than this are not redacted: replacing every "abc" in every reason would make reasons unreadable
 * (and reveal the secret by the pattern of the holes), while a secret that short is guessable anyway. The config
 * schemas accept them (minLength 1); docs/sinks.md asks for long ones.
 */
export const MIN_SECRET_CHARS = 4;

export interface SecretValues {
  /** Secret values as configured (`token`, `password`, `api_key`, `tls_key_passphrase`, …), already resolved. */
  readonly values: readonly string[];
  /** `user:secret` pairs sent as HTTP Basic authentication (their base64 is what a server echoes). */
  readonly pairs?: readonly (readonly [user: string, secret: string])[];
}

export const noRedaction: Redactor = (text) => text;

/** A redactor for these secrets; the identity when there is none long enough. */
export function createRedactor(secrets: SecretValues): Redactor {
  const bases = new Set<string>();
  const addSecret = (s: string): void => {
    if (s.length < MIN_SECRET_CHARS) return;
    bases.add(s);
    addBase64(bases, s);
    // An Elasticsearch API key is configured as base64("id:key"); a server may echo it decoded.
    const decoded = decodeBase64Text(s);
    if (decoded !== undefined) {
      bases.add(decoded);
      const key = decoded.slice(decoded.indexOf(':') + 1);
      if (key.length >= MIN_SECRET_CHARS) bases.add(key);
    }
  };
  for (const v of secrets.values) addSecret(v);
  for (const [user, secret] of secrets.pairs ?? []) {
    if (secret.length < MIN_SECRET_CHARS) continue;
    addBase64(bases, `${user}:${secret}`);
  }
  const needles = new Set<string>();
  for (const b of bases) {
    needles.add(b);
    const url = encodeURIComponent(b);
    needles.add(url);
    needles.add(url.replace(/%[0-9A-F]{2}/g, (m) => m.toLowerCase()));
    const json = JSON.stringify(b).slice(1, -1);
    needles.add(json);
    needles.add(json.replace(/\//g, '\\/'));
    // Each of the above must be found where a longer one is not: the longest first.
  }
  if (needles.size === 0) return noRedaction;
  const sorted = [...needles].filter((n) => n.length >= MIN_SECRET_CHARS).sort((a, b) => b.length - a.length);
  const pattern = new RegExp(sorted.map(escapeRegExp).join('|'), 'g');
  return (text) =>
    typeof text === 'string' && text.length >= MIN_SECRET_CHARS ? text.replace(pattern, REDACTED) : text;
}

function addBase64(into: Set<string>, s: string): void {
  const b64 = Buffer.from(s, 'utf8').toString('base64');
  // Unpadded: a server that strips the padding is covered, and the padded form contains it.
  into.add(b64.replace(/=+$/, ''));
  into.add(Buffer.from(s, 'utf8').toString('base64url'));
}

/** The text inside `s` if `s` is base64 of printable UTF-8 containing ':' (an `id:key` pair), else undefined. */
function decodeBase64Text(s: string): string | undefined {
  if (!/^[A-Za-z0-9+/_-]+={0,2}$/.test(s) || s.length < 8) return undefined;
  const text = Buffer.from(s, 'base64').toString('utf8');
  if (!text.includes(':') || /[\u0000-\u001f\u007f\ufffd]/.test(text)) return undefined;
  return text;
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** A value with every string in it redacted (log fields: strings, arrays, plain objects, errors), depth-bounded. */
export function redactValue(value: unknown, redact: Redactor, depth = 0): unknown {
  if (typeof value === 'string') return redact(value);
  if (value instanceof Error) return redact(value.message);
  if (depth >= 8 || value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map((v) => redactValue(v, redact, depth + 1));
  const proto = Object.getPrototypeOf(value) as unknown;
  if (proto !== Object.prototype && proto !== null) return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) out[k] = redactValue(v, redact, depth + 1);
  return out;
}

/** The logger with its messages and every string in its fields redacted. */
export function redactingLogger(logger: Logger, redact: Redactor): Logger {
  if (redact === noRedaction) return logger;
  const fields = (f: Record<string, unknown> | undefined): Record<string, unknown> | undefined =>
    f === undefined ? undefined : (redactValue(f, redact) as Record<string, unknown>);
  return {
    debug: (m, f) => logger.debug(redact(m), fields(f)),
    info: (m, f) => logger.info(redact(m), fields(f)),
    warn: (m, f) => logger.warn(redact(m), fields(f)),
    error: (m, f) => logger.error(redact(m), fields(f)),
    fatal: (m, f) => logger.fatal(redact(m), fields(f)),
    burst: (level: LogLevel, key, m, f, interval) => logger.burst(level, key, redact(m), fields(f), interval),
    child: (component) => redactingLogger(logger.child(component), redact),
    isLevelEnabled: (level) => logger.isLevelEnabled(level),
  };
}

export function redactSendResult(result: SendResult, redact: Redactor): SendResult {
  switch (result.kind) {
    case 'delivered':
      return result;
    case 'partial':
      return result.rejected.length === 0
        ? result
        : { ...result, rejected: result.rejected.map((r) => ({ index: r.index, reason: redact(r.reason) })) };
    default:
      return { ...result, reason: redact(result.reason) };
  }
}

export function redactHealthResult(result: HealthResult, redact: Redactor): HealthResult {
  return result.healthy ? result : { healthy: false, reason: redact(result.reason) };
}

/**
 * The transport with its results redacted, and its thrown errors replaced by errors with redacted messages (the
 * core turns a throw into a reason with describeError).
 */
export function redactingTransport<R>(transport: Transport<R>, redact: Redactor): Transport<R> {
  if (redact === noRedaction) return transport;
  const rethrow = (err: unknown): never => {
    const message = err instanceof Error ? err.message : String(err);
    const code = (err as { code?: unknown } | null)?.code;
    throw Object.assign(new Error(redact(message)), typeof code === 'string' ? { code } : {});
  };
  const wrapped: Transport<R> = {
    send: (batch, signal) => transport.send(batch, signal).then((r) => redactSendResult(r, redact), rethrow),
    healthcheck: (signal) => transport.healthcheck(signal).then((r) => redactHealthResult(r, redact), rethrow),
    close: () => transport.close().catch(rethrow),
    abandon: () => transport.abandon(),
  };
  if (transport.reopen !== undefined) {
    const reopen = transport.reopen.bind(transport);
    wrapped.reopen = () => reopen().catch(rethrow);
  }
  return wrapped;
}
