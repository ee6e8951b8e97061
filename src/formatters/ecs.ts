/**
 * `ecs`: one Elastic Common Schema 8.11 document per event, for Elasticsearch and anything that speaks ECS.
 *
 * The mapping (docs/formats.md#ecs has the table) in short:
 * - `@timestamp` is the event's `ts` (RFC 3339, microseconds; Elasticsearch's `date` keeps milliseconds and
 *   `_source` keeps the full string).
 * - `event.*` categorizes with ECS's allowed values: policy hits (`block`, and `connect` with an action) are
 *   `event.kind: alert` with category `intrusion_detection` and type `allowed` (AUDIT) or `denied` (an enforcement);
 *   `event.outcome` is whether the syscall itself completed: BLOCK denies it (`failure`), TERM/KILL/INT signal the
 *   process but do not undo the open or connect in flight (`success` / `unknown`), as docs/formats.md explains.
 *   `event.severity` is the shared severity of common.ts.
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
import { eventName, processStart, severityOf } from './common';
import type { Formatter, FormatterContext, FormatterDefinition } from './types';

/** The ECS release the output conforms to (`ecs.version`); the tests validate against this release's definitions. */
export const ECS_VERSION = '8.11.0';
/** `event.module` and `event.dataset`; the dataset is also the data stream's (`logs-aegisbpf.events-<namespace>`). */
export const ECS_MODULE = 'aegisbpf';
export const ECS_DATASET = 'aegisbpf.events';

const q = JSON.stringify;

