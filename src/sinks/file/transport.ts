/**
 * Appends records to a file, one per line (NDJSON framing; formatters never emit raw newlines).
 *
 * Delivered means written (and fdatasync'ed unless `fsync: never`). A failed write is rolled back with ftruncate to
 * the size before it, so a retry never leaves a torn line or a partial duplicate. Size-based rotation keeps
 * `<path>.1` … `<path>.<max_files>`; SIGHUP (reopen) closes the file so the next write re-creates it (logrotate).
 * All file operations run one at a time through `lock`.
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

export function createFileTransport(config: FileSinkConfig): FileTransport {
  let handle: fs.promises.FileHandle | undefined;
  let size = 0;

  const serialized = createSerializer();

  const open = async (): Promise<fs.promises.FileHandle> => {
    if (handle !== undefined) return handle;
    await fs.promises.mkdir(path.dirname(config.path), { recursive: true, mode: 0o750 });
    const h = await fs.promises.open(config.path, 'a', config.fileMode);
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

  const writeAll = async (h: fs.promises.FileHandle, data: Buffer): Promise<void> => {
    let offset = 0;
    while (offset < data.length) {
      const { bytesWritten } = await h.write(data, offset, data.length - offset);
      offset += bytesWritten;
    }
  };

  const send = (batch: Batch<string>): Promise<SendResult> =>
    serialized(async () => {
      let h: fs.promises.FileHandle | undefined;
      let before = 0;
      try {
        const data = concatRecords(batch.records, true);
        h = await open();
        if (config.rotateMaxBytes > 0 && size > 0 && size + data.length > config.rotateMaxBytes) {
          await rotate();
          h = await open();
        }
        before = size;
        if (config.fsync === 'always') {
          let offset = 0;
          for (const r of batch.records) {
            const line = Buffer.from(r.data + '\n');
            await writeAll(h, line);
            await h.datasync();
            offset += line.length;
            size = before + offset;
          }
        } else {
          await writeAll(h, data);
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
        return fileRetryLogic.classifyFailure(err);
      }
    });

  return {
    send,
    healthcheck: () => checkFileWritable(config),
    reopen: () => serialized(closeHandle),
    close: () =>
      serialized(async () => {
        if (handle !== undefined && config.fsync !== 'never') await handle.datasync().catch(() => undefined);
        await closeHandle();
      }),
    size: () => size,
  };
}
