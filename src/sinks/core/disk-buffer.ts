/**
 * The disk buffer: the second EventBuffer (buffer.ts), for `buffer: { type: disk }`. Records survive a crash, a
 * reboot (per the fsync policy) and a receiver outage longer than memory could hold. Files: disk-format.ts.
 *
 * Every offered record is appended to the current segment (one write per offer) before offer() returns. While the
 * reader keeps up, the record also stays in memory (a bounded read-ahead) so that taking it costs no read; past that
 * bound the buffer "spills": later records are only on disk and are read back (and formatted again) when their turn
 * comes. take() hands records out in seq order; batches are contiguous seq ranges; the acknowledged frontier (every
 * seq below it delivered or dead-lettered) advances over a prefix of acknowledged batches and is written to the
 * ledger every fsync interval.
 *
 * Invariants (this file owns them):
 * - A record is deleted (its segment unlinked) only when every record of that segment is below the frontier.
 * - Bytes on disk (all segments) stay <= maxBytes, except one record admitted into an empty buffer.
 * - Start-up never fails on the buffer's contents: corrupt ranges go to quarantine/, counted and logged once; a
 *   missing or torn ledger means every record found is replayed (duplicates, never loss).
 * - A handed-back batch (delivery stopped by shutdown) stays on disk; drain() returns nothing: the records are
 *   delivered after the next start, not dead-lettered.
 * - ENOSPC is treated like the bound: the offer admits nothing, the failure is counted, the partial write is cut
 *   off, and offers are tried again after ENOSPC_RETRY_MILLIS.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { AegisEvent } from '../../event/types';
import type { SinkStats } from '../../telemetry/stats';
import { describeError } from '../../util/errors';
import type { Logger } from '../../util/logger';
import type { Acknowledgement } from './ack';
import type { BufferedRecord, EventBuffer, TakenRecords } from './buffer';
import type { SegmentScan } from './disk-format';
import {
  RECORD_HEADER_BYTES,
  checksumRecords,
  fsyncDir,
  fsyncDirInPool,
  listSegments,
  lockBufferDir,
  quarantineSegment,
  readLedger,
  removeLedgerTemporaries,
  scanRecords,
  scanSegment,
  segmentName,
  writeLedger,
  writeLedgerInPool,
  writeRecordFrame,
} from './disk-format';
import { Fifo } from './fifo';
import type { EncodedRecord, WhenFull } from './types';

export type FsyncPolicy = 'always' | 'interval' | 'never';

/** After a write failed with ENOSPC (or another I/O error), offers wait this long before trying the disk again. */
export const ENOSPC_RETRY_MILLIS = 500;
/** Records read back from disk per read: a block of this many bytes (a larger record is read whole). */
const READ_BLOCK_BYTES = 1024 * 1024;
/** The largest write buffer kept between offers. */
const MAX_KEPT_WRITE_BUFFER_BYTES = 8 * 1024 * 1024;
/** The read-ahead kept in memory: at most this many bytes of records not taken (and buffer.max_events records). */
const MAX_MEMORY_BYTES = 16 * 1024 * 1024;
/**
 * when_full block: how long an offer waits for room in the in-memory read-ahead before its records go to disk only
 * (the buffer spills). While the transport keeps up, a take() makes room well within it (one batch's send time), so
 * a full read-ahead is backpressure, as with the memory buffer, and no record is read back from disk; a receiver
 * that is down or slower than this per batch makes the wait time out, and the disk holds the backlog. It bounds how
 * long a source waits before the disk absorbs a burst: 1 s fits in the sensor's default 8 MiB kernel ring at any
 * plausible event rate, and is long enough that a loaded machine delaying one send does not spill (200 ms did, on
 * the shared 2-core VM: then every later record was read back from disk and the run lost half its speed).
 */
export const SPILL_AFTER_MILLIS = 1000;

export interface DiskBufferOptions<R> {
  readonly name: string;
  readonly dir: string;
  readonly maxBytes: number;
  /** The in-memory read-ahead in records (buffer.max_events). */
  readonly maxMemoryEvents: number;
  readonly whenFull: WhenFull;
  readonly fsync: FsyncPolicy;
  /** The `interval` policy's period, and how often the ledger is written under every policy. */
  readonly fsyncIntervalMillis: number;
  /** Encode an event read back from disk (the sink's formatter); undefined when it cannot (counted, skipped). */
  /** `payload` is the stored JSON (`payloadBytes` its UTF-8 size), for a formatter whose output it already is. */
  readonly restore: (
    event: AegisEvent,
    at: number,
    ack: Acknowledgement | undefined,
    payload: string,
    payloadBytes: number,
  ) => BufferedRecord<R> | undefined;
  readonly stats: SinkStats;
  readonly log: Logger;
  readonly now?: () => number;
  /**
   * The record's stored form when the encoding already is the event's JSON (the `json` format): saves a second
   * serialisation per event. Must parse back to the same event.
   */
  readonly payloadOf?: (rec: BufferedRecord<R>) => string | undefined;
}

