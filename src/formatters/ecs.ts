/**
 * `ecs`: one Elastic Common Schema 8.11 document per event, for Elasticsearch and anything that speaks ECS.
 *
 * The mapping (docs/formats.md#ecs has the table) in short:
 * - `@timestamp` is the event's `ts` (RFC 3339, microseconds; Elasticsearch's `date` keeps milliseconds and
 *   `_source` keeps the full string).
 * - `event.*` categorizes with ECS's allowed values: policy hits (`block`, and `connect` with an action) are
 *   `event.kind: alert` with category `intrusion_detection` and type `allowed` (AUDIT) or `denied` (an enforcement).
 *   `event.outcome`, `event.severity`, the source/destination roles, `process.command_line` and the start times are
 *   the shared definitions of common.ts (BLOCK denies the syscall: `failure`; TERM/KILL/INT signal the process but
 *   do not undo the open or connect in flight: `success`).
 * - `process.*` from the process fields (`process.entity_id` is `<host>:<exec_id>`, unique across hosts and PID
 *   reuse), `file.*`, `source.*`/`destination.*`/`network.*`, `host.*`, `user.id`, `group.id`, `container.id`,
 *   `rule.*` for policy hits, `labels.*`.
 * - Everything ECS has no field for stays under `aegisbpf.*` with its documented AegisBPF name (`aegisbpf.type`,
 *   `aegisbpf.action`, `aegisbpf.exec_id`, `aegisbpf.cgroup_path`, …), so the guide's `aegisbpf.type:block` queries
 *   keep working and nothing is lost.
 *
 * Objects are nested (never dotted keys), so no key is both a leaf and a prefix. Keys come in a fixed order and
 * optional fields are omitted when absent: the output is byte-stable (golden files in test/formatters/golden/ecs/).
 * The ingest pipeline rules/elastic/ingest-pipelines/aegisbpf-json-to-ecs.json produces the same document from
 * the `json` format; test/rules/elastic/ingest-pipeline.test.ts holds the two together.
 */
import type { AegisEvent } from '../event/types';
import {
  analyticsFields,
  analyticsMessage,
  commandLine,
  eventName,
  eventOutcome,
  networkEndpoints,
  parentProcessStart,
  processStart,
  severityOf,
} from './common';
import type { Formatter, FormatterContext, FormatterDefinition } from './types';

/** The ECS release the output conforms to (`ecs.version`); the tests validate against this release's definitions. */
export const ECS_VERSION = '8.11.0';
/** `event.module` and `event.dataset`; the dataset is also the data stream's (`logs-aegisbpf.events-<namespace>`). */
export const ECS_MODULE = 'aegisbpf';
export const ECS_DATASET = 'aegisbpf.events';

const q = JSON.stringify;

/** `,"source":{"ip":…,"port":…}`, or nothing when neither is known. */
function endpoint(name: string, ip: string | undefined, port: number | undefined): string {
  if (ip === undefined && port === undefined) return '';
  if (ip === undefined) return `,"${name}":{"port":${port}}`;
  return port === undefined ? `,"${name}":{"ip":${q(ip)}}` : `,"${name}":{"ip":${q(ip)},"port":${port}}`;
}

/** Whether the event is a policy hit: a file policy event, or a connect that matched a network rule. */
export function isPolicyHit(event: AegisEvent): boolean {
  return event.type === 'block' || (event.type === 'connect' && event.action !== undefined);
}

interface Categorization {
  readonly category: readonly string[];
  readonly type: readonly string[];
  /** `"category":[…],"type":[…]`, serialized once. */
  readonly json: string;
}
const cat = (category: readonly string[], type: readonly string[]): Categorization => ({
  category,
  type,
  json: `"category":${JSON.stringify(category)},"type":${JSON.stringify(type)}`,
});
const C = {
  exec: cat(['process'], ['start']),
  exit: cat(['process'], ['end']),
  blockAllowed: cat(['file', 'intrusion_detection'], ['access', 'allowed']),
  blockDenied: cat(['file', 'intrusion_detection'], ['access', 'denied']),
  connect: cat(['network'], ['connection', 'start']),
  connectAllowed: cat(['network', 'intrusion_detection'], ['connection', 'allowed']),
  connectDenied: cat(['network', 'intrusion_detection'], ['connection', 'denied']),
  policy: cat(['configuration'], ['change']),
  started: cat(['host'], ['start']),
  stopped: cat(['host'], ['end']),
  sensor: cat(['host'], ['info']),
  anomaly: cat(['intrusion_detection'], ['info']),
  host: cat(['host'], ['info']),
  activity: cat(['process'], ['info']),
  authDenied: cat(['authentication'], ['info']),
  configChange: cat(['configuration'], ['change']),
  iamCreation: cat(['iam'], ['creation']),
  iamDeletion: cat(['iam'], ['deletion']),
  iamChange: cat(['iam'], ['change']),
  alert: cat(['intrusion_detection'], ['info']),
} as const;

