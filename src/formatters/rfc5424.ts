/**
 * `rfc5424`: one event as an RFC 5424 syslog message (no framing: octet counting or LF is the sink's job).
 *
 *   <PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID [aegis@32473 type="block" pid="4242" …] MSG
 *
 * - PRI = facility × 8 + severity; facility configurable (default local0), severity per event from common.ts
 *   (enforcement above observation: block/KILL is critical, an exec is notice).
 * - TIMESTAMP: the event's `ts`, RFC 3339 UTC with microseconds (`2026-11-21T10:30:00.123456Z`); `-` if unparseable.
 * - HOSTNAME (≤ 255), APP-NAME (≤ 48), PROCID (≤ 128), MSGID (≤ 32): PRINTUSASCII only. A character outside
 *   0x21–0x7E (space, control, non-ASCII) becomes `_` and the field is cut at its limit, so a header can never be
 *   broken by a hostile value; `-` (NILVALUE) when empty. HOSTNAME is the event's `host` (the machine the event
 *   happened on, which a relay must keep) unless overridden; PROCID is the event's `pid` (the process the event is
 *   about); MSGID is the event class id (`exec`, `block:KILL`, `connect:BLOCK`, `sensor:started`, …).
 * - STRUCTURED-DATA: one element `[<sd_id>@<enterprise_number> name="value" …]` with the event's scalar fields
 *   (`sd_fields`: the summary set by default, `all`, `none`, or a list). PARAM-VALUE escapes exactly `"`, `\` and
 *   `]` (RFC 5424 §6.3.3); RFC 5424 has no escape for anything else. Values are UTF-8, and four characters
 *   become U+FFFD because receivers cannot carry them faithfully: a lone UTF-16 surrogate (a bad decode; UTF-8
 *   cannot encode it), NUL (C receivers cut the value there, a way to hide the end of a path), CR and LF (one event
 *   is one line: a file, an LF-framed receiver or a line-based SIEM parser would split it). Other control characters
 *   (tab, ESC) are sent as they are. Values are cut at SD_VALUE_MAX_BYTES (16 KiB). The exact value is always in
 *   the JSON MSG.
 * - MSG: the event as canonical JSON (the `json` formatter, every field; an escaped NUL becomes U+FFFD, see
 *   syslogJson) or as a CEF line (`msg: cef`, the `cef` formatter's output); optional UTF-8 BOM
 *   (RFC 5424 asks for it before UTF-8 MSG, but JSON parsers such as rsyslog's mmjsonparse refuse it, so it is off
 *   by default).
 */
import { EVENT_TYPES } from '../event/types';
import type { AegisEvent } from '../event/types';
import { EVENT_FIELDS, FIELD_KINDS, FIELD_ORDER } from '../event/fields';
import type { FieldName } from '../event/fields';
import { AegisError } from '../util/errors';
import { parseTimestampMicros } from '../util/time';
import { cefFormatter } from './cef';
import type { CefOptions } from './cef';
import { PRODUCT, eventClassId, syslogSeverity } from './common';
import { encodeJsonValue, formatJsonOrdered } from './json';
import { EVENT_WRITERS, SLOT_COUNT, writeEvent } from './generated/event-writers';
import type { FieldSlots, WriterHelpers } from './generated/event-writers';
import type { Formatter, FormatterContext, FormatterDefinition, JsonSchemaObject } from './types';

// ---- facility -------------------------------------------------------------------------------------------------

/** RFC 5424 §6.2.1 facility codes by the names syslog daemons use (13 audit, 14 alert, 15 clock as in the RFC table). */
export const FACILITIES: Readonly<Record<string, number>> = {
  kern: 0,
  user: 1,
  mail: 2,
  daemon: 3,
  auth: 4,
  syslog: 5,
  lpr: 6,
  news: 7,
  uucp: 8,
  cron: 9,
  authpriv: 10,
  ftp: 11,
  ntp: 12,
  audit: 13,
  alert: 14,
  clock: 15,
  local0: 16,
  local1: 17,
  local2: 18,
  local3: 19,
  local4: 20,
  local5: 21,
  local6: 22,
  local7: 23,
};

export const DEFAULT_FACILITY = 'local0';

export function facilityCode(value: unknown): number {
  if (typeof value === 'number' && Number.isInteger(value) && value >= 0 && value <= 23) return value;
  if (typeof value === 'string' && value in FACILITIES) return FACILITIES[value] as number;
  if (value === undefined) return FACILITIES[DEFAULT_FACILITY] as number;
  throw new AegisError(
    'AEGIS_ERR_CONFIG_INVALID',
    `facility: must be one of ${Object.keys(FACILITIES).join(', ')} or 0–23 (got ${JSON.stringify(value)})`,
  );
}

