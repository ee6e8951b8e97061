/**
 * The sink core: everything every sink needs except moving bytes. It wraps a transport with
 *
 *   accept → format (encode.ts) → buffer (buffer.ts: bounded, block | drop_newest) → batcher (batcher.ts: events,
 *          bytes, time) → bounded in-flight sends → retrying send (retrying-send.ts: backoff, Retry-After, deadline,
 *          halving) → delivered | dead-letter (outcomes.ts, which also keeps the sink's health)
 *
 * and composes those parts; each owns its invariants. The ones this file owns:
 * - Every accepted event ends in exactly one of: delivered, dead-lettered (with a reason), or counted as dropped
 *   (buffer_full under drop_newest, or dead_letter_failed when even the dead-letter file refused it).
 * - At most request.concurrency batches are in flight.
 * - close(timeout) flushes; what is still undelivered at the deadline goes to the dead-letter file.
 * - close(timeout) ends within timeout + about 2 × ABANDON_GRACE_MILLIS whatever the receiver does: at the deadline
 *   the transport is abandoned (sockets destroyed, requests aborted), and no transport promise is awaited without a
 *   bound after it. A receiver that accepts and never reads held the daemon until it closed its side.
 * - stopNow() (a second stop signal) writes every event without an outcome to the dead-letter file synchronously.
 */
import { setMaxListeners } from 'node:events';
import type { AegisEvent } from '../../event/types';
import type { Formatter } from '../../formatters/types';
import type { SinkStats } from '../../telemetry/stats';
import { increment } from '../../telemetry/stats';
import { describeError } from '../../util/errors';
import type { Logger } from '../../util/logger';
import type { Batcher } from './batcher';
import { createBatcher } from './batcher';
import type { BufferedRecord, EventBuffer, TakenRecords } from './buffer';
import { createMemoryBuffer } from './buffer';
import type { DeadLetterQueue } from './dead-letter';
import type { Encoder } from './encode';
import { createEncoder, defaultSizeOf } from './encode';
import type { SinkOutcomes } from './outcomes';
import { createSinkOutcomes } from './outcomes';
import type { Redactor } from './redact';
import { noRedaction, redactHealthResult, redactingLogger, redactingTransport } from './redact';
import { sleep } from './retry';
import type { RetryingSend } from './retrying-send';
import { createRetryingSend, healthcheckOnce } from './retrying-send';
import type { EncodedRecord, HealthResult, ShutdownReport, SinkCoreOptions, Transport } from './types';

/**
 * After the shutdown deadline, how long the core waits for what it abandoned: sends to settle once the transport
 * dropped its connections, then again for close(). Sends settle within milliseconds of abandon(); the bound is for
 * a transport that cannot be interrupted (a write stuck in the kernel on a hung NFS mount).
 */
export const ABANDON_GRACE_MILLIS = 1000;

export interface SinkDeps<R = string> {
  readonly name: string;
  readonly type: string;
  readonly transport: Transport<R>;
  readonly formatter: Formatter<R>;
  /** Encoded size of one record; defaults to defaultSizeOf (UTF-8 bytes of strings, byteLength of binary data). */
  readonly sizeOf?: ((data: R) => number) | undefined;
  readonly stats: SinkStats;
  readonly logger: Logger;
  readonly deadLetter: DeadLetterQueue;
  /**
   * Removes the sink's secrets from every reason, log field and dead-letter reason (redact.ts); build.ts makes it
   * from the resolved secrets. Applied here, not in the transports, so that none can leak one by forgetting.
   */
  readonly redact?: Redactor;
  readonly now?: () => number;
  readonly random?: () => number;
}

export interface Sink {
  readonly name: string;
  readonly type: string;
  readonly stats: SinkStats;
  /** Run the transport's healthcheck once and record the result. Does not throw. */
  healthcheck(timeoutMillis?: number): Promise<HealthResult>;
  /**
   * Offer events. Resolves when every event is buffered (or dropped/dead-lettered by policy). Under
   * `when_full: block` it waits for room: that wait is the backpressure that reaches the source.
   */
  accept(events: readonly AegisEvent[]): Promise<void>;
  /** Reopen files/connections (SIGHUP). */
  reopen(): Promise<void>;
  /** Flush and stop; undelivered events at the deadline go to the dead-letter file. Idempotent. */
  close(timeoutMillis: number): Promise<ShutdownReport>;
  /**
   * A second stop signal: stop at once. Abandons the transport and writes every event without an outcome (buffered,
   * in flight, waiting for buffer space) to the dead-letter file synchronously, giving up at `deadlineAt` (epoch ms;
   * what is left is counted as dead_letter_failed). The caller exits the process right after: sends still settling
   * are not accounted again.
   */
  stopNow(deadlineAt: number): ShutdownReport;
}

