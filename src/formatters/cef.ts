/**
 * `cef`: ArcSight Common Event Format (CEF:0), one event per line, field by field as documented in docs/formats.md.
 *
 *   CEF:0|aegisbpf|aegisbpf|<version>|<class id>|<name>|<severity 0–10>|rt=… dvchost=… … cn1Label=cgroupId cn1=…
 *
 * Escaping is the CEF standard's, nothing more (consumers reject escapes they do not know):
 * - header values: `\` → `\\`, `|` → `\|`; CR, LF and NUL cannot be carried and become U+FFFD;
 * - extension values: `\` → `\\`, `=` → `\=`, CR → `\r`, LF → `\n`; NUL becomes U+FFFD (C parsers would stop
 *   there); `|` stays literal. Lone surrogates become U+FFFD everywhere (UTF-8 cannot encode them).
 * So an attacker-controlled path, command line or cgroup path can neither end its value, start a key, nor end the line.
 *
 * Keys are only used for what the dictionary says they hold: `src`/`dst` only for IPv4 addresses (IPv6 goes to
 * `c6a2`/`c6a3`), file paths in `filePath`/`fname`, never in `dst` (the AegisBPF SIEM guide's mapping, which ArcSight
 * rejects). Values longer than their key's dictionary length are cut (`enforce_lengths`, default on) and the cut keys
 * listed in `aegisbpfTruncated`. The last pair is always a `cnN` integer: the standard drops trailing spaces of the
 * last value, so a string must never be last.
 */
import { isIPv4, isIPv6 } from 'node:net';
import type { AegisEvent } from '../event/types';
import {
  analyticsFields,
  analyticsMessage,
  baseName,
  camelName,
  commandLine,
  eventClassId,
  eventMillis,
  eventName,
  eventOutcome,
  networkEndpoints,
  parentProcessStart,
  processStart,
  PRODUCT,
  severityOf,
} from './common';
import { cutToBytes, fitsInBytes, labelsJson, replaceLoneSurrogates } from './text';
import type { Formatter, FormatterContext, FormatterDefinition } from './types';

export interface CefOptions {
  /** Cut values to the CEF dictionary length of their key (default true); `false` keeps every value whole. */
  readonly enforce_lengths?: boolean;
  /**
   * Write a space after the last header `|` (default false). liblognorm's `cef` parser (rsyslog mmnormalize) drops
   * the first character of the first key without it; the CEF standard and other parsers accept both.
   */
  readonly space_after_header?: boolean;
  /**
   * Header Device Vendor and Device Product (default `aegisbpf` both). The AegisBPF SIEM guide writes `AegisBPF`:
   * set both to that to match content written for the guide. The user-defined keys keep the `aegisbpf` prefix.
   */
  readonly device_vendor?: string;
  readonly device_product?: string;
  /**
   * `class` (default): Signature ID = the event class id (`block:KILL`, `exec`, …) and its name. `guide`: for block
   * events the guide's form, Signature ID = the action (`BLOCK`, `KILL`, …, `AUDIT`) and Name `File Access Blocked`
   * (`Execution Blocked` at exec, `File Access Audited` for AUDIT); other events as `class`. docs/guides.md says why
   * `class` is the default.
   */
  readonly signature?: 'class' | 'guide';
}

/** The guide's Name for a block event (`signature: guide`). */
export function guideBlockName(event: AegisEvent & { readonly type: 'block' }): string {
  // The exec hooks: lsm/bprm_check_security, and sched_process_exec in tracepoint mode.
  const atExec = event.hook !== undefined && /bprm|exec/.test(event.hook);
  if (event.action === 'AUDIT') return atExec ? 'Execution Audited' : 'File Access Audited';
  return atExec ? 'Execution Blocked' : 'File Access Blocked';
}

/** Dictionary lengths (CEF Implementation Standard, extension dictionary) of the string keys this formatter writes. */
export const CEF_KEY_MAX_BYTES = {
  act: 63,
  outcome: 63,
  dvchost: 100,
  externalId: 40,
  proto: 31,
  suid: 1023,
  sproc: 1023,
  dproc: 1023,
  deviceProcessName: 1023,
  filePath: 1023,
  fname: 1023,
  fileId: 1023,
  msg: 1023,
  cs: 4000,
  suser: 1023,
} as const;

