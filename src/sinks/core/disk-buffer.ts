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
import type { BufferedRecord, EventBuffer, TakenRecords } from './buffer';
import type { SegmentScan } from './disk-format';
import {
  RECORD_HEADER_BYTES,
  fsyncDir,
  listSegments,
  quarantineSegment,
  readLedger,
  scanRecords,
  scanSegment,
  segmentName,
  writeLedger,
  writeRecord,
} from './disk-format';
import { Fifo } from './fifo';
import type { EncodedRecord, WhenFull } from './types';

export type FsyncPolicy = 'always' | 'interval' | 'never';

/** After a write failed with ENOSPC (or another I/O error), offers wait this long before trying the disk again. */
export const ENOSPC_RETRY_MILLIS = 500;
/** Records read back from disk per read: a block of this many bytes (a larger record is read whole). */
const READ_BLOCK_BYTES = 1024 * 1024;
/** The read-ahead kept in memory: at most this many bytes of records not taken (and buffer.max_events records). */
const MAX_MEMORY_BYTES = 16 * 1024 * 1024;

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
  readonly restore: (event: AegisEvent, at: number) => BufferedRecord<R> | undefined;
  readonly stats: SinkStats;
  readonly log: Logger;
  readonly now?: () => number;
}

export interface DiskBufferStats {
  /** Corrupt ranges found (start-up and reads), each counted as one record. */
  corruptRecords: number;
  /** Writes refused by the disk (ENOSPC, EIO…). */
  diskFull: number;
  /** Bytes of all segments on disk. */
  diskBytes: number;
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
  readonly diskStats: DiskBufferStats = { corruptRecords: 0, diskFull: 0, diskBytes: 0 };

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
  /** Records below this seq at start-up were acknowledged before (skip them when read back). */
  private readonly startAcked: number;
  /** The end of the last batch taken: the next batch covers [takeEnd, …). */
  private takeEnd: number;
  private readonly outstanding = new Fifo<Outstanding>();
  private roomWaiters: (() => void)[] = [];
  private refusedBytes: number | undefined;
  private diskErrorUntil = 0;
  private dirty = false;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  private readonly now: () => number;

  constructor(private readonly options: DiskBufferOptions<R>) {
    this.whenFull = options.whenFull;
    this.dir = options.dir;
    this.maxBytes = options.maxBytes;
    // Small enough that acknowledged segments free space in steps of 1/8 of the bound; large enough to be few files.
    this.segmentBytes = Math.max(4096, Math.min(128 * 1024 * 1024, Math.floor(options.maxBytes / 8)));
    this.memCap = Math.max(1, options.maxMemoryEvents);
    this.now = options.now ?? Date.now;
    fs.mkdirSync(this.dir, { recursive: true, mode: 0o750 });
    this.startAcked = this.recover();
    this.acked = this.startAcked;
    this.takeEnd = this.startAcked;
    this.openSegment((this.segments.at(-1)?.index ?? 0) + 1);
    this.persistLedger(true);
    this.timer = setInterval(() => this.tick(), Math.max(10, options.fsyncIntervalMillis));
    this.timer.unref();
  }

