/** `stdin`: events as NDJSON on standard input, until end of input. */
import type { AegisEvent } from '../../event/types';
import { DEFAULT_MAX_LINE_BYTES, decodeNdjsonStream, maxLineBytesSchema } from './ndjson';
import type { Source, SourceContext, SourceDefinition } from './types';

export function createStreamSource(
  stream: AsyncIterable<Buffer | string>,
  ctx: SourceContext,
  chunkEvents = 1024,
  maxLineBytes = DEFAULT_MAX_LINE_BYTES,
): Source {
  return {
    name: ctx.name,
    type: 'stdin',
    async *read(signal: AbortSignal): AsyncGenerator<readonly AegisEvent[]> {
      yield* decodeNdjsonStream(stream, ctx, { chunkEvents, maxLineBytes }, signal);
    },
  };
}

export const stdinSource: SourceDefinition = {
  type: 'stdin',
  description: 'Read events as NDJSON from standard input.',
  onePerDaemon: 'a process has one standard input; two readers would split its lines between them',
  optionsSchema: {
    properties: {
      chunk_events: {
        type: 'integer',
        minimum: 1,
        maximum: 65536,
        description: 'Most events handed to the pipeline at once (default 1024).',
      },
      max_line_bytes: maxLineBytesSchema,
    },
  },
  create: (raw, ctx) => ({
    ...createStreamSource(
      process.stdin,
      ctx,
      typeof raw.chunk_events === 'number' ? raw.chunk_events : 1024,
      typeof raw.max_line_bytes === 'number' ? raw.max_line_bytes : DEFAULT_MAX_LINE_BYTES,
    ),
    // After a stop with the input still open (a pipe whose writer lives on): let go of it, so the process can end.
    close: () => {
      process.stdin.destroy();
      return Promise.resolve();
    },
  }),
};
