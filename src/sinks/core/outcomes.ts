/**
 * Where a sink's records end, counted: delivered, dead-lettered (with a reason), or dropped because even the
 * dead-letter file refused them; and the sink's health, which follows its sends and healthchecks. The sink core
 * and its retrying send report every outcome here, so each counter has one writer.
 *
 * Health: a receiver that refused the credentials (or similar, `unhealthy` on a result), or UNHEALTHY_AFTER_FAILURES
 * consecutive failed attempts, make the sink unhealthy; one acknowledged batch or a passing healthcheck recovers it.
 */
import type { AegisEvent } from '../../event/types';
import type { SinkStats } from '../../telemetry/stats';
import { increment } from '../../telemetry/stats';
import type { ErrorCode } from '../../util/errors';
import type { Logger } from '../../util/logger';
import type { Acknowledgement } from './ack';
import { settleRecords } from './ack';
import type { DeadLetterQueue } from './dead-letter';
import type { Redactor } from './redact';
import type { EncodedRecord } from './types';

/**
 * Move `count` records from delivered to unconfirmed: the transport had reported them delivered under its weakest
 * acknowledgement (write completion) and learned later that they may not have reached the receiver (the syslog
 * tcp/tls rule is in src/sinks/syslog/stream.ts). Each event still ends in exactly one outcome.
 */
export function countUnconfirmed(stats: SinkStats, count: number): void {
  if (count <= 0) return;
  stats.delivered -= count;
  stats.unconfirmed += count;
}

/** Consecutive failed attempts after which a sink reports itself unhealthy. */
export const UNHEALTHY_AFTER_FAILURES = 3;

export interface SinkOutcomes<R> {
  /** The receiver acknowledged these records (`duplicates` of them it already had). */
  delivered(records: readonly EncodedRecord<R>[], duplicates: number): void;
  /** One attempt failed and will be retried (or dead-lettered at the retry deadline). */
  attemptFailed(reason: string): void;
  markUnhealthy(reason: string): void;
  /** A healthcheck passed. */
  healthcheckPassed(): void;
  /** Write records to the dead-letter file; what it cannot take is counted as dropped (dead_letter_failed). */
  deadLetter(records: readonly EncodedRecord<R>[], code: ErrorCode, reason: string, attempts: number): Promise<void>;
  /**
   * Events the formatter could not encode: to the dead-letter file, in the background (accept() does not wait).
   * `ack`: their source's acknowledgement, settled once the write ended.
   */
  formatFailed(failed: readonly { readonly event: AegisEvent; readonly reason: string }[], ack?: Acknowledgement): void;
  /** Records dropped and counted elsewhere (when_full: drop_newest): settle their acknowledgements. */
  dropped(records: readonly EncodedRecord<R>[]): void;
  /**
   * The process is about to exit (stopNow settled everything it could): outcomes reported from now on (a send
   * still completing) are counted but settle no acknowledgement, so none is settled twice.
   */
  stopSettling(): void;
}

export interface OutcomeOptions {
  readonly name: string;
  readonly stats: SinkStats;
  readonly logger: Logger;
  readonly deadLetter: DeadLetterQueue;
  /** Applied to every reason kept (lastError) or written (dead-letter file): the sink's secrets never get there. */
  readonly redact?: Redactor;
}

export function createSinkOutcomes<R>(options: OutcomeOptions): SinkOutcomes<R> {
  const { name, stats, logger: log, deadLetter } = options;
  const redact = options.redact ?? ((text: string): string => text);
  let consecutiveFailures = 0;
  let settling = true;

  const countDeadLetterFailures = (count: number): void => {
    if (count <= 0) return;
    stats.deadLettered -= count;
    increment(stats.dropped, 'dead_letter_failed', count);
  };

  const markUnhealthy = (raw: string): void => {
    const reason = redact(raw);
    stats.lastError = reason;
    if (stats.healthy) {
      stats.healthy = false;
      log.error('Sink is unhealthy; events wait in its buffer and are retried.', {
        sink: name,
        code: 'AEGIS_ERR_SINK_UNHEALTHY',
        reason,
      });
    }
  };

  return {
    delivered(records, duplicates) {
      let bytes = 0;
      let tracked = false;
      for (const r of records) {
        bytes += r.bytes;
        if (r.ack !== undefined) tracked = true;
      }
      if (tracked && settling) settleRecords(records);
      stats.delivered += records.length;
      stats.deliveredBytes += bytes;
      stats.batches++;
      stats.duplicates += duplicates;
      consecutiveFailures = 0;
      if (!stats.healthy) {
        stats.healthy = true;
        log.info('Sink recovered: the receiver acknowledged a batch.', { sink: name });
      }
    },
    attemptFailed(raw) {
      const reason = redact(raw);
      stats.lastError = reason;
      consecutiveFailures++;
      if (consecutiveFailures >= UNHEALTHY_AFTER_FAILURES) markUnhealthy(reason);
    },
    markUnhealthy,
    healthcheckPassed() {
      if (!stats.healthy) log.info('Sink healthcheck passed.', { sink: name });
      stats.healthy = true;
    },
    async deadLetter(records, code, reason, attempts) {
      if (records.length === 0) return;
      stats.deadLettered += records.length;
      const safeReason = redact(reason);
      try {
        const written = await deadLetter.write(
          records.map((r) => ({ sink: name, code, reason: safeReason, attempts, event: r.event })),
        );
        countDeadLetterFailures(records.length - written);
      } finally {
        if (settling) settleRecords(records);
      }
    },
    formatFailed(failed, ack) {
      stats.deadLettered += failed.length;
      log.burst('ERROR', 'format-failed', 'Events could not be formatted and went to the dead-letter file.', {
        sink: name,
        count: failed.length,
        reason: failed[0]?.reason,
      });
      void deadLetter
        .write(
          failed.map((f) => ({
            sink: name,
            code: 'AEGIS_ERR_FORMAT' as const,
            reason: redact(f.reason),
            attempts: 0,
            event: f.event,
          })),
        )
        .then((written) => countDeadLetterFailures(failed.length - written))
        .finally(() => {
          if (ack !== undefined && settling) ack.settle(failed.length);
        });
    },
    dropped(records) {
      if (settling) settleRecords(records);
    },
    stopSettling() {
      settling = false;
    },
  };
}
