/**
 * `json`: one event per record in the documented AegisBPF field names, keys in the stable FIELD_ORDER.
 *
 * The output is byte-stable for a given event (golden files in test/formatters/golden/json/). Keys are written in a
 * fixed order whatever order the input object had, `labels` keys are sorted, absent optional fields are omitted.
 * String escaping is JSON.stringify's: `"`, `\` and every control character are escaped and lone surrogates are
 * written as `\udXXX`, so an attacker-controlled path can never end the string or the record.
 *
 * The writing itself is done by the per-type writers generated from the field tables
 * (src/formatters/generated/event-writers.ts, scripts/gen-event-writers.js): straight-line code that copies a plain
 * string between quotes and hands anything with a character to escape to JSON.stringify. A property test checks
 * them against the ordered loop below, byte for byte. An event is written with the fields of its type (the event
 * schema allows no others; an object carrying another type's field has it left out).
 */
import type { AegisEvent } from '../event/types';
import { FIELD_ORDER } from '../event/fields';
import { SLOT_COUNT, writeEvent } from './generated/event-writers';
import type { FieldSlots, WriterHelpers } from './generated/event-writers';
import type { Formatter, FormatterDefinition } from './types';

const KEYS: readonly string[] = FIELD_ORDER;
const PREFIXES: readonly string[] = FIELD_ORDER.map((k) => `,"${k}":`);

/**
 * The ordered loop over FIELD_ORDER: the reference the generated writers are tested against, and the path for an
 * event whose `type` has no writer (not a valid event, but still written whole).
 */
export function formatJsonOrdered(event: AegisEvent): string {
  const record = event as unknown as Record<string, unknown>;
  let out = '';
  for (let i = 0; i < KEYS.length; i++) {
    const value = record[KEYS[i] as string];
    if (value !== undefined) out += (PREFIXES[i] as string) + encodeJsonValue(value);
  }
  return out === '' ? '{}' : '{' + out.slice(1) + '}';
}

/** JSON of one field value: JSON.stringify's, except that a map's keys are sorted (`labels`). */
export function encodeJsonValue(value: unknown): string {
  switch (typeof value) {
    case 'string':
      return JSON.stringify(value);
    case 'number':
      return Number.isFinite(value) ? String(value) : 'null';
    case 'boolean':
      return String(value);
    default:
      if (Array.isArray(value)) return JSON.stringify(value);
      if (value !== null && typeof value === 'object') {
        const obj = value as Record<string, unknown>;
        const keys = Object.keys(obj).sort();
        let out = '{';
        for (let i = 0; i < keys.length; i++) {
          const k = keys[i] as string;
          out += (i === 0 ? '' : ',') + JSON.stringify(k) + ':' + JSON.stringify(obj[k]);
        }
        return out + '}';
      }
      return 'null';
  }
}

const JSON_HELPERS: WriterHelpers = { json: encodeJsonValue, sd: () => undefined };
/** Scratch slots for the writers (structured-data values; the json format ignores them). */
const scratch: FieldSlots = new Array<undefined>(SLOT_COUNT).fill(undefined);

/** Serialize an event as canonical JSON (no trailing newline). */
export function formatJson(event: AegisEvent): string {
  return writeEvent(event, scratch, JSON_HELPERS) ?? formatJsonOrdered(event);
}

/** The event a json record carries: the record is the event's canonical JSON. */
export function parseJsonRecord(data: string): AegisEvent {
  return JSON.parse(data) as AegisEvent;
}

export const jsonFormatter: FormatterDefinition<Record<string, never>> = {
  name: 'json',
  description: 'One JSON object per event, documented AegisBPF field names, stable key order.',
  output: 'string',
  optionsSchema: { properties: {} },
  create(): Formatter {
    return { name: 'json', contentType: 'application/json', format: formatJson, eventOf: parseJsonRecord };
  },
};