const HEADER_SPECIAL = /[\\|\r\n\u0000\ud800-\udfff]/;
const HEADER_CHARS = /[\\|\r\n\u0000]/g;
const EXT_SPECIAL = /[\\=\r\n\u0000\ud800-\udfff]/;
const EXT_CHARS = /[\\=\r\n\u0000]/g;

function headerChar(c: string): string {
  return c === '\\' ? '\\\\' : c === '|' ? '\\|' : '\ufffd';
}

function extChar(c: string): string {
  switch (c) {
    case '\\':
      return '\\\\';
    case '=':
      return '\\=';
    case '\r':
      return '\\r';
    case '\n':
      return '\\n';
    default:
      return '\ufffd';
  }
}

/** Escape a CEF header value. */
export function cefHeaderEscape(value: string): string {
  if (!HEADER_SPECIAL.test(value)) return value;
  return replaceLoneSurrogates(value).replace(HEADER_CHARS, headerChar);
}

/** Escape a CEF extension value. */
export function cefExtensionEscape(value: string): string {
  if (!EXT_SPECIAL.test(value)) return value;
  return replaceLoneSurrogates(value).replace(EXT_CHARS, extChar);
}

interface CefState {
  readonly prefix: string;
  readonly guideSignature: boolean;
  readonly enforce: boolean;
  readonly spaceAfterHeader: boolean;
  readonly bootWallNanos: bigint | undefined;
}

// Keys cut during the current format() call (formatting is synchronous, so one module-level list is enough).
let truncated = '';

/**
 * `prefix` + the value escaped (and cut to maxBytes when enforcing), or `` when the value is absent or empty.
 * `prefix` is the constant ` key=` (possibly preceded by the key's label pair), so each pair costs one concatenation.
 */
function pair(prefix: string, value: string | undefined, maxBytes: number): string {
  if (value === undefined || value === '') return '';
  let v = cefExtensionEscape(value);
  if (maxBytes > 0 && !fitsInBytes(v, maxBytes)) {
    v = cutToBytes(v, maxBytes);
    const key = prefix.slice(prefix.lastIndexOf(' ') + 1, -1);
    truncated = truncated === '' ? key : truncated + ',' + key;
  }
  return prefix + v;
}

function num(prefix: string, value: number | undefined): string {
  return value === undefined ? '' : prefix + String(value);
}