export const facilitySchema: JsonSchemaObject = {
  description: `Syslog facility: a name (${Object.keys(FACILITIES).join(', ')}) or its code 0–23 (default ${DEFAULT_FACILITY}).`,
  oneOf: [
    { type: 'string', enum: Object.keys(FACILITIES) },
    { type: 'integer', minimum: 0, maximum: 23 },
  ],
};

// ---- header fields ----------------------------------------------------------------------------------------------

const PRINTUSASCII = /^[\x21-\x7e]+$/;
const NOT_PRINTUSASCII = /[^\x21-\x7e]/gu;

/**
 * An RFC 5424 header field: PRINTUSASCII only (every other code point becomes `_`), at most `maxLength`
 * characters, NILVALUE `-` when empty. Never produces an invalid header, whatever the input.
 */
export function headerField(value: string | undefined, maxLength: number): string {
  if (value === undefined || value === '') return '-';
  if (value.length <= maxLength && PRINTUSASCII.test(value)) return value;
  const clean = value.replace(NOT_PRINTUSASCII, '_');
  return clean.length <= maxLength ? clean : clean.slice(0, maxLength);
}

export const HEADER_LIMITS = { hostname: 255, appName: 48, procId: 128, msgId: 32 } as const;

const CANONICAL_TS = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/;
const DAYS_IN_MONTH = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/** Two ASCII digits at `i` as a number (the caller checked they are digits). */
const two = (s: string, i: number): number => (s.charCodeAt(i) - 48) * 10 + (s.charCodeAt(i + 1) - 48);

/**
 * The hot path: the sensor writes `YYYY-MM-DDTHH:MM:SS.ffffffZ`; checking its fields is much cheaper than parsing
 * it (no Date, no BigInt). A date that does not exist (Feb 30, Feb 29 of a common year) or a leap second fails.
 */
function isValidCanonical(ts: string): boolean {
  if (ts.length !== 27 || !CANONICAL_TS.test(ts)) return false;
  const month = two(ts, 5);
  const day = two(ts, 8);
  if (month < 1 || month > 12 || day < 1 || day > (DAYS_IN_MONTH[month - 1] as number)) return false;
  if (month === 2 && day === 29) {
    const year = Number(ts.slice(0, 4));
    if (!((year % 4 === 0 && year % 100 !== 0) || year % 400 === 0)) return false;
  }
  return two(ts, 11) <= 23 && two(ts, 14) <= 59 && two(ts, 17) <= 59;
}

/** RFC 5424 TIMESTAMP from an event `ts`: UTC, microseconds, `Z`; `-` (NILVALUE) when it cannot be represented. */
export function rfc5424Timestamp(ts: string): string {
  if (isValidCanonical(ts)) return ts;
  const micros = parseTimestampMicros(ts);
  if (micros === undefined) return '-';
  const date = new Date(Number(micros / 1000n));
  if (Number.isNaN(date.getTime())) return '-';
  const iso = date.toISOString();
  if (!/^\d{4}-/.test(iso)) return '-'; // years outside 0000–9999 (toISOString writes ±YYYYYY)
  const sub = Number(((micros % 1000n) + 1000n) % 1000n);
  return `${iso.slice(0, 23)}${String(sub).padStart(3, '0')}Z`;
}

/** Seconds and fraction of a canonical timestamp (`SS.ffffffZ` from index 17) are well-formed. */
function isCanonicalSeconds(ts: string): boolean {
  const s1 = ts.charCodeAt(17) - 48;
  const s2 = ts.charCodeAt(18) - 48;
  if (s1 < 0 || s1 > 5 || s2 < 0 || s2 > 9 || ts.charCodeAt(19) !== 0x2e || ts.charCodeAt(26) !== 0x5a) return false;
  for (let i = 20; i < 26; i++) {
    const d = ts.charCodeAt(i) - 48;
    if (d < 0 || d > 9) return false;
  }
  return true;
}

/**
 * rfc5424Timestamp for a stream: events of the same minute share `YYYY-MM-DDTHH:MM:`, so once a timestamp passed the
 * full check its minute prefix is remembered and the next ones only check their seconds and fraction.
 */
