/**
 * NDJSON decoding shared by the replay and stdin sources: split a byte stream on LF, parse each line as JSON,
 * validate it against the event schema. Invalid lines (bad JSON, schema violations, over-long lines) are counted
 * and dead-lettered with their line number and the reason; the stream continues.
 *
 * Lines are decoded as UTF-8 with replacement (U+FFFD) for invalid bytes; CR before LF is tolerated; blank lines
 * are skipped. A line longer than `maxLineBytes` is cut off and dead-lettered (bounded memory on input with no LF).
 */
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
  private pending: Buffer[] = [];
  private pendingBytes = 0;
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
    const out: LineResult = { events: [], invalid: [] };
    let start = 0;
    for (;;) {
      const nl = chunk.indexOf(10, start);
      if (nl === -1) break;
      this.finishLine(chunk.subarray(start, nl), out);
      start = nl + 1;
    }
    if (start < chunk.length) this.addPartial(chunk.subarray(start), out);
    this.ctx.stats.bytes += chunk.length;
    return out;
  }

  /** Flush a last line without a trailing LF. */
  end(): LineResult {
    const out: LineResult = { events: [], invalid: [] };
    if (this.pendingBytes > 0 || this.skipping) this.finishLine(Buffer.alloc(0), out);
    return out;
  }

  private addPartial(part: Buffer, out: LineResult): void {
    if (this.skipping) return;
    if (this.pendingBytes + part.length > this.options.maxLineBytes) {
      this.skipping = true;
      this.lineNo++;
      this.reject(out, `line is longer than ${this.options.maxLineBytes} bytes`, Buffer.concat([...this.pending, part]).subarray(0, 256).toString('utf8') + '…');
      this.pending = [];
      this.pendingBytes = 0;
      return;
    }
    this.pending.push(Buffer.from(part)); // copy: the stream may reuse its buffer
    this.pendingBytes += part.length;
  }

  private finishLine(tail: Buffer, out: LineResult): void {
    if (this.skipping) {
      // The over-long line was already counted and dead-lettered when it crossed the bound.
      this.skipping = false;
      return;
    }
    let bytes = tail;
    if (this.pending.length > 0) {
      bytes = Buffer.concat([...this.pending, tail]);
      this.pending = [];
      this.pendingBytes = 0;
    }
    this.lineNo++;
    if (bytes.length > this.options.maxLineBytes) {
      this.reject(out, `line is longer than ${this.options.maxLineBytes} bytes`, bytes.subarray(0, 256).toString('utf8') + '…');
      return;
    }
    let text = bytes.toString('utf8');
    if (text.endsWith('\r')) text = text.slice(0, -1);
    if (text.trim() === '') return;
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (err) {
      this.reject(out, `invalid JSON: ${(err as Error).message}`, text);
      return;
    }
    if (isValidEvent(value)) {
      out.events.push(value);
      this.ctx.stats.events++;
    } else {
      this.reject(out, `not a valid event: ${explainInvalidEvent(value) ?? 'schema mismatch'}`, text);
    }
  }

  private reject(out: LineResult, reason: string, raw: string): void {
    this.ctx.stats.invalid++;
    out.invalid.push({ source: this.ctx.name, code: 'AEGIS_ERR_EVENT_INVALID', reason: `line ${this.lineNo}: ${reason}`, line: this.lineNo, raw });
  }
}

/**
 * Turn a byte stream into event chunks. Dead-letters invalid lines as they are found (awaiting the write, so the
 * dead-letter file is complete before the stream moves on) and logs them once per burst.
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
    const events = result.events;
    if (events.length <= options.chunkEvents) {
      if (events.length > 0) yield events;
      return;
    }
    for (let i = 0; i < events.length; i += options.chunkEvents) yield events.slice(i, i + options.chunkEvents);
  };
  for await (const chunk of stream) {
    if (signal.aborted) return decoder.linesRead;
    yield* emit(decoder.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk));
  }
  if (!signal.aborted) yield* emit(decoder.end());
  return decoder.linesRead;
}
