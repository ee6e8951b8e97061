/**
 * The contract of a top-level configuration section owned by another part of aegisbpf (`metrics`, `control`, …).
 *
 * This file imports nothing, on purpose: the sections' owners import this type and the registry (./sections.ts)
 * imports the owners, so the type must not live in the registry or the two would import each other (the circle
 * scripts/check-imports.js rejects).
 */
export interface ConfigSection {
  readonly key: string;
  /** JSON Schema of the section (the same shape as JsonSchemaObject in src/formatters/types.ts). */
  readonly schema: Readonly<Record<string, unknown>>;
  /**
   * Semantic checks, pure; messages relative to the section (`port: …`). `raw` is an object, or an array for a
   * list section (`alerts`); `document` is the whole configuration, for references to other sections.
   */
  check?(raw: Readonly<Record<string, unknown>>, document?: Readonly<Record<string, unknown>>): string[];
}