export function createTimestampField(): (ts: string) => string {
  let checked = ''; // the last timestamp that passed the full check, or ''
  const sameMinute = (ts: string): boolean => {
    for (let i = 16; i >= 0; i--) if (ts.charCodeAt(i) !== checked.charCodeAt(i)) return false; // minutes change first
    return true;
  };
  return (ts) => {
    if (ts.length === 27 && checked !== '' && sameMinute(ts) && isCanonicalSeconds(ts)) return ts;
    const out = rfc5424Timestamp(ts);
    checked = out === ts ? ts : '';
    return out;
  };
}

// ---- structured data --------------------------------------------------------------------------------------------

/** Fields of the default `summary` SD element: what a SOC triages on, short, present on most events. */
export const SD_SUMMARY_FIELDS: readonly string[] = [
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
];

/** Every scalar field, in the json formatter's order (`args` and `labels` are not scalars: they are in MSG). */
export const SD_ALL_FIELDS: readonly string[] = FIELD_ORDER.filter((k) => {
  const kind = FIELD_KINDS.get(k);
  return kind === 'string' || kind === 'integer' || kind === 'number' || kind === 'boolean';
});

const SD_NEEDS_WORK = /["\\\]\u0000\r\n\ud800-\udfff]/;

/**
 * An SD PARAM-VALUE: `"`, `\`, `]` escaped with a backslash (RFC 5424 §6.3.3); NUL, CR, LF and lone surrogates
 * become U+FFFD (see the module comment). Valid surrogate pairs (emoji) are kept.
 */
export function escapeSdValue(value: string): string {
  if (!SD_NEEDS_WORK.test(value)) return value;
  let out = '';
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c === 0x22 || c === 0x5c || c === 0x5d) out += '\\' + value[i];
    else if (c === 0 || c === 0x0a || c === 0x0d) out += '\ufffd';
    else if (c >= 0xd800 && c <= 0xdbff) {
      const next = value.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) {
        out += value[i]! + value[i + 1]!;
        i++;
      } else out += '\ufffd';
    } else if (c >= 0xdc00 && c <= 0xdfff) out += '\ufffd';
    else out += value[i];
  }
  return out;
}

/**
 * Longest SD PARAM-VALUE, in UTF-8 bytes before escaping. rsyslog's mmpstrucdata (8.2302, still so in its source)
 * unescapes a value into a 32 KiB stack buffer without a bound, and event strings may be 16 384 characters (up to
 * 48 KiB of UTF-8): a longer value is cut at a character boundary here. The JSON MSG keeps it whole; kernel paths
 * (PATH_MAX 4 KiB) never reach the limit.
 */
export const SD_VALUE_MAX_BYTES = 16 * 1024;

/** The value cut to SD_VALUE_MAX_BYTES of UTF-8 at a character boundary (lone surrogates become U+FFFD). */
export function capSdValue(value: string): string {
  if (value.length * 3 <= SD_VALUE_MAX_BYTES) return value; // cannot exceed: fast path for every ordinary value
  const bytes = Buffer.from(value, 'utf8');
  if (bytes.length <= SD_VALUE_MAX_BYTES) return value;
  let cut = SD_VALUE_MAX_BYTES;
  while (cut > 0 && ((bytes[cut] as number) & 0xc0) === 0x80) cut--;
  return bytes.subarray(0, cut).toString('utf8');
}

/** SD-NAME (SD-ID part or PARAM-NAME): 1–32 PRINTUSASCII except `=`, SP, `]`, `"`. */
export const SD_NAME = /^[\x21\x23-\x3c\x3e-\x5c\x5e-\x7e]{1,32}$/;

export type SdFieldsOption = 'summary' | 'all' | 'none' | readonly string[];

function resolveSdFields(option: unknown): readonly string[] {
  if (option === undefined || option === 'summary') return SD_SUMMARY_FIELDS;
  if (option === 'all') return SD_ALL_FIELDS;
  if (option === 'none') return [];
  if (Array.isArray(option)) {
    const bad = option.filter((f) => typeof f !== 'string' || !SD_ALL_FIELDS.includes(f));
    if (bad.length > 0)
      throw new AegisError(
        'AEGIS_ERR_CONFIG_INVALID',
        `sd_fields: not scalar event fields: ${bad.map(String).join(', ')}; choose from ${SD_ALL_FIELDS.join(', ')}`,
      );
    return option as string[];
  }
  throw new AegisError(
    'AEGIS_ERR_CONFIG_INVALID',
    `sd_fields: must be summary, all, none or a list of field names (got ${JSON.stringify(option)})`,
  );
}

// ---- options ----------------------------------------------------------------------------------------------------

