/**
 * What a test expects the syslog formatters to have written for an event, computed independently of
 * src/formatters/rfc5424.ts from the documented rules (docs/formats.md): header sanitizing, the SD value
 * substitutions, the summary field list. Shared by the formatter tests and the rsyslog round-trip tests.
 */
import type { AegisEvent } from '../../src/event/types';

/** PRINTUSASCII header field: every other code point → `_`, cut at `max`; undefined stands for NILVALUE. */
export function expectedHeader(value: string | undefined, max: number): string | undefined {
  if (value === undefined || value === '') return undefined;
  let out = '';
  for (const ch of value) out += /^[\x21-\x7e]$/.test(ch) ? ch : '_';
  out = out.slice(0, max);
  return out === '-' ? undefined : out;
}

/** SD values on the wire: at most 16 KiB of UTF-8 (cut at a character); lone surrogates, NUL, CR, LF → U+FFFD. */
export function expectedSdValue(value: unknown): string {
  let text = (
    (typeof value === 'string' ? value : String(value)) as unknown as { toWellFormed(): string }
  ).toWellFormed();
  const bytes = Buffer.from(text, 'utf8');
  if (bytes.length > 16 * 1024) {
    let cut = 16 * 1024;
    while ((bytes[cut]! & 0xc0) === 0x80) cut--;
    text = bytes.subarray(0, cut).toString('utf8');
  }
  return text.replace(/[\u0000\r\n]/g, '\ufffd');
}

export const SUMMARY_FIELDS = [
  'type',
  'action',
  'mode',
  'policy',
  'pid',
  'ppid',
  'uid',
  'exec_id',
  'parent_exec_id',
  'comm',
  'exe',
  'path',
  'family',
  'protocol',
  'remote_ip',
  'remote_port',
  'status',
  'exit_code',
  'signal',
  'container_id',
  'event_id',
] as const;

/** The SD params expected for `fields` (those present in the event), in order. */
export function expectedSd(event: AegisEvent, fields: readonly string[] = SUMMARY_FIELDS): Record<string, string> {
  const out: Record<string, string> = {};
  const record = event as unknown as Record<string, unknown>;
  for (const f of fields) if (record[f] !== undefined) out[f] = expectedSdValue(record[f]);
  return out;
}

/**
 * The event as a JSON parser gives it back from a syslog MSG: exact (lone surrogates survive as `\udXXX` escapes),
 * except NUL, which the syslog formatters send as U+FFFD.
 */
export function jsonRoundTrip(event: AegisEvent): Record<string, unknown> {
  return JSON.parse(JSON.stringify(event).replace(/(?<!\\)((?:\\\\)*)\\u0000/g, '$1\ufffd')) as Record<string, unknown>;
}