export function createSink<R = string>(deps: SinkDeps<R>, options: SinkCoreOptions): Sink {
  return new SinkRuntime(deps, options);
}

class SinkRuntime<R> implements Sink {
  readonly name: string;
  readonly type: string;
  readonly stats: SinkStats;

  private readonly buffer: EventBuffer<R>;
  private readonly batcher: Batcher<R>;
  private readonly sender: RetryingSend<R>;
  private readonly outcomes: SinkOutcomes<R>;
  private inflight = 0;
  private readonly inflightPromises = new Set<Promise<void>>();
  private idleWaiters: (() => void)[] = [];
  private activeAccepts = 0;
  private nextBatchId = 1;
  private closing = false;
  private closed: Promise<ShutdownReport> | undefined;
  private readonly shutdown = new AbortController();
  /** The core stopped waiting for abandoned sends (shutdown deadline + ABANDON_GRACE_MILLIS, or stopNow). */
  private readonly abandoned = new AbortController();
  /** Records of accept() calls waiting for buffer space (under when_full: block), not yet in the buffer. */
  private readonly waitingForRoom = new Set<{ readonly records: readonly EncodedRecord<R>[]; readonly from: number }>();
  private readonly encode: Encoder<R>;
  private readonly log: Logger;
  private readonly transport: Transport<R>;
  private readonly redact: Redactor;

  constructor(
    private readonly deps: SinkDeps<R>,
    private readonly options: SinkCoreOptions,
  ) {
    this.name = deps.name;
    this.type = deps.type;
    this.stats = deps.stats;
    const now = deps.now ?? Date.now;
    this.redact = deps.redact ?? noRedaction;
    this.log = redactingLogger(deps.logger, this.redact);
    this.transport = redactingTransport(deps.transport, this.redact);
    this.outcomes = createSinkOutcomes<R>({
      name: deps.name,
      stats: deps.stats,
      logger: this.log,
      deadLetter: deps.deadLetter,
      redact: this.redact,
    });
    this.encode = createEncoder({
      formatter: deps.formatter,
      sizeOf: deps.sizeOf ?? defaultSizeOf,
      now,
      outcomes: this.outcomes,
    });
    this.buffer = createMemoryBuffer<R>(options.buffer);
    this.batcher = createBatcher({ buffer: this.buffer, batch: options.batch, now, onDue: () => this.pump() });
    const nextBatchId = (): number => this.nextBatchId++;
    this.sender = createRetryingSend({
      name: deps.name,
      transport: this.transport,
      request: options.request,
      retry: options.retry,
      shutdown: this.shutdown.signal,
      abandoned: this.abandoned.signal,
      stats: deps.stats,
      logger: this.log,
      outcomes: this.outcomes,
      nextBatchId,
      now,
      random: deps.random ?? Math.random,
    });
    // Every attempt in flight (up to request.concurrency) and a healthcheck listen on the shutdown signal; above
    // Node's default of 10 listeners that is not a leak, so raise the warning threshold to the real bound.
    setMaxListeners(options.request.concurrency + 10, this.shutdown.signal);
  }

  async healthcheck(timeoutMillis = this.options.request.timeoutMillis): Promise<HealthResult> {
    const result = redactHealthResult(
      await healthcheckOnce(this.transport, this.shutdown.signal, timeoutMillis),
      this.redact,
    );
    if (result.healthy) this.outcomes.healthcheckPassed();
    else this.outcomes.markUnhealthy(`healthcheck failed: ${result.reason}`);
    return result;
  }

