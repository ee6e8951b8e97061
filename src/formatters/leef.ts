/**
 * `leef`: IBM QRadar Log Event Extended Format, 2.0 (default) or 1.0, one event per line, field by field as
 * documented in docs/formats.md.
 *
 *   LEEF:2.0|aegisbpf|aegisbpf|<version>|<event id>|x09|devTime=…<TAB>devTimeFormat=…<TAB>cat=…<TAB>sev=…<TAB>…
 *   LEEF:1.0|aegisbpf|aegisbpf|<version>|<event id>|devTime=…<TAB>…
 *
 * LEEF defines no escape sequences: a value runs to the next delimiter, a header field to the next `|`. So the only
 * safe encoding is to keep those characters out: in attribute values the delimiter, every C0 control character
 * (tab, CR, LF, NUL, ESC, …) and DEL are replaced by U+FFFD; in header values `|` as well. Lone surrogates become
 * U+FFFD (UTF-8 cannot encode them). `=` and `|` in attribute values are kept: a parser splits an attribute at its
 * first `=`. An attacker-controlled value therefore can neither start an attribute nor end the line.
 *
 * The delimiter (2.0 only) is one character or its hex form (`x09`, `0x5E`, `^`); the header carries it in the form
 * configured, and a control character is always written in hex (a literal tab in the header is easy to lose).
 */
import { isIP } from 'node:net';
import type { AegisEvent } from '../event/types';
import { AegisError } from '../util/errors';
import {
  analyticsFields,
  baseName,
  camelName,
  commandLine,
  eventClassId,
  eventMillis,
  networkEndpoints,
  parentProcessStart,
  processStart,
  PRODUCT,
  severityOf,
} from './common';
import { labelsJson, replaceLoneSurrogates } from './text';
import type { Formatter, FormatterContext, FormatterDefinition } from './types';

export interface LeefOptions {
  /** `2.0` (default) or `1.0` (always tab-delimited, no delimiter field). */
  readonly version?: '1.0' | '2.0';
  /** LEEF 2.0 attribute delimiter: one character, or `x`/`0x` followed by 1–4 hex digits. Default tab (`x09`). */
  readonly delimiter?: string;
  /**
   * `text` (default): `devTime=Nov 21 2026 10:30:00.123 GMT` with `devTimeFormat=MMM dd yyyy HH:mm:ss.SSS z`;
   * `epoch_millis`: `devTime=1795257000123` (13 digits; QRadar needs no devTimeFormat then).
   */
  readonly dev_time?: 'text' | 'epoch_millis';
}

export const LEEF_DEV_TIME_FORMAT = 'MMM dd yyyy HH:mm:ss.SSS z';

/** Characters that may not be a delimiter: letters, digits, `=`, space, CR, LF, NUL (they would break the syntax). */
function delimiterProblem(code: number): string | undefined {
  if (code === 0x3d) return "'=' separates keys from values";
  if (code === 0x20) return 'space occurs in ordinary values';
  if (code === 0x0a || code === 0x0d || code === 0x00) return 'CR, LF and NUL cannot be carried in a line';
  if ((code >= 0x30 && code <= 0x39) || (code >= 0x41 && code <= 0x5a) || (code >= 0x61 && code <= 0x7a))
    return 'letters and digits occur in keys';
  if (code >= 0xd800 && code <= 0xdfff) return 'a surrogate is not a character';
  return undefined;
}

const PROTO_KEYWORD = /^(?:[0-9]{1,2}|1[0-9]{2}|2[0-4][0-9]|25[0-5]|[A-Za-z][A-Za-z0-9.+-]*)$/;

const HEX_DELIMITER = /^(?:0x|x)([0-9A-Fa-f]{1,4})$/;

/** Parse the `delimiter` option: the delimiter character and the form written in the header. Throws on a bad value. */
export function parseLeefDelimiter(spec: string): { readonly char: string; readonly header: string } {
  const hex = HEX_DELIMITER.exec(spec);
  let code: number;
  let header: string;
  if (hex !== null) {
    code = parseInt(hex[1] as string, 16);
    header = spec;
  } else if (spec.length === 1) {
    code = spec.charCodeAt(0);
    // Control characters (tab included) and `|` are written in hex: a literal one is easy to lose or misread.
    header =
      code < 0x20 || code === 0x7f || code === 0x7c ? 'x' + code.toString(16).toUpperCase().padStart(2, '0') : spec;
  } else {
    throw new AegisError(
      'AEGIS_ERR_CONFIG_INVALID',
      `LEEF delimiter '${spec}' must be one character or x/0x followed by 1-4 hex digits (x09, 0x5E).`,
    );
  }
  const problem = delimiterProblem(code);
  if (problem !== undefined)
    throw new AegisError('AEGIS_ERR_CONFIG_INVALID', `LEEF delimiter '${spec}' is not allowed: ${problem}.`);
  return { char: String.fromCharCode(code), header };
}

