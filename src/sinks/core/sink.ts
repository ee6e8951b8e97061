/**
 * The sink core: everything every sink needs except moving bytes. It wraps a transport with
 *
 *   accept → format → bounded buffer (block | drop_newest) → batcher (events, bytes, time)
 *          → bounded in-flight sends → retry (full jitter, Retry-After, deadline) → delivered | dead-letter
 *
 * and counts every outcome in SinkStats. Invariants:
 * - Every accepted event ends in exactly one of: delivered, dead-lettered (with a reason), or counted as dropped
 *   (buffer_full under drop_newest, or dead_letter_failed when even the dead-letter file refused it).
 * - The buffer never holds more than buffer.maxEvents records or buffer.maxBytes bytes (a single record larger than
 *   maxBytes is admitted only into an empty buffer, so it cannot deadlock).
 * - With request.concurrency = 1, records reach the transport in acceptance order, retries included.
 * - close(timeout) flushes; what is still undelivered at the deadline goes to the dead-letter file.
 */
import type { AegisEvent } from '../../event/types';
import type { Formatter } from '../../formatters/types';
import { describeError } from '../../util/errors';
import type { ErrorCode } from '../../util/errors';
import type { Logger } from '../../util/logger';
import type { SinkStats } from '../../telemetry/stats';
import { increment } from '../../telemetry/stats';
import type { DeadLetterQueue } from './dead-letter';
import { Fifo } from './fifo';
import { retryDelayMillis, sleep } from './retry';
import type { Batch, EncodedRecord, HealthResult, SendResult, ShutdownReport, SinkCoreOptions, Transport } from './types';

export interface SinkDeps<R = string> {
  readonly name: string;
  readonly type: string;
  readonly transport: Transport<R>;
  readonly formatter: Formatter<R>;
  /** Encoded size of one record; defaults to UTF-8 bytes for strings and byteLength for binary data. */
  readonly sizeOf?: (data: R) => number;
  readonly stats: SinkStats;
  readonly logger: Logger;
  readonly deadLetter: DeadLetterQueue;
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
}

interface Queued<R> extends EncodedRecord<R> {
  /** Enqueue time (ms), for the batch timeout. */
  readonly at: number;
}

const defaultSizeOf = (data: unknown): number => {
  if (typeof data === 'string') return Buffer.byteLength(data);
  if (data instanceof Uint8Array) return data.byteLength;
  return Buffer.byteLength(JSON.stringify(data) ?? '');
};

/** Consecutive failed attempts after which a sink reports itself unhealthy. */
const UNHEALTHY_AFTER_FAILURES = 3;

export function createSink<R = string>(deps: SinkDeps<R>, options: SinkCoreOptions): Sink {
  return new SinkRuntime(deps, options);
}

class SinkRuntime<R> implements Sink {
  readonly name: string;
  readonly type: string;
  readonly stats: SinkStats;

  private readonly buffer = new Fifo<Queued<R>>();
  private bufferBytes = 0;
  private inflight = 0;
  private readonly inflightPromises = new Set<Promise<void>>();
  private spaceWaiters: (() => void)[] = [];
  private idleWaiters: (() => void)[] = [];
  private activeAccepts = 0;
  private timer: NodeJS.Timeout | undefined;
  private timerDue = 0;
  private nextBatchId = 1;
  private consecutiveFailures = 0;
  private closing = false;
  private closed: Promise<ShutdownReport> | undefined;
  private readonly shutdown = new AbortController();
  private readonly undelivered: EncodedRecord<R>[] = [];
  private readonly now: () => number;
  private readonly random: () => number;
  private readonly sizeOf: (data: R) => number;
  private readonly log: Logger;

  constructor(
    private readonly deps: SinkDeps<R>,
    private readonly options: SinkCoreOptions,
  ) {
    this.name = deps.name;
    this.type = deps.type;
    this.stats = deps.stats;
    this.now = deps.now ?? Date.now;
    this.random = deps.random ?? Math.random;
    this.sizeOf = deps.sizeOf ?? defaultSizeOf;
    this.log = deps.logger;
  }