export interface DiskBufferStats {
  /** Corrupt ranges found (start-up and reads), each counted as one record. */
  corruptRecords: number;
  /** Writes refused by the disk (ENOSPC, EIO…). */
  diskFull: number;
  /** Bytes of all segments on disk. */
  diskBytes: number;
  /** Records read back from disk (spilled ones, and those of an earlier run); 0 while the reader keeps up. */
  readBack: number;
}

export interface DiskBuffer<R> extends EventBuffer<R> {
  readonly diskStats: DiskBufferStats;
}

interface Entry<R> {
  readonly rec: BufferedRecord<R>;
  readonly seq: number;
  readonly diskBytes: number;
}

interface Segment {
  readonly index: number;
  readonly file: string;
  bytes: number;
  /** Highest seq in it (0: none). */
  maxSeq: number;
}

interface Outstanding {
  /** The batch covers seqs [first, end). */
  readonly end: number;
  acked: boolean;
}

interface DiskTaken<R> extends TakenRecords<R> {
  readonly outstanding: Outstanding;
}

export function createDiskBuffer<R>(options: DiskBufferOptions<R>): DiskBuffer<R> {
  return new DiskBufferImpl<R>(options);
}

class DiskBufferImpl<R> implements DiskBuffer<R> {
  readonly whenFull: WhenFull;
  readonly durable = true;
  events = 0;
  bytes = 0;
  takenEvents = 0;
  readonly diskStats: DiskBufferStats = { corruptRecords: 0, diskFull: 0, diskBytes: 0, readBack: 0 };

  private readonly dir: string;
  private readonly maxBytes: number;
  private readonly segmentBytes: number;
  private readonly memCap: number;
  private readonly mem = new Fifo<Entry<R>>();
  private memBytes = 0;
  /** Records exist on disk only, from the read cursor on. */
  private spilled = false;
  private cursor = { segment: 0, offset: 0 };
  private readonly segments: Segment[] = [];
  private fd: number | undefined;
  private nextSeq = 1;
  /** Seqs below it are acknowledged (the ledger's `acked`). */
  private acked = 0;
  private ledgerWritten = -1;
  /** A ledger write is in the thread pool (never two: each replaces the file the previous one wrote). */
  private ledgerWriting = false;
  /** The frontier moved while a ledger write ran: write again when it ends. */
  private ledgerAgain = false;
  /** When a moved frontier was last saved to the ledger (ms; 0: not yet in this run). */
  private ledgerSavedAt = 0;
  /** Records below this seq at start-up were acknowledged before (skip them when read back). */
  private readonly startAcked: number;
  /** The end of the last batch taken: the next batch covers [takeEnd, …). */
  private takeEnd: number;
  private readonly outstanding = new Fifo<Outstanding>();
  /**
   * The acknowledgements of spilled records (on disk only), as runs of consecutive seqs [start, end): a record read
   * back gets its source's acknowledgement again. One entry per offer of a tracked chunk, not per record.
   */
  private readonly spilledAcks = new Fifo<{ readonly start: number; end: number; readonly ack: Acknowledgement }>();
  private lastSpilledAck: { readonly start: number; end: number; readonly ack: Acknowledgement } | undefined;
  /** Records are encoded here before their one write (reused: an offer of 1 024 events is about 0.5 MB). */
  private writeBuffer: Buffer = Buffer.allocUnsafe(0);
  private roomWaiters: (() => void)[] = [];
  /** Offers waiting for read-ahead room (under block, not spilled): woken by roomForAWrite() or their spill timer. */
  private aheadWaiters: (() => void)[] = [];
  /** A wait for read-ahead room timed out (SPILL_AFTER_MILLIS): offers spill to disk until the reader catches up. */
  private spillAllowed = false;
  private refusedBytes: number | undefined;
  private diskErrorUntil = 0;
  private rotateAfterDiskError = false;
  private dirty = false;
  /** The segment descriptor an interval fdatasync is running on (in the thread pool), if any. */
  private syncingFd: number | undefined;
  /** Segments rotated out under fsync: interval whose last writes wait for the next interval sync (then closed). */
  private readonly retiredFds: number[] = [];
  /** A tick asked for the current segment to be synced (after the retired ones). */
  private syncRound = false;
  /** A descriptor closed while its fdatasync ran: the fdatasync's callback closes it. */
  private closeAfterSync: number | undefined;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  private readonly now: () => number;
  private readonly unlock: () => void;