function formatCef(event: AegisEvent, s: CefState): string {
  truncated = '';
  const lim = s.enforce ? 1 : 0;
  const L = CEF_KEY_MAX_BYTES;
  const type = event.type;

  let out = ' rt=' + String(eventMillis(event));
  out += pair(' dvchost=', event.host, lim && L.dvchost);
  out += pair(' externalId=', event.event_id, lim && L.externalId);
  if (type === 'block' || type === 'connect') out += pair(' act=', event.action, lim && L.act);
  // Audit: the operation is the act, the actor the source user, the client address the source (IPv4 only: the
  // dictionary types src as IPv4; others go to aegisbpfAuditSource below).
  if (type === 'audit') {
    out += pair(' act=', event.audit_action, lim && L.act);
    out += pair(' suser=', event.audit_actor, lim && L.suser);
    if (event.audit_source !== undefined && isIPv4(event.audit_source)) out += ' src=' + event.audit_source;
  }
  out += pair(' outcome=', eventOutcome(event), lim && L.outcome);

  // Network: addresses only in address-typed keys.
  let srcAddressOther: string | undefined;
  let dstAddressOther: string | undefined;
  if (type === 'connect') {
    const { source, destination } = networkEndpoints(event);
    if (source.ip !== undefined) {
      if (isIPv4(source.ip)) out += ' src=' + source.ip;
      else if (isIPv6(source.ip)) out += ' c6a2Label=Source IPv6 Address c6a2=' + source.ip;
      else srcAddressOther = source.ip;
    }
    out += num(' spt=', source.port);
    if (destination.ip !== undefined) {
      if (isIPv4(destination.ip)) out += ' dst=' + destination.ip;
      else if (isIPv6(destination.ip)) out += ' c6a3Label=Destination IPv6 Address c6a3=' + destination.ip;
      else dstAddressOther = destination.ip;
    }
    out += num(' dpt=', destination.port);
    out += pair(' proto=', event.protocol.toUpperCase(), lim && L.proto);
    if (event.direction !== undefined) out += ' deviceDirection=' + (event.direction === 'egress' ? '1' : '0');
  }

  // Processes: for exec/exit the process is the destination and its parent the source (who started what); for
  // file and network events the process is the source of the access; for sensor events it is the sensor itself.
  const lifecycle = type === 'exec' || type === 'exit';
  if (lifecycle) {
    out += ' spid=' + String(event.ppid);
    out += pair(' sproc=', event.parent_comm, lim && L.sproc);
    out += ' dpid=' + String(event.pid);
    out += pair(' dproc=', event.comm, lim && L.dproc);
  } else if (type === 'sensor' || type === 'audit' || type === 'alert' || type === 'trend' || type === 'host_stats') {
    // Trend forecasts and host samples come from the daemon itself, like sensor events.
    out += ' dvcpid=' + String(event.pid);
    out += pair(' deviceProcessName=', event.comm, lim && L.deviceProcessName);
  } else {
    out += ' spid=' + String(event.pid);
    out += pair(' sproc=', event.comm, lim && L.sproc);
  }
  if (event.uid !== undefined) out += ' suid=' + String(event.uid);

  // Files: the executable for exec/exit, the opened file for block.
  const file = lifecycle ? event.exe : type === 'block' ? event.path : undefined;
  if (file !== undefined && file !== '') {
    out += pair(' filePath=', file, lim && L.filePath);
    out += pair(' fname=', baseName(file), lim && L.fname);
  }
  if (type === 'block') out += ' fileId=' + String(event.ino);

  const cmd = commandLine(event);
  const message = type === 'sensor' || type === 'audit' || type === 'alert' ? event.message : analyticsMessage(event);
  out += pair(' msg=', message ?? cmd, lim && L.msg);

  const cs = lim && L.cs;
  if (event.cgroup_path !== '') out += pair(' cs1Label=cgroupPath cs1=', event.cgroup_path, cs);
  if (event.exec_id !== '') out += pair(' cs2Label=execId cs2=', event.exec_id, cs);
  if (event.trace_id !== '') out += pair(' cs3Label=traceId cs3=', event.trace_id, cs);
  const policy = type === 'block' || type === 'connect' || type === 'sensor' ? event.policy : undefined;
  if (policy !== undefined && policy !== '') out += pair(' cs4Label=policy cs4=', policy, cs);
  if (event.mode !== undefined) out += ' cs5Label=mode cs5=' + event.mode;
  if (event.sensor !== undefined && event.sensor !== '') out += pair(' cs6Label=sensor cs6=', event.sensor, cs);

  const start = processStart(event, s.bootWallNanos);
  if (start !== undefined) out += ' deviceCustomDate1Label=processStartTime deviceCustomDate1=' + String(start.millis);
  const parentStart = parentProcessStart(event, s.bootWallNanos);
  if (parentStart !== undefined)
    out += ' deviceCustomDate2Label=parentProcessStartTime deviceCustomDate2=' + String(parentStart.millis);

  // User-defined keys (vendor and product are both "aegisbpf", so the prefix is written once): what has no
  // dictionary key. They land in ArcSight's Additional Data.
  if (!lifecycle) {
    out += pair(' aegisbpfExe=', event.exe, 0);
    out += ' aegisbpfPpid=' + String(event.ppid);
    out += pair(' aegisbpfParentComm=', event.parent_comm, 0);
  }
  if (message !== undefined) out += pair(' aegisbpfCmdLine=', cmd, 0);
  if (event.args_truncated !== undefined) out += ' aegisbpfArgsTruncated=' + String(event.args_truncated);
  out += num(' aegisbpfGid=', event.gid);
  out += pair(' aegisbpfParentExe=', event.parent_exe, 0);
  out += pair(' aegisbpfParentExecId=', event.parent_exec_id, 0);
  out += pair(' aegisbpfParentTraceId=', event.parent_trace_id, 0);
  out += pair(' aegisbpfContainerId=', event.container_id, 0);
  out += pair(' aegisbpfSrcAddress=', srcAddressOther, 0);
  out += pair(' aegisbpfDstAddress=', dstAddressOther, 0);
  if (type === 'block') out += pair(' aegisbpfResolvedPath=', event.resolved_path, 0);
  if (type === 'exit') out += num(' aegisbpfDurationNs=', event.duration_ns);
  if (type === 'sensor') out += pair(' aegisbpfStatus=', event.status, 0);
  if (type === 'audit') {
    out += pair(' aegisbpfAuditResult=', event.audit_result, 0);
    out += pair(' aegisbpfAuditActorType=', event.audit_actor_type, 0);
    out += pair(' aegisbpfAuditTarget=', event.audit_target, 0);
    if (event.audit_source !== undefined && !isIPv4(event.audit_source))
      out += pair(' aegisbpfAuditSource=', event.audit_source, 0);
    out += num(' aegisbpfAuditSeq=', event.audit_seq);
    out += pair(' aegisbpfAuditHash=', event.audit_hash, 0);
  }
  if (type === 'alert') {
    out += pair(' aegisbpfAlert=', event.alert, 0);
    out += pair(' aegisbpfStatus=', event.status, 0);
    out += pair(' aegisbpfSeverity=', event.severity, 0);
    out += pair(' aegisbpfCondition=', event.condition, 0);
    out += pair(' aegisbpfValue=', event.value, 0);
    out += pair(' aegisbpfStartedAt=', event.started_at, 0);
  }
  out += pair(' aegisbpfHook=', event.hook, 0);
  // Analytics figures (scores, forecasts, host counters) have no dictionary key: user-defined keys, canonical names.
  for (const [name, value] of analyticsFields(event)) {
    out += pair(' aegisbpf' + camelName(name) + '=', typeof value === 'object' ? value.join(',') : String(value), 0);
  }
  if (event.labels !== undefined) out += pair(' aegisbpfLabels=', labelsJson(event.labels), 0);
  if (truncated !== '') out += ' aegisbpfTruncated=' + truncated;

  // Custom numbers last: the final value is always an integer, never a string that could end in a space.
  out += ' cn1Label=cgroupId cn1=' + String(event.cgid);
  if (type === 'exit') {
    out += ' cn2Label=exitCode cn2=' + String(event.exit_code);
    if (event.signal !== undefined) out += ' cn3Label=signal cn3=' + String(event.signal);
  } else if (type === 'block') {
    if (event.open_flags !== undefined) out += ' cn2Label=openFlags cn2=' + String(event.open_flags);
    out += ' cn3Label=device cn3=' + String(event.dev);
  }

  const guide = s.guideSignature && event.type === 'block';
  return (
    s.prefix +
    cefHeaderEscape(guide ? event.action : eventClassId(event)) +
    '|' +
    cefHeaderEscape(guide ? guideBlockName(event) : eventName(event)) +
    '|' +
    String(severityOf(event)) +
    '|' +
    (s.spaceAfterHeader ? out : out.slice(1))
  );
}

