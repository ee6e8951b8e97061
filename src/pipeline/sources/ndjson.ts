/**
 * NDJSON decoding shared by the replay and stdin sources: split a byte stream on LF, parse each line as JSON,
 * validate it against the event schema. Invalid lines (bad JSON, schema violations, over-long lines) are counted
 * and dead-lettered with their line number and the reason; the stream continues.
 *
 * Lines are decoded as UTF-8 with replacement (U+FFFD) for invalid bytes; CR before LF is tolerated; blank lines
 * are skipped. A line longer than `maxLineBytes` is dead-lettered with its size and its first 256 characters; past
 * the bound its bytes are only counted, never kept (bounded memory on input with no LF).
 *
 * Linear time: the pieces of a line that spans chunks are collected and joined once, when its LF arrives. (Appending
 * each chunk to the pending text and searching it again made a 50 MB line take 17 s and 359 MB.)
 */
import { StringDecoder } from 'node:string_decoder';
import type { AegisEvent } from '../../event/types';
import { explainInvalidEvent, isValidEvent } from '../../event/validate';
import type { DeadLetterEntry } from '../../sinks/core/dead-letter';
import { MAX_REASON_CHARS, capText } from '../../util/bounded-text';
import { byteSizeSchema } from '../../util/byte-size';
import type { SourceContext } from './types';

export interface NdjsonOptions {
  /** Most events per chunk handed to the pipeline. */
  readonly chunkEvents: number;
  readonly maxLineBytes: number;
  /** First line number (1-based) of this stream. */
  readonly firstLine?: number;
  /** Byte offset of the stream's start in its file (a resumed replay); positions count from it. */
  readonly firstByte?: number;
  /**
   * Called right before each chunk is yielded with the position just past its last event's line: the byte offset
   * in the file and the line number (a checkpoint: resuming there loses nothing of this chunk). Set only by sources
   * that keep a position; it makes the decoder measure every line's UTF-8 length.
   */
  readonly onPosition?: (endByte: number, endLine: number) => void;
  /** Keep each valid event's line text (LineResult.texts), for a reader that passes the text on (pipeline workers). */
  readonly keepText?: boolean;
}

export const DEFAULT_MAX_LINE_BYTES = 1024 * 1024;
/**
 * Upper bound of `max_line_bytes`: 64 MiB. A line is held as a string (up to 2 bytes per character) while it is
 * parsed into objects several times its size, per source; 64 MiB keeps that within a few hundred MB and far below
 * V8's longest string (2^29 − 24 characters), while staying far above any real event (the sensor bounds a command
 * line to 4096 arguments; the kernel's own argument limit is a few MiB).
 */
export const MAX_MAX_LINE_BYTES = 64 * 1024 * 1024;

/** The config schema of `max_line_bytes`, shared by the sources that read NDJSON. */
export const maxLineBytesSchema = byteSizeSchema(
  64,
  `Longer lines are dead-lettered with their size (default ${DEFAULT_MAX_LINE_BYTES}, at most ${MAX_MAX_LINE_BYTES}: 64 MiB).`,
  MAX_MAX_LINE_BYTES,
);

/** Characters of an over-long line kept for its dead-letter entry. */
export const HEAD_CHARS = 256;

/** The dead-letter reason of a line over max_line_bytes (without its `line N: ` prefix). */
export function tooLongReason(maxLineBytes: number, bytes: number): string {
  return `line is longer than ${maxLineBytes} bytes (max_line_bytes): ${bytes} bytes`;
}

interface LineResult {
  events: AegisEvent[];
  invalid: DeadLetterEntry[];
  /** With positions: byte offset just past each event's line, parallel to events. */
  ends?: number[];
  /** With keepText: each event's line (without CR/LF), parallel to events. */
  texts?: string[];
}

export class NdjsonDecoder {
  private readonly utf8 = new StringDecoder('utf8');
  /** The incomplete last line, in pieces; joined once when it completes. Empty while skipping. */
  private pieces: string[] = [];
  private piecesChars = 0;
  /** UTF-8 bytes of the incomplete line so far, kept or skipped. */
  private pendingBytes = 0;
  /** The incomplete line passed maxLineBytes: the rest of it is counted and discarded until its LF. */
  private skipping = false;
  private head = '';
  private lineNo: number;
  /** With positions: byte offset just past the last complete line. */
  private byteOffset: number;
  private readonly positions: boolean;