  async healthcheck(timeoutMillis = this.options.request.timeoutMillis): Promise<HealthResult> {
    let result: HealthResult;
    const attempt = this.attemptSignal(timeoutMillis);
    try {
      const gaveUp = new Promise<HealthResult>((resolve) => {
        const onAbort = (): void => resolve({ healthy: false, reason: `no answer within ${timeoutMillis} ms` });
        if (attempt.signal.aborted) onAbort();
        else attempt.signal.addEventListener('abort', onAbort, { once: true });
      });
      result = await Promise.race([this.deps.transport.healthcheck(attempt.signal), gaveUp]);
    } catch (err) {
      result = { healthy: false, reason: describeError(err) };
    } finally {
      attempt.done();
    }
    if (result.healthy) {
      if (!this.stats.healthy) this.log.info('Sink healthcheck passed.', { sink: this.name });
      this.stats.healthy = true;
    } else {
      this.markUnhealthy(`healthcheck failed: ${result.reason}`);
    }
    return result;
  }

  async accept(events: readonly AegisEvent[]): Promise<void> {
    if (events.length === 0) return;
    this.stats.received += events.length;
    const records = this.encode(events);
    if (this.shutdown.signal.aborted) {
      await this.deadLetter(records, 'AEGIS_ERR_SINK_CLOSED', 'the sink was already shut down when the events arrived', 0);
      return;
    }
    this.activeAccepts++;
    try {
      let i = 0;
      while (i < records.length) {
        while (i < records.length && this.fits(records[i] as Queued<R>)) {
          const rec = records[i++] as Queued<R>;
          this.buffer.push(rec);
          this.bufferBytes += rec.bytes;
        }
        this.updateBufferStats();
        this.pump();
        if (i >= records.length) break;
        if (this.fits(records[i] as Queued<R>)) continue; // the pump made room
        if (this.options.buffer.whenFull === 'drop_newest') {
          const dropped = records.length - i;
          increment(this.stats.dropped, 'buffer_full', dropped);
          this.log.burst('WARN', 'buffer-full', 'Sink buffer is full; dropping the newest events (when_full: drop_newest).', {
            sink: this.name, dropped, bufferEvents: this.buffer.length, bufferBytes: this.bufferBytes,
          });
          break;
        }
        await new Promise<void>((resolve) => this.spaceWaiters.push(resolve));
        if (this.shutdown.signal.aborted) {
          await this.deadLetter(records.slice(i), 'AEGIS_ERR_SHUTDOWN_UNDELIVERED', 'shutdown deadline reached while the events waited for buffer space', 0);
          break;
        }
      }
    } finally {
      this.activeAccepts--;
      this.checkIdle();
    }
  }

  async reopen(): Promise<void> {
    if (this.deps.transport.reopen !== undefined) await this.deps.transport.reopen();
  }

  close(timeoutMillis: number): Promise<ShutdownReport> {
    this.closed ??= this.doClose(timeoutMillis);
    return this.closed;
  }

  // ---- internals ----

  private encode(events: readonly AegisEvent[]): Queued<R>[] {
    const at = this.now();
    const out: Queued<R>[] = [];
    let failed: { event: AegisEvent; reason: string }[] | undefined;
    for (const event of events) {
      try {
        const data = this.deps.formatter.format(event);
        out.push({ event, data, bytes: this.sizeOf(data), at });
      } catch (err) {
        (failed ??= []).push({ event, reason: `format '${this.deps.formatter.name}' failed: ${describeError(err)}` });
      }
    }
    if (failed !== undefined) {
      const entries = failed;
      this.stats.deadLettered += entries.length;
      this.log.burst('ERROR', 'format-failed', 'Events could not be formatted and went to the dead-letter file.', { sink: this.name, count: entries.length, reason: entries[0]?.reason });
      void this.deps.deadLetter
        .write(entries.map((f) => ({ sink: this.name, code: 'AEGIS_ERR_FORMAT' as const, reason: f.reason, attempts: 0, event: f.event })))
        .then((written) => this.countDeadLetterFailures(entries.length - written));
    }
    return out;
  }

  private fits(rec: Queued<R>): boolean {
    if (this.buffer.length === 0) return true;
    const { maxEvents, maxBytes } = this.options.buffer;
    return this.buffer.length < maxEvents && this.bufferBytes + rec.bytes <= maxBytes;
  }

  private updateBufferStats(): void {
    this.stats.bufferEvents = this.buffer.length;
    this.stats.bufferBytes = this.bufferBytes;
  }

