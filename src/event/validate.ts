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
 *
 * One gap of ajv is closed here: its `unevaluatedProperties` tracks evaluated keys in a plain object, so a key that
 * names an Object.prototype member (`__proto__`, `constructor`, `toString`, …) counts as evaluated and the published
 * schema's validator lets it through, while every other unknown key is refused. JSON.parse makes such a key an
 * ordinary own property (even `__proto__`), which the formatters then drop silently. No event field has such a name,
 * so both verdicts refuse them explicitly (reservedKeys).
 *
 * Reasons are bounded: the first MAX_REASON_PROBLEMS problems and how many there were, each quoted key cut short
 * (a line with 100 000 unknown keys must not become a multi-megabyte log line or dead-letter entry).
 */
import fs from 'node:fs';
import type { ErrorObject, ValidateFunction } from 'ajv';
import type { AegisEvent } from './types';
import type { ValidatorSpec } from '../util/precompiled-validator';
import { createAjv2020, loadValidator } from '../util/precompiled-validator';
import { packagePath } from '../util/paths';
import { MAX_QUOTED_CHARS, capText, joinProblems } from '../util/bounded-text';

export const EVENT_SCHEMA_PATH = packagePath('rules', 'schema', 'event.schema.json');

interface PublishedSchema {
  readonly properties: Record<string, unknown>;
  readonly required: readonly string[];
  readonly $defs: Record<
    string,
    { readonly properties: Record<string, unknown>; readonly required: readonly string[] }
  >;
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
export function eventValidatorSpecs(schema: Record<string, unknown> = readSchema()): {
  readonly full: ValidatorSpec;
  readonly fast: ReadonlyMap<string, ValidatorSpec>;
} {
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
  const quiet = {
    log: () => undefined,
    warn: (...args: unknown[]) => (String(args[0]).includes('option unicode') ? undefined : console.warn(...args)),
    error: console.error,
  };
  const fast = new Map<string, ValidatorSpec>();
  for (const [type, s] of flattenedSchemas(schema as unknown as PublishedSchema)) {
    fast.set(type, {
      id: `event-${type}`,
      schema: s,
      options: FAST_OPTIONS,
      createAjv: (extra) => createAjv2020({ ...FAST_OPTIONS, logger: quiet, ...extra }),
    });
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

/** Names of Object.prototype members: never event fields, and invisible to ajv's unevaluatedProperties (see above). */
const RESERVED_KEYS: ReadonlySet<string> = new Set(Object.getOwnPropertyNames(Object.prototype));

/** The own keys of `value` that name Object.prototype members. */
function reservedKeys(value: unknown): string[] {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return [];
  return Object.keys(value).filter((k) => RESERVED_KEYS.has(k));
}

/** The largest integer field bound (a kernel u64); ajv would print it rounded, as 18446744073709552000. */
const U64_MAX_TEXT = '18446744073709551615';

/** True when `value` is a valid canonical event. */
export function isValidEvent(value: unknown): value is AegisEvent {
  const { fast, full } = compile();
  if (value !== null && typeof value === 'object') {
    // The fast path checks unknown keys with hasOwnProperty, so it refuses reserved names itself.
    const v = fast.get((value as { type?: unknown }).type as string);
    if (v !== undefined && v(value)) return true;
  }
  return full(value) && reservedKeys(value).length === 0;
}

/**
 * `undefined` when valid, else a one-line description of the problems (`pid: must be integer; …`): the first
 * MAX_REASON_PROBLEMS of them, then `… and K more problems (N in all)`.
 */
export function explainInvalidEvent(value: unknown): string | undefined {
  const { full, schema } = compile();
  const reserved = reservedKeys(value).map(
    (k) => `event: field name '${k}' is not allowed (an Object.prototype member name, never an event field)`,
  );
  if (full(value) && reserved.length === 0) return undefined;
  return joinProblems([
    ...reserved,
    ...formatEventErrors(full.errors ?? [], knownFields(schema as unknown as PublishedSchema, value)),
  ]);
}

/** The fields the event's type defines (common ones included); empty for an unknown type. */
function knownFields(schema: PublishedSchema, value: unknown): ReadonlySet<string> {
  const type = value !== null && typeof value === 'object' ? (value as { type?: unknown }).type : undefined;
  const def = typeof type === 'string' && Object.hasOwn(schema.$defs, type) ? schema.$defs[type] : undefined;
  return def === undefined ? new Set() : new Set([...Object.keys(schema.properties), ...Object.keys(def.properties)]);
}

function formatEventErrors(errors: readonly ErrorObject[], known: ReadonlySet<string>): string[] {
  const parts: string[] = [];
  for (const e of errors) {
    if (e.keyword === 'if') continue; // "must match then schema" repeats the inner error
    const where = e.instancePath === '' ? 'event' : e.instancePath.slice(1).replace(/\//g, '.');
    if (e.keyword === 'unevaluatedProperties' || e.keyword === 'additionalProperties') {
      const prop = e.params as { unevaluatedProperty?: string; additionalProperty?: string };
      // When a type's own field is invalid, ajv counts that type's other fields as unevaluated: not unknown at all.
      if (known.has(prop.unevaluatedProperty ?? prop.additionalProperty ?? '')) continue;
      parts.push(
        `${where}: unknown field '${capText(prop.unevaluatedProperty ?? prop.additionalProperty ?? '?', MAX_QUOTED_CHARS)}'`,
      );
    } else if (e.keyword === 'enum') {
      const allowed = (e.params as { allowedValues: unknown[] }).allowedValues;
      parts.push(`${where}: must be one of ${allowed.map((v) => JSON.stringify(v)).join(', ')}`);
    } else if (e.keyword === 'maximum' && (e.params as { limit: number }).limit >= 2 ** 64) {
      parts.push(`${where}: must be <= ${U64_MAX_TEXT} (an unsigned 64-bit kernel value)`);
    } else {
      parts.push(`${where}: ${e.message ?? e.keyword}`);
    }
  }
  return parts;
}

/** The published schema's verdict, with ajv's reserved-name gap closed (tests compare it with isValidEvent). */
export function isValidEventBySchema(value: unknown): boolean {
  return compile().full(value) && reservedKeys(value).length === 0;
}