  constructor(private readonly options: DiskBufferOptions<R>) {
    this.whenFull = options.whenFull;
    this.dir = options.dir;
    this.maxBytes = options.maxBytes;
    // Small enough that acknowledged segments free space in steps of 1/8 of the bound; large enough to be few files.
    this.segmentBytes = Math.max(4096, Math.min(128 * 1024 * 1024, Math.floor(options.maxBytes / 8)));
    this.memCap = Math.max(1, options.maxMemoryEvents);
    this.now = options.now ?? Date.now;
    fs.mkdirSync(this.dir, { recursive: true, mode: 0o750 });
    // One process, one sink per directory (throws AEGIS_ERR_BUFFER_LOCKED naming the holder's pid).
    this.unlock = lockBufferDir(this.dir);
    try {
      this.startAcked = this.recover();
      this.acked = this.startAcked;
      this.takeEnd = this.startAcked;
      this.openSegment((this.segments.at(-1)?.index ?? 0) + 1);
    } catch (err) {
      this.unlock();
      throw err;
    }
    this.persistLedger(true);
    this.timer = setInterval(() => this.tick(), Math.max(10, options.fsyncIntervalMillis));
    this.timer.unref();
  }

  /** Start-up: read the ledger, scan and repair every segment, set the read cursor. Returns the acked frontier. */
  private recover(): number {
    const { log, name } = this.options;
    const ledger = readLedger(this.dir);
    removeLedgerTemporaries(this.dir);
    const found = listSegments(this.dir);
    if (ledger === undefined && found.length > 0)
      log.warn('The disk buffer has no readable ledger; every record found is replayed (duplicates possible).', {
        sink: name,
        dir: this.dir,
      });
    const acked = ledger?.acked ?? 0;
    let maxSeq = 0;
    let corrupt = 0;
    const quarantined: string[] = [];
    for (const f of found) {
      let scan: SegmentScan;
      try {
        scan = scanSegment(f.index, f.file, acked);
        if (scan.corrupt.length > 0) {
          corrupt += scan.corrupt.length;
          try {
            quarantined.push(...quarantineSegment(this.dir, scan));
            scan = scanSegment(f.index, f.file, acked);
          } catch (err) {
            log.error('Could not move corrupt disk-buffer records aside; they are skipped.', {
              sink: name,
              file: f.file,
              error: describeError(err),
            });
          }
        }
      } catch (err) {
        log.error('A disk-buffer segment cannot be read; it is skipped.', {
          sink: name,
          file: f.file,
          error: describeError(err),
        });
        continue;
      }
      maxSeq = Math.max(maxSeq, scan.maxSeq);
      if (scan.pending === 0) {
        tryUnlink(f.file);
        continue;
      }
      if (this.segments.length === 0) this.cursor = { segment: 0, offset: scan.firstPendingOffset ?? 0 };
      this.segments.push({ index: f.index, file: f.file, bytes: scan.bytes, maxSeq: scan.maxSeq });
      this.events += scan.pending;
      this.bytes += scan.pendingBytes;
      this.diskStats.diskBytes += scan.bytes;
    }
    if (corrupt > 0) {
      this.countCorrupt(corrupt);
      log.error('The disk buffer held corrupt records (a torn write or damaged storage); they were moved aside.', {
        sink: name,
        code: 'AEGIS_ERR_BUFFER_CORRUPT',
        corrupt,
        quarantine: quarantined,
      });
    }
    this.spilled = this.events > 0;
    this.nextSeq = Math.max(1, maxSeq + 1, ledger?.next ?? 0, acked);
    this.updateStats();
    return acked;
  }

  private countCorrupt(n: number): void {
    this.diskStats.corruptRecords += n;
    this.options.stats.bufferCorruptRecords += n;
  }

  private updateStats(): void {
    this.options.stats.bufferDiskBytes = this.diskStats.diskBytes;
  }

  private openSegment(index: number): void {
    const file = path.join(this.dir, segmentName(index));
    this.fd = fs.openSync(file, 'a', 0o640);
    this.segments.push({ index, file, bytes: 0, maxSeq: 0 });
    if (this.options.fsync === 'interval') {
      // Within the interval's loss window either way: in the thread pool, as the interval's data syncs.
      fsyncDirInPool(this.dir, () => undefined);
    } else if (this.options.fsync === 'always') {
      try {
        fsyncDir(this.dir);
      } catch {
        // the directory entry reaches the disk with the next fsync of the directory anyway
      }
    }
  }

  private get writer(): Segment {
    return this.segments.at(-1) as Segment;
  }

