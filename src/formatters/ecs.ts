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
import { commandLine, eventName, eventOutcome, networkEndpoints, parentProcessStart, processStart, severityOf } from './common';
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

/** `event.category` and `event.type`, ECS allowed values (validated against the ECS definitions by a test). */
export function ecsCategorization(event: AegisEvent): { readonly category: readonly string[]; readonly type: readonly string[] } {
  switch (event.type) {
    case 'exec':
      return { category: ['process'], type: ['start'] };
    case 'exit':
      return { category: ['process'], type: ['end'] };
    case 'block':
      return { category: ['file', 'intrusion_detection'], type: ['access', event.action === 'AUDIT' ? 'allowed' : 'denied'] };
    case 'connect':
      if (event.action === undefined) return { category: ['network'], type: ['connection', 'start'] };
      return { category: ['network', 'intrusion_detection'], type: ['connection', event.action === 'AUDIT' ? 'allowed' : 'denied'] };
    case 'sensor':
      if (event.status.startsWith('policy_')) return { category: ['configuration'], type: ['change'] };
      if (event.status === 'started') return { category: ['host'], type: ['start'] };
      if (event.status === 'stopped') return { category: ['host'], type: ['end'] };
      return { category: ['host'], type: ['info'] };
  }
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
  }
}

/** `event.category`/`event.type` pairs, pre-serialized (they are constants per case). */
const CATEGORIZATION_JSON = new Map<string, string>();
function categorizationJson(event: AegisEvent): string {
  const { category, type } = ecsCategorization(event);
  const key = category.join(',') + '|' + type.join(',');
  let json = CATEGORIZATION_JSON.get(key);
  if (json === undefined) {
    json = `"category":${q(category)},"type":${q(type)}`;
    CATEGORIZATION_JSON.set(key, json);
  }
  return json;
}

/**
 * Serialize one event as an ECS document (no trailing newline). String concatenation on purpose: this runs once per
 * event per sink, and building objects for JSON.stringify costs about twice as much (bench/formatters).
 */
export function formatEcs(event: AegisEvent, context?: FormatterContext): string {
  const message = event.type === 'sensor' && event.message !== undefined ? event.message : eventName(event);
  let out = `{"@timestamp":${q(event.ts)},"ecs":{"version":"${ECS_VERSION}"},"message":${q(message)}`;

  out += `,"event":{"kind":"${isPolicyHit(event) ? 'alert' : 'event'}",${categorizationJson(event)},"action":${q(ecsAction(event))}`;
  const outcome = eventOutcome(event);
  if (outcome !== undefined) out += `,"outcome":"${outcome}"`;
  out += `,"severity":${severityOf(event)},"module":"${ECS_MODULE}","dataset":"${ECS_DATASET}"`;
  if (event.event_id !== undefined) out += `,"id":${q(event.event_id)}`;
  out += `},"host":{"name":${q(event.host)},"os":{"type":"linux"}}`;

  out += `,"process":{"pid":${event.pid},"name":${q(event.comm)}`;
  if (event.exe !== undefined) out += `,"executable":${q(event.exe)}`;
  if (event.args !== undefined) {
    out += `,"args":${q(event.args)}`;
    const cmd = commandLine(event);
    if (cmd !== undefined) out += `,"command_line":${q(cmd)}`;
  }
  out += `,"entity_id":${q(`${event.host}:${event.exec_id}`)}`;
  const start = processStart(event, context?.bootWallNanos);
  if (start !== undefined) out += `,"start":${q(start.iso)}`;
  if (event.type === 'exit') {
    if (event.signal === undefined) out += `,"exit_code":${event.exit_code}`;
    out += `,"end":${q(event.ts)}`;
  }
  out += `,"parent":{"pid":${event.ppid}`;
  if (event.parent_comm !== undefined) out += `,"name":${q(event.parent_comm)}`;
  if (event.parent_exe !== undefined) out += `,"executable":${q(event.parent_exe)}`;
  if (event.parent_exec_id !== undefined) out += `,"entity_id":${q(`${event.host}:${event.parent_exec_id}`)}`;
  const parentStart = parentProcessStart(event, context?.bootWallNanos);
  if (parentStart !== undefined) out += `,"start":${q(parentStart.iso)}`;
  out += '}}';

  if (event.uid !== undefined) out += `,"user":{"id":"${event.uid}"}`;
  if (event.gid !== undefined) out += `,"group":{"id":"${event.gid}"}`;

  if (event.type === 'block') {
    out += ',"file":{';
    if (event.path !== undefined && event.path !== '') out += `"path":${q(event.path)},`;
    if (event.resolved_path !== undefined && event.resolved_path !== '') out += `"target_path":${q(event.resolved_path)},`;
    out += `"inode":"${event.ino}","device":"${event.dev}"}`;
  } else if (event.type === 'connect') {
    // The source is the initiator (common.ts): the local side for egress, the remote side for ingress.
    const { source, destination } = networkEndpoints(event);
    out += endpoint('source', source.ip, source.port) + endpoint('destination', destination.ip, destination.port);
    out += `,"network":{"transport":${q(event.protocol)},"type":"${event.family}"`;
    if (event.direction !== undefined) out += `,"direction":"${event.direction}"`;
    out += '}';
  }

  if (event.container_id !== undefined) out += `,"container":{"id":${q(event.container_id)}}`;

  if ((event.type === 'block' || event.type === 'connect') && event.policy !== undefined) {
    const p = q(event.policy);
    out += `,"rule":{"id":${p},"name":${p},"ruleset":"${ECS_MODULE}"}`;
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
  if ((event.type === 'block' || event.type === 'connect') && event.action !== undefined) out += `,"action":${q(event.action)}`;
  if (event.mode !== undefined) out += `,"mode":"${event.mode}"`;
  out += `,"exec_id":${q(event.exec_id)},"trace_id":${q(event.trace_id)},"start_time":${event.start_time}`;
  if (event.parent_exec_id !== undefined) out += `,"parent_exec_id":${q(event.parent_exec_id)}`;
  if (event.parent_trace_id !== undefined) out += `,"parent_trace_id":${q(event.parent_trace_id)}`;
  if (event.parent_start_time !== undefined) out += `,"parent_start_time":${event.parent_start_time}`;
  out += `,"cgid":${event.cgid},"cgroup_path":${q(event.cgroup_path)}`;
  if (event.args_truncated !== undefined) out += `,"args_truncated":${String(event.args_truncated)}`;
  if (event.type === 'exit') {
    if (event.signal !== undefined) out += `,"exit_code":${event.exit_code},"signal":${event.signal}`;
    if (event.duration_ns !== undefined) out += `,"duration_ns":${event.duration_ns}`;
  } else if (event.type === 'block') {
    if (event.open_flags !== undefined) out += `,"open_flags":${event.open_flags}`;
  } else if (event.type === 'sensor') {
    if (event.policy !== undefined) out += `,"policy":${q(event.policy)}`;
  }
  if (event.sensor !== undefined) out += `,"sensor":${q(event.sensor)}`;
  if (event.hook !== undefined) out += `,"hook":${q(event.hook)}`;
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