  constructor(
    private readonly ctx: SourceContext,
    private readonly options: NdjsonOptions,
  ) {
    this.lineNo = (options.firstLine ?? 1) - 1;
    this.byteOffset = options.firstByte ?? 0;
    this.positions = options.onPosition !== undefined;
  }

  get linesRead(): number {
    return this.lineNo;
  }

  /** With positions: byte offset just past the last complete line (0 without). */
  get bytesDone(): number {
    return this.byteOffset;
  }

  /** Characters of an incomplete line held in memory (at most about maxLineBytes: past it, nothing is held). */
  get heldChars(): number {
    return this.piecesChars;
  }

  /** Decode the complete lines in `chunk`; an incomplete last line waits for the next chunk (or end()). */
  push(chunk: Buffer): LineResult {
    this.ctx.stats.bytes += chunk.length;
    return this.consume(this.utf8.write(chunk));
  }

  /** Flush a last line without a trailing LF. */
  end(): LineResult {
    const out = this.consume(this.utf8.end());
    if (this.pendingBytes > 0) this.completeLine('', out);
    return out;
  }

  private consume(decoded: string): LineResult {
    const out: LineResult = this.positions ? { events: [], invalid: [], ends: [] } : { events: [], invalid: [] };
    if (this.options.keepText === true) out.texts = [];
    let start = 0;
    for (let nl = decoded.indexOf('\n'); nl !== -1; nl = decoded.indexOf('\n', start)) {
      this.completeLine(decoded.slice(start, nl), out);
      start = nl + 1;
    }
    if (start < decoded.length) this.append(start === 0 ? decoded : decoded.slice(start));
    return out;
  }

  /** Add a piece to the incomplete line, or only count it once the line is over the bound. */
  private append(piece: string): void {
    const bytes = Buffer.byteLength(piece);
    this.pendingBytes += bytes;
    if (this.skipping) return;
    if (this.pendingBytes > this.options.maxLineBytes) {
      // Keep the first characters for the dead-letter entry and let go of the rest.
      for (const p of [...this.pieces, piece]) {
        this.head += p.slice(0, HEAD_CHARS - this.head.length);
        if (this.head.length >= HEAD_CHARS) break;
      }
      this.pieces = [];
      this.piecesChars = 0;
      this.skipping = true;
      return;
    }
    this.pieces.push(piece);
    this.piecesChars += piece.length;
  }

  /** The line ending at an LF (or at the end of input): the pending pieces, if any, then `last`. */
  private completeLine(last: string, out: LineResult): void {
    if (this.pendingBytes === 0) {
      this.finishLine(last, out);
      return;
    }
    if (this.skipping) {
      const bytes = this.pendingBytes + Buffer.byteLength(last);
      if (this.positions) this.byteOffset += bytes + 1;
      const head = this.head;
      this.resetPending();
      this.lineNo++;
      this.reject(out, this.tooLong(bytes), head + '…');
      return;
    }
    this.pieces.push(last);
    const line = this.pieces.join('');
    this.resetPending();
    this.finishLine(line, out);
  }

  private resetPending(): void {
    this.pieces = [];
    this.piecesChars = 0;
    this.pendingBytes = 0;
    this.skipping = false;
    this.head = '';
  }

  private tooLong(bytes: number): string {
    return tooLongReason(this.options.maxLineBytes, bytes);
  }

  private finishLine(line: string, out: LineResult): void {
    this.lineNo++;
    // + 1 for the LF (a last line without one is only seen at the end, where the offset no longer matters)
    if (this.positions) this.byteOffset += Buffer.byteLength(line) + 1;
    const max = this.options.maxLineBytes;
    // A UTF-16 unit is at most 3 UTF-8 bytes: only a line longer than max/3 units can be over the bound.
    if (line.length > max / 3) {
      const bytes = Buffer.byteLength(line);
      if (bytes > max) {
        this.reject(out, this.tooLong(bytes), line.slice(0, HEAD_CHARS) + '…');
        return;
      }
    }
    const text = line.endsWith('\r') ? line.slice(0, -1) : line;
    if (text === '' || text.trim() === '') return;
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (err) {
      this.reject(out, `invalid JSON: ${(err as Error).message}`, text);
      return;
    }
    if (isValidEvent(value)) {
      out.events.push(value);
      out.ends?.push(this.byteOffset);
      out.texts?.push(text);
    } else this.reject(out, `not a valid event: ${explainInvalidEvent(value) ?? 'schema mismatch'}`, text);
  }

