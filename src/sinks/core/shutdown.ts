/**
 * How a sink stops: close(timeout) with its deadline, abandoning the transport, bounded waits, and the second stop
 * signal's stopNow(). The sink core (sink.ts) composes this with the rest; the invariants this file owns:
 * - close(timeout) flushes; what is still undelivered at the deadline goes to the dead-letter file.
 * - close(timeout) ends within timeout + about 2 × ABANDON_GRACE_MILLIS whatever the receiver does: at the deadline
 *   the transport is abandoned (sockets destroyed, requests aborted), and no transport promise is awaited without a
 *   bound after it. A receiver that accepts and never reads held the daemon until it closed its side.
 * - stopNow() (a second stop signal) writes every event without an outcome to the dead-letter file synchronously.
 */
import type { SinkStats } from '../../telemetry/stats';
import { increment } from '../../telemetry/stats';
import { describeError } from '../../util/errors';
import type { Logger } from '../../util/logger';
import { settleRecords } from './ack';
import type { EventBuffer } from './buffer';
import type { DeadLetterQueue } from './dead-letter';
import type { WaitingRecords } from './intake';
import type { SinkOutcomes } from './outcomes';
import { sleep } from './retry';
import type { EncodedRecord, ShutdownReport, Transport } from './types';

/**
 * After the shutdown deadline, how long the core waits for what it abandoned: sends to settle once the transport
 * dropped its connections, then again for close(). Sends settle within milliseconds of abandon(); the bound is for
 * a transport that cannot be interrupted (a write stuck in the kernel on a hung NFS mount).
 */
export const ABANDON_GRACE_MILLIS = 1000;

export interface ShutdownDeps<R> {
  readonly name: string;
  /** The transport as the core sees it (already redacting). */
  readonly transport: Transport<R>;
  readonly log: Logger;
  readonly stats: SinkStats;
  readonly outcomes: SinkOutcomes<R>;
  readonly deadLetter: DeadLetterQueue;
  readonly buffer: EventBuffer<R>;
  /** Sends in flight (the core adds and removes them). */
  readonly inflight: ReadonlySet<Promise<void>>;
  /** accept() calls waiting for buffer space; stopNow() dead-letters their records and clears the set. */
  readonly waitingForRoom: Set<WaitingRecords<R>>;
  /** Stop the batcher and let it hand out partial batches: no new work, only the flush. */
  stopBatching(): void;
  /** Start as many batches as the in-flight bound allows. */
  pump(): void;
  /** Resolves once nothing is buffered, in flight or being accepted. */
  whenIdle(): Promise<void>;
  activeAccepts(): number;
  /** Records the retrying send holds without an outcome yet (called by stopNow only). */
  unresolved(): EncodedRecord<R>[];
  updateBufferStats(): void;
}

export interface Shutdown {
  /** Aborted at the shutdown deadline (or by stopNow): attempts end, accepts stop waiting for room. */
  readonly signal: AbortSignal;
  /** Aborted when the core stops waiting for abandoned sends (deadline + ABANDON_GRACE_MILLIS, or stopNow). */
  readonly abandonedSignal: AbortSignal;
  close(timeoutMillis: number): Promise<ShutdownReport>;
  stopNow(deadlineAt: number): ShutdownReport;
}

