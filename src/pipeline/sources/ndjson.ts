/**
 * NDJSON decoding shared by the replay and stdin sources: split a byte stream on LF, parse each line as JSON,
 * validate it against the event schema. Invalid lines (bad JSON, schema violations, over-long lines) are counted
 * and dead-lettered with their line number and the reason; the stream continues.
 *
 * Lines are decoded as UTF-8 with replacement (U+FFFD) for invalid bytes; CR before LF is tolerated; blank lines
 * are skipped. A line longer than `maxLineBytes` is cut off and dead-lettered (bounded memory on input with no LF).
 */
import { StringDecoder } from 'node:string_decoder';
import type { AegisEvent } from '../../event/types';
import { explainInvalidEvent, isValidEvent } from '../../event/validate';
import type { DeadLetterEntry } from '../../sinks/core/dead-letter';
import type { SourceContext } from './types';

export interface NdjsonOptions {
  /** Most events per chunk handed to the pipeline. */
  readonly chunkEvents: number;
  readonly maxLineBytes: number;
  /** First line number (1-based) of this stream. */
  readonly firstLine?: number;
}

export const DEFAULT_MAX_LINE_BYTES = 1024 * 1024;

interface LineResult {
  events: AegisEvent[];
  invalid: DeadLetterEntry[];
}

export class NdjsonDecoder {
  private readonly utf8 = new StringDecoder('utf8');
  private partial = '';
  private skipping = false;
  private lineNo: number;

  constructor(
    private readonly ctx: SourceContext,
    private readonly options: NdjsonOptions,
  ) {
    this.lineNo = (options.firstLine ?? 1) - 1;
  }

  get linesRead(): number {
    return this.lineNo;
  }

  /** Decode the complete lines in `chunk`; an incomplete last line waits for the next chunk (or end()). */
  push(chunk: Buffer): LineResult {
    this.ctx.stats.bytes += chunk.length;
    return this.consume(this.utf8.write(chunk));
  }

  /** Flush a last line without a trailing LF. */
  end(): LineResult {
    const out = this.consume(this.utf8.end());
    if (this.partial !== '' || this.skipping) {
      const last = this.partial;
      this.partial = '';
      this.finishLine(last, out);
    }
    return out;
  }

  private consume(decoded: string): LineResult {
    const out: LineResult = { events: [], invalid: [] };
    const text = this.partial === '' ? decoded : this.partial + decoded;
    let start = 0;
    for (let nl = text.indexOf('\n'); nl !== -1; nl = text.indexOf('\n', start)) {
      this.finishLine(text.slice(start, nl), out);
      start = nl + 1;
    }
    this.partial = start === 0 ? text : text.slice(start);
    // Bound memory on input without LF: a UTF-16 unit is at least one UTF-8 byte, so this never cuts a legal line.
    if (!this.skipping && this.partial.length > this.options.maxLineBytes) {
      this.lineNo++;
      this.skipping = true;
      this.reject(out, `line is longer than ${this.options.maxLineBytes} bytes`, this.partial.slice(0, 256) + '…');
      this.partial = '';
    } else if (this.skipping) {
      this.partial = '';
    }
    return out;
  }

  private finishLine(line: string, out: LineResult): void {
    if (this.skipping) {
      // The over-long line was already counted and dead-lettered when it crossed the bound.
      this.skipping = false;
      return;
    }
    this.lineNo++;
    const max = this.options.maxLineBytes;
    if (line.length > max / 3 && Buffer.byteLength(line) > max) {
      this.reject(out, `line is longer than ${max} bytes`, line.slice(0, 256) + '…');
      return;
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
    if (isValidEvent(value)) out.events.push(value);
    else this.reject(out, `not a valid event: ${explainInvalidEvent(value) ?? 'schema mismatch'}`, text);
  }

  private reject(out: LineResult, reason: string, raw: string): void {
    this.ctx.stats.invalid++;
    out.invalid.push({ source: this.ctx.name, code: 'AEGIS_ERR_EVENT_INVALID', reason: `line ${this.lineNo}: ${reason}`, line: this.lineNo, raw });
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
      ctx.logger.burst('WARN', 'invalid-lines', 'Input lines were not valid events; they went to the dead-letter file.', {
        source: ctx.name, code: 'AEGIS_ERR_EVENT_INVALID', count: result.invalid.length, first: result.invalid[0]?.reason,
      });
      await ctx.deadLetter.write(result.invalid);
    }
    // Count events as they are handed to the pipeline (not when decoded): a stop between chunks leaves the rest
    // unread, not lost.
    const events = result.events;
    if (events.length <= options.chunkEvents) {
      if (events.length > 0) {
        ctx.stats.events += events.length;
        yield events;
      }
      return;
    }
    for (let i = 0; i < events.length; i += options.chunkEvents) {
      if (signal.aborted) return;
      const chunk = events.slice(i, i + options.chunkEvents);
      ctx.stats.events += chunk.length;
      yield chunk;
    }
  };
  for await (const chunk of stream) {
    if (signal.aborted) return decoder.linesRead;
    yield* emit(decoder.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk));
  }
  if (!signal.aborted) yield* emit(decoder.end());
  return decoder.linesRead;
}
