/** Processors are found by type here. Adding one is one file plus one line. */
import { anomalyProcessor } from './anomaly';
import { dedupeProcessor } from './dedupe';
import { enrichProcessor } from './enrich';
import { filterProcessor } from './filter';
import { redactProcessor } from './redact';
import { sampleProcessor } from './sample';
import { throttleProcessor } from './throttle';
import type { ProcessorDefinition } from './types';

const PROCESSORS: readonly ProcessorDefinition[] = [
  filterProcessor,
  sampleProcessor,
  throttleProcessor,
  dedupeProcessor,
  enrichProcessor,
  redactProcessor,
  anomalyProcessor,
];

const BY_TYPE = new Map(PROCESSORS.map((p) => [p.type, p]));

export function processorTypes(): string[] {
  return [...BY_TYPE.keys()].sort();
}

export function getProcessorDefinition(type: string): ProcessorDefinition | undefined {
  return BY_TYPE.get(type);
}