  async accept(events: readonly AegisEvent[]): Promise<void> {
    if (events.length === 0) return;
    this.stats.received += events.length;
    const records = this.encode(events);
    if (this.shutdown.signal.aborted) {
      await this.outcomes.deadLetter(
        records,
        'AEGIS_ERR_SINK_CLOSED',
        'the sink was already shut down when the events arrived',
        0,
      );
      return;
    }
    this.activeAccepts++;
    try {
      let i = 0;
      while (i < records.length) {
        i = this.buffer.offer(records, i);
        this.updateBufferStats();
        this.pump();
        if (i >= records.length) break;
        if (this.buffer.hasRoomFor((records[i] as BufferedRecord<R>).bytes)) continue; // the pump made room
        if (this.buffer.whenFull === 'drop_newest') {
          const dropped = records.length - i;
          increment(this.stats.dropped, 'buffer_full', dropped);
          this.log.burst(
            'WARN',
            'buffer-full',
            'Sink buffer is full; dropping the newest events (when_full: drop_newest).',
            {
              sink: this.name,
              dropped,
              bufferEvents: this.buffer.events,
              bufferBytes: this.buffer.bytes,
            },
          );
          break;
        }
        const waiting = { records, from: i };
        this.waitingForRoom.add(waiting);
        await this.buffer.waitForRoom();
        this.waitingForRoom.delete(waiting);
        if (this.shutdown.signal.aborted) {
          await this.outcomes.deadLetter(
            records.slice(i),
            'AEGIS_ERR_SHUTDOWN_UNDELIVERED',
            'shutdown deadline reached while the events waited for buffer space',
            0,
          );
          break;
        }
      }
    } finally {
      this.activeAccepts--;
      this.checkIdle();
    }
  }

  async reopen(): Promise<void> {
    if (this.transport.reopen !== undefined) await this.transport.reopen();
  }

  close(timeoutMillis: number): Promise<ShutdownReport> {
    this.closed ??= this.doClose(timeoutMillis);
    return this.closed;
  }

  private updateBufferStats(): void {
    this.stats.bufferEvents = this.buffer.events;
    this.stats.bufferBytes = this.buffer.bytes;
  }

  /** Start as many batches as the in-flight bound allows. Synchronous; called on every state change. */
  private pump(): void {
    while (this.inflight < this.options.request.concurrency) {
      const taken = this.batcher.next(this.closing);
      if (taken === undefined) break;
      this.updateBufferStats();
      this.startBatch(taken, this.nextBatchId++);
    }
  }

  private startBatch(taken: TakenRecords<R>, id: number): void {
    this.inflight++;
    this.stats.inflightBatches = this.inflight;
    const p: Promise<void> = this.sender
      .deliver(taken.records, id)
      .then((undelivered) =>
        undelivered.length === 0 ? this.buffer.acknowledge(taken) : this.buffer.handBack(taken, undelivered),
      )
      .catch(async (err: unknown) => {
        // deliver() handles every transport outcome; reaching here is a bug. Keep the records: dead-letter them.
        this.log.error('Internal error while delivering a batch; its events go to the dead-letter file.', {
          sink: this.name,
          code: 'AEGIS_ERR_INTERNAL',
          error: describeError(err),
        });
        await this.outcomes.deadLetter(taken.records, 'AEGIS_ERR_INTERNAL', describeError(err), 0);
        this.buffer.acknowledge(taken);
      })
      .finally(() => {
        this.inflight--;
        this.stats.inflightBatches = this.inflight;
        this.inflightPromises.delete(p);
        this.pump();
        this.checkIdle();
      });
    this.inflightPromises.add(p);
  }

  private checkIdle(): void {
    if (this.buffer.events === 0 && this.inflight === 0 && this.activeAccepts === 0 && this.idleWaiters.length > 0) {
      const waiters = this.idleWaiters;
      this.idleWaiters = [];
      for (const w of waiters) w();
    }
  }