  private reject(out: LineResult, reason: string, raw: string): void {
    this.ctx.stats.invalid++;
    // Reasons are bounded where they are built (explainInvalidEvent); this cap also covers JSON.parse's message.
    out.invalid.push({
      source: this.ctx.name,
      code: 'AEGIS_ERR_EVENT_INVALID',
      reason: capText(`line ${this.lineNo}: ${reason}`, MAX_REASON_CHARS),
      line: this.lineNo,
      raw,
    });
  }
}

/**
 * Turn a byte stream into event chunks. Dead-letters invalid lines as they are found (awaiting the write, so the
 * dead-letter file is complete before the stream moves on) and logs them once per burst.
 *
 * Each chunk of `stream` is decoded (copied into a string) before the next one is requested, so a stream may hand
 * over the same Buffer every time, refilled (the replay source does).
 */
export async function* decodeNdjsonStream(
  stream: AsyncIterable<Buffer | string>,
  ctx: SourceContext,
  options: NdjsonOptions,
  signal: AbortSignal,
): AsyncGenerator<readonly AegisEvent[], number> {
  const decoder = new NdjsonDecoder(ctx, options);
  const emit = async function* (result: LineResult): AsyncGenerator<readonly AegisEvent[]> {
    if (result.invalid.length > 0) {
      ctx.logger.burst(
        'WARN',
        'invalid-lines',
        'Input lines were not valid events; they went to the dead-letter file.',
        {
          source: ctx.name,
          code: 'AEGIS_ERR_EVENT_INVALID',
          count: result.invalid.length,
          first: result.invalid[0]?.reason,
        },
      );
      await ctx.deadLetter.write(result.invalid);
    }
    // Count events as they are handed to the pipeline (not when decoded): a stop between chunks leaves the rest
    // unread, not lost.
    const events = result.events;
    const { onPosition } = options;
    if (events.length <= options.chunkEvents) {
      if (events.length > 0) {
        ctx.stats.events += events.length;
        // The last chunk of a push: every complete line so far is handled (invalid ones dead-lettered above).
        onPosition?.(decoder.bytesDone, decoder.linesRead);
        yield events;
      }
      return;
    }
    for (let i = 0; i < events.length; i += options.chunkEvents) {
      if (signal.aborted) return;
      const chunk = events.slice(i, i + options.chunkEvents);
      ctx.stats.events += chunk.length;
      if (onPosition !== undefined) {
        const lastOfPush = i + options.chunkEvents >= events.length;
        const end = lastOfPush ? decoder.bytesDone : (result.ends?.[i + chunk.length - 1] ?? decoder.bytesDone);
        // A line number for an inner chunk is not kept: the byte offset is what a resume uses; the line only
        // numbers dead-letter entries, so an inner chunk reports the push's last line (never too low).
        onPosition(end, decoder.linesRead);
      }
      yield chunk;
    }
  };
  // A stop ends the wait for the next chunk too: standard input from a pipe that stays open (`tail -f … |`) never
  // yields again, and waiting for it held `aegisbpf run` past SIGTERM and its shutdown timeout for ever.
  const iterator = stream[Symbol.asyncIterator]();
  let onAbort: (() => void) | undefined;
  const stopped = new Promise<'stopped'>((resolve) => {
    onAbort = () => resolve('stopped');
    if (signal.aborted) onAbort();
    else signal.addEventListener('abort', onAbort, { once: true });
  });
  let finished = false;
  try {
    for (;;) {
      const next = iterator.next();
      const r = await Promise.race([next, stopped]);
      if (r === 'stopped') {
        next.catch(() => undefined); // the stream is ended below; its pending read may fail with that
        return decoder.linesRead;
      }
      if (r.done === true) break;
      const chunk = r.value;
      yield* emit(decoder.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk));
    }
    finished = true;
  } finally {
    signal.removeEventListener('abort', onAbort as () => void);
    // Left early (a stop, or the consumer stopped): end the stream, as `for await` would.
    if (!finished) void Promise.resolve(iterator.return?.()).catch(() => undefined);
  }
  if (!signal.aborted) yield* emit(decoder.end());
  return decoder.linesRead;
}
