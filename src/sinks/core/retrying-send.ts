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
 * - Each attempt ends by request.timeout_ms or the shutdown signal even if the transport ignores its signal.
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
}

const NONE: readonly never[] = [];

export function createRetryingSend<R>(options: RetryingSendOptions<R>): RetryingSend<R> {
  const { name, transport, request, shutdown, stats, logger: log, outcomes, nextBatchId, now, random } = options;

  const sendOnce = async (records: readonly EncodedRecord<R>[], id: number, attempt: number): Promise<SendResult> => {
    let bytes = 0;
    for (const r of records) bytes += r.bytes;
    const attemptSignal = createAttemptSignal(shutdown, request.timeoutMillis);
    const { signal } = attemptSignal;
    const started = now();
    let onAbort: (() => void) | undefined;
    const aborted = new Promise<SendResult>((resolve) => {
      onAbort = () =>
        resolve({
          kind: 'retryable',
          reason: attemptSignal.timedOut() ? `no response within ${request.timeoutMillis} ms` : 'aborted by shutdown',
        });
      if (signal.aborted) onAbort();
      else signal.addEventListener('abort', onAbort, { once: true });
    });
    try {
      // A transport that ignores the signal cannot hold the sink: the abort wins the race. If its send completes
      // later anyway, the retry may duplicate those events; every sink is at-least-once, never at-most-once.
      return await Promise.race([transport.send({ id, records, bytes, attempt }, signal), aborted]);
    } catch (err) {
      return { kind: 'retryable', reason: `transport error: ${describeError(err)}` };
    } finally {
      if (onAbort !== undefined) signal.removeEventListener('abort', onAbort);
      attemptSignal.done();
      stats.sendLatencyMillis.observe(now() - started);
    }
  };

  const deliver = async (initial: readonly EncodedRecord<R>[], id: number): Promise<readonly EncodedRecord<R>[]> => {
    let records = initial;
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
          await outcomes.deadLetter(records, 'AEGIS_ERR_SINK_REJECTED', result.reason, attempt);
          return NONE;
        case 'too_large': {
          stats.failedRequests++;
          const halves = halveBatch(records);
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
          const left = await deliver(halves[0], nextBatchId());
          const right = await deliver(halves[1], nextBatchId());
          return left.length === 0 ? right : right.length === 0 ? left : [...left, ...right];
        }
        case 'partial': {
          stats.failedRequests++;
          const retrySet = new Set(result.retry);
          const rejectedSet = new Set(result.rejected.map((r) => r.index));
          const delivered = records.filter((_, i) => !retrySet.has(i) && !rejectedSet.has(i));
          if (delivered.length > 0) outcomes.delivered(delivered, result.duplicates ?? 0);
          for (const rej of result.rejected) {
            const rec = records[rej.index];
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
          const current = records;
          records = result.retry.map((i) => current[i]).filter((r): r is EncodedRecord<R> => r !== undefined);
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

  return { deliver };
}
