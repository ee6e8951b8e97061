/**
 * The dead-letter file: NDJSON, one entry per event (or unparseable input record) that could not be delivered,
 * with who gave up on it, why, and when. Nothing accepted leaves the pipeline without a counter and, where a
 * dead-letter file is configured, an entry here.
 *
 * Entry: `{"ts","sink"|"source","code","reason","attempts"?,"line"?,"event"|"raw"}`. The file is created 0640,
 * appended to, bounded by `maxBytes` (past it, entries are counted as dropped and logged once per burst).
 */
import fs from 'node:fs';
import path from 'node:path';
import type { AegisEvent } from '../../event/types';
import type { ErrorCode } from '../../util/errors';
import { describeError } from '../../util/errors';
import { MAX_REASON_CHARS, capText } from '../../util/bounded-text';
import type { Logger } from '../../util/logger';
import type { DeadLetterStats } from '../../telemetry/stats';
import { formatJson } from '../../formatters/json';

export interface DeadLetterEntry {
  /** Sink that gave up on the event, or source that could not read the record. */
  readonly sink?: string;
  readonly source?: string;
  readonly code: ErrorCode;
  readonly reason: string;
  readonly attempts?: number;
  /** 1-based line number in the source input. */
  readonly line?: number;
  readonly event?: AegisEvent;
  /** The raw input, when it was not a valid event. */
  readonly raw?: string;
}

export interface DeadLetterQueue {
  readonly path: string | undefined;
  /** Resolves with the number of entries written (the rest were counted as failed and logged). */
  write(entries: readonly DeadLetterEntry[]): Promise<number>;
  /**
   * Write now, synchronously, on a file descriptor of its own (a second stop signal: the process exits right after,
   * no callback would run). Stops at `deadlineAt` (epoch ms); returns the number written, the rest counted as failed.
   */
  writeSync(entries: readonly DeadLetterEntry[], deadlineAt: number): number;
  close(): Promise<void>;
}

export interface DeadLetterOptions {
  /** Where entries go; undefined disables the file (entries are then only counted and logged). */
  readonly path: string | undefined;
  readonly maxBytes: number;
  readonly logger: Logger;
  readonly stats: DeadLetterStats;
  readonly now?: () => Date;
}

/**
 * Encode one entry; the event keeps the json formatter's stable key order. Exported for tests. The reason is cut to
 * MAX_REASON_CHARS whoever built it (a receiver's answer, a validation report): the last line of defence against
 * an entry many times the size of its event.
 */
export function encodeDeadLetterEntry(entry: DeadLetterEntry, ts: Date): string {
  let out = `{"ts":${JSON.stringify(ts.toISOString())}`;
  if (entry.sink !== undefined) out += `,"sink":${JSON.stringify(entry.sink)}`;
  if (entry.source !== undefined) out += `,"source":${JSON.stringify(entry.source)}`;
  out += `,"code":${JSON.stringify(entry.code)},"reason":${JSON.stringify(capText(entry.reason, MAX_REASON_CHARS))}`;
  if (entry.attempts !== undefined) out += `,"attempts":${entry.attempts}`;
  if (entry.line !== undefined) out += `,"line":${entry.line}`;
  if (entry.event !== undefined) out += `,"event":${formatJson(entry.event)}`;
  if (entry.raw !== undefined) out += `,"raw":${JSON.stringify(entry.raw)}`;
  return out + '}\n';
}

/** Entries per synchronous write in writeSync. */
const SYNC_CHUNK_ENTRIES = 1000;

