/**
 * Validation of canonical events against rules/schema/event.schema.json with ajv, compiled once per process.
 *
 * Two validators, one contract:
 * - the published schema as written (draft 2020-12, all errors), the authority and the source of error messages;
 * - a fast path for the hot loop, derived mechanically from the same schema: one flattened schema per event type
 *   (common + type properties, `additionalProperties: false`, which for a flat event is what the published
 *   `allOf`/`if`/`unevaluatedProperties` means) compiled with `unicode: false`, so string lengths are UTF-16 code
 *   units instead of code points. Code units are never fewer than code points, so the fast path is at least as
 *   strict: whatever it accepts, the published schema accepts. Whatever it rejects is checked again by the published
 *   schema, so an event is never refused that the schema allows.
 * test/event/validate.test.ts checks the two agree on generated and mutated events.
 */
import fs from 'node:fs';
import type { ErrorObject, ValidateFunction } from 'ajv';
import type { AegisEvent } from './types';
import type { ValidatorSpec } from '../util/precompiled-validator';
import { createAjv2020, loadValidator } from '../util/precompiled-validator';
import { packagePath } from '../util/paths';

export const EVENT_SCHEMA_PATH = packagePath('rules', 'schema', 'event.schema.json');

interface PublishedSchema {
  readonly properties: Record<string, unknown>;
  readonly required: readonly string[];
  readonly $defs: Record<string, { readonly properties: Record<string, unknown>; readonly required: readonly string[] }>;
}

interface Compiled {
  readonly schema: Record<string, unknown>;
  readonly full: ValidateFunction;
  readonly fast: ReadonlyMap<string, ValidateFunction>;
}

let cached: Compiled | undefined;

/** The per-type flattened schemas the fast path uses (exported for tests). */
export function flattenedSchemas(schema: PublishedSchema): Map<string, Record<string, unknown>> {
  const out = new Map<string, Record<string, unknown>>();
  for (const [type, def] of Object.entries(schema.$defs)) {
    out.set(type, {
      type: 'object',
      properties: { ...schema.properties, ...def.properties, type: { const: type } },
      required: [...new Set([...schema.required, ...def.required])],
      additionalProperties: false,
    });
  }
  return out;
}

const FULL_OPTIONS = { allErrors: true, strict: true, strictTuples: false } as const;
const FAST_OPTIONS = { allErrors: false, strict: false, unicode: false } as const;

function readSchema(): Record<string, unknown> {
  return JSON.parse(fs.readFileSync(EVENT_SCHEMA_PATH, 'utf8')) as Record<string, unknown>;
}

/**
 * The event validators' schemas and ajv set-up, the published one (`event`) and one fast path per type
 * (`event-<type>`); precompiled by the build (src/util/precompiled-validator.ts).
 */
export function eventValidatorSpecs(schema: Record<string, unknown> = readSchema()): { readonly full: ValidatorSpec; readonly fast: ReadonlyMap<string, ValidatorSpec> } {
  const full: ValidatorSpec = {
    id: 'event',
    schema,
    options: FULL_OPTIONS,
    createAjv: (extra) => {
      const ajv = createAjv2020({ ...FULL_OPTIONS, ...extra });
      ajv.addKeyword('x-aegisbpf-schema-version');
      return ajv;
    },
  };
  // `unicode: false` is deprecated in ajv 8 but is exactly the code-unit counting wanted here; silence only that notice.
  const quiet = { log: () => undefined, warn: (...args: unknown[]) => (String(args[0]).includes('option unicode') ? undefined : console.warn(...args)), error: console.error };
  const fast = new Map<string, ValidatorSpec>();
  for (const [type, s] of flattenedSchemas(schema as unknown as PublishedSchema)) {
    fast.set(type, { id: `event-${type}`, schema: s, options: FAST_OPTIONS, createAjv: (extra) => createAjv2020({ ...FAST_OPTIONS, logger: quiet, ...extra }) });
  }
  return { full, fast };
}

function compile(): Compiled {
  if (cached !== undefined) return cached;
  const schema = readSchema();
  const specs = eventValidatorSpecs(schema);
  const fast = new Map<string, ValidateFunction>();
  for (const [type, spec] of specs.fast) fast.set(type, loadValidator(spec).validate);
  cached = { schema, full: loadValidator(specs.full).validate, fast };
  return cached;
}

export function loadEventSchema(): Record<string, unknown> {
  return compile().schema;
}

/** True when `value` is a valid canonical event. */
export function isValidEvent(value: unknown): value is AegisEvent {
  const { fast, full } = compile();
  if (value !== null && typeof value === 'object') {
    const v = fast.get((value as { type?: unknown }).type as string);
    if (v !== undefined && v(value)) return true;
  }
  return full(value);
}

/** `undefined` when valid, else a one-line description of every problem (`pid: must be integer; …`). */
export function explainInvalidEvent(value: unknown): string | undefined {
  const { full } = compile();
  if (full(value)) return undefined;
  return formatEventErrors(full.errors ?? []);
}

function formatEventErrors(errors: readonly ErrorObject[]): string {
  const parts: string[] = [];
  for (const e of errors) {
    if (e.keyword === 'if') continue; // "must match then schema" repeats the inner error
    const where = e.instancePath === '' ? 'event' : e.instancePath.slice(1).replace(/\//g, '.');
    if (e.keyword === 'unevaluatedProperties' || e.keyword === 'additionalProperties') {
      const prop = e.params as { unevaluatedProperty?: string; additionalProperty?: string };
      parts.push(`${where}: unknown field '${prop.unevaluatedProperty ?? prop.additionalProperty ?? '?'}'`);
    } else if (e.keyword === 'enum') {
      const allowed = (e.params as { allowedValues: unknown[] }).allowedValues;
      parts.push(`${where}: must be one of ${allowed.map((v) => JSON.stringify(v)).join(', ')}`);
    } else {
      parts.push(`${where}: ${e.message ?? e.keyword}`);
    }
  }
  return parts.join('; ');
}

/** The published-schema verdict alone (tests compare it with isValidEvent). */
export function isValidEventBySchema(value: unknown): boolean {
  return compile().full(value);
}