  private async doClose(timeoutMillis: number): Promise<ShutdownReport> {
    this.closing = true;
    this.batcher.stop();
    const deliveredBefore = this.stats.delivered;
    const deadlineAt = Date.now() + timeoutMillis;
    this.pump();
    const idle = new Promise<void>((resolve) => this.idleWaiters.push(resolve));
    this.checkIdle();
    const finishedInTime = await within(idle, timeoutMillis);
    let undelivered = 0;
    let lost = 0;
    if (!finishedInTime) {
      this.shutdown.abort();
      this.abandonTransport();
      this.buffer.release();
      // Sends end promptly once the transport dropped its connections; one that does not (a write stuck in the
      // kernel) is given up on after the grace: its records are dead-lettered, although it may still complete.
      if (!(await within(Promise.allSettled([...this.inflightPromises]), ABANDON_GRACE_MILLIS))) {
        this.log.warn(
          'A send did not end after the transport was abandoned at the shutdown deadline; its events go to the dead-letter file (the receiver may have them too).',
          { sink: this.name, graceMillis: ABANDON_GRACE_MILLIS },
        );
        this.abandoned.abort();
        await within(Promise.allSettled([...this.inflightPromises]), ABANDON_GRACE_MILLIS);
      }
      const leftovers: EncodedRecord<R>[] = this.buffer.drain();
      this.updateBufferStats();
      undelivered = leftovers.length;
      if (leftovers.length > 0) {
        const droppedBefore = this.stats.dropped.dead_letter_failed ?? 0;
        await this.outcomes.deadLetter(
          leftovers,
          'AEGIS_ERR_SHUTDOWN_UNDELIVERED',
          `not delivered within the shutdown timeout of ${timeoutMillis} ms`,
          0,
        );
        lost = (this.stats.dropped.dead_letter_failed ?? 0) - droppedBefore;
        this.log.error('Shutdown timeout reached with undelivered events; they went to the dead-letter file.', {
          sink: this.name,
          code: 'AEGIS_ERR_SHUTDOWN_UNDELIVERED',
          undelivered,
          lost,
          deadLetterFile: this.deps.deadLetter.path,
        });
      }
      // Accepts that were waiting for space dead-letter their remaining events themselves; wait for them.
      if (this.activeAccepts > 0) await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
    } else {
      this.shutdown.abort(); // nothing in flight; stops any healthcheck still running
    }
    // Already abandoned at the deadline: close() only has the grace left. Else it may use the rest of the timeout.
    await this.closeTransport(finishedInTime ? Math.max(deadlineAt - Date.now(), ABANDON_GRACE_MILLIS) : 0);
    return { sink: this.name, delivered: this.stats.delivered - deliveredBefore, undelivered, lost };
  }

  /**
   * close() the transport, bounded: past `boundMillis` it is abandoned (0: it already was), then waited for one
   * ABANDON_GRACE_MILLIS more at most.
   */
  private async closeTransport(boundMillis: number): Promise<void> {
    const closing = this.transport.close().catch((err: unknown) => {
      this.log.warn('Closing the sink transport failed.', { sink: this.name, error: describeError(err) });
    });
    if (boundMillis > 0) {
      if (await within(closing, boundMillis)) return;
      this.log.warn('Closing the sink transport took too long; dropping its connections.', {
        sink: this.name,
        waitedMillis: boundMillis,
      });
      this.abandonTransport();
    }
    if (!(await within(closing, ABANDON_GRACE_MILLIS)))
      this.log.warn('The sink transport did not close after it was abandoned; not waiting for it.', {
        sink: this.name,
      });
  }

  private abandonTransport(): void {
    try {
      this.transport.abandon();
    } catch (err) {
      this.log.warn('Abandoning the sink transport failed.', { sink: this.name, error: describeError(err) });
    }
  }

  stopNow(deadlineAt: number): ShutdownReport {
    this.closing = true;
    this.batcher.stop();
    this.shutdown.abort();
    this.abandoned.abort();
    this.abandonTransport();
    const records: EncodedRecord<R>[] = this.sender.unresolved();
    for (const r of this.buffer.drain()) records.push(r);
    for (const w of this.waitingForRoom) for (let i = w.from; i < w.records.length; i++) records.push(w.records[i]!);
    this.waitingForRoom.clear();
    this.updateBufferStats();
    const written = this.deps.deadLetter.writeSync(
      records.map((r) => ({
        sink: this.name,
        code: 'AEGIS_ERR_SHUTDOWN_UNDELIVERED' as const,
        reason: 'not delivered: a second stop signal ended the flush',
        attempts: 0,
        event: r.event,
      })),
      deadlineAt,
    );
    this.stats.deadLettered += written;
    const lost = records.length - written;
    if (lost > 0) increment(this.stats.dropped, 'dead_letter_failed', lost);
    return { sink: this.name, delivered: this.stats.delivered, undelivered: records.length, lost };
  }
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