export function createShutdown<R>(deps: ShutdownDeps<R>): Shutdown {
  const { name, transport, log, stats, buffer } = deps;
  const shutdown = new AbortController();
  const abandoned = new AbortController();

  function abandonTransport(): void {
    try {
      transport.abandon();
    } catch (err) {
      log.warn('Abandoning the sink transport failed.', { sink: name, error: describeError(err) });
    }
  }

  /**
   * close() the transport, bounded: past `boundMillis` it is abandoned (0: it already was), then waited for one
   * ABANDON_GRACE_MILLIS more at most.
   */
  async function closeTransport(boundMillis: number): Promise<void> {
    const closing = transport.close().catch((err: unknown) => {
      log.warn('Closing the sink transport failed.', { sink: name, error: describeError(err) });
    });
    if (boundMillis > 0) {
      if (await within(closing, boundMillis)) return;
      log.warn('Closing the sink transport took too long; dropping its connections.', {
        sink: name,
        waitedMillis: boundMillis,
      });
      abandonTransport();
    }
    if (!(await within(closing, ABANDON_GRACE_MILLIS)))
      log.warn('The sink transport did not close after it was abandoned; not waiting for it.', { sink: name });
  }

  async function close(timeoutMillis: number): Promise<ShutdownReport> {
    deps.stopBatching();
    const deliveredBefore = stats.delivered;
    const deadlineAt = Date.now() + timeoutMillis;
    deps.pump();
    const finishedInTime = await within(deps.whenIdle(), timeoutMillis);
    let undelivered = 0;
    let lost = 0;
    if (!finishedInTime) {
      shutdown.abort();
      abandonTransport();
      buffer.release();
      // Sends end promptly once the transport dropped its connections; one that does not (a write stuck in the
      // kernel) is given up on after the grace: its records are dead-lettered, although it may still complete.
      if (!(await within(Promise.allSettled([...deps.inflight]), ABANDON_GRACE_MILLIS))) {
        log.warn(
          'A send did not end after the transport was abandoned at the shutdown deadline; its events go to the dead-letter file (the receiver may have them too).',
          { sink: name, graceMillis: ABANDON_GRACE_MILLIS },
        );
        abandoned.abort();
        await within(Promise.allSettled([...deps.inflight]), ABANDON_GRACE_MILLIS);
      }
      const leftovers: EncodedRecord<R>[] = buffer.drain();
      deps.updateBufferStats();
      undelivered = leftovers.length;
      if (leftovers.length > 0) {
        const droppedBefore = stats.dropped.dead_letter_failed ?? 0;
        await deps.outcomes.deadLetter(
          leftovers,
          'AEGIS_ERR_SHUTDOWN_UNDELIVERED',
          `not delivered within the shutdown timeout of ${timeoutMillis} ms`,
          0,
        );
        lost = (stats.dropped.dead_letter_failed ?? 0) - droppedBefore;
        log.error('Shutdown timeout reached with undelivered events; they went to the dead-letter file.', {
          sink: name,
          code: 'AEGIS_ERR_SHUTDOWN_UNDELIVERED',
          undelivered,
          lost,
          deadLetterFile: deps.deadLetter.path,
        });
      }
      // Accepts that were waiting for space dead-letter their remaining events themselves; wait for them, bounded:
      // "idle" also needs every send settled, and one stuck in the kernel may never settle.
      if (deps.activeAccepts() > 0) await within(deps.whenIdle(), ABANDON_GRACE_MILLIS);
    } else {
      shutdown.abort(); // nothing in flight; stops any healthcheck still running
    }
    if (buffer.durable && buffer.events + buffer.takenEvents > 0)
      log.warn('Undelivered events stay in the disk buffer and are delivered after the next start.', {
        sink: name,
        events: buffer.events + buffer.takenEvents,
      });
    buffer.close();
    // Already abandoned at the deadline: close() only has the grace left. Else it may use the rest of the timeout.
    await closeTransport(finishedInTime ? Math.max(deadlineAt - Date.now(), ABANDON_GRACE_MILLIS) : 0);
    return { sink: name, delivered: stats.delivered - deliveredBefore, undelivered, lost };
  }

  function stopNow(deadlineAt: number): ShutdownReport {
    deps.stopBatching();
    shutdown.abort();
    abandoned.abort();
    abandonTransport();
    // A durable buffer keeps its in-flight records on disk for the next start: dead-lettering them too would
    // deliver them twice.
    const records: EncodedRecord<R>[] = buffer.durable ? [] : deps.unresolved();
    for (const r of buffer.drain()) records.push(r);
    buffer.close();
    for (const w of deps.waitingForRoom) for (let i = w.from; i < w.records.length; i++) records.push(w.records[i]!);
    deps.waitingForRoom.clear();
    deps.updateBufferStats();
    const written = deps.deadLetter.writeSync(
      records.map((r) => ({
        sink: name,
        code: 'AEGIS_ERR_SHUTDOWN_UNDELIVERED' as const,
        reason: 'not delivered: a second stop signal ended the flush',
        attempts: 0,
        event: r.event,
      })),
      deadlineAt,
    );
    stats.deadLettered += written;
    const lost = records.length - written;
    if (lost > 0) increment(stats.dropped, 'dead_letter_failed', lost);
    // Every record without an outcome has one now; a send that still completes before the exit settles nothing.
    settleRecords(records);
    deps.outcomes.stopSettling();
    return { sink: name, delivered: stats.delivered, undelivered: records.length, lost };
  }

  return { signal: shutdown.signal, abandonedSignal: abandoned.signal, close, stopNow };
}

/** Whether `p` settled within `millis` (the timer is cleared either way). */
async function within(p: Promise<unknown>, millis: number): Promise<boolean> {
  const timer = new AbortController();
  try {
    return await Promise.race([p.then(() => true), sleep(millis, timer.signal).then(() => false)]);
  } finally {
    timer.abort();
  }
}