/** `event.category` and `event.type`, ECS allowed values (validated against the ECS definitions by a test). */
export function ecsCategorization(event: AegisEvent): Categorization {
  switch (event.type) {
    case 'exec':
      return C.exec;
    case 'exit':
      return C.exit;
    case 'block':
      return event.action === 'AUDIT' ? C.blockAllowed : C.blockDenied;
    case 'connect':
      if (event.action === undefined) return C.connect;
      return event.action === 'AUDIT' ? C.connectAllowed : C.connectDenied;
    case 'sensor':
      if (event.status.startsWith('policy_')) return C.policy;
      if (event.status === 'started') return C.started;
      if (event.status === 'stopped') return C.stopped;
      return C.sensor;
    case 'anomaly':
      return C.anomaly;
    case 'trend':
    case 'host_stats':
      return C.host;
    case 'activity':
      return C.activity;
    case 'audit':
      if (event.audit_action.startsWith('auth.')) return C.authDenied;
      if (event.audit_action === 'daemon.start') return C.started;
      if (event.audit_action === 'daemon.stop') return C.stopped;
      if (event.audit_action === 'key.create' || event.audit_action === 'role.create') return C.iamCreation;
      if (event.audit_action === 'key.revoke') return C.iamDeletion;
      if (event.audit_action.startsWith('key.') || event.audit_action.startsWith('role.')) return C.iamChange;
      return C.configChange;
    case 'alert':
      return C.alert;
  }
}

/**
 * `event.kind`: `alert` for policy hits, alert rules and anomaly findings (something for an analyst), `metric` for the periodic
 * samples (host_stats, activity), `event` otherwise.
 */
function ecsKind(event: AegisEvent): string {
  if (event.type === 'anomaly' || event.type === 'alert' || isPolicyHit(event)) return 'alert';
  return event.type === 'host_stats' || event.type === 'activity' ? 'metric' : 'event';
}

/** `event.action`: what happened, in the sensor's words. */
export function ecsAction(event: AegisEvent): string {
  switch (event.type) {
    case 'exec':
      return 'exec';
    case 'exit':
      return 'exit';
    case 'block':
      return 'open';
    case 'connect':
      return 'connect';
    case 'sensor':
      return event.status;
    case 'anomaly':
      return `anomaly-${event.detector}`;
    case 'trend':
      return 'forecast';
    case 'host_stats':
      return 'host-sample';
    case 'activity':
      return 'activity-summary';
    case 'audit':
      return event.audit_action;
    case 'alert':
      return event.status === 'resolved' ? 'alert-resolved' : 'alert-firing';
  }
}

/**
 * Timestamps and execution ids have fixed character sets in the event schema (digits, `:`, `-`, `.`, `T`, `Z`):
 * they need no JSON escaping, which saves a JSON.stringify call each. Checked, so an invalid event still gives
 * valid JSON.
 */
const PLAIN = /^[0-9:.TZ+-]*$/;

/**
 * Serialized forms of short, repeating strings (host, command names, executables, cgroups, hooks, policy ids,
 * event names): the same few values come back event after event, and a lookup is several times cheaper than
 * serializing again. Bounded: at most CACHE_MAX entries of at most CACHE_MAX_LENGTH characters; a flood of distinct
 * values only empties it. The output is the same with or without it.
 */
const CACHE_MAX = 4096;
const CACHE_MAX_LENGTH = 256;
const serialized = new Map<string, string>();
function qc(s: string): string {
  let v = serialized.get(s);
  if (v === undefined) {
    v = q(s);
    if (s.length <= CACHE_MAX_LENGTH) {
      if (serialized.size >= CACHE_MAX) serialized.clear();
      serialized.set(s, v);
    }
  }
  return v;
}
const plain = (s: string): string => (PLAIN.test(s) ? `"${s}"` : q(s));