const LEEF_KEYS = [
  'action',
  'alert',
  'alertSeverity',
  'argsTruncated',
  'cat',
  'cgroupId',
  'cgroupPath',
  'cmdLine',
  'comm',
  'condition',
  'containerId',
  'devTimeFormat',
  'device',
  'direction',
  'dst',
  'dstAddress',
  'dstPort',
  'durationNs',
  'eventId',
  'exe',
  'execId',
  'exitCode',
  'fileName',
  'filePath',
  'gid',
  'hook',
  'host',
  'inode',
  'labels',
  'message',
  'mode',
  'openFlags',
  'parentComm',
  'parentExe',
  'parentExecId',
  'parentProcessStartTime',
  'parentTraceId',
  'pid',
  'policy',
  'ppid',
  'processStartTime',
  'proto',
  'protocol',
  'resolvedPath',
  'sensor',
  'sev',
  'signal',
  'src',
  'srcAddress',
  'srcPort',
  'startedAt',
  'status',
  'traceId',
  'uid',
  'usrName',
  'auditAction',
  'auditActorType',
  'auditHash',
  'auditResult',
  'auditSeq',
  'auditTarget',
  'value',
] as const;
type LeefKey = (typeof LEEF_KEYS)[number];

interface LeefState {
  readonly prefix: string;
  /** Header delimiter field plus its `|` (LEEF 2.0), or `` (1.0). */
  readonly header: string;
  readonly delimiter: string;
  /** `<delimiter>key=` for every key, built once: each attribute then costs one concatenation. */
  readonly keys: Readonly<Record<LeefKey, string>>;
  readonly special: RegExp;
  readonly replace: RegExp;
  readonly text: boolean;
  readonly bootWallNanos: bigint | undefined;
}

function escapeRegExpChar(c: string): string {
  return /[\\^$.*+?()[\]{}|/-]/.test(c) ? '\\' + c : c;
}

/** Replace what LEEF cannot carry in an attribute value (delimiter, C0 controls, DEL, lone surrogates) with U+FFFD. */
export function leefValue(value: string, s: { readonly special: RegExp; readonly replace: RegExp }): string {
  if (!s.special.test(value)) return value;
  return replaceLoneSurrogates(value).replace(s.replace, '\ufffd');
}

const HEADER_SPECIAL = /[|\u0000-\u001f\u007f\ud800-\udfff]/;
const HEADER_REPLACE = /[|\u0000-\u001f\u007f]/g;

