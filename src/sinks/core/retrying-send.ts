/**
 * The retry loop as a wrapper around Transport.send: one batch is sent until every record reached a final outcome.
 * Whether a response is retryable is the transport's call (its retry-policy.ts, a RetryLogic, turns answers into
 * SendResult values); when to retry is decided here: full-jitter backoff, the receiver's Retry-After, and the
 * retry deadline (retry.max_duration_ms), after which the batch is dead-lettered.
 *
 * Outcomes of one attempt: delivered → counted; rejected → dead-lettered; partial → delivered items counted,
 * rejected items dead-lettered, the rest retried; too_large → the batch is halved (halveBatch) and the halves sent
 * in order, a single record still too large is dead-lettered; retryable → waited for and retried.
 *
 * Invariants (this file owns them):
 * - The same records are retried in the same order, and halves go left before right, so with request.concurrency
 *   = 1 records reach the transport in acceptance order, retries included.
 * - An attempt is aborted at request.timeout_ms or shutdown, but its records are neither retried nor dead-lettered
 *   before the transport's send settled: a send that finished anyway (a file write already in the kernel) reports
 *   what it did, and that is the outcome counted. Retrying while the abandoned attempt still ran wrote the same
 *   events twice, uncounted (the file sink: 5 000 events, 15 376 lines). The wait ends when the sink gives up on its
 *   transport (`abandoned`: the shutdown deadline plus a grace); only then is an attempt's outcome unknown.
 * - Delivery stops at shutdown: the records not yet resolved are returned (undelivered), never dropped here.
 */
import type { SinkStats } from '../../telemetry/stats';
import { describeError } from '../../util/errors';
import type { Logger } from '../../util/logger';
import type { SinkOutcomes } from './outcomes';
import { retryDelayMillis, sleep } from './retry';
import type { EncodedRecord, HealthResult, RequestOptions, RetryOptions, SendResult, Transport } from './types';

/**
 * Split a batch's records in two halves, the first one the larger, for a receiver that refused the batch as too
 * large (or, in the HEC transport, to isolate a bad event). Undefined for fewer than two records: nothing to split.
 */
export function halveBatch<T>(records: readonly T[]): readonly [T[], T[]] | undefined {
  if (records.length < 2) return undefined;
  const mid = Math.ceil(records.length / 2);
  return [records.slice(0, mid), records.slice(mid)];
}

export interface AttemptSignal {
  readonly signal: AbortSignal;
  /** Whether the abort came from the timeout (rather than shutdown). */
  timedOut(): boolean;
  /** Clear the timer and the listener; call once the attempt settled. */
  done(): void;
}

/**
 * A signal that aborts on shutdown or after `timeoutMillis`, and its cleanup. Built by hand rather than with
 * AbortSignal.any/timeout: one send per batch for the life of the daemon must not accumulate listeners on the
 * long-lived shutdown signal or leave timers behind.
 */
export function createAttemptSignal(shutdown: AbortSignal, timeoutMillis: number): AttemptSignal {
  const ctl = new AbortController();
  let timedOut = false;
  const onShutdown = (): void => ctl.abort();
  if (shutdown.aborted) ctl.abort();
  else shutdown.addEventListener('abort', onShutdown, { once: true });
  const timer = setTimeout(() => {
    timedOut = true;
    ctl.abort();
  }, timeoutMillis);
  return {
    signal: ctl.signal,
    timedOut: () => timedOut,
    done: () => {
      clearTimeout(timer);
      shutdown.removeEventListener('abort', onShutdown);
    },
  };
}

/**
 * Run the transport's healthcheck once, bounded like a send: it ends by `timeoutMillis` or shutdown even if the
 * transport ignores its signal. Never throws: a thrown error is an unhealthy result.
 */
export async function healthcheckOnce(
  transport: Transport<unknown>,
  shutdown: AbortSignal,
  timeoutMillis: number,
): Promise<HealthResult> {
  const attempt = createAttemptSignal(shutdown, timeoutMillis);
  try {
    const gaveUp = new Promise<HealthResult>((resolve) => {
      const onAbort = (): void => resolve({ healthy: false, reason: `no answer within ${timeoutMillis} ms` });
      if (attempt.signal.aborted) onAbort();
      else attempt.signal.addEventListener('abort', onAbort, { once: true });
    });
    return await Promise.race([transport.healthcheck(attempt.signal), gaveUp]);
  } catch (err) {
    return { healthy: false, reason: describeError(err) };
  } finally {
    attempt.done();
  }
}

