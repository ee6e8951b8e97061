/**
 * The disk buffer's files, on their own so that the `aegisbpf buffer` tools read them the way the buffer does.
 *
 * A buffer directory holds
 *   <index>.seg     append-only segments (20-digit index, increasing), each a run of records;
 *   ledger.json     {"version":1,"acked":A,"next":N}: every record with seq < A is acknowledged; N is the next seq;
 *                   replaced atomically (write ledger.json.tmp, fsync, rename, fsync the directory; while running
 *                   in the thread pool, through ledger.json.<pid>-<n>.tmp: writeLedgerInPool);
 *   quarantine/     corrupt byte ranges moved aside: <segment>.<start>-<end>.bin;
 *   lock            "<pid> <start time>\n" of the process that has the buffer open (lockBufferDir).
 *
 * A record (little-endian):
 *   u32 payload length | u32 CRC-32C of (seq ‖ payload) | u32 seq low | u32 seq high | payload (the event's JSON)
 * The seq is in the record so that a reader that lost its place (a corrupt length) can resynchronise on the next
 * valid record and still know which records the ledger already acknowledged.
 */
import fs from 'node:fs';
import path from 'node:path';
import { loadNative, nativeStatus } from '../../native/binding';
import { crc32c } from '../../util/crc32c';
import { AegisError } from '../../util/errors';

export const RECORD_HEADER_BYTES = 16;
/** A length above this is corruption, not a record (the largest event the pipeline takes is far smaller). */
export const MAX_RECORD_PAYLOAD_BYTES = 64 * 1024 * 1024;
export const LEDGER_FILE = 'ledger.json';
export const QUARANTINE_DIR = 'quarantine';
export const LOCK_FILE = 'lock';
const SEGMENT_RE = /^(\d{20})\.seg$/;
const LEDGER_TMP_RE = /^ledger\.json\.\d+-\d+\.tmp$/;

export function segmentName(index: number): string {
  return `${String(index).padStart(20, '0')}.seg`;
}

/** Segment files of `dir`, oldest first, with their index. */
export function listSegments(dir: string): { index: number; file: string }[] {
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  const out: { index: number; file: string }[] = [];
  for (const n of names) {
    const m = SEGMENT_RE.exec(n);
    if (m !== null) out.push({ index: Number(m[1]), file: path.join(dir, n) });
  }
  return out.sort((a, b) => a.index - b.index);
}

/** Write one record at `buf[offset…]`; returns the offset after it. `payload` is UTF-8 already measured. */
export function writeRecord(buf: Buffer, offset: number, seq: number, payload: string, payloadBytes: number): number {
  buf.write(payload, offset + RECORD_HEADER_BYTES, payloadBytes, 'utf8');
  const end = writeRecordFrame(buf, offset, seq, payloadBytes);
  buf.writeUInt32LE(crc32c(buf, offset + 8, end), offset + 4);
  return end;
}

/**
 * Write the length and seq of a record whose payload (`payloadBytes` of UTF-8) is already at `buf[offset + 16…]`:
 * the writer encodes payloads in place, measuring them as it goes. The CRC field is filled by checksumRecords.
 * Returns the offset after the record.
 */
export function writeRecordFrame(buf: Buffer, offset: number, seq: number, payloadBytes: number): number {
  buf.writeUInt32LE(payloadBytes, offset);
  buf.writeUInt32LE(seq >>> 0, offset + 8);
  buf.writeUInt32LE(Math.floor(seq / 0x100000000), offset + 12);
  return offset + RECORD_HEADER_BYTES + payloadBytes;
}

/** The addon's checksummer of a whole write, loaded once; null when the addon is not built (TypeScript then). */
let nativeChecksum: ((buf: Buffer, end: number) => number) | null | undefined;

function nativeRecordsChecksum(): ((buf: Buffer, end: number) => number) | null {
  if (nativeChecksum === undefined) {
    try {
      const native = nativeStatus().available ? loadNative() : undefined;
      nativeChecksum = native === undefined ? null : (buf, end) => native.crc32cRecords(buf, end);
    } catch {
      nativeChecksum = null; // not built here: the TypeScript CRC gives the same bytes, slower
    }
  }
  return nativeChecksum;
}

/**
 * Fill the CRC field of every record framed in buf[0, end). One call into the addon for the whole write when it is
 * built (SSE4.2 CRC-32C: about 0.1 µs per 500-byte record against about 1 µs in TypeScript, whose per-record cost
 * was the largest part of the disk buffer's overhead over the memory buffer); the TypeScript loop otherwise.
 */
export function checksumRecords(buf: Buffer, end: number, useNative = true): void {
  const native = useNative ? nativeRecordsChecksum() : null;
  if (native !== null) {
    native(buf, end);
    return;
  }
  for (let at = 0; at < end;) {
    const recEnd = at + RECORD_HEADER_BYTES + buf.readUInt32LE(at);
    buf.writeUInt32LE(crc32c(buf, at + 8, recEnd), at + 4);
    at = recEnd;
  }
}

