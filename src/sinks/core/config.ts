/**
 * Configuration shared by every sink: `format`, `batch`, `buffer`, `request`, `retry`, `healthcheck`.
 * Pure: schema fragments and conversion of validated YAML (snake_case, units in names) into SinkCoreOptions.
 */
import type { JsonSchemaObject } from '../../formatters/types';
import type { BatchOptions, BufferOptions, RequestOptions, RetryOptions, SinkCoreOptions } from './types';
import { DEFAULT_CORE_OPTIONS, DEFAULT_DISK_BUFFER_MAX_BYTES, DEFAULT_DISK_FSYNC_INTERVAL_MILLIS } from './types';
import { durationMillisSchema } from '../../util/duration-schema';
import { byteSizeSchema } from '../../util/byte-size';

export type CoreOverrides = {
  readonly [K in keyof SinkCoreOptions]?: Partial<SinkCoreOptions[K]>;
};

const int = (minimum: number, description: string, maximum?: number): JsonSchemaObject =>
  maximum === undefined
    ? { type: 'integer', minimum, description }
    : { type: 'integer', minimum, maximum, description };

/**
 * `healthcheck.timeout_ms` default: a healthcheck is one small request, so 10 s is generous, yet short enough for a
 * start-up that waits for a required sink.
 */
export const DEFAULT_HEALTHCHECK_TIMEOUT_MILLIS = 10_000;

export function coreConfigSchema(defaults: SinkCoreOptions): Record<string, JsonSchemaObject> {
  return {
    batch: {
      type: 'object',
      additionalProperties: false,
      description: 'How records are grouped into one send.',
      properties: {
        max_events: int(1, `Most events in one batch (default ${defaults.batch.maxEvents}).`, 1_000_000),
        max_bytes: byteSizeSchema(1, `Most encoded bytes in one batch (default ${defaults.batch.maxBytes}).`),
        timeout_ms: durationMillisSchema(
          0,
          `Send a partial batch this long after its oldest event arrived (default ${defaults.batch.timeoutMillis}).`,
        ),
      },
    },
    buffer: {
      type: 'object',
      additionalProperties: false,
      description: 'Events waiting for the transport. Bounded by events and bytes.',
      properties: {
        type: {
          type: 'string',
          enum: ['memory', 'disk'],
          description:
            'Where the buffer lives: memory (default; lost on a crash) or disk (survives crashes, reboots per fsync, long outages; docs/delivery.md).',
        },
        max_events: int(
          1,
          `Most events buffered (default ${defaults.buffer.maxEvents}); disk: most events read ahead into memory.`,
        ),
        max_bytes: byteSizeSchema(
          1,
          `Most encoded bytes buffered (default ${defaults.buffer.maxBytes}); disk: most bytes on disk (default ${DEFAULT_DISK_BUFFER_MAX_BYTES}).`,
        ),
        path: {
          type: 'string',
          minLength: 1,
          description: 'disk: the buffer directory (default <data_dir>/buffers/<sink name>); one sink per directory.',
        },
        fsync: {
          type: 'string',
          enum: ['always', 'interval', 'never'],
          description:
            'disk: always (fdatasync before an accept returns), interval (default, every fsync_interval_ms), never (the kernel decides).',
        },
        fsync_interval_ms: durationMillisSchema(
          1,
          `disk: the interval policy's period, and how often the acknowledged position is saved (default ${DEFAULT_DISK_FSYNC_INTERVAL_MILLIS}).`,
        ),
        when_full: {
          type: 'string',
          enum: ['block', 'drop_newest'],
          description: `block: backpressure to the source; drop_newest: drop and count (default ${defaults.buffer.whenFull}).`,
        },
      },
    },
    request: {
      type: 'object',
      additionalProperties: false,
      properties: {
        concurrency: int(
          1,
          `Batches in flight at once (default ${defaults.request.concurrency}). Above 1, order across batches is not kept on retry.`,
          1024,
        ),
        timeout_ms: durationMillisSchema(
          1,
          `One attempt is abandoned and retried after this long (default ${defaults.request.timeoutMillis}).`,
        ),
      },
    },
    retry: {
      type: 'object',
      additionalProperties: false,
      properties: {
        initial_backoff_ms: durationMillisSchema(
          1,
          `First backoff ceiling, doubled per attempt, full jitter (default ${defaults.retry.initialBackoffMillis}).`,
        ),
        max_backoff_ms: durationMillisSchema(1, `Backoff ceiling cap (default ${defaults.retry.maxBackoffMillis}).`),
        max_duration_ms: durationMillisSchema(
          0,
          'Dead-letter a batch this long after its first attempt; 0 retries until delivered (default 0).',
        ),
        max_retry_after_ms: durationMillisSchema(
          0,
          `Honour a receiver's Retry-After up to this long (default ${defaults.retry.maxRetryAfterMillis}).`,
        ),
      },
    },
    healthcheck: {
      type: 'object',
      additionalProperties: false,
      properties: {
        enabled: { type: 'boolean', description: 'Run the healthcheck at start (default true).' },
        require: {
          type: 'boolean',
          description:
            'Wait for the healthcheck at start and refuse to start when it fails or times out (default false: start at once, buffer and retry).',
        },
        timeout_ms: durationMillisSchema(
          1,
          `One healthcheck (at start and periodic) is abandoned as failed after this long; with require, the most start-up waits for this sink (default ${DEFAULT_HEALTHCHECK_TIMEOUT_MILLIS}).`,
        ),
      },
    },
  };
}

