/**
 * The shape of configuration the engine runs from. Defined here, below src/config/ (the assembly layer that loads
 * and validates YAML): config/load.ts produces an AegisConfig that satisfies PipelineConfig, so the engine never
 * imports from the layer above it.
 */
import type { SinkEntry } from '../sinks/build';
import type { RouteSpec } from './router';

/** A configured source or processor: its name, its type, and the validated entry (env substituted, `type` included). */
export interface NamedEntry {
  readonly name: string;
  readonly type: string;
  readonly raw: Readonly<Record<string, unknown>>;
}

export interface PipelineConfig {
  /** Where components keep state (checkpoints, HEC channel ids). Absolute. */
  readonly dataDir: string;
  /** `path` undefined: dead-lettering is disabled (entries are counted as failed). */
  readonly deadLetter: { readonly path: string | undefined; readonly maxBytes: number };
  readonly sources: readonly NamedEntry[];
  readonly processors: readonly NamedEntry[];
  readonly routes: readonly RouteSpec[];
  readonly sinks: readonly SinkEntry[];
  /** The `alerts:` rules as validated (src/pipeline/alerts/rule.ts parses them); none when absent. */
  readonly alerts?: readonly Readonly<Record<string, unknown>>[];
  /** `pipeline.workers`: worker threads that decode, process and format (0 or absent: none; 'auto': one per CPU). */
  readonly workers?: number | 'auto';
}
