import type { AegisEvent } from '../../event/types';
import type { Acknowledgement } from './ack';

/** One event as a sink carries it: the event, its encoded form, and the encoded size in bytes. */
export interface EncodedRecord<R = string> {
  readonly event: AegisEvent;
  readonly data: R;
  readonly bytes: number;
  /**
   * The source's acknowledgement (ack.ts), settled once when this record reaches its final outcome; undefined for
   * events of untracked chunks.
   */
  readonly ack?: Acknowledgement | undefined;
}

/** What a transport is asked to send. Records are in acceptance order. */
export interface Batch<R = string> {
  /** Increasing per sink; stable across retries of the same batch (a split gets new ids). */
  readonly id: number;
  readonly records: readonly EncodedRecord<R>[];
  readonly bytes: number;
  /** 1 on the first try. */
  readonly attempt: number;
}

/**
 * The outcome of one send, as a value. Remote failures are never thrown: a transport turns them into one of these
 * (its retry-policy.ts decides which); the sink core decides when to retry.
 *
 * - delivered: the receiver acknowledged every record (with the strongest acknowledgement the protocol has).
 *   `duplicates` counts records the receiver already had (idempotent resend).
 * - retryable: nothing was acknowledged; try the whole batch again later, no sooner than `retryAfterMillis` when the
 *   receiver said so. `unhealthy` marks the sink unhealthy until a send succeeds (e.g. bad credentials: events wait).
 * - rejected: the receiver refused the whole batch permanently; the records go to the dead-letter file.
 * - partial: per-record outcome; indices into batch.records. Records in neither list were delivered.
 * - too_large: the receiver refused the batch for its size; the core splits it in halves and sends them in order
 *   (a single record that is still too large is dead-lettered).
 */
export type SendResult =
  | { readonly kind: 'delivered'; readonly duplicates?: number }
  | {
      readonly kind: 'retryable';
      readonly reason: string;
      readonly retryAfterMillis?: number;
      readonly unhealthy?: boolean;
    }
  | { readonly kind: 'rejected'; readonly reason: string }
  | {
      readonly kind: 'partial';
      readonly retry: readonly number[];
      readonly rejected: readonly { readonly index: number; readonly reason: string }[];
      readonly retryAfterMillis?: number;
      readonly duplicates?: number;
    }
  | { readonly kind: 'too_large'; readonly reason: string };

/**
 * Whether a response is retryable: a sink's retry-policy.ts implements it (when to retry is the core's
 * retrying-send.ts). Small pure functions, tested on their own:
 * - classifyFailure: a failure before the receiver answered (a thrown error, a refused connection, an I/O error);
 *   nothing was acknowledged.
 * - classifyAnswer: the receiver's answer (HTTP status and body, a RELP response). Absent where the protocol has no
 *   answer beyond write completion (file, stdout).
 * `Outcome` is SendResult, or a richer value the transport resolves further (HEC: accepted with an ackId, a bad event
 * to isolate, a channel to replace).
 */
export interface RetryLogic<Failure = unknown, Answer = never, Outcome = SendResult> {
  classifyFailure(failure: Failure): Outcome;
  classifyAnswer?(answer: Answer): Outcome;
}

export type HealthResult = { readonly healthy: true } | { readonly healthy: false; readonly reason: string };

/** A transport moves encoded records to one receiver and adds only its protocol's envelope and framing. */
export interface Transport<R = string> {
  /**
   * Send one batch; resolve when the receiver acknowledged it (or with the failure as a value). Must stop promptly
   * when `signal` aborts (request timeout or shutdown deadline) and resolve with what it did: `retryable` when
   * nothing is delivered (a partial write rolled back), or `delivered`/`partial` for what it finished anyway. The
   * core waits for that result before it retries or dead-letters the records (core/retrying-send.ts).
   */
  send(batch: Batch<R>, signal: AbortSignal): Promise<SendResult>;
  /** Perform the same kind of operation `send` does (connect, authenticate, check the target) without data. */
  healthcheck(signal: AbortSignal): Promise<HealthResult>;
  /**
   * Release connections and files in an orderly way (flush, FIN, close_notify). Called once, after the last send
   * settled; the core bounds the wait and calls abandon() when it takes too long.
   */
  close(): Promise<void>;
  /**
   * The shutdown deadline passed: drop everything now, synchronously start it and return. Destroy sockets, abort
   * requests, stop file writes (a write already in the kernel is finished or rolled back by the send that issued
   * it). Every pending send, and close(), must settle promptly afterwards, whatever the peer does (a receiver that
   * accepts and never reads holds no promise of ours). May be called more than once, and before or after close().
   */
  abandon(): void;
  /** Reopen files or connections (SIGHUP, for logrotate). Optional. */
  reopen?(): Promise<void>;
}

