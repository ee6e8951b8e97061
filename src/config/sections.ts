/**
 * Top-level configuration sections owned by other parts of aegisbpf (for example `metrics` for the Prometheus
 * endpoint, `sensor` for the kernel sensor). Each registers its schema here so the config schema and
 * `aegisbpf validate` cover it; the section's owner parses it.
 */
import type { JsonSchemaObject } from '../formatters/types';
import { controlConfigSection, metricsConfigSection } from '../telemetry/endpoints-config';

export interface ConfigSection {
  readonly key: string;
  readonly schema: JsonSchemaObject;
  /** Semantic checks, pure; messages relative to the section (`port: …`). */
  check?(raw: Readonly<Record<string, unknown>>): string[];
}

/** Sections known to this build: one line per owner (the endpoint module imports only types from here). */
const SECTIONS: ConfigSection[] = [metricsConfigSection, controlConfigSection];

export function registerConfigSection(section: ConfigSection): void {
  if (!SECTIONS.some((s) => s.key === section.key)) SECTIONS.push(section);
}

export function extraConfigSections(): { schema: Record<string, JsonSchemaObject>; sections: readonly ConfigSection[] } {
  const schema: Record<string, JsonSchemaObject> = {};
  for (const s of SECTIONS) schema[s.key] = s.schema;
  return { schema, sections: SECTIONS };
}