export const cefFormatter: FormatterDefinition<CefOptions> = {
  name: 'cef',
  description: 'ArcSight CEF:0, one event per line; strict CEF escaping; dictionary keys only for what they hold.',
  output: 'string',
  optionsSchema: {
    properties: {
      enforce_lengths: {
        type: 'boolean',
        default: true,
        description:
          'Cut values to the CEF dictionary length of their key (cut keys are listed in aegisbpfTruncated); false keeps values whole.',
      },
      device_vendor: {
        type: 'string',
        minLength: 1,
        maxLength: 63,
        default: 'aegisbpf',
        description: "Header Device Vendor (the AegisBPF SIEM guide writes 'AegisBPF'; default 'aegisbpf').",
      },
      device_product: {
        type: 'string',
        minLength: 1,
        maxLength: 63,
        default: 'aegisbpf',
        description: "Header Device Product (the AegisBPF SIEM guide writes 'AegisBPF'; default 'aegisbpf').",
      },
      signature: {
        type: 'string',
        enum: ['class', 'guide'],
        default: 'class',
        description:
          "class: Signature ID = event class id (block:KILL, exec, …). guide: block events as the SIEM guide writes them (Signature ID = action, Name 'File Access Blocked').",
      },
      space_after_header: {
        type: 'boolean',
        default: false,
        description:
          "Write a space after the last header '|'. Needed by liblognorm's cef parser (rsyslog mmnormalize), which otherwise drops the first character of the first key.",
      },
    },
  },
  create(options: CefOptions, context: FormatterContext): Formatter {
    const state: CefState = {
      prefix: `CEF:0|${cefHeaderEscape(options.device_vendor ?? PRODUCT.vendor)}|${cefHeaderEscape(options.device_product ?? PRODUCT.product)}|${cefHeaderEscape(context.version)}|`,
      guideSignature: options.signature === 'guide',
      enforce: options.enforce_lengths ?? true,
      spaceAfterHeader: options.space_after_header ?? false,
      bootWallNanos: context.bootWallNanos,
    };
    return { name: 'cef', contentType: 'text/plain; charset=utf-8', format: (event) => formatCef(event, state) };
  },
};