/** Header values cannot contain `|` (no escape exists) nor control characters. */
export function leefHeaderValue(value: string): string {
  if (!HEADER_SPECIAL.test(value)) return value;
  return replaceLoneSurrogates(value).replace(HEADER_REPLACE, '\ufffd');
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** `MMM dd yyyy HH:mm:ss.SSS z` in UTC (z = GMT, as IBM's LEEF guide writes it). */
export function leefTextTime(millis: number): string {
  const d = new Date(millis);
  const p2 = (n: number): string => (n < 10 ? '0' + String(n) : String(n));
  const ms = d.getUTCMilliseconds();
  return (
    `${MONTHS[d.getUTCMonth()] as string} ${p2(d.getUTCDate())} ${String(d.getUTCFullYear())} ` +
    `${p2(d.getUTCHours())}:${p2(d.getUTCMinutes())}:${p2(d.getUTCSeconds())}.${ms < 10 ? '00' : ms < 100 ? '0' : ''}${String(ms)} GMT`
  );
}

// One-entry cache of the text form of the last second seen (events arrive in time order).
let cachedTextSecond = -1;
let cachedTextPrefix = '';

function devTimeText(millis: number): string {
  const second = Math.floor(millis / 1000);
  if (second !== cachedTextSecond) {
    const full = leefTextTime(second * 1000);
    cachedTextSecond = second;
    cachedTextPrefix = full.slice(0, full.length - 8); // without ".SSS GMT"
  }
  const ms = millis - second * 1000;
  return cachedTextPrefix + (ms < 10 ? '.00' : ms < 100 ? '.0' : '.') + String(ms) + ' GMT';
}

/** `<delimiter>key=` + the value sanitized, or `` when absent or empty. `prefix` comes from the state's table. */
function str(s: LeefState, prefix: string, value: string | undefined): string {
  return value === undefined || value === '' ? '' : prefix + leefValue(value, s);
}

function num(prefix: string, value: number | undefined): string {
  return value === undefined ? '' : prefix + String(value);
}

function formatLeef(event: AegisEvent, s: LeefState): string {
  const k = s.keys;
  const type = event.type;

  const millis = eventMillis(event);
  let out = s.text
    ? 'devTime=' + devTimeText(millis) + k.devTimeFormat + LEEF_DEV_TIME_FORMAT
    : 'devTime=' + String(millis);
  out += k.cat + type + k.sev + String(Math.max(1, severityOf(event)));
  if (type === 'connect') {
    const { source, destination } = networkEndpoints(event);
    // src/dst are IP-typed in QRadar: anything else (never from the sensor) goes to srcAddress/dstAddress.
    const srcIp = source.ip !== undefined && isIP(source.ip) !== 0;
    const dstIp = destination.ip !== undefined && isIP(destination.ip) !== 0;
    out += str(s, srcIp ? k.src : k.srcAddress, source.ip) + num(k.srcPort, source.port);
    out += str(s, dstIp ? k.dst : k.dstAddress, destination.ip) + num(k.dstPort, destination.port);
    // proto is an IANA number or keyword in QRadar; anything else goes to the custom key protocol.
    out += str(s, PROTO_KEYWORD.test(event.protocol) ? k.proto : k.protocol, event.protocol.toUpperCase());
  }
  if (type === 'block' || type === 'connect' || type === 'sensor') out += str(s, k.policy, event.policy);
  if (type === 'block' || type === 'connect') out += str(s, k.action, event.action);
  out += str(s, k.mode, event.mode);
  out += str(s, k.host, event.host);
  out += k.pid + String(event.pid) + k.ppid + String(event.ppid);
  out += str(s, k.comm, event.comm) + str(s, k.exe, event.exe) + str(s, k.cmdLine, commandLine(event));
  if (event.args_truncated !== undefined) out += k.argsTruncated + String(event.args_truncated);
  out += num(k.uid, event.uid) + num(k.gid, event.gid);
  out += str(s, k.parentComm, event.parent_comm) + str(s, k.parentExe, event.parent_exe);
  out += str(s, k.execId, event.exec_id) + str(s, k.traceId, event.trace_id);
  out += str(s, k.parentExecId, event.parent_exec_id) + str(s, k.parentTraceId, event.parent_trace_id);
  const start = processStart(event, s.bootWallNanos);
  if (start !== undefined) out += k.processStartTime + (s.text ? devTimeText(start.millis) : String(start.millis));
  const parentStart = parentProcessStart(event, s.bootWallNanos);
  if (parentStart !== undefined)
    out += k.parentProcessStartTime + (s.text ? devTimeText(parentStart.millis) : String(parentStart.millis));
  out +=
    num(k.cgroupId, event.cgid) + str(s, k.cgroupPath, event.cgroup_path) + str(s, k.containerId, event.container_id);
  switch (type) {
    case 'exit':
      out += num(k.exitCode, event.exit_code) + num(k.signal, event.signal) + num(k.durationNs, event.duration_ns);
      break;
    case 'block':
      if (event.path !== undefined && event.path !== '')
        out += str(s, k.filePath, event.path) + str(s, k.fileName, baseName(event.path));
      out +=
        str(s, k.resolvedPath, event.resolved_path) +
        num(k.inode, event.ino) +
        num(k.device, event.dev) +
        num(k.openFlags, event.open_flags);
      break;
    case 'connect':
      out += str(s, k.direction, event.direction);
      break;
    case 'sensor':
      out += str(s, k.status, event.status) + str(s, k.message, event.message);
      break;
    case 'anomaly':
    case 'trend':
      out += str(s, k.message, event.message);
      break;
    case 'audit': {
      // usrName and src are QRadar's own keys (src IP-typed: a non-IP source goes to srcAddress).
      const src = event.audit_source;
      out += str(s, k.usrName, event.audit_actor) + str(s, k.auditAction, event.audit_action);
      out += str(s, k.auditResult, event.audit_result) + str(s, k.auditActorType, event.audit_actor_type);
      out += str(s, k.auditTarget, event.audit_target) + num(k.auditSeq, event.audit_seq);
      out += str(s, k.auditHash, event.audit_hash) + str(s, k.message, event.message);
      if (src !== undefined && src !== '') out += str(s, isIP(src) !== 0 ? k.src : k.srcAddress, src);
      break;
    }
    case 'alert':
      out += str(s, k.alert, event.alert) + str(s, k.status, event.status) + str(s, k.alertSeverity, event.severity);
      out += str(s, k.message, event.message) + str(s, k.condition, event.condition) + str(s, k.value, event.value);
      out += str(s, k.startedAt, event.started_at);
      break;
    default:
      break;
  }
  // Analytics figures: custom keys, the lowerCamelCase of their canonical name (a QRadar custom property each).
  for (const [name, value] of analyticsFields(event)) {
    const key = camelName(name);
    const text = typeof value === 'object' ? value.join(',') : String(value);
    out += str(s, s.delimiter + key[0]!.toLowerCase() + key.slice(1) + '=', text);
  }
  out += str(s, k.sensor, event.sensor) + str(s, k.hook, event.hook) + str(s, k.eventId, event.event_id);
  if (event.labels !== undefined) out += str(s, k.labels, labelsJson(event.labels));
  return s.prefix + leefHeaderValue(eventClassId(event)) + '|' + s.header + out;
}

export const leefFormatter: FormatterDefinition<LeefOptions> = {
  name: 'leef',
  description: 'IBM QRadar LEEF 2.0 (or 1.0), one event per line; delimiter and control characters kept out of values.',
  output: 'string',
  optionsSchema: {
    properties: {
      version: {
        type: 'string',
        enum: ['2.0', '1.0'],
        default: '2.0',
        description: 'LEEF version. 1.0 is always tab-delimited.',
      },
      delimiter: {
        type: 'string',
        default: 'x09',
        // One BMP character other than NUL, LF, CR, space, digits, '=', letters and surrogates; or a hex form.
        pattern:
          '^(?:[\\u0001-\\u0009\\u000b\\u000c\\u000e-\\u001f\\u0021-\\u002f\\u003a-\\u003c\\u003e-\\u0040\\u005b-\\u0060\\u007b-\\ud7ff\\ue000-\\uffff]|(?:0x|x)[0-9A-Fa-f]{1,4})$',
        // The hex forms of what the first branch refuses (NUL, LF, CR, space, '=', digits, letters, surrogates), so
        // `aegisbpf validate` rejects them too; test/formatters/leef.test.ts checks this agrees with the code.
        not: {
          pattern:
            '^(?:0x|x)0*(?:|[aAdD]|20|3[0-9dD]|4[1-9a-fA-F]|5[0-9aA]|6[1-9a-fA-F]|7[0-9aA]|[dD][89a-fA-F][0-9a-fA-F]{2})$',
        },
        description:
          "LEEF 2.0 attribute delimiter: one character ('^', '|', a tab) or x/0x and 1-4 hex digits ('x09', '0x5E'). Not a letter, digit, '=', space, CR, LF or NUL. Default: tab, written x09.",
      },
      dev_time: {
        type: 'string',
        enum: ['text', 'epoch_millis'],
        default: 'text',
        description:
          "devTime as 'MMM dd yyyy HH:mm:ss.SSS z' text with devTimeFormat (default), or as 13-digit epoch milliseconds.",
      },
    },
  },
  create(options: LeefOptions, context: FormatterContext): Formatter {
    const version = options.version ?? '2.0';
    if (version === '1.0' && options.delimiter !== undefined && parseLeefDelimiter(options.delimiter).char !== '\t') {
      throw new AegisError(
        'AEGIS_ERR_CONFIG_INVALID',
        `LEEF 1.0 is always tab-delimited; delimiter '${options.delimiter}' needs version '2.0'.`,
      );
    }
    const delim = parseLeefDelimiter(options.delimiter ?? 'x09');
    const c = escapeRegExpChar(delim.char);
    const state: LeefState = {
      prefix: `LEEF:${version}|${leefHeaderValue(PRODUCT.vendor)}|${leefHeaderValue(PRODUCT.product)}|${leefHeaderValue(context.version)}|`,
      header: version === '1.0' ? '' : delim.header + '|',
      delimiter: delim.char,
      keys: Object.fromEntries(LEEF_KEYS.map((key) => [key, delim.char + key + '='])) as Record<LeefKey, string>,
      special: new RegExp(`[${c}\\u0000-\\u001f\\u007f\\ud800-\\udfff]`),
      replace: new RegExp(`[${c}\\u0000-\\u001f\\u007f]`, 'g'),
      text: (options.dev_time ?? 'text') === 'text',
      bootWallNanos: context.bootWallNanos,
    };
    return { name: 'leef', contentType: 'text/plain; charset=utf-8', format: (event) => formatLeef(event, state) };
  },
};
