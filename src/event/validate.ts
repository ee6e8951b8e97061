/**
 * Validation of canonical events against rules/schema/event.schema.json with ajv.
 *
 * The schema is compiled once per process (lazily, on first use). The hot path uses a validator that stops at the
 * first error; only when an event fails is it run through the all-errors validator to build a readable message.
 */
import fs from 'node:fs';
import Ajv2020 from 'ajv/dist/2020';
import type { ErrorObject, ValidateFunction } from 'ajv';
import type { AegisEvent } from './types';
import { packagePath } from '../util/paths';

export const EVENT_SCHEMA_PATH = packagePath('rules', 'schema', 'event.schema.json');

let cached: { fast: ValidateFunction; full: ValidateFunction; schema: Record<string, unknown> } | undefined;

function compile(): NonNullable<typeof cached> {
  if (cached !== undefined) return cached;
  const schema = JSON.parse(fs.readFileSync(EVENT_SCHEMA_PATH, 'utf8')) as Record<string, unknown>;
  const make = (allErrors: boolean): ValidateFunction => {
    const ajv = new Ajv2020({ allErrors, strict: true, strictTuples: false });
    ajv.addKeyword('x-aegisbpf-schema-version');
    return ajv.compile(schema);
  };
  cached = { fast: make(false), full: make(true), schema };
  return cached;
}

export function loadEventSchema(): Record<string, unknown> {
  return compile().schema;
}

/** True when `value` is a valid canonical event. Allocation-free on success. */
export function isValidEvent(value: unknown): value is AegisEvent {
  return compile().fast(value);
}

/** `undefined` when valid, else a one-line description of every problem (`/pid: must be integer; …`). */
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
      const prop = (e.params as { unevaluatedProperty?: string; additionalProperty?: string });
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