export function mergeCoreDefaults(overrides: CoreOverrides | undefined): SinkCoreOptions {
  if (overrides === undefined) return DEFAULT_CORE_OPTIONS;
  return {
    batch: { ...DEFAULT_CORE_OPTIONS.batch, ...overrides.batch },
    buffer: { ...DEFAULT_CORE_OPTIONS.buffer, ...overrides.buffer },
    request: { ...DEFAULT_CORE_OPTIONS.request, ...overrides.request },
    retry: { ...DEFAULT_CORE_OPTIONS.retry, ...overrides.retry },
  };
}

type Raw = Readonly<Record<string, unknown>>;
const obj = (v: unknown): Raw => (v !== null && typeof v === 'object' ? (v as Raw) : {});
const num = (v: unknown, fallback: number): number => (typeof v === 'number' ? v : fallback);

export interface HealthcheckOptions {
  readonly enabled: boolean;
  readonly require: boolean;
  /** One healthcheck's bound; with `require`, the longest start-up waits for the sink. */
  readonly timeoutMillis: number;
}

/** Convert a validated sink config's common sections into options, filling defaults. */
export function parseCoreOptions(
  raw: Raw,
  defaults: SinkCoreOptions,
): SinkCoreOptions & { readonly healthcheck: HealthcheckOptions } {
  const b = obj(raw.batch);
  const u = obj(raw.buffer);
  const q = obj(raw.request);
  const r = obj(raw.retry);
  const h = obj(raw.healthcheck);
  const batch: BatchOptions = {
    maxEvents: num(b.max_events, defaults.batch.maxEvents),
    maxBytes: num(b.max_bytes, defaults.batch.maxBytes),
    timeoutMillis: num(b.timeout_ms, defaults.batch.timeoutMillis),
  };
  const disk = u.type === 'disk';
  const buffer: BufferOptions = {
    // A default bound holds at least one full batch: a batch size raised alone (e.g. `batch.max_bytes: 10MB`) must not
    // make the configuration invalid. Bounds the user gives are checked against the batch in checkCoreOptions.
    maxEvents: num(u.max_events, Math.max(defaults.buffer.maxEvents, batch.maxEvents)),
    maxBytes: num(
      u.max_bytes,
      Math.max(disk ? DEFAULT_DISK_BUFFER_MAX_BYTES : defaults.buffer.maxBytes, batch.maxBytes),
    ),
    whenFull: u.when_full === 'drop_newest' || u.when_full === 'block' ? u.when_full : defaults.buffer.whenFull,
    ...(disk
      ? {
          type: 'disk' as const,
          ...(typeof u.path === 'string' ? { path: u.path } : {}),
          fsync: u.fsync === 'always' || u.fsync === 'never' ? u.fsync : 'interval',
          fsyncIntervalMillis: num(u.fsync_interval_ms, DEFAULT_DISK_FSYNC_INTERVAL_MILLIS),
        }
      : {}),
  };
  const request: RequestOptions = {
    concurrency: num(q.concurrency, defaults.request.concurrency),
    timeoutMillis: num(q.timeout_ms, defaults.request.timeoutMillis),
  };
  const retry: RetryOptions = {
    initialBackoffMillis: num(r.initial_backoff_ms, defaults.retry.initialBackoffMillis),
    maxBackoffMillis: num(r.max_backoff_ms, defaults.retry.maxBackoffMillis),
    maxDurationMillis: num(r.max_duration_ms, defaults.retry.maxDurationMillis),
    maxRetryAfterMillis: num(r.max_retry_after_ms, defaults.retry.maxRetryAfterMillis),
  };
  return {
    batch,
    buffer,
    request,
    retry,
    healthcheck: {
      enabled: h.enabled !== false,
      require: h.require === true,
      timeoutMillis: num(h.timeout_ms, DEFAULT_HEALTHCHECK_TIMEOUT_MILLIS),
    },
  };
}

/** Semantic checks on the common sections that a schema cannot express. Messages are `key: problem`. */
export function checkCoreOptions(prefix: string, options: SinkCoreOptions, raw?: Raw): string[] {
  const problems: string[] = [];
  const u = obj(raw?.buffer);
  if (u.type !== 'disk')
    for (const key of ['path', 'fsync', 'fsync_interval_ms'])
      if (u[key] !== undefined) problems.push(`${prefix}.buffer.${key}: only applies to buffer.type disk`);
  if (options.retry.maxBackoffMillis < options.retry.initialBackoffMillis) {
    problems.push(
      `${prefix}.retry.max_backoff_ms: must be >= retry.initial_backoff_ms (${options.retry.initialBackoffMillis})`,
    );
  }
  if (options.buffer.maxEvents < options.batch.maxEvents) {
    problems.push(
      `${prefix}.buffer.max_events: must be >= batch.max_events (${options.batch.maxEvents}), or no batch could ever fill`,
    );
  }
  if (options.buffer.maxBytes < options.batch.maxBytes) {
    problems.push(`${prefix}.buffer.max_bytes: must be >= batch.max_bytes (${options.batch.maxBytes})`);
  }
  return problems;
}