  private rotate(): void {
    if (this.fd !== undefined) {
      const fd = this.fd;
      this.fd = undefined;
      if (this.options.fsync === 'interval' && this.dirty) {
        // Its last writes are synced by the next interval sync, in the thread pool (a full segment's fdatasync on
        // the event loop stalled every offer for as long as the disk took: up to a second on a busy one).
        this.retiredFds.push(fd);
      } else {
        try {
          if (this.options.fsync !== 'never') fs.fdatasyncSync(fd);
        } finally {
          this.closeSegmentFd(fd);
        }
      }
    }
    this.openSegment(this.writer.index + 1);
    this.deleteAcknowledgedSegments();
  }

  /** Nothing pending or in flight: whatever is on disk is acknowledged. */
  private get empty(): boolean {
    return this.events === 0 && this.outstanding.length === 0;
  }

  private fits(size: number, pendingWrite: number): boolean {
    if (this.diskStats.diskBytes + pendingWrite + size <= this.maxBytes) return true;
    return pendingWrite === 0 && this.empty;
  }

  offer(records: readonly BufferedRecord<R>[], from: number): number {
    if (this.closed) return from;
    let i = from;
    while (i < records.length && this.now() >= this.diskErrorUntil) {
      // After a refused write, start a new segment: the current one can then be deleted once its records are
      // acknowledged (a disk smaller than one segment would otherwise never get space back).
      const afterDiskError = this.rotateAfterDiskError && this.writer.bytes > 0;
      if (this.writer.bytes >= this.segmentBytes || this.fd === undefined || afterDiskError) {
        this.rotateAfterDiskError = false;
        try {
          this.rotate();
        } catch (err) {
          this.diskWriteFailed(err, undefined);
          break;
        }
      }
      const next = this.offerToSegment(records, i);
      if (next === i) break;
      i = next;
    }
    return i;
  }

  /** Append records[from…] to the current segment while they fit the bound and the segment (one write). */
  private offerToSegment(records: readonly BufferedRecord<R>[], from: number): number {
    const segmentRoom = this.segmentBytes - this.writer.bytes;
    const sizes: number[] = [];
    let total = 0;
    let memoryBytes = 0;
    let buf: Buffer = this.writeBuffer;
    let i = from;
    // One pass per record: its payload is encoded straight into the reused write buffer (after the room for its
    // header), which also measures it; a record that does not fit is simply not counted.
    for (; i < records.length; i++) {
      const rec = records[i] as BufferedRecord<R>;
      if (this.holdsBack(i - from, memoryBytes)) break; // backpressure: the transport is expected to make room
      const payload = this.options.payloadOf?.(rec) ?? JSON.stringify(rec.event);
      // UTF-8 takes at most 3 bytes per UTF-16 code unit.
      const most = total + RECORD_HEADER_BYTES + payload.length * 3;
      if (most > buf.length) buf = this.growWriteBuffer(buf, most, total);
      const size = RECORD_HEADER_BYTES + buf.write(payload, total + RECORD_HEADER_BYTES, 'utf8');
      if (total > 0 && total + size > segmentRoom) break; // the rest goes to the next segment
      if (!this.fits(size, total)) {
        this.refusedBytes = size;
        break;
      }
      memoryBytes += rec.bytes;
      sizes.push(size);
      total += size;
    }
    const n = i - from;
    if (n === 0) return from;
    if (this.empty && this.diskStats.diskBytes + total > this.maxBytes) {
      try {
        this.reclaimAll();
      } catch (err) {
        this.diskWriteFailed(err, undefined);
        return from;
      }
    }
    const firstSeq = this.nextSeq;
    for (let k = 0, off = 0; k < n; k++)
      off = writeRecordFrame(buf, off, firstSeq + k, (sizes[k] as number) - RECORD_HEADER_BYTES);
    checksumRecords(buf, total);
    const writer = this.writer;
    const startBytes = writer.bytes;
    try {
      for (let w = 0; w < total;) w += fs.writeSync(this.fd as number, buf, w, total - w);
      if (this.options.fsync === 'always') fs.fdatasyncSync(this.fd as number);
    } catch (err) {
      this.diskWriteFailed(err, startBytes);
      return from;
    }
    this.refusedBytes = undefined;
    this.dirty = true;
    writer.bytes += total;
    writer.maxSeq = firstSeq + n - 1;
    this.diskStats.diskBytes += total;
    this.nextSeq += n;
    this.events += n;
    this.bytes += total;
    let writeOffset = startBytes;
    for (let k = 0; k < n; k++) {
      const size = sizes[k] as number;
      if (!this.spilled && !this.memoryFull(0, 0)) {
        const rec = records[from + k] as BufferedRecord<R>;
        this.mem.push({ rec, seq: firstSeq + k, diskBytes: size });
        this.memBytes += rec.bytes;
      } else {
        if (!this.spilled) {
          this.spilled = true;
          this.cursor = { segment: this.segments.length - 1, offset: writeOffset };
        }
        const ack = (records[from + k] as BufferedRecord<R>).ack;
        if (ack !== undefined) this.rememberAck(firstSeq + k, ack);
      }
      writeOffset += size;
    }
    this.updateStats();
    return i;
  }