export interface RetryingSendOptions<R> {
  /** The sink's name, for log lines. */
  readonly name: string;
  readonly transport: Transport<R>;
  readonly request: RequestOptions;
  readonly retry: RetryOptions;
  /** Aborts every attempt and every backoff wait: the shutdown deadline passed. */
  readonly shutdown: AbortSignal;
  /**
   * The sink stopped waiting for attempts that ignore their abort (after the shutdown deadline, the transport's
   * abandon() and a grace): an attempt still pending then ends as retryable, its outcome unknown.
   */
  readonly abandoned: AbortSignal;
  readonly stats: SinkStats;
  readonly logger: Logger;
  readonly outcomes: SinkOutcomes<R>;
  /** Ids for the halves of a split batch (shared with the batcher's ids). */
  readonly nextBatchId: () => number;
  readonly now: () => number;
  readonly random: () => number;
}

export interface RetryingSend<R> {
  /**
   * Send the records until each is delivered or dead-lettered. Resolves with the records that were still
   * unresolved when shutdown stopped the delivery (empty otherwise). Does not throw for transport failures.
   */
  deliver(records: readonly EncodedRecord<R>[], id: number): Promise<readonly EncodedRecord<R>[]>;
  /**
   * The records of every deliver() in progress that have no outcome yet (in flight or waiting for a retry): what a
   * second stop signal dead-letters at once (sink.ts stopNow).
   */
  unresolved(): EncodedRecord<R>[];
}

const NONE: readonly never[] = [];

