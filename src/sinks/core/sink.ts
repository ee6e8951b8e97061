/**
 * The sink core: everything every sink needs except moving bytes. It wraps a transport with
 *
 *   accept → format (encode.ts) → buffer (buffer.ts: bounded, block | drop_newest) → batcher (batcher.ts: events,
 *          bytes, time) → bounded in-flight sends → retrying send (retrying-send.ts: backoff, Retry-After, deadline,
 *          halving) → delivered | dead-letter (outcomes.ts, which also keeps the sink's health)
 *
 * and composes those parts; each owns its invariants. Admitting into the buffer under when_full is intake.ts;
 * stopping (close with its deadline, abandoning the transport, stopNow) is shutdown.ts; the interfaces are
 * sink-api.ts. The invariants this file owns:
 * - Every accepted event ends in exactly one of: delivered, dead-lettered (with a reason), or counted as dropped
 *   (buffer_full under drop_newest, or dead_letter_failed when even the dead-letter file refused it).
 * - At most request.concurrency batches are in flight.
 */
import { setMaxListeners } from 'node:events';
import type { AegisEvent } from '../../event/types';
import type { SinkStats } from '../../telemetry/stats';
import { describeError } from '../../util/errors';
import type { Logger } from '../../util/logger';
import type { Acknowledgement } from './ack';
import type { Batcher } from './batcher';
import { createBatcher } from './batcher';
import type { EventBuffer, TakenRecords } from './buffer';
import { createMemoryBuffer } from './buffer';
import { createDiskBuffer } from './disk-buffer';
import type { Encoder } from './encode';
import { createEncoder, defaultSizeOf } from './encode';
import type { Admit, WaitingRecords } from './intake';
import { createIntake } from './intake';
import type { SinkOutcomes } from './outcomes';
import { createSinkOutcomes } from './outcomes';
import type { Redactor } from './redact';
import { noRedaction, redactHealthResult, redactingLogger, redactingTransport } from './redact';
import type { RetryingSend } from './retrying-send';
import { createRetryingSend, healthcheckOnce } from './retrying-send';
import type { Shutdown } from './shutdown';
import { createShutdown } from './shutdown';
import type { Sink, SinkDeps } from './sink-api';
import type { HealthResult, ShutdownReport, SinkCoreOptions, Transport } from './types';
import { DEFAULT_DISK_FSYNC_INTERVAL_MILLIS } from './types';
import type { AegisEvent as Event } from '../../event/types';
import type { Formatter } from '../../formatters/types';
import type { BufferedRecord } from './buffer';

/** accept()'s result when everything settled synchronously (shared: no allocation per call). */
const RESOLVED: Promise<void> = Promise.resolve();