export type WhenFull = 'block' | 'drop_newest';

export interface BatchOptions {
  /** Most records in one batch. */
  readonly maxEvents: number;
  /** Most encoded bytes in one batch (a single larger record is sent alone). */
  readonly maxBytes: number;
  /** A partial batch is sent this long after its oldest record arrived. */
  readonly timeoutMillis: number;
}

export interface BufferOptions {
  /** `memory` (default) or `disk` (disk-buffer.ts: survives crashes and outages). */
  readonly type?: 'memory' | 'disk';
  /** memory: most events held. disk: most events kept in memory as read-ahead. */
  readonly maxEvents: number;
  /** memory: most encoded bytes held. disk: most bytes of segment files on disk. */
  readonly maxBytes: number;
  /** `block`: backpressure up to the source. `drop_newest`: drop what does not fit, counted. */
  readonly whenFull: WhenFull;
  /** disk: the directory (default `<data_dir>/buffers/<sink>`). */
  readonly path?: string;
  /** disk: when writes reach the storage: after every offer, every fsyncIntervalMillis, or when the kernel decides. */
  readonly fsync?: 'always' | 'interval' | 'never';
  readonly fsyncIntervalMillis?: number;
}

/** A disk buffer's bound when `buffer.max_bytes` is not given. */
export const DEFAULT_DISK_BUFFER_MAX_BYTES = 1024 * 1024 * 1024;
export const DEFAULT_DISK_FSYNC_INTERVAL_MILLIS = 1000;

export interface RequestOptions {
  /** Batches in flight at once (HTTP requests awaiting a response or an acknowledgement). */
  readonly concurrency: number;
  /** One send attempt is aborted (and retried) after this long. */
  readonly timeoutMillis: number;
}

export interface RetryOptions {
  /** First backoff ceiling; doubles per attempt (full jitter: the wait is uniform in [0, ceiling]). */
  readonly initialBackoffMillis: number;
  /** Cap of the backoff ceiling. */
  readonly maxBackoffMillis: number;
  /** Give up on a batch this long after its first attempt and dead-letter it; 0 retries until delivered. */
  readonly maxDurationMillis: number;
  /** A receiver's Retry-After is honoured up to this long. */
  readonly maxRetryAfterMillis: number;
}

export interface SinkCoreOptions {
  readonly batch: BatchOptions;
  readonly buffer: BufferOptions;
  readonly request: RequestOptions;
  readonly retry: RetryOptions;
}

export const DEFAULT_CORE_OPTIONS: SinkCoreOptions = {
  batch: { maxEvents: 1000, maxBytes: 1024 * 1024, timeoutMillis: 1000 },
  // Bounded by bytes first: 8 MiB of encoded records (~16 000 syslog lines, ~7 500 ECS documents) plus each record's
  // parsed event (~0.56 KB of heap; json records keep the text only, src/sinks/core/encode.ts) is ~12 – 17 MiB of live
  // heap, which keeps the daemon's RSS near its fixed cost (issue 23, memory: docs/benchmarks.md). It still holds
  // several batches, so the transport never waits for the buffer. Longer receiver outages than a memory buffer covers
  // are what buffer.type disk, when_full and the dead-letter file are for.
  buffer: { maxEvents: 20_000, maxBytes: 8 * 1024 * 1024, whenFull: 'block' },
  request: { concurrency: 1, timeoutMillis: 30_000 },
  retry: { initialBackoffMillis: 250, maxBackoffMillis: 30_000, maxDurationMillis: 0, maxRetryAfterMillis: 300_000 },
};

/** What a sink reports when it stops. */
export interface ShutdownReport {
  readonly sink: string;
  readonly delivered: number;
  /** Events that were still undelivered at the shutdown deadline, written to the dead-letter file. */
  readonly undelivered: number;
  /** Of those, events the dead-letter file could not take either (lost, counted). */
  readonly lost: number;
}
