/**
 * The replay source's checkpoint: the byte offset (and line) in its file up to which every event has a final
 * outcome in every sink it was routed to. Chunks settle out of order; the checkpoint advances only over a prefix of
 * settled chunks, so resuming there loses nothing.
 *
 * Stored in <data_dir>/checkpoints/replay-<source>.json with the file's identity (device, inode): a different file
 * at the same path (rotated, replaced) starts at line 1. Written atomically (temp, fsync, rename, fsync the
 * directory) at most once per WRITE_INTERVAL_MILLIS while it moves, and at close. After a crash the source resumes at
 * the last written checkpoint: events settled after it are sent again (duplicates), bounded by the events settled
 * in one interval plus those not yet settled (docs/delivery.md).
 */
import fs from 'node:fs';
import path from 'node:path';
import type { AegisEvent } from '../../event/types';
import { describeError } from '../../util/errors';
import { Fifo } from '../../sinks/core/fifo';
import type { SourceContext, TrackedChunk } from './types';

export const WRITE_INTERVAL_MILLIS = 1000;

export interface Position {
  /** Byte offset just past the last line handled. */
  readonly byte: number;
  /** Its line number (1-based; 0 at the start). */
  readonly line: number;
}

export interface ReplayCheckpoint {
  /** Where reading starts: the saved position, or the start of the file. */
  readonly resumeAt: Position;
  /** The checkpoint as it stands (settled prefix). */
  readonly settled: Position;
  /** A chunk ending at `end`, whose settlement advances the checkpoint once every earlier chunk settled. */
  track(events: readonly AegisEvent[], end: Position): TrackedChunk;
  /** Save now and stop the timer. */
  close(): void;
}

interface Stored {
  readonly version: 1;
  readonly path: string;
  readonly dev: number;
  readonly ino: number;
  readonly byte: number;
  readonly line: number;
}

export function checkpointFile(dataDir: string, sourceName: string): string {
  return path.join(dataDir, 'checkpoints', `replay-${sourceName}.json`);
}

export function openReplayCheckpoint(ctx: SourceContext, filePath: string, stat: fs.Stats): ReplayCheckpoint {
  if (ctx.dataDir === undefined) throw new Error(`source '${ctx.name}': checkpoint needs a data_dir`);
  const file = checkpointFile(ctx.dataDir, ctx.name);
  let resumeAt: Position = { byte: 0, line: 0 };
  try {
    const saved = JSON.parse(fs.readFileSync(file, 'utf8')) as Stored;
    if (saved.path !== filePath || saved.dev !== stat.dev || saved.ino !== stat.ino)
      ctx.logger.info('The replay file is not the one the checkpoint is for; reading from the start.', {
        source: ctx.name,
        path: filePath,
      });
    else if (saved.byte > stat.size)
      ctx.logger.warn('The replay file is shorter than its checkpoint (truncated?); reading from the start.', {
        source: ctx.name,
        path: filePath,
        checkpoint: saved.byte,
        size: stat.size,
      });
    else {
      resumeAt = { byte: saved.byte, line: saved.line };
      ctx.logger.info('Resuming the replay at its checkpoint.', {
        source: ctx.name,
        byte: saved.byte,
        line: saved.line,
      });
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT')
      ctx.logger.warn('The replay checkpoint is unreadable; reading from the start.', {
        source: ctx.name,
        file,
        error: describeError(err),
      });
  }

  let settled = resumeAt;
  let written = resumeAt;
  let lastWriteAt = 0;
  let timer: NodeJS.Timeout | undefined;
  const pending = new Fifo<{ readonly end: Position; done: boolean }>();

  const save = (): void => {
    if (settled === written) return;
    const pos = settled;
    try {
      fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o750 });
      const tmp = `${file}.tmp`;
      const fd = fs.openSync(tmp, 'w', 0o640);
      try {
        const body: Stored = {
          version: 1,
          path: filePath,
          dev: stat.dev,
          ino: stat.ino,
          byte: pos.byte,
          line: pos.line,
        };
        fs.writeSync(fd, JSON.stringify(body) + '\n');
        fs.fsyncSync(fd);
      } finally {
        fs.closeSync(fd);
      }
      fs.renameSync(tmp, file);
      const dfd = fs.openSync(path.dirname(file), 'r');
      try {
        fs.fsyncSync(dfd);
      } finally {
        fs.closeSync(dfd);
      }
      written = pos;
      lastWriteAt = Date.now();
    } catch (err) {
      ctx.logger.burst('WARN', 'checkpoint', 'Saving the replay checkpoint failed; retrying.', {
        source: ctx.name,
        file,
        error: describeError(err),
      });
    }
  };

  const schedule = (): void => {
    if (timer !== undefined) return;
    const wait = Math.max(0, lastWriteAt + WRITE_INTERVAL_MILLIS - Date.now());
    timer = setTimeout(() => {
      timer = undefined;
      save();
    }, wait);
    timer.unref();
  };

  return {
    resumeAt,
    get settled() {
      return settled;
    },
    track(events, end) {
      const entry = { end, done: false };
      pending.push(entry);
      return {
        events,
        settled: () => {
          if (entry.done) return;
          entry.done = true;
          let moved = false;
          while (pending.length > 0 && (pending.peek() as { done: boolean }).done) {
            settled = (pending.shift() as { end: Position }).end;
            moved = true;
          }
          if (moved) schedule();
        },
      };
    },
    close() {
      if (timer !== undefined) clearTimeout(timer);
      timer = undefined;
      save();
    },
  };
}