  /** Start as many batches as the in-flight bound allows. Synchronous; called on every state change. */
  private pump(): void {
    const { batch, request } = this.options;
    while (this.inflight < request.concurrency && this.buffer.length > 0) {
      if (!this.closing && this.buffer.length < batch.maxEvents && this.bufferBytes < batch.maxBytes) {
        const age = this.now() - (this.buffer.peek() as Queued<R>).at;
        if (age < batch.timeoutMillis) {
          this.armTimer(batch.timeoutMillis - age);
          break;
        }
      }
      this.startBatch(this.takeBatch());
    }
    this.wakeSpaceWaiters();
  }

  private armTimer(delayMillis: number): void {
    const due = this.now() + delayMillis;
    if (this.timer !== undefined && this.timerDue <= due) return;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timerDue = due;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.pump();
    }, Math.max(0, delayMillis));
  }

  private takeBatch(): Batch<R> {
    const { maxEvents, maxBytes } = this.options.batch;
    const records: EncodedRecord<R>[] = [];
    let bytes = 0;
    while (records.length < maxEvents && this.buffer.length > 0) {
      const next = this.buffer.peek() as Queued<R>;
      if (records.length > 0 && bytes + next.bytes > maxBytes) break;
      this.buffer.shift();
      this.bufferBytes -= next.bytes;
      records.push(next);
      bytes += next.bytes;
    }
    this.updateBufferStats();
    return { id: this.nextBatchId++, records, bytes, attempt: 1 };
  }

  private startBatch(batch: Batch<R>): void {
    this.inflight++;
    this.stats.inflightBatches = this.inflight;
    const p: Promise<void> = this.deliver(batch.records, batch.id)
      .catch((err: unknown) => {
        // deliver() handles every transport outcome; reaching here is a bug. Keep the records: dead-letter them.
        this.log.error('Internal error while delivering a batch; its events go to the dead-letter file.', { sink: this.name, code: 'AEGIS_ERR_INTERNAL', error: describeError(err) });
        return this.deadLetter(batch.records, 'AEGIS_ERR_INTERNAL', describeError(err), 0);
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

  private wakeSpaceWaiters(): void {
    if (this.spaceWaiters.length === 0) return;
    const { maxEvents, maxBytes } = this.options.buffer;
    if (this.buffer.length >= maxEvents || this.bufferBytes >= maxBytes) {
      if (!this.shutdown.signal.aborted) return;
    }
    const waiters = this.spaceWaiters;
    this.spaceWaiters = [];
    for (const w of waiters) w();
  }

  private checkIdle(): void {
    if (this.buffer.length === 0 && this.inflight === 0 && this.activeAccepts === 0 && this.idleWaiters.length > 0) {
      const waiters = this.idleWaiters;
      this.idleWaiters = [];
      for (const w of waiters) w();
    }
  }

  /**
   * A signal that aborts on shutdown or after `timeoutMillis`, and its cleanup. Built by hand rather than with
   * AbortSignal.any/timeout: one send per batch for the life of the daemon must not accumulate listeners on the
   * long-lived shutdown signal or leave timers behind.
   */
  private attemptSignal(timeoutMillis: number): { signal: AbortSignal; timedOut: () => boolean; done: () => void } {
    const ctl = new AbortController();
    let timedOut = false;
    const onShutdown = (): void => ctl.abort();
    if (this.shutdown.signal.aborted) ctl.abort();
    else this.shutdown.signal.addEventListener('abort', onShutdown, { once: true });
    const timer = setTimeout(() => {
      timedOut = true;
      ctl.abort();
    }, timeoutMillis);
    return {
      signal: ctl.signal,
      timedOut: () => timedOut,
      done: () => {
        clearTimeout(timer);
        this.shutdown.signal.removeEventListener('abort', onShutdown);
      },
    };
  }

  private async sendOnce(records: readonly EncodedRecord<R>[], id: number, attempt: number): Promise<SendResult> {
    let bytes = 0;
    for (const r of records) bytes += r.bytes;
    const attemptSignal = this.attemptSignal(this.options.request.timeoutMillis);
    const { signal } = attemptSignal;
    const started = this.now();
    let onAbort: (() => void) | undefined;
    const aborted = new Promise<SendResult>((resolve) => {
      onAbort = () => resolve({ kind: 'retryable', reason: attemptSignal.timedOut() ? `no response within ${this.options.request.timeoutMillis} ms` : 'aborted by shutdown' });
      if (signal.aborted) onAbort();
      else signal.addEventListener('abort', onAbort, { once: true });
    });
    try {
      // A transport that ignores the signal cannot hold the sink: the abort wins the race. If its send completes
      // later anyway, the retry may duplicate those events; every sink is at-least-once, never at-most-once.
      return await Promise.race([this.deps.transport.send({ id, records, bytes, attempt }, signal), aborted]);
    } catch (err) {
      return { kind: 'retryable', reason: `transport error: ${describeError(err)}` };
    } finally {
      if (onAbort !== undefined) signal.removeEventListener('abort', onAbort);
      attemptSignal.done();
      this.stats.sendLatencyMillis.observe(this.now() - started);
    }
  }

  private async deliver(initial: readonly EncodedRecord<R>[], initialId: number): Promise<void> {
    let records = initial;
    const id = initialId;
    const started = this.now();
    for (let attempt = 1; ; attempt++) {
      if (this.shutdown.signal.aborted) {
        this.undelivered.push(...records);
        return;
      }
      const result = await this.sendOnce(records, id, attempt);
      let retryAfter: number | undefined;
      let reason: string;
      switch (result.kind) {
        case 'delivered':
          this.onDelivered(records, result.duplicates ?? 0);
          return;
        case 'rejected':
          this.stats.failedRequests++;
          this.log.burst('ERROR', 'rejected', 'The receiver rejected events permanently; they went to the dead-letter file.', { sink: this.name, code: 'AEGIS_ERR_SINK_REJECTED', count: records.length, reason: result.reason });
          await this.deadLetter(records, 'AEGIS_ERR_SINK_REJECTED', result.reason, attempt);
          return;
        case 'too_large': {
          this.stats.failedRequests++;
          if (records.length === 1) {
            await this.deadLetter(records, 'AEGIS_ERR_SINK_REJECTED', `record too large for the receiver: ${result.reason}`, attempt);
            return;
          }
          const mid = Math.ceil(records.length / 2);
          this.log.burst('WARN', 'split', 'The receiver refused a batch as too large; splitting it in halves.', { sink: this.name, events: records.length, reason: result.reason });
          await this.deliver(records.slice(0, mid), this.nextBatchId++);
          await this.deliver(records.slice(mid), this.nextBatchId++);
          return;
        }
        case 'partial': {
          this.stats.failedRequests++;
          const retrySet = new Set(result.retry);
          const rejectedSet = new Set(result.rejected.map((r) => r.index));
          const delivered = records.filter((_, i) => !retrySet.has(i) && !rejectedSet.has(i));
          if (delivered.length > 0) this.onDelivered(delivered, result.duplicates ?? 0);
          for (const rej of result.rejected) {
            const rec = records[rej.index];
            if (rec !== undefined) await this.deadLetter([rec], 'AEGIS_ERR_SINK_REJECTED', rej.reason, attempt);
          }
          if (result.rejected.length > 0) {
            this.log.burst('ERROR', 'rejected-items', 'The receiver rejected some events permanently; they went to the dead-letter file.', { sink: this.name, code: 'AEGIS_ERR_SINK_REJECTED', count: result.rejected.length, reason: result.rejected[0]?.reason });
          }
          records = result.retry.map((i) => records[i]).filter((r): r is EncodedRecord<R> => r !== undefined);
          if (records.length === 0) return;
          retryAfter = result.retryAfterMillis;
          reason = `${records.length} events need a retry`;
          break;
        }
        case 'retryable':
          this.stats.failedRequests++;
          retryAfter = result.retryAfterMillis;
          reason = result.reason;
          if (result.unhealthy === true) this.markUnhealthy(result.reason);
          break;
      }
      this.stats.lastError = reason;
      this.consecutiveFailures++;
      if (this.consecutiveFailures >= UNHEALTHY_AFTER_FAILURES) this.markUnhealthy(reason);
      const delay = retryDelayMillis(attempt, this.options.retry, retryAfter, this.random);
      const maxDuration = this.options.retry.maxDurationMillis;
      if (maxDuration > 0 && this.now() + delay - started > maxDuration) {
        this.log.error('A batch exceeded its retry deadline; its events went to the dead-letter file.', { sink: this.name, code: 'AEGIS_ERR_RETRY_DEADLINE', events: records.length, attempts: attempt, reason });
        await this.deadLetter(records, 'AEGIS_ERR_RETRY_DEADLINE', `retry deadline of ${maxDuration} ms exceeded after ${attempt} attempts; last error: ${reason}`, attempt);
        return;
      }
      this.stats.retriedEvents += records.length;
      this.log.burst('WARN', 'retry', 'Send failed; the batch will be retried.', { sink: this.name, events: records.length, attempt, retryInMillis: delay, reason });
      if (!(await sleep(delay, this.shutdown.signal))) {
        this.undelivered.push(...records);
        return;
      }
    }
  }

  private onDelivered(records: readonly EncodedRecord<R>[], duplicates: number): void {
    let bytes = 0;
    for (const r of records) bytes += r.bytes;
    this.stats.delivered += records.length;
    this.stats.deliveredBytes += bytes;
    this.stats.batches++;
    this.stats.duplicates += duplicates;
    this.consecutiveFailures = 0;
    if (!this.stats.healthy) {
      this.stats.healthy = true;
      this.log.info('Sink recovered: the receiver acknowledged a batch.', { sink: this.name });
    }
  }

  private markUnhealthy(reason: string): void {
    this.stats.lastError = reason;
    if (this.stats.healthy) {
      this.stats.healthy = false;
      this.log.error('Sink is unhealthy; events wait in its buffer and are retried.', { sink: this.name, code: 'AEGIS_ERR_SINK_UNHEALTHY', reason });
    }
  }

  private async deadLetter(records: readonly EncodedRecord<R>[], code: ErrorCode, reason: string, attempts: number): Promise<void> {
    if (records.length === 0) return;
    this.stats.deadLettered += records.length;
    const written = await this.deps.deadLetter.write(records.map((r) => ({ sink: this.name, code, reason, attempts, event: r.event })));
    this.countDeadLetterFailures(records.length - written);
  }

  private countDeadLetterFailures(count: number): void {
    if (count <= 0) return;
    this.stats.deadLettered -= count;
    increment(this.stats.dropped, 'dead_letter_failed', count);
  }

  private async doClose(timeoutMillis: number): Promise<ShutdownReport> {
    this.closing = true;
    if (this.timer !== undefined) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    const deliveredBefore = this.stats.delivered;
    this.pump();
    const idle = new Promise<void>((resolve) => this.idleWaiters.push(resolve));
    this.checkIdle();
    const deadline = new AbortController();
    const finishedInTime = await Promise.race([idle.then(() => true), sleep(timeoutMillis, deadline.signal).then(() => false)]);
    deadline.abort(); // release the timer so a clean shutdown does not keep the process alive
    let undelivered = 0;
    let lost = 0;
    if (!finishedInTime) {
      this.shutdown.abort();
      this.wakeSpaceWaiters();
      await Promise.allSettled([...this.inflightPromises]);
      const leftovers: EncodedRecord<R>[] = [...this.undelivered, ...this.buffer.drain()];
      this.bufferBytes = 0;
      this.updateBufferStats();
      undelivered = leftovers.length;
      if (leftovers.length > 0) {
        const droppedBefore = this.stats.dropped.dead_letter_failed ?? 0;
        await this.deadLetter(leftovers, 'AEGIS_ERR_SHUTDOWN_UNDELIVERED', `not delivered within the shutdown timeout of ${timeoutMillis} ms`, 0);
        lost = (this.stats.dropped.dead_letter_failed ?? 0) - droppedBefore;
        this.log.error('Shutdown timeout reached with undelivered events; they went to the dead-letter file.', {
          sink: this.name, code: 'AEGIS_ERR_SHUTDOWN_UNDELIVERED', undelivered, lost, deadLetterFile: this.deps.deadLetter.path,
        });
      }
      // Accepts that were waiting for space dead-letter their remaining events themselves; wait for them.
      if (this.activeAccepts > 0) await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
    } else {
      this.shutdown.abort(); // nothing in flight; stops any healthcheck still running
    }
    try {
      await this.deps.transport.close();
    } catch (err) {
      this.log.warn('Closing the sink transport failed.', { sink: this.name, error: describeError(err) });
    }
    return { sink: this.name, delivered: this.stats.delivered - deliveredBefore, undelivered, lost };
  }
}