  /** The reader reached the writer: new records stay in memory again, and a full read-ahead waits again. */
  private caughtUp(): void {
    this.spilled = false;
    this.spillAllowed = false;
  }

  /** A larger write buffer holding the first `keep` bytes of `current`. */
  private growWriteBuffer(current: Buffer, atLeast: number, keep: number): Buffer {
    const next = Buffer.allocUnsafe(Math.max(atLeast, current.length * 2, 64 * 1024));
    current.copy(next, 0, 0, keep);
    // Kept for the next offer unless an exceptional record made it large (then it is reallocated each time).
    if (next.length <= MAX_KEPT_WRITE_BUFFER_BYTES) this.writeBuffer = next;
    return next;
  }

  /** Whether `events` more records of `bytes` would not fit the in-memory read-ahead. */
  private memoryFull(events: number, bytes: number): boolean {
    return this.mem.length + events >= this.memCap || this.memBytes + bytes >= MAX_MEMORY_BYTES;
  }

  /**
   * Whether to wake offers waiting for room: once half the read-ahead is free (or nothing holds offers back), not at
   * every batch taken. Each wake-up admits what fits and writes it with one `write`; waking at each take made one
   * write per batch (about 150 events of a RELP sink, 660 writes per 100 000 events, each ~1 ms on the event loop of
   * the loaded VM). Half the read-ahead is still several batches for the transport to send meanwhile; a wait that no
   * wake-up ends is woken by its SPILL_AFTER_MILLIS timer, which spills only when the read-ahead is still full.
   */
  private roomForAWrite(): boolean {
    if (this.whenFull !== 'block' || this.closed || this.spilled || this.spillAllowed) return true;
    return this.mem.length <= this.memCap / 2 && this.memBytes <= MAX_MEMORY_BYTES / 2;
  }

  /**
   * Under `block`, while not spilled: a full read-ahead refuses offers (the intake waits for room) instead of
   * spilling, until a wait times out (waitForRoom). drop_newest never waits: it spills while the disk has room.
   */
  private holdsBack(events: number, bytes: number): boolean {
    return (
      this.whenFull === 'block' && !this.closed && !this.spilled && !this.spillAllowed && this.memoryFull(events, bytes)
    );
  }

  private rememberAck(seq: number, ack: Acknowledgement): void {
    const last = this.lastSpilledAck;
    if (last !== undefined && last.ack === ack && last.end === seq) last.end++;
    else {
      this.lastSpilledAck = { start: seq, end: seq + 1, ack };
      this.spilledAcks.push(this.lastSpilledAck);
    }
  }

  /** The acknowledgement of a spilled record read back (seqs are read in increasing order). */
  private ackFor(seq: number): Acknowledgement | undefined {
    for (let head = this.spilledAcks.peek(); head !== undefined; head = this.spilledAcks.peek()) {
      if (head.end <= seq) {
        this.spilledAcks.shift();
        continue;
      }
      return head.start <= seq ? head.ack : undefined;
    }
    return undefined;
  }

  /** A write failed (ENOSPC, EIO): cut the partial record off, count it, and refuse offers for a while. */
  private diskWriteFailed(err: unknown, startBytes: number | undefined): void {
    const code = (err as NodeJS.ErrnoException).code;
    this.diskStats.diskFull++;
    this.options.stats.bufferDiskFull++;
    this.diskErrorUntil = this.now() + ENOSPC_RETRY_MILLIS;
    this.rotateAfterDiskError = true;
    try {
      if (startBytes !== undefined && this.fd !== undefined) fs.ftruncateSync(this.fd, startBytes);
    } catch {
      // a record cut short is found by its checksum at the next start and quarantined
    }
    this.options.log.burst(
      'WARN',
      'disk-buffer-write',
      code === 'ENOSPC'
        ? 'The disk buffer is out of disk space; treating it as full (when_full applies) until space returns.'
        : 'Writing to the disk buffer failed; treating it as full (when_full applies) and trying again.',
      { sink: this.options.name, dir: this.dir, error: describeError(err) },
    );
  }

  /** Nothing is pending: delete every segment and start an empty one (frees the space of acknowledged records). */
  private reclaimAll(): void {
    if (this.fd !== undefined) this.closeSegmentFd(this.fd);
    this.fd = undefined;
    for (const s of this.segments) tryUnlink(s.file);
    const next = this.writer.index + 1;
    this.segments.length = 0;
    this.diskStats.diskBytes = 0;
    this.caughtUp();
    this.openSegment(next);
  }

