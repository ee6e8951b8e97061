/**
 * One error class for the whole project, with stable codes.
 *
 * Every code is documented in docs/errors.md; test/util/errors-documented.test.ts keeps the two in sync.
 * Codes never change meaning once released: operators grep for them and alert on them.
 */

export const ERROR_CODES = {
  AEGIS_ERR_CONFIG_INVALID: 'The configuration failed validation; the message lists every problem with its key path.',
  AEGIS_ERR_CONFIG_READ:
    'The configuration file (or a file it references, such as a `*_file` secret) could not be read.',
  AEGIS_ERR_ENV_MISSING:
    'A `${VAR}` reference in the configuration names an environment variable that is not set and has no default.',
  AEGIS_ERR_EXPR_SYNTAX: 'A filter or route expression does not parse; the message gives the position.',
  AEGIS_ERR_EXPR_FIELD: 'An expression names a field that is not part of the event schema.',
  AEGIS_ERR_USAGE: 'The command line is wrong (unknown command or flag, missing argument).',
  AEGIS_ERR_SOURCE_READ: 'A source could not read its input (file missing, permission denied).',
  AEGIS_ERR_EVENT_INVALID:
    'An input record is not valid JSON or does not match the event schema; it went to the dead-letter file.',
  AEGIS_ERR_FORMAT: 'A formatter could not encode an event; the event went to the dead-letter file.',
  AEGIS_ERR_FORMAT_UNKNOWN: 'A sink or command names an output format that is not registered.',
  AEGIS_ERR_SINK_CLOSED: 'An event was offered to a sink that is already shutting down.',
  AEGIS_ERR_SINK_REJECTED:
    'The receiver rejected events permanently; they went to the dead-letter file with the receiver’s reason.',
  AEGIS_ERR_SINK_UNHEALTHY: 'A sink failed its healthcheck or keeps failing; events wait in its buffer.',
  AEGIS_ERR_DLQ_WRITE: 'The dead-letter file could not be written; the affected events are counted as lost.',
  AEGIS_ERR_RETRY_DEADLINE:
    'A batch was retried past the sink’s retry deadline; its events went to the dead-letter file.',
  AEGIS_ERR_SHUTDOWN_UNDELIVERED:
    'Events were still undelivered when the shutdown timeout expired; they went to the dead-letter file.',
  AEGIS_ERR_HEC_REFUSED:
    'Splunk HEC refused requests for the token or the sink’s configuration (bad, disabled or missing token; index not allowed); the sink is unhealthy and events wait in its buffer.',
  AEGIS_ERR_HEC_ACK_DISABLED:
    'Splunk HEC has indexer acknowledgement disabled for the token; the sink falls back to counting HTTP 200 as delivered (logged once, `ack_fallback` = 1).',
  AEGIS_ERR_HEC_ACK_LOST:
    'A batch accepted by Splunk HEC was not acknowledged (ack deadline passed, or the receiver restarted and forgot its acks); it is resent and counted as possible duplicates.',
  AEGIS_ERR_HEC_CHANNEL_RESET:
    'Splunk HEC refused the request channel (HEC code 10/11); the sink switched to a new channel GUID and resends batches still waiting on the old one.',
  AEGIS_ERR_NATIVE_NOT_BUILT:
    'The native addon or the BPF objects are not built (clang, bpftool, libbpf or kernel BTF was missing at install time); the message says which.',
  AEGIS_ERR_NATIVE_INVALID_ARG: 'A native call got an argument of the wrong type or size.',
  AEGIS_ERR_BPF_OPEN: 'A BPF object file or a pinned map could not be opened.',
  AEGIS_ERR_BPF_LOAD:
    'The kernel refused to load a BPF program (verifier, permissions, missing feature); the errno and the verifier log say why.',
  AEGIS_ERR_BPF_ATTACH: 'A loaded BPF program could not be attached to its hook.',
  AEGIS_ERR_BPF_NOT_FOUND: 'A BPF program, map or rodata variable is not in the object.',
  AEGIS_ERR_BPF_STATE:
    'A BPF object, map or ring reader was used in the wrong lifecycle state (for example after it was destroyed).',
  AEGIS_ERR_MAP_OP: 'A BPF map lookup, update, delete or iteration failed; see the errno.',
  AEGIS_ERR_MAP_FULL: 'A BPF map update failed because the map is at capacity (E2BIG).',
  AEGIS_ERR_RING: 'The ring-buffer consumer could not be created or polled.',
  AEGIS_ERR_MOUNT: 'tracefs or bpffs could not be mounted.',
  AEGIS_ERR_SENSOR_UNAVAILABLE:
    'The eBPF sensor cannot run on this host (not root, no BTF, a required program type refused); `aegisbpf health` lists why.',
  AEGIS_ERR_SENSOR_LOAD:
    'Loading or attaching the sensor programs failed; the message carries the kernel errno, the details the verifier log.',
  AEGIS_ERR_POLICY_INVALID: 'A policy file failed validation; the message names every rule and key at fault.',
  AEGIS_ERR_POLICY_READ: 'A policy file could not be read or is not valid YAML.',
  AEGIS_ERR_POLICY_UNENFORCEABLE:
    'A policy rule asks for an action this kernel cannot enforce (for example BLOCK on file open without BPF LSM) and names no fallback.',
  AEGIS_ERR_POLICY_MAP_FULL:
    'Applying the policy would exceed a kernel map capacity (E2BIG); the message names the map, the entries and the capacity. Nothing was applied.',
  AEGIS_ERR_POLICY_APPLY: 'Writing the policy into the kernel maps failed; the previous policy was restored.',
  AEGIS_ERR_POLICY_NO_PREVIOUS: '`policy rollback` found no previously applied policy.',
  AEGIS_ERR_SYSLOG_TLS:
    'The TLS connection to a syslog receiver failed: untrusted CA, host name mismatch, expired certificate, or the receiver refused our client certificate; events wait in the buffer.',
  AEGIS_ERR_SYSLOG_TRUNCATED:
    'A syslog message was longer than the sink’s max_message_bytes and was truncated at its end (counted).',
  AEGIS_ERR_SYSLOG_CONNECTION_LOST:
    'The connection to a syslog receiver was lost; unwritten (TCP/TLS) or unacknowledged (RELP) events are resent after reconnecting.',
  AEGIS_ERR_RELP_PROTOCOL:
    'A RELP receiver refused the session or sent something that is not RELP; the session is closed and events are retried.',

  AEGIS_ERR_SIEM_CONTENT:
    'Installing SIEM content (index templates, ingest pipeline, ILM policies) was refused or failed; the message has the SIEM’s answer.',

  AEGIS_ERR_METRICS_LISTEN:
    'The daemon could not listen on its metrics port (in use, privileged, or an address this host does not have); it keeps running without /metrics, /health and /ready and retries.',
  AEGIS_ERR_CONTROL_SOCKET:
    'The daemon could not create its control socket (another daemon owns it, or the path is not usable); `aegisbpf stats` and `aegisbpf metrics` cannot reach it.',
  AEGIS_ERR_DAEMON_UNREACHABLE:
    '`aegisbpf stats` or `aegisbpf metrics` found no running daemon on the control socket (and no pinned sensor maps to read instead), or may not use the socket.',
  AEGIS_ERR_METRICS_WRITE:
    '`aegisbpf metrics --out FILE` could not write the textfile (directory missing or not writable, disk full).',
  AEGIS_ERR_API_STORE:
    'The API keys file could not be read, parsed or written (permissions, a hand edit that broke it, a lock held too long); the daemon keeps the last good keys.',
  AEGIS_ERR_AUDIT_WRITE:
    'A record could not be appended to the audit log; the caller is told (HTTP 500, exit 1) and the daemon logs the operation instead.',
  AEGIS_ERR_AUDIT_READ: 'The audit log could not be read.',
  AEGIS_ERR_AUDIT_BROKEN:
    '`aegisbpf audit verify` found a record that breaks the hash chain (edited, removed, inserted or reordered); the message names the first one.',
  AEGIS_ERR_API_LISTEN:
    'The REST API could not listen on `api.listen` (in use, privileged, or an address this host does not have), or its certificate files could not be read.',
  AEGIS_ERR_API_UNAUTHORIZED: 'An API request had no key, or a wrong, expired or revoked one (HTTP 401).',
  AEGIS_ERR_API_FORBIDDEN: 'The API key’s role lacks the permission the route needs (HTTP 403).',
  AEGIS_ERR_API_RATE_LIMITED:
    'Too many failed authentications from one client address; retry after the `Retry-After` seconds (HTTP 429).',
  AEGIS_ERR_API_BAD_REQUEST:
    'An API request body or parameter failed validation (unknown field, malformed CIDR, relative path, …); the message names the problem. Nothing was changed (HTTP 400).',
  AEGIS_ERR_API_TOO_LARGE: 'An API request body exceeded `api.max_body_bytes` (HTTP 413).',
  AEGIS_ERR_API_NOT_FOUND: 'No such API route, or no such blocklist entry (HTTP 404).',
  AEGIS_ERR_API_METHOD: 'The API route does not accept this HTTP method (HTTP 405).',
  AEGIS_ERR_API_CONFLICT: 'The blocklist entry already exists (HTTP 409).',
  AEGIS_ERR_API_UNSUPPORTED_MEDIA: 'An API request body was not `application/json` (HTTP 415).',
  AEGIS_ERR_METRICS_PUSH:
    '`aegisbpf metrics export --endpoint URL` could not push the metrics: the endpoint did not answer, or answered with a status other than 2xx.',
  AEGIS_ERR_DEBUG:
    '`aegisbpf debug bundle|profile` could not collect what was asked (no daemon answers for a profile, or the output file cannot be written).',
  AEGIS_ERR_INTERNAL: 'A bug in aegisbpf. Please report it with the log line.',
  AEGIS_ERR_BUFFER_CORRUPT:
    'The disk buffer held corrupt records (a torn write at a crash or power loss, or damaged storage); they were moved to quarantine/ and counted.',
  AEGIS_ERR_POLICY_STORE:
    'A blocklist change reached the kernel maps but the policy store could not be written; the kernel change was undone (HTTP 500).',
  AEGIS_ERR_BUFFER_LOCKED:
    'The disk buffer directory is in use by another aegisbpf process (named with its pid), or by a second sink of this one.',
  AEGIS_ERR_POLICY_LOCKED:
    'The policy store stayed locked by another process (named with its pid) for more than 5 s; nothing was changed (HTTP 503, exit 1).',
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

export class AegisError extends Error {
  readonly code: string;
  /** Extra structured context for logs (never secrets). */
  readonly details: Readonly<Record<string, unknown>> | undefined;

  constructor(
    code: ErrorCode | (string & {}),
    message: string,
    options?: { cause?: unknown; details?: Record<string, unknown> },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'AegisError';
    this.code = code;
    this.details = options?.details;
  }
}

export function isAegisError(err: unknown): err is AegisError {
  return err instanceof AegisError;
}

/** A one-line description of any thrown value, for logs and dead-letter reasons. */
export function describeError(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    return typeof code === 'string' && !err.message.includes(code) ? `${err.message} (${code})` : err.message;
  }
  return String(err);
}
