/**
 * What every formatter agrees on, so an event means the same in CEF, LEEF, syslog, ECS, OCSF and HEC:
 * severity, a stable event class id, a human-readable name, the product identity, and time conversions.
 * Pure functions; no formatter should re-derive these on its own.
 */
import type { AegisEvent, EventOf, EventType } from '../event/types';
import { EVENT_FIELDS, FIELD_ORDER } from '../event/fields';
import { parseTimestampMicros } from '../util/time';

export const PRODUCT = {
  vendor: 'aegisbpf',
  product: 'aegisbpf',
  /** Syslog APP-NAME and Splunk sourcetype default. */
  appName: 'aegisbpf',
} as const;

/**
 * Severity on the CEF 0–10 scale (10 most severe). Enforcement ranks above observation, KILL above TERM above
 * BLOCK/INT above AUDIT; sensor trouble (degraded, drops) ranks as a warning. Other formats map from this one:
 * - syslog: see syslogSeverity();
 * - ECS `event.severity`: this number; OCSF `severity_id`: see ocsfSeverityId();
 * - LEEF `sev` (1–10): max(1, this).
 */
export function severityOf(event: AegisEvent): number {
  switch (event.type) {
    case 'exec':
      return 3;
    case 'exit':
      return 1;
    case 'block':
      return actionSeverity(event.action);
    case 'connect':
      return event.action === undefined ? 3 : actionSeverity(event.action);
    case 'sensor':
      return event.status === 'degraded' || event.status === 'drops' || event.status === 'error'
        ? 6
        : event.status.startsWith('policy_')
          ? 4
          : 2;
    // Analytics findings are warnings for an analyst to look at, not enforcement; a trend is the operator's concern.
    case 'anomaly':
      return 6;
    case 'trend':
      return 5;
    case 'host_stats':
    case 'activity':
      return 1;
    case 'audit':
      // A refused authentication is what an attack looks like; a change to enforcement is notable; the rest informs.
      return event.audit_result === 'denied'
        ? 6
        : event.audit_result === 'failure' || /^(policy|blocklist|key|role)\./.test(event.audit_action)
          ? 4
          : 2;
    case 'alert':
      return alertSeverity(event.status, event.severity);
  }
}

/** An alert's own severity on the CEF scale; a resolved alert is informational. */
function alertSeverity(status: string, severity: string): number {
  if (status === 'resolved') return 2;
  switch (severity) {
    case 'critical':
      return 10;
    case 'high':
      return 8;
    case 'medium':
      return 6;
    case 'low':
      return 4;
    default:
      return 2;
  }
}

function actionSeverity(action: string): number {
  switch (action) {
    case 'AUDIT':
      return 5;
    case 'BLOCK':
    case 'INT':
      return 7;
    case 'TERM':
      return 8;
    case 'KILL':
      return 9;
    default:
      return 5;
  }
}

/** RFC 5424 severity (0 emergency … 7 debug) from severityOf: 9–10 critical, 7–8 error, 5–6 warning, 3–4 notice, else informational. */
export function syslogSeverity(event: AegisEvent): number {
  const s = severityOf(event);
  if (s >= 9) return 2;
  if (s >= 7) return 3;
  if (s >= 5) return 4;
  if (s >= 3) return 5;
  return 6;
}

/** OCSF severity_id (1 informational, 2 low, 3 medium, 4 high, 5 critical) from severityOf. */
export function ocsfSeverityId(event: AegisEvent): number {
  const s = severityOf(event);
  if (s >= 9) return 5;
  if (s >= 7) return 4;
  if (s >= 5) return 3;
  if (s >= 3) return 2;
  return 1;
}

/**
 * A stable, low-cardinality class id for the kind of event: `exec`, `exit`, `block:AUDIT`, `block:KILL`,
 * `connect`, `connect:BLOCK`, `sensor:started`, … Used as CEF Signature ID, LEEF EventID, syslog MSGID.
 */