  hasRoomFor(bytes: number): boolean {
    if (this.closed) return false;
    if (this.now() < this.diskErrorUntil) return false;
    if (this.holdsBack(0, 0)) return false;
    return this.fits(this.refusedBytes ?? RECORD_HEADER_BYTES + bytes, 0);
  }

  waitForRoom(): Promise<void> {
    return new Promise<void>((resolve) => {
      if (this.holdsBack(0, 0)) {
        // Waiting for the read-ahead: past SPILL_AFTER_MILLIS without a take() making room, spill to disk instead.
        const timer = setTimeout(() => {
          if (this.holdsBack(0, 0)) this.spillAllowed = true;
          this.release();
        }, SPILL_AFTER_MILLIS);
        this.aheadWaiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
        return;
      }
      this.roomWaiters.push(resolve);
      // After a disk error nothing else wakes the waiter when space returns: try again after the pause.
      if (this.now() < this.diskErrorUntil) setTimeout(() => this.release(), ENOSPC_RETRY_MILLIS).unref();
    });
  }

  release(): void {
    this.releaseAhead();
    this.releaseDisk();
  }

  /** Wake the offers waiting for disk room (the bound, a disk error): as before, at every take and acknowledgement. */
  private releaseDisk(): void {
    if (this.roomWaiters.length === 0) return;
    const waiters = this.roomWaiters;
    this.roomWaiters = [];
    for (const w of waiters) w();
  }

  private releaseAhead(): void {
    if (this.aheadWaiters.length === 0) return;
    const waiters = this.aheadWaiters;
    this.aheadWaiters = [];
    for (const w of waiters) w();
  }

  oldestAt(): number | undefined {
    if (this.mem.length === 0 && this.spilled) this.readAhead();
    return this.mem.peek()?.rec.at;
  }

  take(maxEvents: number, maxBytes: number): TakenRecords<R> {
    if (this.mem.length === 0 && this.spilled) this.readAhead();
    const records: BufferedRecord<R>[] = [];
    let bytes = 0;
    let diskBytes = 0;
    let lastSeq = this.takeEnd - 1;
    while (records.length < maxEvents && this.mem.length > 0) {
      const next = this.mem.peek() as Entry<R>;
      if (records.length > 0 && bytes + next.rec.bytes > maxBytes) break;
      this.mem.shift();
      this.memBytes -= next.rec.bytes;
      records.push(next.rec);
      bytes += next.rec.bytes;
      diskBytes += next.diskBytes;
      lastSeq = next.seq;
    }
    this.events -= records.length;
    this.bytes -= diskBytes;
    this.takenEvents += records.length;
    // Nothing left unread: the reader has caught up with the writer (new records may stay in memory again).
    if (this.events === 0 && this.mem.length === 0) this.caughtUp();
    const outstanding: Outstanding = { end: lastSeq + 1, acked: false };
    this.takeEnd = lastSeq + 1;
    this.outstanding.push(outstanding);
    const taken: DiskTaken<R> = { records, bytes, outstanding };
    // As the memory buffer: a take that left read-ahead room wakes the offers waiting for it.
    if (records.length > 0 && this.roomWaiters.length > 0 && !this.memoryFull(0, 0)) this.releaseDisk();
    if (records.length > 0 && this.roomForAWrite()) this.releaseAhead();
    return taken;
  }

