/**
 * `hec`: one Splunk HTTP Event Collector event envelope per event, for the `/services/collector/event` endpoint.
 *
 *   {"time":1763720400.123,"host":"web-1","source":"aegisbpf","sourcetype":"aegisbpf","index":"edr",
 *    "event":{…the `json` format, byte for byte…},"fields":{"event_class":"block:KILL","vendor_severity":9,"label_env":"prod"}}
 *
 * - `time`: epoch seconds with exactly three fractional digits (milliseconds, truncated from the event's
 *   microseconds, never rounded up into the next millisecond). Written as a JSON number text, so it is exact.
 * - `host`: the event's `host` (where it happened, not where the shipper runs). `source` and `sourcetype` are options
 *   (default `aegisbpf` both); `index` only when configured (otherwise the token's default index applies).
 * - `event`: the canonical `json` record, so `KV_MODE = json` on the `aegisbpf` sourcetype extracts the documented
 *   field names whichever endpoint (`/event` or `/raw`) carried them.
 * - `fields` (indexed fields, for `tstats`): flat strings and numbers only, as HEC requires (a nested value is
 *   refused with code 15). Their names never equal a key of `event` — `event_class` (common.eventClassId),
 *   `vendor_severity` (common.severityOf, 0–10; not `severity`, whose values CIM defines as words) and
 *   `label_<key>` per label — so a field never exists both as an indexed
 *   field and as a search-time JSON field.
 *
 * No framing: the sink concatenates envelopes into one request body (HEC accepts them back to back).
 */
import type { AegisEvent } from '../event/types';
import { eventClassId, PRODUCT, severityOf } from './common';
import { formatJson } from './json';
import type { Formatter, FormatterDefinition } from './types';
import { parseTimestampMicros } from '../util/time';

export interface HecFormatOptions {
  readonly sourcetype?: string;
  readonly source?: string;
  readonly index?: string;
  /** Send `labels` as indexed fields `label_<key>` (default true). */
  readonly indexed_labels?: boolean;
}

/**
 * Epoch seconds with a three-digit millisecond fraction, from an RFC 3339 timestamp (`1763720400.123`). The
 * microseconds are floored to milliseconds (toward the past, also before 1970: `-0.001`). A malformed timestamp
 * (never valid per the event schema) yields undefined and the envelope carries no `time` (HEC then uses the receipt
 * time).
 */
export function hecTime(ts: string): string | undefined {
  const fast = canonicalHecTime(ts);
  if (fast !== undefined) return fast;
  const micros = parseTimestampMicros(ts);
  if (micros === undefined) return undefined;
  let millis = micros / 1000n; // BigInt division truncates toward zero
  if (micros < 0n && micros % 1000n !== 0n) millis -= 1n;
  const abs = millis < 0n ? -millis : millis;
  return `${millis < 0n ? '-' : ''}${abs / 1000n}.${String(abs % 1000n).padStart(3, '0')}`;
}

// The canonical form every event has (`2026-11-21T10:30:00.123456Z`, after 1970) is converted without BigInt or a
// regex: the seconds of the last whole-second prefix are cached (events arrive in time order, many per second), and
// the milliseconds are the first three fractional digits (flooring = truncating for non-negative times).
const CANONICAL_TS = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/;
let cachedPrefix = '';
let cachedSeconds = '';

function canonicalHecTime(ts: string): string | undefined {
  if (ts.length !== 27) return undefined;
  const prefix = ts.slice(0, 19);
  if (prefix !== cachedPrefix) {
    if (!CANONICAL_TS.test(ts)) return undefined;
    const millis = Date.parse(`${prefix}Z`);
    if (Number.isNaN(millis) || millis < 0) return undefined;
    cachedPrefix = prefix;
    cachedSeconds = String(millis / 1000);
  } else if (ts.charCodeAt(19) !== 46 || ts.charCodeAt(26) !== 90) {
    return undefined; // same second, but not ".ffffffZ": take the general path
  }
  for (let i = 20; i < 26; i++) {
    const c = ts.charCodeAt(i);
    if (c < 48 || c > 57) return undefined;
  }
  return `${cachedSeconds}.${ts.slice(20, 23)}`;
}

/** The indexed fields of an event, as a JSON object text (keys in a fixed order: class, severity, sorted labels). */
function indexedFields(event: AegisEvent, withLabels: boolean): string {
  let out = `{"event_class":${JSON.stringify(eventClassId(event))},"vendor_severity":${severityOf(event)}`;
  if (withLabels && event.labels !== undefined) {
    for (const key of Object.keys(event.labels).sort()) {
      const value = event.labels[key];
      if (typeof value === 'string') out += `,${JSON.stringify(`label_${key}`)}:${JSON.stringify(value)}`;
    }
  }
  return out + '}';
}

export function createHecFormat(options: HecFormatOptions = {}): (event: AegisEvent) => string {
  // Everything that does not depend on the event is encoded once.
  const source = `,"source":${JSON.stringify(options.source ?? PRODUCT.appName)}`;
  const sourcetype = `,"sourcetype":${JSON.stringify(options.sourcetype ?? PRODUCT.appName)}`;
  const index = options.index === undefined ? '' : `,"index":${JSON.stringify(options.index)}`;
  const meta = source + sourcetype + index;
  const withLabels = options.indexed_labels !== false;
  return (event: AegisEvent): string => {
    const time = hecTime(event.ts);
    const head =
      time === undefined
        ? `{"host":${JSON.stringify(event.host)}`
        : `{"time":${time},"host":${JSON.stringify(event.host)}`;
    return `${head}${meta},"event":${formatJson(event)},"fields":${indexedFields(event, withLabels)}}`;
  };
}

/** The event a record of this format carries: its `event` member is the event's canonical JSON (formatJson). */
export function hecEventOf(data: string): AegisEvent {
  return (JSON.parse(data) as { event: AegisEvent }).event;
}

const nonEmpty = (description: string): Readonly<Record<string, unknown>> => ({
  type: 'string',
  minLength: 1,
  maxLength: 1024,
  description,
});

export const hecFormatter: FormatterDefinition<HecFormatOptions> = {
  name: 'hec',
  description:
    'Splunk HEC event envelope (time, host, source, sourcetype, index, event, indexed fields) for /services/collector/event.',
  output: 'string',
  optionsSchema: {
    properties: {
      sourcetype: nonEmpty(
        `Splunk sourcetype (default "${PRODUCT.appName}", which the Splunk add-on in rules/splunk/ configures).`,
      ),
      source: nonEmpty(`Splunk source (default "${PRODUCT.appName}").`),
      index: nonEmpty(
        "Splunk index; must be in the token's allowed indexes (default: omitted, the token's default index).",
      ),
      indexed_labels: { type: 'boolean', description: 'Send labels as indexed fields label_<key> (default true).' },
    },
  },
  create(options): Formatter {
    return { name: 'hec', contentType: 'application/json', format: createHecFormat(options), eventOf: hecEventOf };
  },
};