export function eventClassId(event: AegisEvent): string {
  switch (event.type) {
    case 'exec':
    case 'exit':
      return event.type;
    case 'block':
      return `block:${event.action}`;
    case 'connect':
      return event.action === undefined ? 'connect' : `connect:${event.action}`;
    case 'sensor':
      return `sensor:${event.status.replace(/[^A-Za-z0-9_.-]/g, '_').slice(0, 40)}`;
    case 'anomaly':
      return `anomaly:${event.detector.replace(/[^A-Za-z0-9_.-]/g, '_').slice(0, 40)}`;
    case 'trend':
      return `trend:${event.subject.replace(/[^A-Za-z0-9_.-]/g, '_').slice(0, 40)}`;
    case 'host_stats':
    case 'activity':
      return event.type;
    case 'audit':
      return `audit:${event.audit_action.replace(/[^A-Za-z0-9_.-]/g, '_').slice(0, 40)}`;
    case 'alert':
      return `alert:${event.status === 'resolved' ? 'resolved' : 'firing'}`;
  }
}

/** A short human-readable name of the kind of event (CEF Name, LEEF/QRadar event name, log message prefixes). */
export function eventName(event: AegisEvent): string {
  switch (event.type) {
    case 'exec':
      return 'Process executed';
    case 'exit':
      return event.signal === undefined ? 'Process exited' : 'Process killed by signal';
    case 'block':
      switch (event.action) {
        case 'AUDIT':
          return 'File access audited';
        case 'BLOCK':
          return 'File access blocked';
        case 'TERM':
          return 'Process terminated on file access';
        case 'KILL':
          return 'Process killed on file access';
        case 'INT':
          return 'Process interrupted on file access';
      }
      return 'File access';
    case 'connect':
      if (event.action === undefined) return 'Network connection';
      switch (event.action) {
        case 'AUDIT':
          return 'Network connection audited';
        case 'BLOCK':
          return 'Network connection blocked';
        default:
          return 'Process signalled on network connection';
      }
    case 'sensor':
      return `Sensor ${event.status.replace(/_/g, ' ')}`;
    case 'anomaly':
      switch (event.detector) {
        case 'rate':
          return 'Anomalous event rate';
        case 'rare':
          return 'First-seen process pair';
        default:
          return 'Anomalous process behaviour';
      }
    case 'trend':
      return event.subject === 'events' ? 'Event volume forecast' : 'Map forecast to fill';
    case 'host_stats':
      return 'Host statistics';
    case 'activity':
      return 'Process activity summary';
    case 'audit':
      return `Control operation ${event.audit_action} ${event.audit_result === 'success' ? 'succeeded' : event.audit_result === 'denied' ? 'denied' : 'failed'}`;
    case 'alert':
      return event.status === 'resolved' ? 'Alert resolved' : 'Alert firing';
  }
}

/** Whether the event records an enforcement (something was denied or a signal was sent). */
export function isEnforcement(event: AegisEvent): boolean {
  return (event.type === 'block' || event.type === 'connect') && event.action !== undefined && event.action !== 'AUDIT';
}

/** Event time as epoch milliseconds (integer) and epoch microseconds (exact, bigint). */
export function eventTime(event: AegisEvent): { readonly millis: number; readonly micros: bigint } {
  const micros = parseTimestampMicros(event.ts) ?? 0n;
  return { millis: Number(micros / 1000n), micros };
}

/**
 * Wall-clock process start time, when known: the `start_ts` the enrich processor added, or `start_time` converted
 * with the formatter context's boot time (wall-clock nanoseconds at which the kernel's monotonic clock read zero).
 * Undefined when neither is available; formatters then omit the datetime rather than invent one.
 */
export function processStart(
  event: AegisEvent,
  bootWallNanos: bigint | undefined,
): { readonly iso: string; readonly millis: number } | undefined {
  if (event.start_ts !== undefined) {
    const fast = canonicalMillis(event.start_ts, START_CACHE);
    if (fast !== undefined) return { iso: event.start_ts, millis: fast };
    const micros = parseTimestampMicros(event.start_ts);
    if (micros !== undefined) return { iso: event.start_ts, millis: Number(micros / 1000n) };
  }
  if (bootWallNanos === undefined) return undefined;
  const nanos = bootWallNanos + BigInt(event.start_time);
  const millis = Number(nanos / 1_000_000n);
  const iso =
    new Date(millis).toISOString().slice(0, 23) + String(Number((nanos / 1000n) % 1000n)).padStart(3, '0') + 'Z';
  return { iso, millis };
}