export interface ScannedRecord {
  readonly seq: number;
  /** Offset of the record's header in the segment. */
  readonly offset: number;
  /** Offset just past the record. */
  readonly end: number;
  readonly payload: Buffer;
}

export interface CorruptRegion {
  readonly start: number;
  readonly end: number;
}

/** Whether a valid record starts at `at` (length plausible and within `end`, checksum matches); its end if so. */
function validAt(buf: Buffer, at: number, end: number): number | undefined {
  if (at + RECORD_HEADER_BYTES > end) return undefined;
  const len = buf.readUInt32LE(at);
  if (len > MAX_RECORD_PAYLOAD_BYTES) return undefined;
  const recEnd = at + RECORD_HEADER_BYTES + len;
  if (recEnd > end) return undefined;
  return crc32c(buf, at + 8, recEnd) === buf.readUInt32LE(at + 4) ? recEnd : undefined;
}

/**
 * Parse records from buf[start, end). Stops at the first invalid byte when `resync` is false (returns where);
 * otherwise scans forward to the next valid record, reporting the skipped range as corrupt. A record cut by `end`
 * (a read block's edge, or a torn write at the end of a segment) is not corrupt when `tailIsIncomplete`.
 */
export function scanRecords(
  buf: Buffer,
  start: number,
  end: number,
  onRecord: (r: ScannedRecord) => void,
  onCorrupt: (c: CorruptRegion) => void,
  tailIsIncomplete: boolean,
): number {
  let at = start;
  while (at < end) {
    const recEnd = validAt(buf, at, end);
    if (recEnd !== undefined) {
      const seq = buf.readUInt32LE(at + 8) + buf.readUInt32LE(at + 12) * 0x100000000;
      onRecord({ seq, offset: at, end: recEnd, payload: buf.subarray(at + RECORD_HEADER_BYTES, recEnd) });
      at = recEnd;
      continue;
    }
    if (tailIsIncomplete) {
      // Possibly a whole record whose rest is past `end`: leave it for the next read.
      if (at + RECORD_HEADER_BYTES > end) return at;
      const len = buf.readUInt32LE(at);
      if (len <= MAX_RECORD_PAYLOAD_BYTES && at + RECORD_HEADER_BYTES + len > end) return at;
    }
    // Corrupt: find the next valid record (or the end) and report what lies between.
    let next = at + 1;
    while (next < end && validAt(buf, next, end) === undefined) next++;
    onCorrupt({ start: at, end: next });
    at = next;
  }
  return at;
}

export interface Ledger {
  /** Every record with seq < acked is acknowledged. */
  readonly acked: number;
  /** The next seq to assign. */
  readonly next: number;
}

/** The ledger, or undefined when it is missing or unreadable (the caller replays every record it finds). */
export function readLedger(dir: string): Ledger | undefined {
  try {
    const parsed = JSON.parse(fs.readFileSync(path.join(dir, LEDGER_FILE), 'utf8')) as Partial<Ledger>;
    if (typeof parsed.acked === 'number' && typeof parsed.next === 'number' && parsed.acked >= 0)
      return { acked: parsed.acked, next: Math.max(parsed.next, parsed.acked) };
  } catch {
    // missing or torn: see the caller
  }
  return undefined;
}

