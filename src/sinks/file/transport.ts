/**
 * Appends records to a file, one per line (NDJSON framing; formatters never emit raw newlines).
 *
 * Delivered means written (and fdatasync'ed unless `fsync: never`). A failed write is rolled back with ftruncate to
 * the size before it, so a retry never leaves a torn line or a partial duplicate. Size-based rotation keeps
 * `<path>.1` … `<path>.<max_files>`; SIGHUP (reopen) closes the file so the next write re-creates it (logrotate).
 * All file operations run one at a time through `serialized`.
 *
 * An aborted send (request.timeout_ms, shutdown) stops between writes and reports what it did: the lines written
 * (and synced) are delivered, the rest retried (`partial`); a write cut short is rolled back. Once the batch's data
 * is in the file it is counted as delivered even past the abort: the core waits for that answer, so an event is
 * never both in the file and retried or dead-lettered. A write stuck in the kernel (a hung NFS mount, a FIFO nobody
 * reads) cannot be interrupted: abandon() stops further writes, and the core stops waiting after its grace.
 */
import fs from 'node:fs';
import path from 'node:path';
import { concatRecords } from '../core/concat';
import type { Batch, SendResult, Transport } from '../core/types';
import type { FileSinkConfig } from './config';
import { checkFileWritable } from './healthcheck';
import { fileRetryLogic } from './retry-policy';
import { createSerializer } from '../core/serialize';

export interface FileTransport extends Transport<string> {
  /** Current file size as the transport tracks it (tests). */
  readonly size: () => number;
}

class AbortedWriteError extends Error {
  constructor() {
    super('aborted during the write; the part written was rolled back');
  }
}

export function createFileTransport(config: FileSinkConfig): FileTransport {
  let handle: fs.promises.FileHandle | undefined;
  let size = 0;
  /** abandon() was called: no file operation starts any more. */
  let abandoned = false;

  const serialized = createSerializer();

  const open = async (): Promise<fs.promises.FileHandle> => {
    if (handle !== undefined) return handle;
    await fs.promises.mkdir(path.dirname(config.path), { recursive: true, mode: 0o750 });
    // O_NONBLOCK: no effect on a regular file, but a FIFO without a reader fails at once (ENXIO, retried) instead
    // of blocking open(2) in a libuv thread for good, where even process.exit() would wait for it.
    const { O_WRONLY, O_APPEND, O_CREAT, O_NONBLOCK } = fs.constants;
    const h = await fs.promises.open(config.path, O_WRONLY | O_APPEND | O_CREAT | O_NONBLOCK, config.fileMode);
    size = (await h.stat()).size;
    handle = h;
    return h;
  };

  const closeHandle = async (): Promise<void> => {
    const h = handle;
    handle = undefined;
    if (h !== undefined) await h.close();
  };

  const rotate = async (): Promise<void> => {
    await closeHandle();
    const rename = async (from: string, to: string): Promise<void> => {
      try {
        await fs.promises.rename(from, to);
      } catch (err) {
        if ((err as { code?: unknown }).code !== 'ENOENT') throw err;
      }
    };
    await fs.promises.rm(`${config.path}.${config.rotateMaxFiles}`, { force: true });
    for (let i = config.rotateMaxFiles - 1; i >= 1; i--) await rename(`${config.path}.${i}`, `${config.path}.${i + 1}`);
    await rename(config.path, `${config.path}.1`);
  };

  /** Write all of `data`; throws (the caller rolls back) if `stop()` holds between two short writes. */
  const writeAll = async (h: fs.promises.FileHandle, data: Buffer, stop: () => boolean): Promise<void> => {
    let offset = 0;
    while (offset < data.length) {
      if (offset > 0 && stop()) throw new AbortedWriteError();
      const { bytesWritten } = await h.write(data, offset, data.length - offset);
      offset += bytesWritten;
    }
  };

  const stopRequested = (signal: AbortSignal): boolean => signal.aborted || abandoned;

  const send = (batch: Batch<string>, signal: AbortSignal): Promise<SendResult> =>
    serialized(async () => {
      let h: fs.promises.FileHandle | undefined;
      let before = 0;
      try {
        if (stopRequested(signal)) return { kind: 'retryable', reason: 'aborted before writing' } as const;
        const data = concatRecords(batch.records, true);
        h = await open();
        if (config.rotateMaxBytes > 0 && size > 0 && size + data.length > config.rotateMaxBytes) {
          await rotate();
          h = await open();
        }
        if (stopRequested(signal)) return { kind: 'retryable', reason: 'aborted before writing' } as const;
        before = size;
        if (config.fsync === 'always') {
          let offset = 0;
          for (let i = 0; i < batch.records.length; i++) {
            if (i > 0 && stopRequested(signal)) {
              // Lines 0…i−1 are written and synced: they are delivered, the rest is retried.
              const retry: number[] = [];
              for (let k = i; k < batch.records.length; k++) retry.push(k);
              return { kind: 'partial', retry, rejected: [] } as const;
            }
            const line = Buffer.from((batch.records[i] as (typeof batch.records)[number]).data + '\n');
            await writeAll(h, line, () => false);
            await h.datasync();
            offset += line.length;
            size = before + offset;
          }
        } else {
          await writeAll(h, data, () => stopRequested(signal));
          if (config.fsync === 'batch') await h.datasync();
        }
        size = before + data.length;
        return { kind: 'delivered' } as const;
      } catch (err) {
        // Roll back a partial write so the retry cannot leave a torn line or duplicate the written part.
        if (h !== undefined) {
          try {
            await h.truncate(before);
            size = before;
          } catch {
            await closeHandle().catch(() => undefined);
          }
        }
        if (err instanceof AbortedWriteError) return { kind: 'retryable', reason: err.message } as const;
        return fileRetryLogic.classifyFailure(err);
      }
    });

  return {
    send,
    healthcheck: () => checkFileWritable(config),
    reopen: () => serialized(closeHandle),
    abandon: () => {
      abandoned = true;
    },
    close: () =>
      serialized(async () => {
        if (handle !== undefined && config.fsync !== 'never') await handle.datasync().catch(() => undefined);
        await closeHandle();
      }),
    size: () => size,
  };
}
