/**
 * The sink buffer: records accepted by the sink and not yet delivered. One interface, so that a durable (disk)
 * buffer can replace the memory one without the rest of the core changing.
 *
 * Named EventBuffer, not Buffer: `Buffer` is Node's global byte-array class, used throughout the sinks (request
 * bodies, concatRecords); shadowing it in this folder would make every `Buffer.from` a trap.
 *
 * Ownership: records taken in a batch stay owned by the buffer until the core acknowledges the batch (every record
 * of it reached a final outcome: delivered or dead-lettered) or hands it back (delivery stopped by shutdown). A
 * durable buffer deletes records on acknowledge and keeps handed-back ones for the next start; the memory buffer
 * returns handed-back ones from drain(), which the core dead-letters.
 *
 * Invariants (this file owns them):
 * - The buffer never holds more than maxEvents records or maxBytes bytes not yet taken; a single record larger than
 *   maxBytes is admitted only into an empty buffer, so it cannot deadlock. Records taken in a batch no longer count
 *   (the in-flight bound, request.concurrency batches, bounds those).
 * - take() hands records out in offer order.
 */
import { Fifo } from './fifo';
import type { EncodedRecord, WhenFull } from './types';

/** A record as buffered: its encoding plus when it arrived (ms), for the batch timeout. */
export interface BufferedRecord<R = string> extends EncodedRecord<R> {
  readonly at: number;
}

/** Records taken from the buffer as one batch; owned by the buffer until acknowledged or handed back. */
export interface TakenRecords<R = string> {
  readonly records: readonly BufferedRecord<R>[];
  /** Sum of the records' `bytes`. */
  readonly bytes: number;
}

export interface EventBuffer<R = string> {
  /** What the sink does when an offer does not fit: wait for room (`block`) or drop the rest, counted. */
  readonly whenFull: WhenFull;
  /** Records held and not taken. */
  readonly events: number;
  /** Bytes of the records held and not taken. */
  readonly bytes: number;
  /** Records taken in batches that are neither acknowledged nor handed back (in flight). */
  readonly takenEvents: number;
  /**
   * Admit records[from…] in order while they fit; returns the index of the first record not admitted
   * (records.length when all were). Never waits: the caller applies `whenFull` to the rest.
   */
  offer(records: readonly BufferedRecord<R>[], from: number): number;
  /** Whether a next offer can admit at least one record of `bytes`. */
  hasRoomFor(bytes: number): boolean;
  /**
   * Under `block`: resolves once a take() left the buffer below its bounds, or release() was called. The caller
   * offers again after it (another waiter may have taken the room).
   */
  waitForRoom(): Promise<void>;
  /** Wake every waitForRoom() now, whatever the room (shutdown: the waiters dead-letter their events). */
  release(): void;
  /** Arrival time (ms) of the oldest record not taken; undefined when none is held. */
  oldestAt(): number | undefined;
  /** Take the oldest records as one batch: at most maxEvents, at most maxBytes (but always at least one record). */
  take(maxEvents: number, maxBytes: number): TakenRecords<R>;
  /** Every record of the batch reached a final outcome (delivered or dead-lettered): forget it. */
  acknowledge(taken: TakenRecords<R>): void;
  /**
   * Delivery of the batch stopped (shutdown) with `undelivered` of its records unresolved: they stay owned by the
   * buffer and come back from drain(); the rest of the batch is acknowledged.
   */
  handBack(taken: TakenRecords<R>, undelivered: readonly EncodedRecord<R>[]): void;
  /**
   * Remove and return every record still owned: handed-back ones first, then the ones not taken, oldest first. A
   * durable buffer returns none: its records wait on disk for the next start.
   */
  drain(): EncodedRecord<R>[];
  /** Records survive the process (disk): shutdown leaves them in place instead of dead-lettering them. */
  readonly durable: boolean;
  /** Release files and timers; a durable buffer persists its state. Called once, when the sink has stopped. */
  close(): void;
}

export interface MemoryBufferOptions {
  readonly maxEvents: number;
  readonly maxBytes: number;
  readonly whenFull: WhenFull;
}

export function createMemoryBuffer<R>(options: MemoryBufferOptions): EventBuffer<R> {
  return new MemoryBuffer<R>(options);
}

/** Records in a segmented FIFO (O(1) push and shift); taken records are held only by their batch. */
class MemoryBuffer<R> implements EventBuffer<R> {
  readonly whenFull: WhenFull;
  readonly durable = false;
  events = 0;
  bytes = 0;
  takenEvents = 0;
  private readonly queue = new Fifo<BufferedRecord<R>>();
  private readonly maxEvents: number;
  private readonly maxBytes: number;
  private handedBack: EncodedRecord<R>[] = [];
  private roomWaiters: (() => void)[] = [];

  constructor(options: MemoryBufferOptions) {
    this.whenFull = options.whenFull;
    this.maxEvents = options.maxEvents;
    this.maxBytes = options.maxBytes;
  }

  offer(records: readonly BufferedRecord<R>[], from: number): number {
    let i = from;
    while (i < records.length) {
      const rec = records[i] as BufferedRecord<R>;
      if (this.events > 0 && (this.events >= this.maxEvents || this.bytes + rec.bytes > this.maxBytes)) break;
      this.queue.push(rec);
      this.events++;
      this.bytes += rec.bytes;
      i++;
    }
    return i;
  }

  hasRoomFor(bytes: number): boolean {
    return this.events === 0 || (this.events < this.maxEvents && this.bytes + bytes <= this.maxBytes);
  }

  waitForRoom(): Promise<void> {
    return new Promise<void>((resolve) => this.roomWaiters.push(resolve));
  }

  release(): void {
    if (this.roomWaiters.length === 0) return;
    const waiters = this.roomWaiters;
    this.roomWaiters = [];
    for (const w of waiters) w();
  }

  oldestAt(): number | undefined {
    return this.queue.peek()?.at;
  }

  take(maxEvents: number, maxBytes: number): TakenRecords<R> {
    const records: BufferedRecord<R>[] = [];
    let bytes = 0;
    while (records.length < maxEvents && this.events > 0) {
      const next = this.queue.peek() as BufferedRecord<R>;
      if (records.length > 0 && bytes + next.bytes > maxBytes) break;
      this.queue.shift();
      this.events--;
      this.bytes -= next.bytes;
      records.push(next);
      bytes += next.bytes;
    }
    this.takenEvents += records.length;
    if (this.roomWaiters.length > 0 && this.events < this.maxEvents && this.bytes < this.maxBytes) this.release();
    return { records, bytes };
  }

  acknowledge(taken: TakenRecords<R>): void {
    this.takenEvents -= taken.records.length;
  }

  handBack(taken: TakenRecords<R>, undelivered: readonly EncodedRecord<R>[]): void {
    this.takenEvents -= taken.records.length;
    for (const r of undelivered) this.handedBack.push(r);
  }

  drain(): EncodedRecord<R>[] {
    const out: EncodedRecord<R>[] = this.handedBack;
    this.handedBack = [];
    for (let r = this.queue.shift(); r !== undefined; r = this.queue.shift()) out.push(r);
    this.events = 0;
    this.bytes = 0;
    return out;
  }

  close(): void {
    // nothing to release: what was left is dead-lettered from drain()
  }
}