/** Replace the ledger atomically: temp file, (fsync), rename, (fsync the directory). */
export function writeLedger(dir: string, ledger: Ledger, sync: boolean): void {
  const tmp = path.join(dir, `${LEDGER_FILE}.tmp`);
  const fd = fs.openSync(tmp, 'w', 0o640);
  try {
    fs.writeSync(fd, JSON.stringify({ version: 1, acked: ledger.acked, next: ledger.next }) + '\n');
    if (sync) fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(tmp, path.join(dir, LEDGER_FILE));
  if (sync) fsyncDir(dir);
}

let ledgerWrites = 0;

/**
 * Replace the ledger atomically as writeLedger does, with the file work in the thread pool: the temporary file is
 * written (and fsynced) there, the rename is done on the calling thread, synchronously (microseconds: no data to
 * write, and it keeps renames in program order), and the directory fsync goes back to the pool. `mayReplace` is
 * asked just before the rename: false (the buffer was closed meanwhile and wrote its final ledger synchronously)
 * abandons the write and removes its temporary file, so that an older frontier never replaces a newer one. Each call
 * has its own temporary file (`ledger.json.<pid>-<n>.tmp`), so that an abandoned write never touches the one of a
 * later write; removeLedgerTemporaries() deletes those a crash left behind. The caller keeps one write in flight.
 */
export function writeLedgerInPool(
  dir: string,
  ledger: Ledger,
  sync: boolean,
  mayReplace: () => boolean,
  done: (err: Error | null, replaced: boolean) => void,
): void {
  const tmp = path.join(dir, `${LEDGER_FILE}.${process.pid}-${++ledgerWrites}.tmp`);
  const text = Buffer.from(JSON.stringify({ version: 1, acked: ledger.acked, next: ledger.next }) + '\n');
  const abandon = (err: Error | null): void => fs.unlink(tmp, () => done(err, false));
  fs.open(tmp, 'w', 0o640, (openErr, fd) => {
    if (openErr !== null) {
      done(openErr, false);
      return;
    }
    const closeThen = (err: Error | null): void =>
      fs.close(fd, (closeErr) => {
        const failed = err ?? closeErr;
        if (failed !== null || !mayReplace()) {
          abandon(failed);
          return;
        }
        try {
          fs.renameSync(tmp, path.join(dir, LEDGER_FILE));
        } catch (renameErr) {
          abandon(renameErr as Error);
          return;
        }
        if (!sync) done(null, true);
        else fsyncDirInPool(dir, (syncErr) => done(syncErr, true));
      });
    fs.write(fd, text, 0, text.length, 0, (writeErr, written) => {
      if (writeErr !== null) closeThen(writeErr);
      else if (written !== text.length) closeThen(new Error(`short write of the ledger (${written} bytes)`));
      else if (sync) fs.fsync(fd, closeThen);
      else closeThen(null);
    });
  });
}

/** Delete the temporary files of ledger writes in the thread pool that a crash interrupted. */
export function removeLedgerTemporaries(dir: string): void {
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return;
  }
  for (const n of names)
    if (LEDGER_TMP_RE.test(n)) {
      try {
        fs.unlinkSync(path.join(dir, n));
      } catch {
        // gone already
      }
    }
}

export function fsyncDirInPool(dir: string, done: (err: Error | null) => void): void {
  fs.open(dir, 'r', (openErr, fd) => {
    if (openErr !== null) {
      done(openErr);
      return;
    }
    fs.fsync(fd, (syncErr) => fs.close(fd, (closeErr) => done(syncErr ?? closeErr)));
  });
}