export type MsgEncoding = 'json' | 'cef';

export interface Rfc5424Options {
  readonly facility?: string | number;
  readonly app_name?: string;
  /** Overrides the event's `host` in HOSTNAME. */
  readonly hostname?: string;
  readonly sd_id?: string;
  readonly enterprise_number?: string | number;
  readonly sd_fields?: SdFieldsOption;
  readonly msg?: MsgEncoding;
  /** Options of the `cef` formatter when `msg: cef`. */
  readonly cef?: CefOptions;
  readonly bom?: boolean;
}

/** MSG encodings: the event as canonical JSON, or as a CEF line (the `cef` formatter's output). */
export const MSG_ENCODINGS: readonly MsgEncoding[] = ['json', 'cef'];

export const DEFAULT_SD_ID = 'aegis';
/** 32473 is the IANA example/documentation Private Enterprise Number (RFC 5612); use your organisation's own. */
export const DEFAULT_ENTERPRISE_NUMBER = '32473';

export const syslogCommonOptionSchema: Record<string, JsonSchemaObject> = {
  facility: facilitySchema,
  app_name: {
    type: 'string',
    minLength: 1,
    maxLength: 48,
    description: `APP-NAME / TAG (default ${PRODUCT.appName}). Characters outside printable ASCII become _.`,
  },
  hostname: {
    type: 'string',
    minLength: 1,
    maxLength: 255,
    description: "HOSTNAME for every message, instead of the event's host (the machine the event happened on).",
  },
  msg: {
    type: 'string',
    enum: MSG_ENCODINGS,
    description:
      "MSG encoding: json (the event as canonical JSON, every field, default) or cef (the cef format's line).",
  },
  cef: {
    type: 'object',
    additionalProperties: false,
    properties: cefFormatter.optionsSchema.properties,
    description: 'Options of the cef format, with msg: cef.',
  },
};

export const rfc5424OptionSchema: { properties: Record<string, JsonSchemaObject> } = {
  properties: {
    ...syslogCommonOptionSchema,
    sd_id: {
      type: 'string',
      pattern: '^[\\x21\\x23-\\x3c\\x3e-\\x3f\\x41-\\x5c\\x5e-\\x7e]{1,20}$',
      description: `Name part of the SD-ID (default ${DEFAULT_SD_ID}); the SD-ID is <sd_id>@<enterprise_number>. rsyslog's mmpstrucdata lowercases SD names by default: keep it lowercase.`,
    },
    enterprise_number: {
      description: `IANA Private Enterprise Number of the SD-ID (default ${DEFAULT_ENTERPRISE_NUMBER}, the documentation number; use your organisation's).`,
      // sd_id (≤ 20) + '@' + this (≤ 11) keeps the SD-ID within RFC 5424's 32 characters, checked by the schema alone.
      oneOf: [
        { type: 'integer', minimum: 1, maximum: 99_999_999_999 },
        { type: 'string', maxLength: 11, pattern: '^[1-9][0-9]*(\\.[0-9]+)*$' },
      ],
    },
    sd_fields: {
      description:
        'Event fields in STRUCTURED-DATA: summary (default), all (every scalar field), none, or a list of field names. The MSG always has every field.',
      oneOf: [
        { type: 'string', enum: ['summary', 'all', 'none'] },
        { type: 'array', items: { type: 'string', enum: SD_ALL_FIELDS }, uniqueItems: true },
      ],
    },
    bom: {
      type: 'boolean',
      description:
        'Start MSG with the UTF-8 BOM as RFC 5424 asks for UTF-8 MSG (default false: JSON parsers such as rsyslog mmjsonparse refuse a BOM).',
    },
  },
};

/** What both syslog formatters need, resolved once from the options. */
export interface SyslogCommon {
  readonly facility: number;
  readonly appName: string;
  readonly hostnameOverride: string | undefined;
  readonly fallbackHostname: string;
  readonly encodeMsg: (event: AegisEvent) => string;
}