/** `"key":value` pairs joined into an object; empty string when there are none (the caller omits the object). */
function obj(parts: string[]): string {
  return parts.length === 0 ? '' : '{' + parts.join(',') + '}';
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

/**
 * `event.outcome`: whether the operation the event describes completed. A BLOCK denied the syscall; a signal
 * (TERM/KILL/INT) does not undo the open in flight; for connects aegisbpf sees the attempt, not its result.
 * Undefined for sensor events (no operation).
 */
export function ecsOutcome(event: AegisEvent): 'success' | 'failure' | 'unknown' | undefined {
  switch (event.type) {
    case 'exec':
      return 'success';
    case 'exit':
      return event.signal === undefined && event.exit_code === 0 ? 'success' : 'failure';
    case 'block':
      return event.action === 'BLOCK' ? 'failure' : 'success';
    case 'connect':
      return event.action === 'BLOCK' ? 'failure' : 'unknown';
    case 'sensor':
      return undefined;
  }
}

/** Serialize one event as an ECS document (no trailing newline). */
export function formatEcs(event: AegisEvent, context?: FormatterContext): string {
  const e = event as Partial<Record<string, unknown>> & AegisEvent;
  const out: string[] = [`"@timestamp":${q(event.ts)}`, `"ecs":{"version":"${ECS_VERSION}"}`];

  const message = event.type === 'sensor' && event.message !== undefined ? event.message : eventName(event);
  out.push(`"message":${q(message)}`);

  const { category, type } = ecsCategorization(event);
  const ev: string[] = [
    `"kind":"${isPolicyHit(event) ? 'alert' : 'event'}"`,
    `"category":${q(category)}`,
    `"type":${q(type)}`,
    `"action":${q(ecsAction(event))}`,
  ];
  const outcome = ecsOutcome(event);
  if (outcome !== undefined) ev.push(`"outcome":"${outcome}"`);
  ev.push(`"severity":${severityOf(event)}`, `"module":"${ECS_MODULE}"`, `"dataset":"${ECS_DATASET}"`);
  if (event.event_id !== undefined) ev.push(`"id":${q(event.event_id)}`);
  out.push(`"event":${obj(ev)}`);

  out.push(`"host":{"name":${q(event.host)},"os":{"type":"linux"}}`);

  const proc: string[] = [`"pid":${event.pid}`, `"name":${q(event.comm)}`];
  if (event.exe !== undefined) proc.push(`"executable":${q(event.exe)}`);
  if (event.args !== undefined) {
    proc.push(`"args":${q(event.args)}`);
    if (event.args.length > 0) proc.push(`"command_line":${q(event.args.join(' '))}`);
  }
  proc.push(`"entity_id":${q(`${event.host}:${event.exec_id}`)}`);
  const start = processStart(event, context?.bootWallNanos);
  if (start !== undefined) proc.push(`"start":${q(start.iso)}`);
  if (event.type === 'exit') {
    if (event.signal === undefined) proc.push(`"exit_code":${event.exit_code}`);
    proc.push(`"end":${q(event.ts)}`);
  }
  const parent: string[] = [`"pid":${event.ppid}`];
  if (event.parent_comm !== undefined) parent.push(`"name":${q(event.parent_comm)}`);
  if (event.parent_exe !== undefined) parent.push(`"executable":${q(event.parent_exe)}`);
  if (event.parent_exec_id !== undefined) parent.push(`"entity_id":${q(`${event.host}:${event.parent_exec_id}`)}`);
  if (event.parent_start_ts !== undefined) parent.push(`"start":${q(event.parent_start_ts)}`);
  proc.push(`"parent":${obj(parent)}`);
  out.push(`"process":${obj(proc)}`);

  if (event.uid !== undefined) out.push(`"user":{"id":"${event.uid}"}`);
  if (event.gid !== undefined) out.push(`"group":{"id":"${event.gid}"}`);

  if (event.type === 'block') {
    const file: string[] = [];
    if (event.path !== undefined && event.path !== '') file.push(`"path":${q(event.path)}`);
    if (event.resolved_path !== undefined && event.resolved_path !== '') file.push(`"target_path":${q(event.resolved_path)}`);
    file.push(`"inode":"${event.ino}"`, `"device":"${event.dev}"`);
    out.push(`"file":${obj(file)}`);
  }

  if (event.type === 'connect') {
    const source: string[] = [];
    if (event.local_ip !== undefined) source.push(`"ip":${q(event.local_ip)}`);
    if (event.local_port !== undefined) source.push(`"port":${event.local_port}`);
    if (source.length > 0) out.push(`"source":${obj(source)}`);
    out.push(`"destination":{"ip":${q(event.remote_ip)},"port":${event.remote_port}}`);
    const net = [`"transport":${q(event.protocol)}`, `"type":"${event.family}"`];
    if (event.direction !== undefined) net.push(`"direction":"${event.direction}"`);
    out.push(`"network":${obj(net)}`);
  }

  if (event.container_id !== undefined) out.push(`"container":{"id":${q(event.container_id)}}`);

  if ((event.type === 'block' || event.type === 'connect') && event.policy !== undefined) {
    out.push(`"rule":{"id":${q(event.policy)},"name":${q(event.policy)},"ruleset":"${ECS_MODULE}"}`);
  }

  if (event.labels !== undefined) {
    const keys = Object.keys(event.labels).sort();
    if (keys.length > 0) out.push(`"labels":${obj(keys.map((k) => `${q(k)}:${q(event.labels?.[k])}`))}`);
  }

  // aegisbpf-only fields: what a SOC filters on first (type, action, mode), then the rest in FIELD_ORDER.
  const a: string[] = [`"type":"${event.type}"`];
  if (e.action !== undefined) a.push(`"action":${q(e.action)}`);
  if (event.mode !== undefined) a.push(`"mode":"${event.mode}"`);
  a.push(`"exec_id":${q(event.exec_id)}`, `"trace_id":${q(event.trace_id)}`, `"start_time":${event.start_time}`);
  if (event.parent_exec_id !== undefined) a.push(`"parent_exec_id":${q(event.parent_exec_id)}`);
  if (event.parent_trace_id !== undefined) a.push(`"parent_trace_id":${q(event.parent_trace_id)}`);
  if (event.parent_start_time !== undefined) a.push(`"parent_start_time":${event.parent_start_time}`);
  a.push(`"cgid":${event.cgid}`, `"cgroup_path":${q(event.cgroup_path)}`);
  if (event.args_truncated !== undefined) a.push(`"args_truncated":${String(event.args_truncated)}`);
  if (event.type === 'exit') {
    if (event.signal !== undefined) a.push(`"exit_code":${event.exit_code}`, `"signal":${event.signal}`);
    if (event.duration_ns !== undefined) a.push(`"duration_ns":${event.duration_ns}`);
  }
  if (event.type === 'block' && event.open_flags !== undefined) a.push(`"open_flags":${event.open_flags}`);
  if (event.type === 'sensor' && event.policy !== undefined) a.push(`"policy":${q(event.policy)}`);
  if (event.sensor !== undefined) a.push(`"sensor":${q(event.sensor)}`);
  if (event.hook !== undefined) a.push(`"hook":${q(event.hook)}`);
  out.push(`"aegisbpf":${obj(a)}`);

  return '{' + out.join(',') + '}';
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
