/**
 * The audit trail: one JSON line per control operation in `<data_dir>/audit.log` (mode 0600), hash-chained.
 *
 * Each line is a record `{seq, ts, actor, actor_type, action, target, source, result, detail, prev}` followed by
 * `hash`: the SHA-256 (hex) of the line's bytes up to that field (the JSON text of the record without `hash`), and
 * `prev` is the previous record's `hash` (64 zeros for the first). So an edited record fails its own hash, a removed
 * or reordered record breaks the `prev` link (and `seq`) of the record after it, and `aegisbpf audit verify` names
 * the first record that does not hold. What a chain cannot show is the loss of the newest records (truncation): ship
 * the `audit` events to a SIEM, which keeps its own copy (they carry the same `seq` and `hash`).
 *
 * Two writers append (the daemon for API operations, the `auth`/`rbac` commands for key and role changes), each
 * under the lock file, reading the last record for `prev` and `seq` every time: no process trusts a cached tail.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { AegisError } from '../../util/errors';
import { acquireFileLock, withFileLock } from '../../util/file-lock';

export const GENESIS_HASH = '0'.repeat(64);
/** The tail read to find the last record; a record is far smaller (details are bounded by the writers). */
const TAIL_BYTES = 64 * 1024;
const MAX_DETAIL_CHARS = 2048;

export type AuditResult = 'success' | 'failure' | 'denied';
export type ActorType = 'api-key' | 'client-cert' | 'cli' | 'daemon' | 'anonymous';

/** What a writer gives; seq, ts, prev and hash are added by the log. */
export interface AuditEntry {
  readonly actor: string;
  readonly actor_type: ActorType;
  /** `policy.apply`, `policy.rollback`, `blocklist.add`, `blocklist.delete`, `key.create`, `auth.failure`, `daemon.start`, … */
  readonly action: string;
  readonly target: string;
  /** Client address (`203.0.113.9`), `local` for the CLI and the daemon itself. */
  readonly source: string;
  readonly result: AuditResult;
  readonly detail: string;
}

export interface AuditRecord extends AuditEntry {
  readonly seq: number;
  readonly ts: string;
  readonly prev: string;
  readonly hash: string;
}

const HASH_SUFFIX = /,"hash":"([0-9a-f]{64})"\}$/;

function sha256(text: string): string {
  return crypto.createHash('sha256').update(text).digest('hex');
}

/** The record's line: its fields in a fixed order (the hash covers these bytes), then the hash. */
export function encodeRecord(fields: Omit<AuditRecord, 'hash'>): string {
  const body = JSON.stringify({
    seq: fields.seq,
    ts: fields.ts,
    actor: fields.actor,
    actor_type: fields.actor_type,
    action: fields.action,
    target: fields.target,
    source: fields.source,
    result: fields.result,
    detail: fields.detail,
    prev: fields.prev,
  });
  return `${body.slice(0, -1)},"hash":"${sha256(body)}"}`;
}