/** Version of the canonical event schema (`x-aegisbpf-schema-version` in rules/schema/event.schema.json; a test checks). */
export const EVENT_SCHEMA_VERSION = '1.0.0';

/**
 * Outcome of the operation the event records, from the point of view of the process that attempted it:
 * `failure` when the syscall was denied (BLOCK), `success` when it went through (exec, AUDIT, and TERM/KILL/INT,
 * whose signal does not undo the syscall in flight). Undefined where an outcome means nothing (exit, sensor).
 * CEF `outcome`, OCSF `status_id`, ECS `event.outcome` all come from here.
 */
export function eventOutcome(event: AegisEvent): 'success' | 'failure' | undefined {
  switch (event.type) {
    case 'exec':
      return 'success';
    case 'block':
    case 'connect':
      return event.action === 'BLOCK' ? 'failure' : 'success';
    case 'audit':
      return event.audit_result === 'success' ? 'success' : 'failure';
    default:
      return undefined;
  }
}

export interface NetworkEndpoint {
  readonly ip: string | undefined;
  readonly port: number | undefined;
}

/**
 * Source (initiator) and destination (responder) of a connection. For `egress` (and when the direction is absent:
 * connect(2) is outbound by construction) the local side is the source; for `ingress` the remote side is.
 */
export function networkEndpoints(event: EventOf<'connect'>): {
  readonly source: NetworkEndpoint;
  readonly destination: NetworkEndpoint;
} {
  const local: NetworkEndpoint = { ip: event.local_ip, port: event.local_port };
  const remote: NetworkEndpoint = { ip: event.remote_ip, port: event.remote_port };
  return event.direction === 'ingress'
    ? { source: remote, destination: local }
    : { source: local, destination: remote };
}

/** IANA protocol number for the event's `protocol` (`tcp` 6, `udp` 17, or a decimal number); undefined otherwise. */
export function protocolNumber(protocol: string): number | undefined {
  const p = protocol.toLowerCase();
  if (p === 'tcp') return 6;
  if (p === 'udp') return 17;
  if (p === 'icmp') return 1;
  if (p === 'icmpv6' || p === 'ipv6-icmp') return 58;
  if (p === 'sctp') return 132;
  return /^[0-9]{1,3}$/.test(p) && Number(p) <= 255 ? Number(p) : undefined;
}

/**
 * The command line as one string, the way `ps` shows it: `args` joined with single spaces. Argument boundaries are
 * not preserved (an argument containing a space reads like two); formats that can carry a list keep `args` exact.
 */
export function commandLine(event: AegisEvent): string | undefined {
  const args = event.args;
  if (args === undefined || args.length === 0) return undefined;
  return args.length === 1 ? args[0] : args.join(' ');
}

/** Last component of a slash-separated path (`/usr/bin/curl` → `curl`; `/` or `` → ``). */
export function baseName(path: string): string {
  const end = path.endsWith('/') ? path.length - 1 : path.length;
  const i = path.lastIndexOf('/', end - 1);
  return path.slice(i + 1, end);
}

/**
 * Wall-clock start of the parent process, when known: `parent_start_ts` (enrich), or `parent_start_time` converted
 * with the boot time. Same rules as processStart(): undefined rather than invented.
 */
export function parentProcessStart(
  event: AegisEvent,
  bootWallNanos: bigint | undefined,
): { readonly iso: string; readonly millis: number } | undefined {
  if (event.parent_start_ts !== undefined) {
    const fast = canonicalMillis(event.parent_start_ts, PARENT_START_CACHE);
    if (fast !== undefined) return { iso: event.parent_start_ts, millis: fast };
    const micros = parseTimestampMicros(event.parent_start_ts);
    if (micros !== undefined) return { iso: event.parent_start_ts, millis: Number(micros / 1000n) };
  }
  if (bootWallNanos === undefined || event.parent_start_time === undefined) return undefined;
  const nanos = bootWallNanos + BigInt(event.parent_start_time);
  const millis = Number(nanos / 1_000_000n);
  const iso =
    new Date(millis).toISOString().slice(0, 23) + String(Number((nanos / 1000n) % 1000n)).padStart(3, '0') + 'Z';
  return { iso, millis };
}

