/**
 * `replay`: events from an NDJSON file (demos, tests without root, re-sending a dead-letter file's events after
 * extracting them). `rate` paces the output in events per second (0: as fast as the pipeline takes them); `loop`
 * starts over at the end of the file (a pass that yields no valid event stops the loop, with a warning).
 */
import fs from 'node:fs';
import path from 'node:path';
import type { AegisEvent } from '../../event/types';
import { AegisError, describeError } from '../../util/errors';
import { sleep } from '../../sinks/core/retry';
import { DEFAULT_MAX_LINE_BYTES, decodeNdjsonStream, maxLineBytesSchema } from './ndjson';
import type { ReplayCheckpoint } from './checkpoint';
import { openReplayCheckpoint } from './checkpoint';
import { readRawLines } from './raw-lines';
import type { RawItem, Source, SourceContext, SourceDefinition, TrackedChunk } from './types';

export interface ReplayOptions {
  readonly path: string;
  /** Events per second; 0 = unpaced. */
  readonly rate: number;
  readonly loop: boolean;
  readonly chunkEvents: number;
  readonly maxLineBytes: number;
  /** Keep the position of settled events in data_dir and resume there (checkpoint.ts). */
  readonly checkpoint?: boolean;
}

/*
 * 64 KiB, Node's default. Each chunk becomes one decoded string; above V8's regular object limit (~128 KiB) that
 * string is a large object, which lives in the old generation until a full GC however briefly it is used. With
 * 1 MiB chunks the replay benchmark peaked at 207-225 MiB RSS; with 64 KiB at 125-135 MiB, 10 % less CPU
 * (docs/benchmarks.md, pipeline). 16 KiB costs more CPU in read calls; 128 KiB is back over the limit.
 */
const READ_CHUNK_BYTES = 64 * 1024;

/**
 * The file's bytes, READ_CHUNK_BYTES at a time, read into one buffer that every chunk reuses: the consumer
 * (decodeNdjsonStream) decodes a chunk into a string before it asks for the next. A `fs.ReadStream` allocates a new
 * 64 KiB Buffer per read and runs the stream machinery around it: reading a 151 MB file took 195-396 ms of CPU that
 * way and 95-142 ms this way (one core, page cache; docs/benchmarks.md, pipeline).
 */
async function* readChunks(
  handle: fs.promises.FileHandle,
  failed: (err: unknown) => Error,
  startByte = 0,
): AsyncGenerator<Buffer> {
  const buffer = Buffer.allocUnsafe(READ_CHUNK_BYTES);
  let position = startByte;
  for (;;) {
    let bytesRead: number;
    try {
      ({ bytesRead } = await handle.read(buffer, 0, READ_CHUNK_BYTES, position));
      position += bytesRead;
    } catch (err) {
      throw failed(err);
    }
    if (bytesRead === 0) return;
    yield buffer.subarray(0, bytesRead);
  }
}

export function parseReplayOptions(raw: Readonly<Record<string, unknown>>): ReplayOptions {
  return {
    path: path.resolve(String(raw.path)),
    rate: typeof raw.rate === 'number' ? raw.rate : 0,
    loop: raw.loop === true,
    chunkEvents: typeof raw.chunk_events === 'number' ? raw.chunk_events : 1024,
    maxLineBytes: typeof raw.max_line_bytes === 'number' ? raw.max_line_bytes : DEFAULT_MAX_LINE_BYTES,
    checkpoint: raw.checkpoint === true,
  };
}

