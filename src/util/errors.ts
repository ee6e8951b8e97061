/**
 * One error class for the whole project, with stable codes.
 *
 * Every code is documented in docs/errors.md; test/util/errors-documented.test.ts keeps the two in sync.
 * Codes never change meaning once released: operators grep for them and alert on them.
 */

export const ERROR_CODES = {
  AEGIS_ERR_CONFIG_INVALID: 'The configuration failed validation; the message lists every problem with its key path.',
  AEGIS_ERR_CONFIG_READ: 'The configuration file (or a file it references, such as a `*_file` secret) could not be read.',
  AEGIS_ERR_ENV_MISSING: 'A `${VAR}` reference in the configuration names an environment variable that is not set and has no default.',
  AEGIS_ERR_EXPR_SYNTAX: 'A filter or route expression does not parse; the message gives the position.',
  AEGIS_ERR_EXPR_FIELD: 'An expression names a field that is not part of the event schema.',
  AEGIS_ERR_USAGE: 'The command line is wrong (unknown command or flag, missing argument).',
  AEGIS_ERR_SOURCE_READ: 'A source could not read its input (file missing, permission denied).',
  AEGIS_ERR_EVENT_INVALID: 'An input record is not valid JSON or does not match the event schema; it went to the dead-letter file.',
  AEGIS_ERR_FORMAT: 'A formatter could not encode an event; the event went to the dead-letter file.',
  AEGIS_ERR_FORMAT_UNKNOWN: 'A sink or command names an output format that is not registered.',
  AEGIS_ERR_SINK_CLOSED: 'An event was offered to a sink that is already shutting down.',
  AEGIS_ERR_SINK_REJECTED: 'The receiver rejected events permanently; they went to the dead-letter file with the receiver’s reason.',
  AEGIS_ERR_SINK_UNHEALTHY: 'A sink failed its healthcheck or keeps failing; events wait in its buffer.',
  AEGIS_ERR_DLQ_WRITE: 'The dead-letter file could not be written; the affected events are counted as lost.',
  AEGIS_ERR_RETRY_DEADLINE: 'A batch was retried past the sink’s retry deadline; its events went to the dead-letter file.',
  AEGIS_ERR_SHUTDOWN_UNDELIVERED: 'Events were still undelivered when the shutdown timeout expired; they went to the dead-letter file.',
  AEGIS_ERR_METRICS_LISTEN: 'The daemon could not listen on its metrics port (in use, privileged, or an address this host does not have); it keeps running without /metrics, /health and /ready and retries.',
  AEGIS_ERR_CONTROL_SOCKET: 'The daemon could not create its control socket (another daemon owns it, or the path is not usable); `aegisbpf stats` and `aegisbpf metrics` cannot reach it.',
  AEGIS_ERR_DAEMON_UNREACHABLE: '`aegisbpf stats` or `aegisbpf metrics` found no running daemon on the control socket (and no pinned sensor maps to read instead), or may not use the socket.',
  AEGIS_ERR_METRICS_WRITE: '`aegisbpf metrics --out FILE` could not write the textfile (directory missing or not writable, disk full).',
  AEGIS_ERR_INTERNAL: 'A bug in aegisbpf. Please report it with the log line.',
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

export class AegisError extends Error {
  readonly code: string;
  /** Extra structured context for logs (never secrets). */
  readonly details: Readonly<Record<string, unknown>> | undefined;

  constructor(code: ErrorCode | (string & {}), message: string, options?: { cause?: unknown; details?: Record<string, unknown> }) {
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
