/**
 * Progress of a sink, for readiness: how long its events have waited with no send answered. A receiver that
 * accepts a connection and then stops reading makes no send fail quickly: each attempt runs to request.timeout_ms
 * and the sink turns unhealthy only after several of them (outcomes.ts), a minute or more. Watching the sends
 * themselves tells sooner and for every transport alike: `stalledMillis()` is how long a run of unanswered sends
 * has lasted while events wait.
 *
 * Progress is an answer from the receiver (delivered, partial with something settled, rejected, too large) or any
 * event settled otherwise (dead-lettered at the retry deadline, dropped) between two sends: the counters in
 * SinkStats, compared at each send's start. A retryable result or an attempt still hanging is not progress.
 *
 * Deliveries taken back are not progress either. A stream transport (syslog tcp/tls) reports a batch delivered when
 * the kernel took its bytes; when the connection dies, the records still within reach of the socket buffers are
 * moved from delivered to `unconfirmed` (outcomes.ts). A receiver that accepts connections and never reads makes
 * exactly that cycle: each new connection's buffers take a few MB ("delivered"), the next write hangs to the
 * timeout, the connection is dropped and its records counted unconfirmed. So answers and settled counts within
 * `retractionGraceMillis` (request.timeout_ms) of an unconfirmed count going up do not restart the clock: the stall
 * ends only once deliveries stay delivered for that long.
 */
import type { SinkStats } from '../../telemetry/stats';
import type { Batch, SendResult, Transport } from './types';

export interface ProgressWatch<R> {
  /** The same transport, its sends observed; the sink core is given this one. */
  readonly transport: Transport<R>;
  /** Milliseconds since the current run of unanswered sends began, while events wait; 0 otherwise. */
  stalledMillis(): number;
}

function answered(batch: Batch<unknown>, result: SendResult): boolean {
  switch (result.kind) {
    case 'retryable':
      return false;
    case 'partial':
      return result.retry.length < batch.records.length;
    default:
      return true;
  }
}

export function watchProgress<R>(
  transport: Transport<R>,
  stats: SinkStats,
  now: () => number = Date.now,
  retractionGraceMillis = 0,
): ProgressWatch<R> {
  const settled = (): number => {
    let n = stats.delivered + stats.deadLettered;
    for (const v of Object.values(stats.dropped)) n += v;
    return n;
  };
  let outstanding = 0;
  /** When the current run of unanswered sends began; undefined after an answer with nothing left outstanding. */
  let since: number | undefined;
  let settledSeen = settled();
  let unconfirmedSeen = stats.unconfirmed;
  let retractedAt = Number.NEGATIVE_INFINITY;
  /** False within the grace after deliveries were taken back (noticed now if it just happened). */
  const progressCounts = (): boolean => {
    if (stats.unconfirmed !== unconfirmedSeen) {
      unconfirmedSeen = stats.unconfirmed;
      retractedAt = now();
    }
    return now() - retractedAt >= retractionGraceMillis;
  };

  const observed: Transport<R> = {
    send(batch, signal) {
      const s = settled();
      // Events settled since the last send (an answer's counters, the retry deadline, drops): a new run begins.
      if (since === undefined || (s > settledSeen && progressCounts())) since = now();
      settledSeen = s;
      outstanding++;
      return transport.send(batch, signal).then(
        (result) => {
          outstanding--;
          // Another send still outstanding starts its own clock now: it is not stalled for longer than this.
          if (answered(batch, result) && progressCounts()) since = outstanding > 0 ? now() : undefined;
          return result;
        },
        (err: unknown) => {
          outstanding--;
          throw err;
        },
      );
    },
    healthcheck: (signal) => transport.healthcheck(signal),
    close: () => transport.close(),
    abandon: () => transport.abandon(),
    ...(transport.reopen !== undefined ? { reopen: () => transport.reopen?.() ?? Promise.resolve() } : {}),
  };

  return {
    transport: observed,
    stalledMillis() {
      progressCounts();
      if (since === undefined || stats.bufferEvents + stats.inflightBatches === 0) return 0;
      return Math.max(0, now() - since);
    },
  };
}