export function createDeadLetterQueue(options: DeadLetterOptions): DeadLetterQueue {
  const { logger, stats } = options;
  const now = options.now ?? (() => new Date());
  let handle: fs.promises.FileHandle | undefined;
  let size = 0;
  let chain: Promise<unknown> = Promise.resolve();

  const fail = (count: number, why: string): void => {
    stats.failed += count;
    logger.burst(
      'ERROR',
      'dlq-failed',
      'Events could not be written to the dead-letter file and are lost; they are counted in the dead-letter failure metric.',
      {
        code: 'AEGIS_ERR_DLQ_WRITE',
        path: options.path,
        count,
        reason: why,
      },
    );
  };

  const doWrite = async (entries: readonly DeadLetterEntry[]): Promise<number> => {
    if (entries.length === 0) return 0;
    if (options.path === undefined) {
      fail(entries.length, 'no dead-letter file is configured');
      for (const e of entries.slice(0, 3))
        logger.burst('WARN', `dlq-none-${e.code}`, 'Undeliverable event (no dead-letter file configured).', {
          code: e.code,
          reason: capText(e.reason, MAX_REASON_CHARS),
          sink: e.sink,
          source: e.source,
          line: e.line,
        });
      return 0;
    }
    try {
      if (handle === undefined) {
        await fs.promises.mkdir(path.dirname(options.path), { recursive: true, mode: 0o750 });
        handle = await fs.promises.open(options.path, 'a', 0o640);
        size = (await handle.stat()).size;
      }
      const ts = now();
      let text = '';
      let textBytes = 0;
      let written = 0;
      for (const e of entries) {
        const line = encodeDeadLetterEntry(e, ts);
        const lineBytes = Buffer.byteLength(line);
        if (size + textBytes + lineBytes > options.maxBytes) break;
        text += line;
        textBytes += lineBytes;
        written++;
      }
      if (written < entries.length)
        fail(entries.length - written, `the dead-letter file reached its bound of ${options.maxBytes} bytes`);
      if (text.length > 0) {
        await handle.appendFile(text);
        size += textBytes;
        stats.written += written;
        stats.bytes += textBytes;
      }
      return written;
    } catch (err) {
      fail(entries.length, describeError(err));
      return 0;
    }
  };

  return {
    path: options.path,
    write(entries) {
      // Serialize writes so entries keep their order and sizes stay exact.
      const result = chain.then(() => doWrite(entries));
      chain = result.catch(() => undefined);
      return result;
    },
    writeSync(entries, deadlineAt) {
      if (entries.length === 0) return 0;
      if (options.path === undefined) {
        fail(entries.length, 'no dead-letter file is configured');
        return 0;
      }
      let written = 0;
      let fd: number | undefined;
      try {
        fs.mkdirSync(path.dirname(options.path), { recursive: true, mode: 0o750 });
        fd = fs.openSync(options.path, 'a', 0o640);
        let fileSize = fs.fstatSync(fd).size;
        const ts = now();
        // Chunks of SYNC_CHUNK_ENTRIES: one write call each, and a look at the clock in between.
        for (let i = 0; i < entries.length && Date.now() < deadlineAt; i += SYNC_CHUNK_ENTRIES) {
          let text = '';
          let n = 0;
          for (const e of entries.slice(i, i + SYNC_CHUNK_ENTRIES)) {
            const line = encodeDeadLetterEntry(e, ts);
            const lineBytes = Buffer.byteLength(line);
            if (fileSize + lineBytes > options.maxBytes) break;
            text += line;
            fileSize += lineBytes;
            n++;
          }
          const data = Buffer.from(text);
          for (let off = 0; off < data.length;) off += fs.writeSync(fd, data, off);
          written += n;
          stats.written += n;
          stats.bytes += data.length;
          if (n < Math.min(SYNC_CHUNK_ENTRIES, entries.length - i)) break; // the bound is reached
        }
      } catch (err) {
        fail(entries.length - written, describeError(err));
        return written;
      } finally {
        if (fd !== undefined) fs.closeSync(fd);
      }
      if (written < entries.length)
        fail(
          entries.length - written,
          `written synchronously before exiting: ${written} of ${entries.length} (time or size bound reached)`,
        );
      return written;
    },
    async close() {
      await chain;
      if (handle !== undefined) {
        await handle.sync().catch(() => undefined);
        await handle.close();
        handle = undefined;
      }
    },
  };
}
