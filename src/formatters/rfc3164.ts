/**
 * `rfc3164`: one event as a BSD syslog message, for legacy receivers (no framing: that is the sink's job).
 *
 *   <PRI>Mmm dd hh:mm:ss HOSTNAME TAG[PID]: MSG
 *
 * - PRI as in rfc5424 (facility configurable, severity per event); there is no VERSION.
 * - TIMESTAMP: the event's `ts` in **UTC** (RFC 3164 says local time but carries no zone, so a receiver cannot
 *   convert it anyway; UTC keeps the output deterministic). Day of month space-padded (`Nov  1`), English month
 *   abbreviation, no year, no fraction: the exact time is the `ts` field of the JSON MSG.
 * - HOSTNAME: printable ASCII, no spaces (as rfc5424). TAG: the app name with characters other than letters,
 *   digits, `_`, `.` and `-` replaced by `_`, at most 32 characters (RFC 3164 §4.1.3); then `[pid]: `.
 * - MSG: the event as canonical JSON (one line, every field), or a CEF line (`msg: cef`).
 * RFC 3164 limits a whole packet to 1024 bytes; modern receivers accept more. The sink's `max_message_bytes`
 * truncates where the transport needs it (UDP).
 */
import type { AegisEvent } from '../event/types';
import type { CefOptions } from './cef';
import { PRODUCT, syslogSeverity } from './common';
import { eventHostname, headerField, HEADER_LIMITS, resolveSyslogCommon, syslogCommonOptionSchema } from './rfc5424';
import type { Formatter, FormatterContext, FormatterDefinition, JsonSchemaObject } from './types';

export interface Rfc3164Options {
  readonly facility?: string | number;
  readonly app_name?: string;
  readonly hostname?: string;
  readonly msg?: 'json' | 'cef';
  readonly cef?: CefOptions;
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'] as const;
const TS = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}:\d{2}:\d{2})(?:\.\d+)?Z$/;

/** `Mmm dd hh:mm:ss` in UTC from an event `ts`. */
export function rfc3164Timestamp(ts: string): string {
  const m = TS.exec(ts);
  if (m !== null) {
    const month = MONTHS[Number(m[2]) - 1];
    const day = Number(m[3]);
    if (month !== undefined && day >= 1 && day <= 31) return `${month} ${day < 10 ? ' ' : ''}${day} ${m[4] as string}`;
  }
  const d = new Date(Date.parse(ts));
  const date = Number.isNaN(d.getTime()) ? new Date(0) : d;
  const day = date.getUTCDate();
  const hms = date.toISOString().slice(11, 19);
  return `${MONTHS[date.getUTCMonth()] as string} ${day < 10 ? ' ' : ''}${day} ${hms}`;
}

const TAG_OK = /^[A-Za-z0-9_.-]{1,32}$/;

/** RFC 3164 TAG: letters, digits, `_`, `.`, `-`; at most 32 characters. */
export function rfc3164Tag(appName: string): string {
  if (TAG_OK.test(appName)) return appName;
  const clean = appName.replace(/[^A-Za-z0-9_.-]/gu, '_').slice(0, 32);
  return clean === '' ? PRODUCT.appName : clean;
}

export const rfc3164OptionSchema: { properties: Record<string, JsonSchemaObject> } = {
  properties: {
    ...syslogCommonOptionSchema,
    app_name: {
      type: 'string',
      minLength: 1,
      maxLength: 32,
      description: `TAG (default ${PRODUCT.appName}); letters, digits, _ . - (others become _).`,
    },
  },
};

export function createRfc3164Formatter(options: Rfc3164Options, context: FormatterContext): Formatter {
  const common = resolveSyslogCommon(options, context);
  const tag = rfc3164Tag(common.appName);
  const facilityBase = common.facility * 8;
  const format = (event: AegisEvent): string =>
    `<${facilityBase + syslogSeverity(event)}>${rfc3164Timestamp(event.ts)} ` +
    `${headerField(eventHostname(common, event), HEADER_LIMITS.hostname)} ${tag}[${event.pid}]: ${common.encodeMsg(event)}`;
  return { name: 'rfc3164', contentType: 'application/syslog', format };
}

export const rfc3164Formatter: FormatterDefinition<Rfc3164Options> = {
  name: 'rfc3164',
  description:
    'BSD syslog (RFC 3164) message for legacy receivers: <PRI>Mmm dd hh:mm:ss host aegisbpf[pid]: the event as JSON. No framing.',
  output: 'string',
  optionsSchema: rfc3164OptionSchema,
  create: createRfc3164Formatter,
};