  /** Fill the in-memory read-ahead from the segments, from the read cursor. */
  private readAhead(): void {
    const { restore, log, name } = this.options;
    const at = this.now();
    let corrupt = 0;
    while (this.spilled && this.mem.length < this.memCap && this.memBytes < MAX_MEMORY_BYTES) {
      const seg = this.segments[this.cursor.segment];
      if (seg === undefined) {
        this.caughtUp();
        break;
      }
      if (this.cursor.offset >= seg.bytes) {
        if (this.cursor.segment >= this.segments.length - 1) {
          this.caughtUp();
          break;
        }
        this.cursor = { segment: this.cursor.segment + 1, offset: 0 };
        continue;
      }
      let buf: Buffer;
      try {
        buf = readAt(seg.file, this.cursor.offset, Math.min(READ_BLOCK_BYTES, seg.bytes - this.cursor.offset));
        if (buf.length >= RECORD_HEADER_BYTES) {
          const need = RECORD_HEADER_BYTES + buf.readUInt32LE(0);
          if (need > buf.length && need <= seg.bytes - this.cursor.offset)
            buf = readAt(seg.file, this.cursor.offset, need);
        }
      } catch (err) {
        log.error('Reading the disk buffer failed; skipping the rest of the segment.', {
          sink: name,
          file: seg.file,
          error: describeError(err),
        });
        this.countCorrupt(1);
        this.cursor = { segment: this.cursor.segment, offset: seg.bytes };
        continue;
      }
      const isLastBlock = this.cursor.offset + buf.length >= seg.bytes;
      const base = this.cursor.offset;
      const consumed = scanRecords(
        buf,
        0,
        buf.length,
        (r) => {
          const size = r.end - r.offset;
          if (r.seq < this.startAcked || r.seq < this.takeEnd) {
            // acknowledged before the start (a stale cursor position) or already handed out
            this.events--;
            this.bytes -= size;
            return;
          }
          let rec: BufferedRecord<R> | undefined;
          const ack = this.ackFor(r.seq);
          try {
            const text = r.payload.toString('utf8');
            rec = restore(JSON.parse(text) as AegisEvent, at, ack, text, r.payload.length);
          } catch {
            rec = undefined;
          }
          if (rec === undefined) {
            ack?.settle(1); // dropped, counted: its source must not wait for it
            this.countCorrupt(1);
            this.events--;
            this.bytes -= size;
            return;
          }
          this.mem.push({ rec, seq: r.seq, diskBytes: size });
          this.memBytes += rec.bytes;
          this.diskStats.readBack++;
        },
        () => corrupt++,
        !isLastBlock,
      );
      this.cursor = {
        segment: this.cursor.segment,
        offset: base + (consumed === 0 && !isLastBlock ? buf.length : consumed),
      };
    }
    if (corrupt > 0) {
      this.countCorrupt(corrupt);
      log.burst('ERROR', 'disk-buffer-corrupt', 'Corrupt records in the disk buffer were skipped.', {
        sink: name,
        code: 'AEGIS_ERR_BUFFER_CORRUPT',
        corrupt,
      });
    }
    if (this.mem.length === 0 && !this.spilled) {
      // Whatever was counted and not found (skipped, corrupt) is gone.
      this.events = 0;
      this.bytes = 0;
    }
  }

  acknowledge(taken: TakenRecords<R>): void {
    this.takenEvents -= taken.records.length;
    (taken as DiskTaken<R>).outstanding.acked = true;
    let advanced = false;
    while (this.outstanding.length > 0 && (this.outstanding.peek() as Outstanding).acked) {
      this.acked = (this.outstanding.shift() as Outstanding).end;
      advanced = true;
    }
    if (advanced) {
      this.deleteAcknowledgedSegments();
      // The first advance after a quiet interval is saved at once, later ones by the tick (at most one ledger write
      // per interval). Regression: with only the tick, a daemon killed less than an interval after each start never
      // saved its progress, so every restart delivered the whole backlog again and duplicates compounded.
      if (this.now() - this.ledgerSavedAt >= this.options.fsyncIntervalMillis) this.persistLedger(false);
    }
    this.releaseDisk();
    if (this.roomForAWrite()) this.releaseAhead();
  }

  handBack(taken: TakenRecords<R>): void {
    // The records stay on disk and block the frontier: the next start delivers them (or their duplicates).
    this.takenEvents -= taken.records.length;
  }

  drain(): EncodedRecord<R>[] {
    return [];
  }

  private deleteAcknowledgedSegments(): void {
    let freed = false;
    while (this.segments.length > 1) {
      const first = this.segments[0] as Segment;
      if (first.maxSeq >= this.acked) break;
      if (this.spilled && this.cursor.segment === 0) {
        if (this.cursor.offset < first.bytes) break; // records of it not read back yet
        this.cursor = { segment: 1, offset: 0 };
      }
      tryUnlink(first.file);
      this.diskStats.diskBytes -= first.bytes;
      this.segments.shift();
      if (this.cursor.segment > 0) this.cursor = { segment: this.cursor.segment - 1, offset: this.cursor.offset };
      freed = true;
    }
    if (freed) this.updateStats();
  }