export function resolveSyslogCommon(
  options: { facility?: unknown; app_name?: unknown; hostname?: unknown; msg?: unknown; cef?: CefOptions },
  context: FormatterContext,
): SyslogCommon {
  const msg = options.msg ?? 'json';
  if (!(MSG_ENCODINGS as readonly unknown[]).includes(msg)) {
    throw new AegisError(
      'AEGIS_ERR_CONFIG_INVALID',
      `msg: must be one of ${MSG_ENCODINGS.join(', ')} (got ${JSON.stringify(msg)})`,
    );
  }
  let encodeMsg = syslogJson;
  if (msg === 'cef') {
    // The cef format writes one line (LF and CR escaped) with its own escaping; it goes into MSG as it is.
    const cef = cefFormatter.create(options.cef ?? {}, context);
    encodeMsg = (event) => cef.format(event);
  }
  return {
    facility: facilityCode(options.facility),
    appName: typeof options.app_name === 'string' ? options.app_name : PRODUCT.appName,
    hostnameOverride: typeof options.hostname === 'string' ? options.hostname : undefined,
    fallbackHostname: context.hostname,
    encodeMsg,
  };
}

const ESCAPED_NUL = /(?<!\\)((?:\\\\)*)\\u0000/g;

/** `json` with every escaped NUL (`\u0000`) as U+FFFD (see syslogJson). */
function nulSafe(json: string): string {
  return json.includes('\\u0000') ? json.replace(ESCAPED_NUL, '$1\ufffd') : json;
}

/** An SD PARAM-VALUE for a field value (`undefined`: leave the param out). */
function sdParamValue(v: unknown): string | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'string') return escapeSdValue(capSdValue(v));
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  return escapeSdValue(JSON.stringify(v));
}

/** The generated writers' slow path for syslog: JSON without escaped NUL, SD values escaped. */
const SYSLOG_HELPERS: WriterHelpers = { json: (v) => nulSafe(encodeJsonValue(v)), sd: sdParamValue };
const jsonScratch: FieldSlots = new Array<undefined>(SLOT_COUNT).fill(undefined);

/**
 * The event as canonical JSON for a syslog MSG: the `json` formatter's output, except that an escaped NUL
 * (`\u0000`) becomes U+FFFD. Syslog receivers are C programs: rsyslog's mmjsonparse (json-c) cuts a string at an
 * escaped NUL, which would hide the rest of the value. Kernel strings cannot contain NUL; replayed input can.
 */
export function syslogJson(event: AegisEvent): string {
  return writeEvent(event, jsonScratch, SYSLOG_HELPERS) ?? nulSafe(formatJsonOrdered(event));
}

export function eventHostname(common: SyslogCommon, event: AegisEvent): string {
  return common.hostnameOverride ?? (event.host !== '' ? event.host : common.fallbackHostname);
}

// ---- the formatter ----------------------------------------------------------------------------------------------

