import type { AegisEvent } from '../../event/types';
import type { JsonSchemaObject } from '../../formatters/types';
import type { PipelineStats } from '../../telemetry/stats';
import type { Logger } from '../../util/logger';
import type { AnalyticsStore } from '../analytics-view';

/**
 * A processor is a function over a chunk of events that returns the events to keep (new objects where it changes
 * them; events are immutable). Stateful ones (sample, throttle, dedupe) keep bounded state in their closure.
 */
export interface Processor {
  readonly name: string;
  readonly type: string;
  process(events: readonly AegisEvent[]): readonly AegisEvent[];
  /** Persist what must outlive the run (the anomaly processor's learned state); called once when the engine closes. */
  close?(): void;
}

export interface ProcessorContext {
  readonly name: string;
  readonly stats: PipelineStats;
  readonly logger: Logger;
  readonly hostname: string;
  readonly now: () => number;
  /** Monotonic-clock zero as wall-clock nanoseconds since the epoch (for start_time conversion). */
  readonly bootWallNanos: bigint;
  /** The configuration's data_dir (state that outlives a run, e.g. what the anomaly processor learned). */
  readonly dataDir?: string;
  /** Where the anomaly processor records its findings for the control API (src/pipeline/analytics-view.ts). */
  readonly analytics?: AnalyticsStore;
}

export interface ProcessorDefinition {
  readonly type: string;
  readonly description: string;
  readonly optionsSchema: {
    readonly properties: Readonly<Record<string, JsonSchemaObject>>;
    readonly required?: readonly string[];
  };
  /** Keys holding secrets (see SinkDefinition.secrets). */
  readonly secrets?: readonly string[];
  /** Semantic checks (expressions parse, fields exist); pure; messages `key: problem`. */
  check?(raw: Readonly<Record<string, unknown>>): string[];
  create(raw: Readonly<Record<string, unknown>>, context: ProcessorContext): Processor;
}