  /**
   * Save the frontier. Running (force false): in the thread pool (writeLedgerInPool), one write at a time; a frontier
   * that moves meanwhile is written when it ends. Its two fsyncs (the temporary file's and the directory's) took up
   * to tens of ms on the event loop of a busy disk, twice a second. At start and at close (force): synchronously, and
   * a write still in the pool at close is abandoned before its rename (the closed flag), so that it cannot replace
   * the final frontier with an older one.
   */
  private persistLedger(force: boolean): void {
    if (!force) {
      if (this.ledgerWritten === this.acked || this.closed) return;
      if (this.ledgerWriting) {
        this.ledgerAgain = true;
        return;
      }
      const acked = this.acked;
      this.ledgerWriting = true;
      this.ledgerAgain = false;
      this.ledgerSavedAt = this.now();
      writeLedgerInPool(
        this.dir,
        { acked, next: this.nextSeq },
        this.options.fsync !== 'never',
        () => !this.closed,
        (err, replaced) => {
          this.ledgerWriting = false;
          if (replaced) this.ledgerWritten = acked;
          if (err !== null && !this.closed)
            this.options.log.burst('WARN', 'disk-buffer-ledger', 'Writing the disk-buffer ledger failed; retrying.', {
              sink: this.options.name,
              error: describeError(err),
            });
          if (this.ledgerAgain && !this.closed) {
            this.ledgerAgain = false;
            this.persistLedger(false);
          }
        },
      );
      return;
    }
    try {
      writeLedger(this.dir, { acked: this.acked, next: this.nextSeq }, this.options.fsync !== 'never');
      this.ledgerWritten = this.acked;
    } catch (err) {
      this.options.log.burst('WARN', 'disk-buffer-ledger', 'Writing the disk-buffer ledger failed; retrying.', {
        sink: this.options.name,
        error: describeError(err),
      });
    }
  }

  private tick(): void {
    if (this.closed) return;
    if (this.options.fsync === 'interval') {
      this.syncRound = true;
      this.syncNext();
    }
    this.persistLedger(false);
  }

  /**
   * fsync: interval, in the thread pool, not on the event loop: a second's worth of records (tens of MB at full
   * speed) can take a while to reach the disk, and offers go on meanwhile. One fdatasync at a time: the segments
   * rotated since the last round first (each closed after its sync), then the current one; what offers write
   * meanwhile is synced by the next round.
   */
  private syncNext(): void {
    if (this.syncingFd !== undefined) return;
    const retired = this.retiredFds.shift();
    if (retired !== undefined) {
      this.syncInPool(retired, true);
      return;
    }
    if (!this.syncRound || this.closed) return;
    this.syncRound = false;
    if (!this.dirty || this.fd === undefined) return;
    this.dirty = false;
    this.syncInPool(this.fd, false);
  }

  private syncInPool(fd: number, closeAfter: boolean): void {
    this.syncingFd = fd;
    fs.fdatasync(fd, (err) => {
      this.syncingFd = undefined;
      if (err !== null) {
        if (!closeAfter) this.dirty = true;
        this.options.log.burst('WARN', 'disk-buffer-fsync', 'fsync of the disk buffer failed.', {
          sink: this.options.name,
          error: describeError(err),
        });
      }
      if (closeAfter || this.closeAfterSync === fd) {
        if (this.closeAfterSync === fd) this.closeAfterSync = undefined;
        // In the pool too: the last close of a rotated segment that was already deleted frees its blocks (tens of
        // ms for 128 MiB on the shared VM's disk, measured on the event loop by --cpu-prof).
        fs.close(fd, () => undefined);
      }
      this.syncNext();
    });
  }

  /** Close a segment's descriptor, or leave it to the fdatasync in flight on it (so that its number is not reused). */
  private closeSegmentFd(fd: number): void {
    if (fd === this.syncingFd) this.closeAfterSync = fd;
    else fs.closeSync(fd);
  }

  close(): void {
    if (this.closed) return;
    // First: a ledger write still in the thread pool must not rename its older frontier over the final one.
    this.closed = true;
    for (let fd = this.retiredFds.shift(); fd !== undefined; fd = this.retiredFds.shift()) {
      try {
        fs.fdatasyncSync(fd);
      } catch {
        // counted at the next start by the checksums
      }
      closeQuietly(fd);
    }
    if (this.fd !== undefined) {
      try {
        if (this.options.fsync !== 'never') fs.fdatasyncSync(this.fd);
      } catch {
        // counted at the next start by the checksums
      }
      this.closeSegmentFd(this.fd);
      this.fd = undefined;
    }
    this.persistLedger(true);
    this.unlock();
    if (this.timer !== undefined) clearInterval(this.timer);
    this.release();
  }
}

function readAt(file: string, offset: number, length: number): Buffer {
  const fd = fs.openSync(file, 'r');
  try {
    const buf = Buffer.allocUnsafe(length);
    let got = 0;
    while (got < length) {
      const n = fs.readSync(fd, buf, got, length - got, offset + got);
      if (n === 0) break;
      got += n;
    }
    return got === length ? buf : buf.subarray(0, got);
  } finally {
    fs.closeSync(fd);
  }
}

function closeQuietly(fd: number): void {
  try {
    fs.closeSync(fd);
  } catch {
    // nothing to do: the descriptor is gone either way
  }
}

function tryUnlink(file: string): void {
  try {
    fs.unlinkSync(file);
  } catch {
    // already gone
  }
}