export function createRfc5424Formatter(options: Rfc5424Options, context: FormatterContext): Formatter {
  const common = resolveSyslogCommon(options, context);
  const sdIdName = options.sd_id ?? DEFAULT_SD_ID;
  const sdId = `${sdIdName}@${String(options.enterprise_number ?? DEFAULT_ENTERPRISE_NUMBER)}`;
  if (!SD_NAME.test(sdId) || sdIdName.includes('@')) {
    throw new AegisError(
      'AEGIS_ERR_CONFIG_INVALID',
      `sd_id: '${sdId}' is not a valid SD-ID (1–32 printable ASCII characters without = ] " or space, one @)`,
    );
  }
  const fields = resolveSdFields(options.sd_fields);
  const appName = headerField(common.appName, HEADER_LIMITS.appName);
  const bom = options.bom === true ? '\ufeff' : '';
  const facilityBase = common.facility * 8;
  // Per event type, the chosen fields that type can carry, with their pre-built ` name="` prefixes (field names are
  // SD-NAMEs already: lowercase snake_case, ≤ 32) and their FIELD_ORDER slots: no lookups of keys a type never has.
  // SD params are written as `[sd-id name="value` for the first one and `" name="value` for each next one (the
  // previous closing quote travels with the next prefix), then `"] `: fewer string pieces for V8 to link and flatten.
  interface TypeSd {
    readonly names: readonly string[];
    readonly firsts: readonly string[];
    readonly follows: readonly string[];
    readonly slots: readonly number[];
    /** The type's generated writer (it is only ever called with events of this type). */
    readonly write: (e: AegisEvent, s: FieldSlots, h: WriterHelpers) => string;
  }
  const open = `[${sdId}`;
  const sdOf = (names: readonly string[]): Omit<TypeSd, 'write'> => ({
    names,
    firsts: names.map((f) => `${open} ${f}="`),
    follows: names.map((f) => `" ${f}="`),
    slots: names.map((f) => FIELD_ORDER.indexOf(f as FieldName)),
  });
  const byType = new Map<string, TypeSd>();
  for (const type of EVENT_TYPES) {
    const own = sdOf(fields.filter((f) => f in EVENT_FIELDS[type]));
    byType.set(type, {
      ...own,
      write: EVENT_WRITERS[type] as (e: AegisEvent, s: FieldSlots, h: WriterHelpers) => string,
    });
  }
  const untyped = sdOf(fields);
  const emptySd = (fields.length === 0 ? '-' : open + ']') + ' ';
  const jsonMsg = common.encodeMsg === syslogJson;
  const slots: FieldSlots = new Array<undefined>(SLOT_COUNT).fill(undefined);
  /** `<PRI>1 ` per syslog severity. */
  const priPrefixes = Array.from({ length: 8 }, (_, severity) => `<${facilityBase + severity}>1 `);

  // Hosts and event classes repeat from one event to the next: remember the last sanitized forms (with the spaces
  // around them and, for the host, the APP-NAME after it).
  let lastHost: string | undefined;
  let lastHostApp = ` - ${appName} `;
  const msgIds = new Map<string, string>();
  const hostApp = (event: AegisEvent): string => {
    const host = eventHostname(common, event);
    if (host !== lastHost) {
      lastHost = host;
      lastHostApp = ` ${headerField(host, HEADER_LIMITS.hostname)} ${appName} `;
    }
    return lastHostApp;
  };
  // The class id of block and connect events depends on type and action alone: remember the last pair.
  let lastClassType = '';
  let lastClassAction: string | undefined;
  let lastClassField = ' - ';
  const msgIdField = (event: AegisEvent): string => {
    const action = event.type === 'block' || event.type === 'connect' ? event.action : undefined;
    // sensor, audit, alert, anomaly and trend class ids also depend on status, audit_action, detector, subject:
    // never from the one-entry cache.
    const varies =
      event.type === 'sensor' ||
      event.type === 'audit' ||
      event.type === 'alert' ||
      event.type === 'anomaly' ||
      event.type === 'trend';
    if (event.type === lastClassType && action === lastClassAction && !varies) return lastClassField;
    const id = eventClassId(event);
    let field = msgIds.get(id);
    if (field === undefined) {
      field = ` ${headerField(id, HEADER_LIMITS.msgId)} `;
      if (msgIds.size < 1024) msgIds.set(id, field); // bounded: sensor statuses are few, but never trust that
    }
    lastClassType = event.type;
    lastClassAction = action;
    lastClassField = field;
    return field;
  };
  const timestampField = createTimestampField();

  /** SD params from the event's own properties (MSG in CEF, or a type without a writer). */
  const paramsOf = (event: AegisEvent, sd: Omit<TypeSd, 'write'>): string => {
    const record = event as unknown as Record<string, unknown>;
    let out = '';
    for (let i = 0; i < sd.names.length; i++) {
      const v = sdParamValue(record[sd.names[i] as string]);
      if (v !== undefined) out += (out === '' ? (sd.firsts[i] as string) : (sd.follows[i] as string)) + v;
    }
    return out;
  };

  const format = (event: AegisEvent): string => {
    const own = byType.get(event.type);
    let sd = '';
    let msg: string;
    if (own !== undefined && jsonMsg) {
      // One pass: the writer produces the JSON MSG and leaves each field's SD value in its slot.
      msg = own.write(event, slots, SYSLOG_HELPERS);
      const { slots: at, firsts, follows } = own;
      for (let i = 0; i < at.length; i++) {
        const v = slots[at[i] as number];
        if (v !== undefined) sd += (sd === '' ? (firsts[i] as string) : (follows[i] as string)) + v;
      }
    } else {
      sd = paramsOf(event, own ?? untyped);
      msg = common.encodeMsg(event);
    }
    const pid =
      Number.isSafeInteger(event.pid) && event.pid >= 0
        ? String(event.pid)
        : headerField(String(event.pid), HEADER_LIMITS.procId);
    return (
      (priPrefixes[syslogSeverity(event)] as string) +
      timestampField(event.ts) +
      hostApp(event) +
      pid +
      msgIdField(event) +
      (sd === '' ? emptySd : sd + '"] ') +
      bom +
      msg
    );
  };
  return { name: 'rfc5424', contentType: 'application/syslog', format };
}

export const rfc5424Formatter: FormatterDefinition<Rfc5424Options> = {
  name: 'rfc5424',
  description:
    'RFC 5424 syslog message: header, [aegis@32473 …] structured data, the event as JSON in MSG. No framing.',
  output: 'string',
  optionsSchema: rfc5424OptionSchema,
  create: createRfc5424Formatter,
};
