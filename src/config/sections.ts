/**
 * Top-level configuration sections owned by other parts of aegisbpf (for example `metrics` for the Prometheus
 * endpoint, `sensor` for the kernel sensor). Each registers its schema here so the config schema and
 * `aegisbpf validate` cover it; the section's owner parses it.
 */
import type { JsonSchemaObject } from '../formatters/types';
import type { ConfigSection } from './config-section';
import { alertsConfigSection } from './alerts';
import { controlConfigSection, metricsConfigSection } from './endpoints';
import { apiConfigSection } from './api-endpoint';
import { pipelineConfigSection } from './pipeline-section';

/** Sections known to this build: one line per owner (owners import only ./config-section.ts, never this file). */
const SECTIONS: ConfigSection[] = [
  metricsConfigSection,
  controlConfigSection,
  apiConfigSection,
  alertsConfigSection,
  pipelineConfigSection,
];

export function registerConfigSection(section: ConfigSection): void {
  if (!SECTIONS.some((s) => s.key === section.key)) SECTIONS.push(section);
}

export function extraConfigSections(): {
  schema: Record<string, JsonSchemaObject>;
  sections: readonly ConfigSection[];
} {
  const schema: Record<string, JsonSchemaObject> = {};
  for (const s of SECTIONS) schema[s.key] = s.schema;
  return { schema, sections: SECTIONS };
}
