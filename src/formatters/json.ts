/**
 * `json`: one event per record in the documented AegisBPF field names, keys in the stable FIELD_ORDER.
 *
 * The output is byte-stable for a given event (golden files in test/formatters/golden/json/). Keys are written in a
 * fixed order whatever order the input object had, `labels` keys are sorted, absent optional fields are omitted.
 * String escaping is JSON.stringify's: `"`, `\` and every control character are escaped and lone surrogates are
 * written as `\udXXX`, so an attacker-controlled path can never end the string or the record.
 */
import type { AegisEvent } from '../event/types';
import { FIELD_ORDER } from '../event/fields';
import type { Formatter, FormatterDefinition } from './types';

const KEYS: readonly string[] = FIELD_ORDER;
const PREFIXES: readonly string[] = FIELD_ORDER.map((k) => `,"${k}":`);
const KEY_INDEX: ReadonlyMap<string, number> = new Map(FIELD_ORDER.map((k, i) => [k, i]));

/**
 * True when the event's own keys are known fields in FIELD_ORDER order and it has no `labels` (whose keys the
 * canonical form sorts): then native JSON.stringify writes exactly the canonical form (it omits undefined values and
 * encodes strings, numbers and arrays as encodeValue does). Events the sensor builds and lines this formatter wrote
 * take this path; anything else takes the ordered loop. Same output either way (a property test checks).
 */
function isCanonicalShape(record: Record<string, unknown>): boolean {
  let last = -1;
  for (const k in record) {
    const i = KEY_INDEX.get(k);
    if (i === undefined || i <= last || k === 'labels') return false;
    last = i;
  }
  return true;
}

/** The ordered loop; exported for the test that proves both paths agree. */
export function formatJsonOrdered(event: AegisEvent): string {
  const record = event as unknown as Record<string, unknown>;
  let out = '';
  for (let i = 0; i < KEYS.length; i++) {
    const value = record[KEYS[i] as string];
    if (value !== undefined) out += (PREFIXES[i] as string) + encodeValue(value);
  }
  return out === '' ? '{}' : '{' + out.slice(1) + '}';
}

function encodeValue(value: unknown): string {
  switch (typeof value) {
    case 'string':
      return JSON.stringify(value);
    case 'number':
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

/** Serialize an event as canonical JSON (no trailing newline). */
export function formatJson(event: AegisEvent): string {
  const record = event as unknown as Record<string, unknown>;
  return isCanonicalShape(record) ? JSON.stringify(record) : formatJsonOrdered(event);
}

export const jsonFormatter: FormatterDefinition<Record<string, never>> = {
  name: 'json',
  description: 'One JSON object per event, documented AegisBPF field names, stable key order.',
  output: 'string',
  optionsSchema: { properties: {} },
  create(): Formatter {
    return { name: 'json', contentType: 'application/json', format: formatJson };
  },
};