interface SecondCache {
  prefix: string;
  millis: number;
}
// One-entry caches of the last second parsed, one per kind of timestamp (event times arrive in order, so consecutive
// events nearly always share their second; start times of one process repeat across its events).
const EVENT_CACHE: SecondCache = { prefix: '', millis: 0 };
const START_CACHE: SecondCache = { prefix: '', millis: 0 };
const PARENT_START_CACHE: SecondCache = { prefix: '', millis: 0 };

/**
 * Epoch milliseconds (truncated) of a timestamp in the canonical `YYYY-MM-DDTHH:MM:SS.ffffffZ` form, read digit by
 * digit with the second looked up in `cache`; undefined for any other form (callers fall back to
 * parseTimestampMicros, which agrees on canonical input: a property test checks).
 */
function canonicalMillis(ts: string, cache: SecondCache): number | undefined {
  if (ts.length !== 27 || ts.charCodeAt(19) !== 0x2e || ts.charCodeAt(26) !== 0x5a) return undefined;
  const d0 = ts.charCodeAt(20) - 0x30;
  const d1 = ts.charCodeAt(21) - 0x30;
  const d2 = ts.charCodeAt(22) - 0x30;
  if (d0 < 0 || d0 > 9 || d1 < 0 || d1 > 9 || d2 < 0 || d2 > 9) return undefined;
  for (let i = 23; i < 26; i++) {
    const d = ts.charCodeAt(i) - 0x30;
    if (d < 0 || d > 9) return undefined;
  }
  if (cache.prefix === '' || !ts.startsWith(cache.prefix)) {
    const seconds = Date.parse(ts.slice(0, 19) + 'Z');
    if (Number.isNaN(seconds) || !/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}$/.test(ts.slice(0, 19))) return undefined;
    cache.prefix = ts.slice(0, 19);
    cache.millis = seconds;
  }
  return cache.millis + d0 * 100 + d1 * 10 + d2;
}

/**
 * Event time as integer epoch milliseconds (truncated, like eventTime().millis), without BigInt on the hot path.
 * A property test checks the two agree.
 */
export function eventMillis(event: AegisEvent): number {
  return canonicalMillis(event.ts, EVENT_CACHE) ?? eventTime(event).millis;
}

/** The analytics event types: results of analysis rather than observations of one kernel hook. */
export const ANALYTICS_TYPES: ReadonlySet<string> = new Set(['anomaly', 'trend', 'host_stats', 'activity']);

/** One type-specific field of an analytics event: its canonical name and its value. */
export type AnalyticsField = readonly [name: string, value: string | number | readonly string[]];

const ANALYTICS_FIELD_NAMES: ReadonlyMap<string, readonly string[]> = new Map(
  [...ANALYTICS_TYPES].map((t) => [
    t,
    FIELD_ORDER.filter((f) => f in EVENT_FIELDS[t as EventType] && !(f in EVENT_FIELDS.exec) && f !== 'message'),
  ]),
);

/**
 * The type-specific fields of an analytics event (anomaly, trend, host_stats, activity), present ones only, in
 * FIELD_ORDER; empty for every other type. Formats without a dictionary slot for these figures (CEF, LEEF, RFC 5424,
 * OCSF's unmapped) write them from this one list under their canonical names, so a new field reaches all of them.
 * `message` is left out: every format has its own place for it.
 */
export function analyticsFields(event: AegisEvent): AnalyticsField[] {
  const names = ANALYTICS_FIELD_NAMES.get(event.type);
  if (names === undefined) return [];
  const out: AnalyticsField[] = [];
  const record = event as unknown as Readonly<Record<string, string | number | readonly string[] | undefined>>;
  for (const name of names) {
    const v = record[name];
    if (v !== undefined) out.push([name, v]);
  }
  return out;
}

/** `snake_case` → `CamelCase`, for formats whose custom keys are alphanumeric (CEF, LEEF). */
export function camelName(name: string): string {
  return name.replace(/(^|_)([a-z0-9])/g, (_m, _u: string, c: string) => c.toUpperCase());
}

/** The analytics types' message, when they carry one (anomaly, trend). */
export function analyticsMessage(event: AegisEvent): string | undefined {
  return event.type === 'anomaly' || event.type === 'trend' ? event.message : undefined;
}
