/**
 * What every formatter agrees on, so an event means the same in CEF, LEEF, syslog, ECS, OCSF and HEC:
 * severity, a stable event class id, a human-readable name, the product identity, and time conversions.
 * Pure functions; no formatter should re-derive these on its own.
 */
import type { AegisEvent } from '../event/types';
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
      return event.status === 'degraded' || event.status === 'drops' || event.status === 'error' ? 6 : event.status.startsWith('policy_') ? 4 : 2;
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
export function processStart(event: AegisEvent, bootWallNanos: bigint | undefined): { readonly iso: string; readonly millis: number } | undefined {
  if (event.start_ts !== undefined) {
    const micros = parseTimestampMicros(event.start_ts);
    if (micros !== undefined) return { iso: event.start_ts, millis: Number(micros / 1000n) };
  }
  if (bootWallNanos === undefined) return undefined;
  const nanos = bootWallNanos + BigInt(event.start_time);
  const millis = Number(nanos / 1_000_000n);
  const iso = new Date(millis).toISOString().slice(0, 23) + String(Number((nanos / 1000n) % 1000n)).padStart(3, '0') + 'Z';
  return { iso, millis };
}