function lastLine(file: string): string | undefined {
  let fd: number;
  try {
    fd = fs.openSync(file, 'r');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  try {
    const size = fs.fstatSync(fd).size;
    const n = Math.min(size, TAIL_BYTES);
    const buf = Buffer.alloc(n);
    fs.readSync(fd, buf, 0, n, size - n);
    const lines = buf
      .toString('utf8')
      .split('\n')
      .filter((l) => l !== '');
    return lines.at(-1);
  } finally {
    fs.closeSync(fd);
  }
}

export interface AuditLog {
  readonly path: string;
  /**
   * Append one record (synchronously, fsync'ed; waiting synchronously for the lock, at most LOCK_WAIT_MILLIS) and
   * return it: the commands, and the daemon's own `daemon.stop`. Throws AEGIS_ERR_AUDIT_WRITE.
   */
  append(entry: AuditEntry): AuditRecord;
  /**
   * Append one record without blocking the event loop: records handed in while a write is in flight are written
   * together by the next one (group commit: one write, one fdatasync for the batch). Resolves once the record is on
   * disk; rejects with AEGIS_ERR_AUDIT_WRITE.
   */
  appendDurable(entry: AuditEntry): Promise<AuditRecord>;
}

const writeError = (file: string, err: unknown): AegisError =>
  new AegisError('AEGIS_ERR_AUDIT_WRITE', `Cannot append to the audit log ${file}: ${(err as Error).message}`, {
    cause: err,
  });

export function createAuditLog(file: string, now: () => Date = () => new Date()): AuditLog {
  const lockOptions = { code: 'AEGIS_ERR_AUDIT_WRITE', what: `the audit log ${file}` };
  /**
   * The caller holds the lock (and runs this synchronously, so no other writer of this process interleaves): read the
   * tail for `prev` and `seq`, chain `list`, append the lines with one write. Returns the records and the still open
   * descriptor, which the caller syncs (outside the lock: a sync covers everything written before it) and closes.
   */
  const writeLocked = (list: readonly AuditEntry[]): { records: AuditRecord[]; fd: number } => {
    const last = lastLine(file);
    let prev = GENESIS_HASH;
    let seq = 1;
    if (last !== undefined) {
      const m = HASH_SUFFIX.exec(last);
      const parsed = safeParse(last);
      // A damaged last line still gets a successor (the chain shows the damage to `verify`); never refuse
      // to record an operation because an earlier record was tampered with.
      prev = m?.[1] ?? sha256(last);
      seq = typeof parsed?.seq === 'number' ? parsed.seq + 1 : seq;
    }
    const records: AuditRecord[] = [];
    let text = '';
    for (const entry of list) {
      const fields = {
        seq,
        ts: now().toISOString(),
        ...entry,
        detail: entry.detail.length > MAX_DETAIL_CHARS ? entry.detail.slice(0, MAX_DETAIL_CHARS) + '…' : entry.detail,
        prev,
      };
      const line = encodeRecord(fields);
      const hash = (HASH_SUFFIX.exec(line) as RegExpExecArray)[1] as string;
      records.push({ ...fields, hash });
      text += line + '\n';
      prev = hash;
      seq++;
    }
    const fd = fs.openSync(file, 'a', 0o600);
    try {
      fs.writeSync(fd, text);
    } catch (err) {
      fs.closeSync(fd);
      throw err;
    }
    return { records, fd };
  };
  let madeDir = false;
  const makeDir = (): void => {
    if (madeDir) return;
    fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
    madeDir = true;
  };

  interface Pending {
    readonly entry: AuditEntry;
    resolve(r: AuditRecord): void;
    reject(err: unknown): void;
  }
  let queue: Pending[] = [];
  let writing = false;
  // The lock is waited for asynchronously: while `aegisbpf auth|rbac` holds it (a few ms; at most
  // LOCK_WAIT_MILLIS, then the batch fails with AEGIS_ERR_AUDIT_WRITE naming the holder), the event loop serves
  // other requests and records queue up for the next write.
  const drain = (): void => {
    if (writing || queue.length === 0) return;
    writing = true;
    const fail = (batch: readonly Pending[], err: unknown): void => {
      writing = false;
      for (const p of batch) p.reject(writeError(file, err));
      drain();
    };
    try {
      makeDir();
    } catch (err) {
      const batch = queue;
      queue = [];
      fail(batch, err);
      return;
    }
    acquireFileLock(file, lockOptions).then(
      (lock) => {
        const release = (): void => lock.release();
        // Taken once the lock is held: records that arrived during the wait go into this write.
        const batch = queue;
        queue = [];
        let written: { records: AuditRecord[]; fd: number };
        try {
          written = writeLocked(batch.map((p) => p.entry));
        } catch (err) {
          release();
          fail(batch, err);
          return;
        }
        release();
        syncBatch(batch, written);
      },
      (err: unknown) => {
        const batch = queue;
        queue = [];
        fail(batch, err);
      },
    );
  };
  const syncBatch = (batch: readonly Pending[], written: { records: AuditRecord[]; fd: number }): void => {
    fs.fdatasync(written.fd, (syncErr) => {
      fs.close(written.fd, () => {
        writing = false;
        batch.forEach((p, i) =>
          syncErr === null ? p.resolve(written.records[i] as AuditRecord) : p.reject(writeError(file, syncErr)),
        );
        drain();
      });
    });
  };

  return {
    path: file,
    append(entry) {
      try {
        makeDir();
        const { records, fd } = withFileLock(file, () => writeLocked([entry]), lockOptions);
        try {
          fs.fsyncSync(fd);
        } finally {
          fs.closeSync(fd);
        }
        return records[0] as AuditRecord;
      } catch (err) {
        throw writeError(file, err);
      }
    },
    appendDurable(entry) {
      return new Promise<AuditRecord>((resolve, reject) => {
        queue.push({ entry, resolve, reject });
        drain();
      });
    },
  };
}

function safeParse(line: string): Partial<AuditRecord> | undefined {
  try {
    const v: unknown = JSON.parse(line);
    return typeof v === 'object' && v !== null ? v : undefined;
  } catch {
    return undefined;
  }
}

/** Every parseable record of the log, oldest first (for list, search, export and GET /api/v1/audit). */
export function readAuditRecords(file: string): AuditRecord[] {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw new AegisError('AEGIS_ERR_AUDIT_READ', `Cannot read the audit log ${file}: ${(err as Error).message}`);
  }
  const out: AuditRecord[] = [];
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const r = safeParse(line);
    if (r !== undefined && typeof r.seq === 'number') out.push(r as AuditRecord);
  }
  return out;
}

export type VerifyResult =
  | { readonly ok: true; readonly records: number; readonly lastHash: string }
  | {
      readonly ok: false;
      readonly records: number;
      readonly line: number;
      readonly seq: number | undefined;
      readonly problem: string;
    };

/** Walk the chain; the first line that does not hold, and why. */
export function verifyAuditLog(file: string): VerifyResult {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { ok: true, records: 0, lastHash: GENESIS_HASH };
    throw new AegisError('AEGIS_ERR_AUDIT_READ', `Cannot read the audit log ${file}: ${(err as Error).message}`);
  }
  const lines = text.split('\n');
  if (lines.at(-1) === '') lines.pop();
  let prev = GENESIS_HASH;
  let prevSeq = 0;
  for (const [i, line] of lines.entries()) {
    const lineNo = i + 1;
    const broken = (seq: number | undefined, problem: string): VerifyResult => ({
      ok: false,
      records: i,
      line: lineNo,
      seq,
      problem,
    });
    const m = HASH_SUFFIX.exec(line);
    const r = safeParse(line);
    const seq = typeof r?.seq === 'number' ? r.seq : undefined;
    if (m === null || r === undefined) return broken(seq, 'not an audit record (unparseable or no hash)');
    const body = line.slice(0, m.index) + '}';
    if (sha256(body) !== m[1]) return broken(seq, 'its content does not match its hash: the record was changed');
    if (r.prev !== prev)
      return broken(
        seq,
        `its prev hash does not match the record before it: a record was removed, inserted or reordered before it`,
      );
    if (seq !== prevSeq + 1)
      return broken(seq, `sequence ${String(seq)} follows ${prevSeq}: a record is missing or out of order`);
    prev = m[1];
    prevSeq = seq;
  }
  return { ok: true, records: lines.length, lastHash: prev };
}