export function createRetryingSend<R>(options: RetryingSendOptions<R>): RetryingSend<R> {
  const {
    name,
    transport,
    request,
    shutdown,
    abandoned,
    stats,
    logger: log,
    outcomes,
    nextBatchId,
    now,
    random,
  } = options;

  const sendOnce = async (records: readonly EncodedRecord<R>[], id: number, attempt: number): Promise<SendResult> => {
    let bytes = 0;
    for (const r of records) bytes += r.bytes;
    const attemptSignal = createAttemptSignal(shutdown, request.timeoutMillis);
    const { signal } = attemptSignal;
    const started = now();
    const abortReason = (): string =>
      attemptSignal.timedOut() ? `no response within ${request.timeoutMillis} ms` : 'aborted by shutdown';
    const failed = (err: unknown): SendResult => ({
      kind: 'retryable',
      reason: `transport error: ${describeError(err)}`,
    });
    let real: Promise<SendResult>;
    try {
      real = transport.send({ id, records, bytes, attempt }, signal).catch(failed);
    } catch (err) {
      real = Promise.resolve(failed(err));
    }
    let onGiveUp: (() => void) | undefined;
    const givenUp = new Promise<undefined>((resolve) => {
      onGiveUp = () => resolve(undefined);
      if (abandoned.aborted) onGiveUp();
      else abandoned.addEventListener('abort', onGiveUp, { once: true });
    });
    try {
      // Wait for the send itself, even past its abort (see the invariants above): what it did is what is counted.
      const result = await Promise.race([real, givenUp]);
      if (result === undefined) return { kind: 'retryable', reason: `${abortReason()}; the attempt was abandoned` };
      if (signal.aborted && result.kind === 'retryable') return { ...result, reason: abortReason() };
      return result;
    } finally {
      if (onGiveUp !== undefined) abandoned.removeEventListener('abort', onGiveUp);
      attemptSignal.done();
      stats.sendLatencyMillis.observe(now() - started);
    }
  };

  /** Per deliver() in progress, its records without an outcome yet; cleared before they are counted elsewhere. */
  const active = new Set<{ records: readonly EncodedRecord<R>[] }>();

  const deliver = async (initial: readonly EncodedRecord<R>[], id: number): Promise<readonly EncodedRecord<R>[]> => {
    const entry = { records: initial };
    active.add(entry);
    try {
      return await deliverTracked(entry, id);
    } finally {
      active.delete(entry);
    }
  };

  const deliverTracked = async (
    entry: { records: readonly EncodedRecord<R>[] },
    id: number,
  ): Promise<readonly EncodedRecord<R>[]> => {
    let records = entry.records;
    const started = now();
    for (let attempt = 1; ; attempt++) {
      if (shutdown.aborted) return records;
      const result = await sendOnce(records, id, attempt);
      let retryAfter: number | undefined;
      let reason: string;
      switch (result.kind) {
        case 'delivered':
          outcomes.delivered(records, result.duplicates ?? 0);
          return NONE;
        case 'rejected':
          stats.failedRequests++;
          log.burst(
            'ERROR',
            'rejected',
            'The receiver rejected events permanently; they went to the dead-letter file.',
            { sink: name, code: 'AEGIS_ERR_SINK_REJECTED', count: records.length, reason: result.reason },
          );
          entry.records = NONE;
          await outcomes.deadLetter(records, 'AEGIS_ERR_SINK_REJECTED', result.reason, attempt);
          return NONE;
        case 'too_large': {
          stats.failedRequests++;
          const halves = halveBatch(records);
          entry.records = NONE; // the halves (or the dead-letter write) account for them from here
          if (halves === undefined) {
            await outcomes.deadLetter(
              records,
              'AEGIS_ERR_SINK_REJECTED',
              `record too large for the receiver: ${result.reason}`,
              attempt,
            );
            return NONE;
          }
          log.burst('WARN', 'split', 'The receiver refused a batch as too large; splitting it in halves.', {
            sink: name,
            events: records.length,
            reason: result.reason,
          });
          entry.records = halves[1]; // waiting while the left half is sent
          const left = await deliver(halves[0], nextBatchId());
          entry.records = left; // undelivered by shutdown, held while the right half is sent
          const right = await deliver(halves[1], nextBatchId());
          return left.length === 0 ? right : right.length === 0 ? left : [...left, ...right];
        }
        case 'partial': {
          stats.failedRequests++;
          const retrySet = new Set(result.retry);
          const rejectedSet = new Set(result.rejected.map((r) => r.index));
          const delivered = records.filter((_, i) => !retrySet.has(i) && !rejectedSet.has(i));
          const current = records;
          records = result.retry.map((i) => current[i]).filter((r): r is EncodedRecord<R> => r !== undefined);
          entry.records = records;
          if (delivered.length > 0) outcomes.delivered(delivered, result.duplicates ?? 0);
          for (const rej of result.rejected) {
            const rec = current[rej.index];
            if (rec !== undefined) await outcomes.deadLetter([rec], 'AEGIS_ERR_SINK_REJECTED', rej.reason, attempt);
          }
          if (result.rejected.length > 0) {
            log.burst(
              'ERROR',
              'rejected-items',
              'The receiver rejected some events permanently; they went to the dead-letter file.',
              {
                sink: name,
                code: 'AEGIS_ERR_SINK_REJECTED',
                count: result.rejected.length,
                reason: result.rejected[0]?.reason,
              },
            );
          }
          if (records.length === 0) return NONE;
          retryAfter = result.retryAfterMillis;
          reason = `${records.length} events need a retry`;
          break;
        }
        case 'retryable':
          stats.failedRequests++;
          retryAfter = result.retryAfterMillis;
          reason = result.reason;
          if (result.unhealthy === true) outcomes.markUnhealthy(result.reason);
          break;
      }
      outcomes.attemptFailed(reason);
      const delay = retryDelayMillis(attempt, options.retry, retryAfter, random);
      const maxDuration = options.retry.maxDurationMillis;
      if (maxDuration > 0 && now() + delay - started > maxDuration) {
        log.error('A batch exceeded its retry deadline; its events went to the dead-letter file.', {
          sink: name,
          code: 'AEGIS_ERR_RETRY_DEADLINE',
          events: records.length,
          attempts: attempt,
          reason,
        });
        entry.records = NONE;
        await outcomes.deadLetter(
          records,
          'AEGIS_ERR_RETRY_DEADLINE',
          `retry deadline of ${maxDuration} ms exceeded after ${attempt} attempts; last error: ${reason}`,
          attempt,
        );
        return NONE;
      }
      stats.retriedEvents += records.length;
      log.burst('WARN', 'retry', 'Send failed; the batch will be retried.', {
        sink: name,
        events: records.length,
        attempt,
        retryInMillis: delay,
        reason,
      });
      if (!(await sleep(delay, shutdown))) return records;
    }
  };

  return {
    deliver,
    unresolved: () => {
      const out: EncodedRecord<R>[] = [];
      for (const e of active) out.push(...e.records);
      return out;
    },
  };
}