export function fsyncDir(dir: string): void {
  const fd = fs.openSync(dir, 'r');
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

export interface SegmentScan {
  readonly index: number;
  readonly file: string;
  readonly bytes: number;
  /** Valid records with seq >= acked (pending), in file order. */
  readonly pending: number;
  readonly pendingBytes: number;
  readonly firstPendingOffset: number | undefined;
  readonly acked: number;
  readonly maxSeq: number;
  readonly corrupt: readonly CorruptRegion[];
}

/** Read a whole segment and classify its bytes (start-up, `aegisbpf buffer` tools). */
export function scanSegment(index: number, file: string, acked: number): SegmentScan {
  const buf = fs.readFileSync(file);
  let pending = 0;
  let pendingBytes = 0;
  let firstPendingOffset: number | undefined;
  let ackedCount = 0;
  let maxSeq = 0;
  const corrupt: CorruptRegion[] = [];
  scanRecords(
    buf,
    0,
    buf.length,
    (r) => {
      maxSeq = Math.max(maxSeq, r.seq);
      if (r.seq < acked) {
        ackedCount++;
        return;
      }
      pending++;
      pendingBytes += r.end - r.offset;
      firstPendingOffset ??= r.offset;
    },
    (c) => corrupt.push(c),
    false,
  );
  return {
    index,
    file,
    bytes: buf.length,
    pending,
    pendingBytes,
    firstPendingOffset,
    acked: ackedCount,
    maxSeq,
    corrupt,
  };
}

/**
 * Move a segment's corrupt ranges aside: copy each into quarantine/<segment>.<start>-<end>.bin (fsynced), then
 * replace the segment with its valid records only (temp, fsync, rename, fsync the directory), so that a later start
 * neither finds nor counts them again. Returns the quarantine files written.
 */
export function quarantineSegment(dir: string, scan: SegmentScan): string[] {
  if (scan.corrupt.length === 0) return [];
  const buf = fs.readFileSync(scan.file);
  const qdir = path.join(dir, QUARANTINE_DIR);
  fs.mkdirSync(qdir, { recursive: true, mode: 0o750 });
  const written: string[] = [];
  for (const c of scan.corrupt) {
    const q = path.join(qdir, `${path.basename(scan.file)}.${c.start}-${c.end}.bin`);
    const fd = fs.openSync(q, 'w', 0o640);
    try {
      fs.writeSync(fd, buf, c.start, c.end - c.start);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    written.push(q);
  }
  fsyncDir(qdir);
  const keep: Buffer[] = [];
  scanRecords(
    buf,
    0,
    buf.length,
    (r) => keep.push(buf.subarray(r.offset, r.end)),
    () => undefined,
    false,
  );
  const tmp = `${scan.file}.tmp`;
  const fd = fs.openSync(tmp, 'w', 0o640);
  try {
    const data = Buffer.concat(keep);
    for (let off = 0; off < data.length;) off += fs.writeSync(fd, data, off);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(tmp, scan.file);
  fsyncDir(dir);
  return written;
}

/** The process that holds a buffer directory's lock, as its lock file says. */
export interface LockHolder {
  readonly pid: number;
  /** The process's start time (field 22 of /proc/<pid>/stat), so that a reused pid is not taken for the holder. */
  readonly start: string;
}

/** Directories this process holds (a second sink on one directory in one process is refused too). */
const heldHere = new Set<string>();

function processStart(pid: number): string | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces and parentheses: count fields after its closing parenthesis.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

function readHolder(file: string): LockHolder | undefined {
  try {
    const m = /^(\d+) (\d*)\n?$/.exec(fs.readFileSync(file, 'utf8'));
    return m === null ? undefined : { pid: Number(m[1]), start: m[2] as string };
  } catch {
    return undefined;
  }
}

/** Whether the holder's process still runs (the same process: same pid and start time). */
function holderAlive(dir: string, holder: LockHolder): boolean {
  if (holder.pid === process.pid) return heldHere.has(path.resolve(dir));
  const start = processStart(holder.pid);
  return start !== undefined && (holder.start === '' || start === holder.start);
}

/** The live process holding `dir`'s lock, or undefined when none does (no lock, or a stale one). */
export function bufferLockHolder(dir: string): LockHolder | undefined {
  const holder = readHolder(path.join(dir, LOCK_FILE));
  return holder !== undefined && holderAlive(dir, holder) ? holder : undefined;
}

function lockedError(dir: string, pid: number): AegisError {
  return new AegisError(
    'AEGIS_ERR_BUFFER_LOCKED',
    `The disk buffer directory ${dir} is in use by another aegisbpf process (pid ${pid}${pid === process.pid ? ', this one: two sinks on one directory' : ''}); one process and one sink per buffer directory. Stop that process, or give this sink its own buffer.path.`,
    { details: { dir, pid } },
  );
}

/**
 * Take `dir`'s lock: two processes appending to one buffer would interleave segments and overwrite each other's
 * ledger. The lock file is created whole (written to a temporary name, then hard-linked: link fails when the lock
 * exists), so a reader never sees half of it. A lock whose process is gone (kill -9, a crash, a reboot) is stale and
 * taken over: moved aside by rename (atomic), and put back if what was moved turns out to be a live holder's, so two
 * processes starting at once over a stale lock cannot both win. Returns the release function. Throws
 * AEGIS_ERR_BUFFER_LOCKED naming the directory and the holder's pid.
 */
export function lockBufferDir(dir: string): () => void {
  const key = path.resolve(dir);
  const file = path.join(dir, LOCK_FILE);
  if (heldHere.has(key)) throw lockedError(dir, process.pid);
  const tmp = path.join(dir, `${LOCK_FILE}.${process.pid}.tmp`);
  const content = `${process.pid} ${processStart(process.pid) ?? ''}\n`;
  for (let attempt = 0; attempt < 10; attempt++) {
    fs.writeFileSync(tmp, content, { mode: 0o640 });
    try {
      fs.linkSync(tmp, file);
      heldHere.add(key);
      return () => {
        heldHere.delete(key);
        if (readHolder(file)?.pid === process.pid) tryUnlinkFile(file);
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    } finally {
      tryUnlinkFile(tmp);
    }
    const holder = readHolder(file);
    if (holder !== undefined && holderAlive(dir, holder)) throw lockedError(dir, holder.pid);
    // Stale (its process is gone) or unreadable (a lock file emptied by a power loss): take it over.
    const aside = path.join(dir, `${LOCK_FILE}.stale.${process.pid}`);
    try {
      fs.renameSync(file, aside);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue; // another process removed it: try again
      throw err;
    }
    const moved = readHolder(aside);
    if (moved !== undefined && holderAlive(dir, moved)) {
      // A live process took the lock between our read and the rename: give it back (link: never over a newer one).
      try {
        fs.linkSync(aside, file);
      } catch {
        // a third process took the lock meanwhile: it is the holder now, and the next round says so
      }
    }
    tryUnlinkFile(aside);
  }
  const holder = bufferLockHolder(dir);
  throw holder !== undefined
    ? lockedError(dir, holder.pid)
    : new AegisError('AEGIS_ERR_BUFFER_LOCKED', `Could not take the lock of the disk buffer directory ${dir}.`, {
        details: { dir },
      });
}

function tryUnlinkFile(file: string): void {
  try {
    fs.unlinkSync(file);
  } catch {
    // already gone
  }
}