export function createReplaySource(options: ReplayOptions, ctx: SourceContext): Source {
  // Paced output goes out in small chunks (about 100 per second) so the rate is smooth, not bursty.
  const chunkEvents =
    options.rate > 0 ? Math.max(1, Math.min(options.chunkEvents, Math.ceil(options.rate / 100))) : options.chunkEvents;
  const cannotRead = (err: unknown): AegisError =>
    new AegisError('AEGIS_ERR_SOURCE_READ', `Source '${ctx.name}' cannot read ${options.path}: ${describeError(err)}`, {
      cause: err,
    });
  let checkpoint: ReplayCheckpoint | undefined;
  return {
    name: ctx.name,
    type: 'replay',
    async *read(signal: AbortSignal): AsyncGenerator<readonly AegisEvent[] | TrackedChunk> {
      const started = performance.now();
      let emitted = 0;
      for (let pass = 1; ; pass++) {
        let handle: fs.promises.FileHandle;
        try {
          handle = await fs.promises.open(options.path, 'r');
        } catch (err) {
          throw cannotRead(err);
        }
        let start = { byte: 0, line: 0 };
        let position = start;
        if (options.checkpoint) {
          checkpoint ??= openReplayCheckpoint(ctx, options.path, await handle.stat());
          start = checkpoint.resumeAt;
          position = start;
        }
        let passEvents = 0;
        try {
          for await (const chunk of decodeNdjsonStream(
            readChunks(handle, cannotRead, start.byte),
            ctx,
            {
              chunkEvents,
              maxLineBytes: options.maxLineBytes,
              ...(checkpoint === undefined
                ? {}
                : {
                    firstByte: start.byte,
                    firstLine: start.line + 1,
                    onPosition: (byte: number, line: number) => (position = { byte, line }),
                  }),
            },
            signal,
          )) {
            if (options.rate > 0) {
              // Pace: the n-th event is due at n / rate seconds after the start. A stop during the wait still hands
              // over this chunk: it was already read and counted.
              const dueMillis = ((emitted + chunk.length) / options.rate) * 1000 - (performance.now() - started);
              if (dueMillis > 0) await sleep(dueMillis, signal);
            }
            emitted += chunk.length;
            passEvents += chunk.length;
            yield checkpoint === undefined ? chunk : checkpoint.track(chunk, position);
            if (signal.aborted) return;
          }
        } finally {
          await handle.close();
        }
        if (!options.loop || signal.aborted) return;
        if (passEvents === 0) {
          ctx.logger.warn('Replay loop stopped: a whole pass over the file produced no valid event.', {
            source: ctx.name,
            path: options.path,
            pass,
          });
          return;
        }
      }
    },
    readRaw(signal) {
      // Paced or looped replays keep their own loop (read()); pacing needs the event count as it goes.
      if (options.rate > 0 || options.loop) return undefined;
      const items = async function* (): AsyncGenerator<RawItem> {
        let handle: fs.promises.FileHandle;
        try {
          handle = await fs.promises.open(options.path, 'r');
        } catch (err) {
          throw cannotRead(err);
        }
        try {
          let start = { byte: 0, line: 0 };
          if (options.checkpoint) {
            checkpoint ??= openReplayCheckpoint(ctx, options.path, await handle.stat());
            start = checkpoint.resumeAt;
          }
          const kept = checkpoint;
          yield* readRawLines(
            handle,
            cannotRead,
            ctx.stats,
            {
              maxLineBytes: options.maxLineBytes,
              startByte: start.byte,
              startLine: start.line,
              ...(kept === undefined
                ? {}
                : {
                    track: (byte: number) => (line: number) => {
                      const tracked = kept.track([], { byte, line });
                      return () => tracked.settled();
                    },
                  }),
            },
            signal,
          );
        } finally {
          await handle.close();
        }
      };
      return { stats: ctx.stats, maxLineBytes: options.maxLineBytes, items: items() };
    },
    close() {
      checkpoint?.close();
    },
  };
}

export const replaySource: SourceDefinition = {
  type: 'replay',
  description: 'Read events from an NDJSON file, optionally paced and looped.',
  optionsSchema: {
    properties: {
      path: { type: 'string', minLength: 1, description: 'NDJSON file of events (one JSON object per line).' },
      rate: {
        type: 'number',
        minimum: 0,
        description: 'Events per second; 0 (default) reads as fast as the pipeline takes them.',
      },
      loop: { type: 'boolean', description: 'Start over at the end of the file (default false).' },
      chunk_events: {
        type: 'integer',
        minimum: 1,
        maximum: 65536,
        description: 'Most events handed to the pipeline at once (default 1024).',
      },
      max_line_bytes: maxLineBytesSchema,
      checkpoint: {
        type: 'boolean',
        description:
          'Keep the byte offset of the events every sink settled (delivered or dead-lettered) in <data_dir>/checkpoints/ and resume there after a restart, crash included (default false: start at line 1).',
      },
    },
    required: ['path'],
  },
  check: (raw) => (raw.checkpoint === true && raw.loop === true ? ['checkpoint: cannot be combined with loop'] : []),
  create: (raw, ctx) => createReplaySource(parseReplayOptions(raw), ctx),
};