  /** Start-up: read the ledger, scan and repair every segment, set the read cursor. Returns the acked frontier. */
  private recover(): number {
    const { log, name } = this.options;
    const ledger = readLedger(this.dir);
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
    if (this.options.fsync !== 'never') {
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
      try {
        if (this.options.fsync !== 'never') fs.fdatasyncSync(fd);
      } finally {
        fs.closeSync(fd);
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
      if (this.writer.bytes >= this.segmentBytes || this.fd === undefined) {
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
    const payloads: string[] = [];
    const sizes: number[] = [];
    let total = 0;
    let i = from;
    for (; i < records.length; i++) {
      const payload = JSON.stringify((records[i] as BufferedRecord<R>).event);
      const size = RECORD_HEADER_BYTES + Buffer.byteLength(payload);
      if (total > 0 && total + size > segmentRoom) break; // the rest goes to the next segment
      if (!this.fits(size, total)) {
        this.refusedBytes = size;
        break;
      }
      payloads.push(payload);
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
    const buf = Buffer.allocUnsafe(total);
    let off = 0;
    const firstSeq = this.nextSeq;
    for (let k = 0; k < n; k++) {
      off = writeRecord(buf, off, firstSeq + k, payloads[k] as string, (sizes[k] as number) - RECORD_HEADER_BYTES);
    }
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
      if (!this.spilled && this.mem.length < this.memCap && this.memBytes < MAX_MEMORY_BYTES) {
        const rec = records[from + k] as BufferedRecord<R>;
        this.mem.push({ rec, seq: firstSeq + k, diskBytes: size });
        this.memBytes += rec.bytes;
      } else if (!this.spilled) {
        this.spilled = true;
        this.cursor = { segment: this.segments.length - 1, offset: writeOffset };
      }
      writeOffset += size;
    }
    this.updateStats();
    return i;
  }

  /** A write failed (ENOSPC, EIO): cut the partial record off, count it, and refuse offers for a while. */
  private diskWriteFailed(err: unknown, startBytes: number | undefined): void {
    const code = (err as NodeJS.ErrnoException).code;
    this.diskStats.diskFull++;
    this.options.stats.bufferDiskFull++;
    this.diskErrorUntil = this.now() + ENOSPC_RETRY_MILLIS;
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
    if (this.fd !== undefined) fs.closeSync(this.fd);
    this.fd = undefined;
    for (const s of this.segments) tryUnlink(s.file);
    const next = this.writer.index + 1;
    this.segments.length = 0;
    this.diskStats.diskBytes = 0;
    this.spilled = false;
    this.openSegment(next);
  }

  hasRoomFor(bytes: number): boolean {
    if (this.closed) return false;
    if (this.now() < this.diskErrorUntil) return false;
    return this.fits(this.refusedBytes ?? RECORD_HEADER_BYTES + bytes, 0);
  }

  waitForRoom(): Promise<void> {
    return new Promise<void>((resolve) => {
      this.roomWaiters.push(resolve);
      // After a disk error nothing else wakes the waiter when space returns: try again after the pause.
      if (this.now() < this.diskErrorUntil) setTimeout(() => this.release(), ENOSPC_RETRY_MILLIS).unref();
    });
  }

  release(): void {
    if (this.roomWaiters.length === 0) return;
    const waiters = this.roomWaiters;
    this.roomWaiters = [];
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
    const outstanding: Outstanding = { end: lastSeq + 1, acked: false };
    this.takeEnd = lastSeq + 1;
    this.outstanding.push(outstanding);
    const taken: DiskTaken<R> = { records, bytes, outstanding };
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
        this.spilled = false;
        break;
      }
      if (this.cursor.offset >= seg.bytes) {
        if (this.cursor.segment >= this.segments.length - 1) {
          this.spilled = false; // caught up with the writer
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
          try {
            rec = restore(JSON.parse(r.payload.toString('utf8')) as AegisEvent, at);
          } catch {
            rec = undefined;
          }
          if (rec === undefined) {
            this.countCorrupt(1);
            this.events--;
            this.bytes -= size;
            return;
          }
          this.mem.push({ rec, seq: r.seq, diskBytes: size });
          this.memBytes += rec.bytes;
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
    if (advanced) this.deleteAcknowledgedSegments();
    this.release();
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
      if (this.cursor.segment === 0 && this.spilled) break;
      tryUnlink(first.file);
      this.diskStats.diskBytes -= first.bytes;
      this.segments.shift();
      if (this.cursor.segment > 0) this.cursor = { segment: this.cursor.segment - 1, offset: this.cursor.offset };
      freed = true;
    }
    if (freed) this.updateStats();
  }

  private persistLedger(force: boolean): void {
    if (!force && this.ledgerWritten === this.acked) return;
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
    if (this.dirty && this.options.fsync === 'interval' && this.fd !== undefined) {
      try {
        fs.fdatasyncSync(this.fd);
        this.dirty = false;
      } catch (err) {
        this.options.log.burst('WARN', 'disk-buffer-fsync', 'fsync of the disk buffer failed.', {
          sink: this.options.name,
          error: describeError(err),
        });
      }
    }
    this.persistLedger(false);
  }

  close(): void {
    if (this.closed) return;
    if (this.fd !== undefined) {
      try {
        if (this.options.fsync !== 'never') fs.fdatasyncSync(this.fd);
      } catch {
        // counted at the next start by the checksums
      }
      fs.closeSync(this.fd);
      this.fd = undefined;
    }
    this.persistLedger(true);
    this.closed = true;
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

function tryUnlink(file: string): void {
  try {
    fs.unlinkSync(file);
  } catch {
    // already gone
  }
}
