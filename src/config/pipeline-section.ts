/** The `pipeline:` section: how the engine runs (src/pipeline/engine.ts), today its worker threads. */
import type { ConfigSection } from './config-section';

/** Most worker threads: far above any core count this runs on (each one added ~50 MiB of peak RSS in bench/pipeline.ts). */
export const MAX_PIPELINE_WORKERS = 64;

export const pipelineConfigSection: ConfigSection = {
  key: 'pipeline',
  schema: {
    type: 'object',
    additionalProperties: false,
    description: 'How the engine runs the stream (docs/configuration.md#pipeline).',
    properties: {
      workers: {
        anyOf: [
          { type: 'integer', minimum: 0, maximum: MAX_PIPELINE_WORKERS },
          { type: 'string', enum: ['auto'] },
        ],
        description:
          'Worker threads that decode, filter, route and format the events of file sources (replay): 0 (default) runs everything on one thread; auto: one per CPU. Needs stateless processors only (filter, redact) and no alert rules.',
      },
    },
  },
};

/** `pipeline.workers` of a validated document: a count, 'auto', or 0 when absent. */
export function pipelineWorkersOf(doc: Readonly<Record<string, unknown>>): number | 'auto' {
  const section = doc.pipeline as Record<string, unknown> | undefined;
  const workers = section?.workers;
  return workers === 'auto' ? 'auto' : typeof workers === 'number' ? workers : 0;
}
