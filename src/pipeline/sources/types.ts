import type { AegisEvent } from '../../event/types';
import type { JsonSchemaObject } from '../../formatters/types';
import type { SourceStats, StatsRegistry } from '../../telemetry/stats';
import type { Logger } from '../../util/logger';
import type { DeadLetterQueue } from '../../sinks/core/dead-letter';

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
}

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