/**
 * Serialize one event as an ECS document (no trailing newline). Assembled as a string: one JSON.stringify of the
 * same document built as objects measured slower (bench/formatters), and most values here need no serialization
 * work at all (constants, numbers, schema-checked timestamps and ids, cached repeating strings).
 */
export function formatEcs(event: AegisEvent, context?: FormatterContext): string {
  const own =
    event.type === 'sensor' || event.type === 'audit' || event.type === 'alert'
      ? event.message
      : analyticsMessage(event);
  const message = own ?? eventName(event);
  const ts = plain(event.ts);
  let out = `{"@timestamp":${ts},"ecs":{"version":"${ECS_VERSION}"},"message":${own !== undefined ? q(message) : qc(message)}`;

  out += `,"event":{"kind":"${ecsKind(event)}",${ecsCategorization(event).json},"action":${qc(ecsAction(event))}`;
  const outcome = eventOutcome(event);
  if (outcome !== undefined) out += `,"outcome":"${outcome}"`;
  out += `,"severity":${severityOf(event)},"module":"${ECS_MODULE}","dataset":"${ECS_DATASET}"`;
  if (event.event_id !== undefined) out += `,"id":${q(event.event_id)}`;
  // host, serialized once and reused (without its closing quote) as the prefix of the entity ids.
  const host = qc(event.host);
  const hostPrefix = host.slice(0, -1);
  out += `},"host":{"name":${host},"os":{"type":"linux"}}`;

  out += `,"process":{"pid":${event.pid},"name":${qc(event.comm)}`;
  if (event.exe !== undefined) out += `,"executable":${qc(event.exe)}`;
  if (event.args !== undefined) {
    out += `,"args":${q(event.args)}`;
    const cmd = commandLine(event);
    if (cmd !== undefined) out += `,"command_line":${q(cmd)}`;
  }
  out += `,"entity_id":${PLAIN.test(event.exec_id) ? `${hostPrefix}:${event.exec_id}"` : q(`${event.host}:${event.exec_id}`)}`;
  const start = processStart(event, context?.bootWallNanos);
  if (start !== undefined) out += `,"start":${plain(start.iso)}`;
  if (event.type === 'exit') {
    if (event.signal === undefined) out += `,"exit_code":${event.exit_code}`;
    out += `,"end":${ts}`;
  }
  out += `,"parent":{"pid":${event.ppid}`;
  if (event.parent_comm !== undefined) out += `,"name":${qc(event.parent_comm)}`;
  if (event.parent_exe !== undefined) out += `,"executable":${qc(event.parent_exe)}`;
  if (event.parent_exec_id !== undefined) {
    out += `,"entity_id":${PLAIN.test(event.parent_exec_id) ? `${hostPrefix}:${event.parent_exec_id}"` : q(`${event.host}:${event.parent_exec_id}`)}`;
  }
  const parentStart = parentProcessStart(event, context?.bootWallNanos);
  if (parentStart !== undefined) out += `,"start":${plain(parentStart.iso)}`;
  out += '}}';

  if (event.uid !== undefined) out += `,"user":{"id":"${event.uid}"}`;
  if (event.gid !== undefined) out += `,"group":{"id":"${event.gid}"}`;

  if (event.type === 'block') {
    out += ',"file":{';
    if (event.path !== undefined && event.path !== '') out += `"path":${qc(event.path)},`;
    if (event.resolved_path !== undefined && event.resolved_path !== '')
      out += `"target_path":${qc(event.resolved_path)},`;
    out += `"inode":"${event.ino}","device":"${event.dev}"}`;
  } else if (event.type === 'connect') {
    // The source is the initiator (common.ts): the local side for egress, the remote side for ingress.
    const { source, destination } = networkEndpoints(event);
    out += endpoint('source', source.ip, source.port) + endpoint('destination', destination.ip, destination.port);
    out += `,"network":{"transport":${qc(event.protocol)},"type":"${event.family}"`;
    if (event.direction !== undefined) out += `,"direction":"${event.direction}"`;
    out += '}';
  } else if (event.type === 'audit') {
    // Who and from where: the API key (or local user), the client address.
    out += `,"user":{"name":${q(event.audit_actor)}}`;
    // source.address (keyword): an IP for API requests, `local` for the CLI and the daemon.
    if (event.audit_source !== undefined) out += `,"source":{"address":${q(event.audit_source)}}`;
  }

  if (event.container_id !== undefined) out += `,"container":{"id":${qc(event.container_id)}}`;

  if ((event.type === 'block' || event.type === 'connect') && event.policy !== undefined) {
    const p = qc(event.policy);
    out += `,"rule":{"id":${p},"name":${p},"ruleset":"${ECS_MODULE}"}`;
  } else if (event.type === 'alert') {
    const a = q(event.alert);
    out += `,"rule":{"id":${a},"name":${a},"ruleset":"${ECS_MODULE}-alerts"}`;
  }

  if (event.labels !== undefined) {
    const keys = Object.keys(event.labels).sort();
    if (keys.length > 0) {
      let labels = '';
      for (const k of keys) labels += `,${q(k)}:${q(event.labels[k])}`;
      out += `,"labels":{${labels.slice(1)}}`;
    }
  }

  // aegisbpf-only fields: what a SOC filters on first (type, action, mode), then the rest in FIELD_ORDER.
  out += `,"aegisbpf":{"type":"${event.type}"`;
  if ((event.type === 'block' || event.type === 'connect') && event.action !== undefined)
    out += `,"action":${qc(event.action)}`;
  if (event.mode !== undefined) out += `,"mode":"${event.mode}"`;
  out += `,"exec_id":${plain(event.exec_id)},"trace_id":${plain(event.trace_id)},"start_time":${event.start_time}`;
  if (event.parent_exec_id !== undefined) out += `,"parent_exec_id":${plain(event.parent_exec_id)}`;
  if (event.parent_trace_id !== undefined) out += `,"parent_trace_id":${plain(event.parent_trace_id)}`;
  if (event.parent_start_time !== undefined) out += `,"parent_start_time":${event.parent_start_time}`;
  out += `,"cgid":${event.cgid},"cgroup_path":${qc(event.cgroup_path)}`;
  if (event.args_truncated !== undefined) out += `,"args_truncated":${String(event.args_truncated)}`;
  if (event.type === 'exit') {
    if (event.signal !== undefined) out += `,"exit_code":${event.exit_code},"signal":${event.signal}`;
    if (event.duration_ns !== undefined) out += `,"duration_ns":${event.duration_ns}`;
  } else if (event.type === 'block') {
    if (event.open_flags !== undefined) out += `,"open_flags":${event.open_flags}`;
  } else if (event.type === 'sensor') {
    if (event.policy !== undefined) out += `,"policy":${qc(event.policy)}`;
  } else if (event.type === 'audit') {
    out += `,"audit_result":${qc(event.audit_result)}`;
    if (event.audit_actor_type !== undefined) out += `,"audit_actor_type":${qc(event.audit_actor_type)}`;
    if (event.audit_target !== undefined) out += `,"audit_target":${q(event.audit_target)}`;
    if (event.audit_seq !== undefined) out += `,"audit_seq":${event.audit_seq}`;
    if (event.audit_hash !== undefined) out += `,"audit_hash":${q(event.audit_hash)}`;
  } else if (event.type === 'alert') {
    out += `,"alert":${q(event.alert)},"status":${q(event.status)},"severity":${q(event.severity)}`;
    out += `,"condition":${q(event.condition)},"value":${q(event.value)}`;
    if (event.started_at !== undefined) out += `,"started_at":${q(event.started_at)}`;
  }
  // Analytics figures have no ECS field of their own: aegisbpf.<canonical name>.
  for (const [name, value] of analyticsFields(event)) out += `,"${name}":${q(value)}`;
  if (event.sensor !== undefined) out += `,"sensor":${qc(event.sensor)}`;
  if (event.hook !== undefined) out += `,"hook":${qc(event.hook)}`;
  return out + '}}';
}

export const ecsFormatter: FormatterDefinition<Record<string, never>> = {
  name: 'ecs',
  description: `Elastic Common Schema ${ECS_VERSION} documents (nested objects); aegisbpf-only fields under aegisbpf.*.`,
  output: 'string',
  optionsSchema: { properties: {} },
  create(_options, context): Formatter {
    return { name: 'ecs', contentType: 'application/json', format: (event) => formatEcs(event, context) };
  },
};
