import type { AegisEvent } from '../../event/types';
import type { JsonSchemaObject } from '../../formatters/types';
import type { SourceStats, StatsRegistry } from '../../telemetry/stats';
import type { Logger } from '../../util/logger';
import type { DeadLetterQueue } from '../../sinks/core/dead-letter';
import type { AnalyticsStore } from '../analytics-view';

/**
 * A source yields chunks of valid canonical events. The engine awaits each chunk's delivery into the sink buffers
 * before asking for the next, so a slow sink slows the source (backpressure): a source must not read ahead
 * without bound. Invalid input is the source's to count and dead-letter; it never stops the stream.
 */
export interface Source {
  readonly name: string;
  readonly type: string;
  /**
   * Chunks until the input ends or `signal` aborts. A plain array costs nothing extra; a TrackedChunk is for a
   * source that keeps a position (checkpoints, Kafka offsets) and must hear when its events are safe.
   */
  read(signal: AbortSignal): AsyncIterable<readonly AegisEvent[] | TrackedChunk>;
  /**
   * Called once by the engine's shutdown after every sink closed (every settle that will happen has happened):
   * persist the position (checkpoints, offsets). Optional.
   */
  close?(): void | Promise<void>;
  /**
   * The source's input as complete NDJSON lines, for the pipeline's worker threads to decode (pipeline.workers);
   * undefined when this configuration needs read() (e.g. a paced or looped replay). Optional.
   */
  readRaw?(signal: AbortSignal): RawRead | undefined;
}

/** A source's input as raw lines (Source.readRaw). */
export interface RawRead {
  /** Counted by whoever decodes the lines: events, invalid (the source itself counts bytes). */
  readonly stats: SourceStats;
  readonly maxLineBytes: number;
  readonly items: AsyncIterable<RawItem>;
}

/**
 * LF-terminated lines (the last line of the input may lack its LF), or one line longer than max_line_bytes that the
 * reader skipped (counted, never held). `restartLine`: the line number before this item's first line when the count
 * starts over (a resumed replay); `track`, with a position kept: called once the item's lines are counted, with the
 * number of the item's last line; returns what to call when every event of the item is settled.
 */
export type RawItem =
  | {
      readonly kind: 'lines';
      readonly bytes: Uint8Array;
      readonly restartLine?: number;
      readonly track?: (endLine: number) => () => void;
      /**
       * Where line `n` (1-based within this item) came from, for its dead-letter reason, when that is not a line
       * number (the kafka source: `kafka topic … partition … offset …`).
       */
      readonly where?: (n: number) => string;
    }
  | {
      readonly kind: 'too_long';
      readonly bytes: number;
      readonly head: string;
      readonly restartLine?: number;
      readonly track?: (endLine: number) => () => void;
    };

/** A chunk whose delivery the source wants to hear about (checkpoints, Kafka offsets). */
export interface TrackedChunk {
  readonly events: readonly AegisEvent[];
  /** Called exactly once, when every event of the chunk has a final outcome (delivered, dead-lettered, dropped by
   *  a processor, unrouted, dropped by when_full) in every sink it was routed to. Chunks may settle out of order. */
  settled(): void;
}

/** The events of a chunk, tracked or not. */
export function chunkEvents(chunk: readonly AegisEvent[] | TrackedChunk): readonly AegisEvent[] {
  return isTrackedChunk(chunk) ? chunk.events : chunk;
}

export function isTrackedChunk(chunk: readonly AegisEvent[] | TrackedChunk): chunk is TrackedChunk {
  return !Array.isArray(chunk);
}

export interface SourceContext {
  readonly name: string;
  readonly logger: Logger;
  readonly stats: SourceStats;
  readonly deadLetter: DeadLetterQueue;
  readonly hostname: string;
  /** The configuration's data_dir (state that outlives a run, e.g. the sensor's applied policies). */
  readonly dataDir?: string;

  /**
   * The daemon's stats registry: a source that is the kernel sensor sets `registry.sensor` and registers its
   * `sensor` readiness check here (docs/metrics.md#the-kernel-sensor-in-the-daemon). Absent in tests that build sources alone.
   */
  readonly registry?: StatsRegistry;
  /** Where analytics sources (trends, host) record what the control API reads (src/pipeline/analytics-view.ts). */
  readonly analytics?: AnalyticsStore;
}

export interface SourceDefinition {
  readonly type: string;
  readonly description: string;
  readonly optionsSchema: {
    readonly properties: Readonly<Record<string, JsonSchemaObject>>;
    readonly required?: readonly string[];
  };
  check?(raw: Readonly<Record<string, unknown>>): string[];
  /** Set when a configuration may hold at most one source of this type: why (shown by `aegisbpf validate`). */
  readonly onePerDaemon?: string;
  create(raw: Readonly<Record<string, unknown>>, context: SourceContext): Source;
}