// Tests bound close() with it (test/daemon/shutdown.test.ts); its home is shutdown.ts.
export { ABANDON_GRACE_MILLIS } from './shutdown';

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
  private readonly shutdown: Shutdown;
  private readonly admit: Admit<R>;
  /** Records of accept() calls waiting for buffer space (under when_full: block), not yet in the buffer. */
  private readonly waitingForRoom = new Set<WaitingRecords<R>>();
  private readonly encode: Encoder<R>;
  private readonly log: Logger;
  private readonly transport: Transport<R>;
  private readonly redact: Redactor;

  constructor(
    deps: SinkDeps<R>,
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
    this.buffer =
      options.buffer.type === 'disk'
        ? createDiskBuffer<R>({
            name: deps.name,
            dir: deps.bufferDir ?? `buffers/${deps.name}`,
            maxBytes: options.buffer.maxBytes,
            maxMemoryEvents: options.buffer.maxEvents,
            whenFull: options.buffer.whenFull,
            fsync: options.buffer.fsync ?? 'interval',
            fsyncIntervalMillis: options.buffer.fsyncIntervalMillis ?? DEFAULT_DISK_FSYNC_INTERVAL_MILLIS,
            restore: restoreWith(deps.formatter, deps.sizeOf ?? defaultSizeOf, deps.formatter.name === 'json'),
            // The json format's output is the event's JSON: store it as it is instead of serialising again.
            ...(deps.formatter.name === 'json'
              ? { payloadOf: (rec: BufferedRecord<R>) => (typeof rec.data === 'string' ? rec.data : undefined) }
              : {}),
            stats: deps.stats,
            log: this.log,
            now,
          })
        : createMemoryBuffer<R>(options.buffer);
    this.batcher = createBatcher({ buffer: this.buffer, batch: options.batch, now, onDue: () => this.pump() });
    this.shutdown = createShutdown({
      name: deps.name,
      transport: this.transport,
      log: this.log,
      stats: deps.stats,
      outcomes: this.outcomes,
      deadLetter: deps.deadLetter,
      buffer: this.buffer,
      inflight: this.inflightPromises,
      waitingForRoom: this.waitingForRoom,
      stopBatching: () => {
        this.closing = true;
        this.batcher.stop();
      },
      pump: () => this.pump(),
      whenIdle: () => {
        const idle = new Promise<void>((resolve) => this.idleWaiters.push(resolve));
        this.checkIdle();
        return idle;
      },
      activeAccepts: () => this.activeAccepts,
      unresolved: () => this.sender.unresolved(),
      updateBufferStats: () => this.updateBufferStats(),
    });
    this.admit = createIntake({
      name: deps.name,
      buffer: this.buffer,
      stats: deps.stats,
      log: this.log,
      outcomes: this.outcomes,
      shutdown: this.shutdown.signal,
      waitingForRoom: this.waitingForRoom,
      offered: () => {
        this.updateBufferStats();
        this.pump();
      },
    });
    const nextBatchId = (): number => this.nextBatchId++;
    this.sender = createRetryingSend({
      name: deps.name,
      transport: this.transport,
      request: options.request,
      retry: options.retry,
      shutdown: this.shutdown.signal,
      abandoned: this.shutdown.abandonedSignal,
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
    // A disk buffer may start with records of an earlier run: send them without waiting for new events.
    if (this.buffer.events > 0) {
      this.updateBufferStats();
      setImmediate(() => this.pump());
    }
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

  // Not async: the common case (the buffer has room) settles synchronously and returns one shared resolved promise,
  // instead of three nested async functions' promises and microtask hops per chunk (bench/hostcost: the sensor
  // hands over a chunk per ring drain, ~1 000 a second at 2 000 events/s). A throw still becomes a rejection.
  accept(events: readonly AegisEvent[], ack?: Acknowledgement): Promise<void> {
    if (events.length === 0) return RESOLVED;
    try {
      this.stats.received += events.length;
      return this.admitEncoded(this.encode(events, ack));
    } catch (err) {
      return Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
  }

  async acceptEncoded(
    records: readonly BufferedRecord<unknown>[],
    failed: readonly { readonly event: AegisEvent; readonly reason: string }[] | undefined,
    ack?: Acknowledgement,
  ): Promise<void> {
    const count = records.length + (failed?.length ?? 0);
    if (count === 0) return;
    this.stats.received += count;
    if (failed !== undefined && failed.length > 0) this.outcomes.formatFailed(failed, ack);
    if (records.length > 0) await this.admitEncoded(records as readonly BufferedRecord<R>[]);
  }

  private admitEncoded(records: readonly BufferedRecord<R>[]): Promise<void> {
    if (this.shutdown.signal.aborted) return this.deadLetterClosed(records);
    this.activeAccepts++;
    let pending: Promise<void> | undefined;
    try {
      pending = this.admit(records);
    } finally {
      if (pending === undefined) {
        this.activeAccepts--;
        this.checkIdle();
      }
    }
    return pending === undefined ? RESOLVED : this.afterWait(pending);
  }

  /** The records waited for buffer space: the accept ends when they are buffered (or dead-lettered). */
  private async afterWait(pending: Promise<void>): Promise<void> {
    try {
      await pending;
    } finally {
      this.activeAccepts--;
      this.checkIdle();
    }
  }

  private async deadLetterClosed(records: readonly BufferedRecord<R>[]): Promise<void> {
    await this.outcomes.deadLetter(
      records,
      'AEGIS_ERR_SINK_CLOSED',
      'the sink was already shut down when the events arrived',
      0,
    );
  }

  async reopen(): Promise<void> {
    if (this.transport.reopen !== undefined) await this.transport.reopen();
  }

  close(timeoutMillis: number): Promise<ShutdownReport> {
    this.closed ??= this.shutdown.close(timeoutMillis);
    return this.closed;
  }

  stopNow(deadlineAt: number): ShutdownReport {
    return this.shutdown.stopNow(deadlineAt);
  }

  private updateBufferStats(): void {
    this.stats.bufferEvents = this.buffer.events;
    this.stats.bufferBytes = this.buffer.bytes;
  }

  /** Start as many batches as the in-flight bound allows. Synchronous; called on every state change. */
  private pump(): void {
    // Past the shutdown deadline no batch starts: shutdown.ts drains the buffer into the dead-letter file once the
    // sends in flight have ended, and a batch taken out after that drain would be handed back to a buffer nobody
    // reads again (its events counted received and never settled).
    if (this.shutdown.signal.aborted) return;
    while (this.inflight < this.options.request.concurrency) {
      const taken = this.batcher.next(this.closing);
      if (taken === undefined) break;
      if (taken.records.length === 0) {
        // A disk buffer found only corrupt or already-acknowledged records where it expected some (counted there).
        this.buffer.acknowledge(taken);
        this.updateBufferStats();
        break;
      }
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
}

/** A disk buffer's records read back are formatted again (formatters are deterministic, so the bytes are equal). */
function restoreWith<R>(
  formatter: Formatter<R>,
  sizeOf: (data: R) => number,
  storedIsEncoded: boolean,
): (
  event: Event,
  at: number,
  ack: Acknowledgement | undefined,
  payload: string,
  payloadBytes: number,
) => BufferedRecord<R> | undefined {
  return (event, at, ack, payload, payloadBytes) => {
    // The json format stored its own output (payloadOf above): it is the encoding, no need to format again.
    if (storedIsEncoded) return { event, data: payload as R, bytes: payloadBytes, at, ack };
    const data = formatter.format(event);
    return { event, data, bytes: sizeOf(data), at, ack };
  };
}
