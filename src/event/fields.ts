/**
 * Field tables: one entry per field of each event type, with its JSON kind and whether it is required.
 *
 * The compiler ties each table to its interface in ./types.ts (a missing, extra or mis-typed key fails the build);
 * test/event/schema-sync.test.ts ties the tables to rules/schema/event.schema.json. Together they keep the TS types
 * and the published schema in sync. FIELD_ORDER is the stable key order of the `json` formatter.
 */
import type {
  AegisEvent,
  AuditEvent,
  BaseEvent,
  BlockEvent,
  ConnectEvent,
  EventType,
  ExecEvent,
  ExitEvent,
  SensorEvent,
  AlertEvent,
  AnomalyEvent,
  TrendEvent,
  HostStatsEvent,
  ActivityEvent,
} from './types';

/** `number` is a JSON number that may have a fraction (scores, rates); `integer` has none. */
export type FieldKind = 'string' | 'integer' | 'number' | 'boolean' | 'string[]' | 'string-map';

type KindOf<V> = [V] extends [string]
  ? 'string'
  : [V] extends [number]
    ? 'integer' | 'number'
    : [V] extends [boolean]
      ? 'boolean'
      : [V] extends [readonly string[]]
        ? 'string[]'
        : [V] extends [Readonly<Record<string, string>>]
          ? 'string-map'
          : never;

export interface FieldSpec<K extends FieldKind = FieldKind, R extends boolean = boolean> {
  readonly kind: K;
  readonly required: R;
}

// eslint-disable-next-line @typescript-eslint/no-empty-object-type -- `{} extends Pick<T, K>` is the standard optional-key test
type IsOptional<T, K extends keyof T> = {} extends Pick<T, K> ? false : true;

export type FieldTable<T> = {
  readonly [K in keyof T]-?: FieldSpec<KindOf<NonNullable<T[K]>>, IsOptional<T, K>>;
};

const req = <K extends FieldKind>(kind: K): FieldSpec<K, true> => ({ kind, required: true });
const opt = <K extends FieldKind>(kind: K): FieldSpec<K, false> => ({ kind, required: false });

const BASE_FIELDS: FieldTable<BaseEvent> = {
  ts: req('string'),
  type: req('string'),
  host: req('string'),
  pid: req('integer'),
  ppid: req('integer'),
  start_time: req('integer'),
  exec_id: req('string'),
  trace_id: req('string'),
  cgid: req('integer'),
  cgroup_path: req('string'),
  comm: req('string'),
  event_id: opt('string'),
  uid: opt('integer'),
  gid: opt('integer'),
  exe: opt('string'),
  args: opt('string[]'),
  args_truncated: opt('boolean'),
  parent_start_time: opt('integer'),
  parent_exec_id: opt('string'),
  parent_trace_id: opt('string'),
  parent_comm: opt('string'),
  parent_exe: opt('string'),
  start_ts: opt('string'),
  parent_start_ts: opt('string'),
  container_id: opt('string'),
  sensor: opt('string'),
  hook: opt('string'),
  mode: opt('string'),
  labels: opt('string-map'),
};

export const EVENT_FIELDS: { readonly [T in EventType]: Readonly<Record<string, FieldSpec>> } = {
  exec: { ...BASE_FIELDS } satisfies FieldTable<ExecEvent>,
  exit: {
    ...BASE_FIELDS,
    exit_code: req('integer'),
    signal: opt('integer'),
    duration_ns: opt('integer'),
  } satisfies FieldTable<ExitEvent>,
  block: {
    ...BASE_FIELDS,
    ino: req('integer'),
    dev: req('integer'),
    action: req('string'),
    path: opt('string'),
    resolved_path: opt('string'),
    open_flags: opt('integer'),
    policy: opt('string'),
  } satisfies FieldTable<BlockEvent>,
  connect: {
    ...BASE_FIELDS,
    family: req('string'),
    protocol: req('string'),
    remote_ip: req('string'),
    remote_port: req('integer'),
    direction: opt('string'),
    local_ip: opt('string'),
    local_port: opt('integer'),
    action: opt('string'),
    policy: opt('string'),
  } satisfies FieldTable<ConnectEvent>,
  sensor: {
    ...BASE_FIELDS,
    status: req('string'),
    message: opt('string'),
    policy: opt('string'),
  } satisfies FieldTable<SensorEvent>,
  audit: {
    ...BASE_FIELDS,
    audit_action: req('string'),
    audit_result: req('string'),
    audit_actor: req('string'),
    audit_actor_type: opt('string'),
    audit_target: opt('string'),
    audit_source: opt('string'),
    audit_seq: opt('integer'),
    audit_hash: opt('string'),
    message: opt('string'),
  } satisfies FieldTable<AuditEvent>,
  alert: {
    ...BASE_FIELDS,
    alert: req('string'),
    status: req('string'),
    severity: req('string'),
    message: req('string'),
    condition: req('string'),
    value: req('string'),
    started_at: opt('string'),
  } satisfies FieldTable<AlertEvent>,
  anomaly: {
    ...BASE_FIELDS,
    detector: req('string'),
    anomaly_key: req('string'),
    score: req('number'),
    threshold: req('number'),
    baseline: opt('number'),
    trigger_event_id: opt('string'),
    trigger_type: opt('string'),
    message: opt('string'),
  } satisfies FieldTable<AnomalyEvent>,
  trend: {
    ...BASE_FIELDS,
    subject: req('string'),
    current: req('number'),
    capacity: opt('integer'),
    slope_per_s: req('number'),
    forecast_seconds: opt('number'),
    horizon_seconds: opt('integer'),
    message: opt('string'),
  } satisfies FieldTable<TrendEvent>,
  host_stats: {
    ...BASE_FIELDS,
    interval_ms: req('integer'),
    cpu_percent: req('number'),
    load1: req('number'),
    mem_total_bytes: req('integer'),
    mem_available_bytes: req('integer'),
    disk_read_bytes: req('integer'),
    disk_write_bytes: req('integer'),
    net_rx_bytes: req('integer'),
    net_tx_bytes: req('integer'),
    top_cpu: opt('string[]'),
    top_rss: opt('string[]'),
  } satisfies FieldTable<HostStatsEvent>,
  activity: {
    ...BASE_FIELDS,
    interval_ms: req('integer'),
    syscalls: req('integer'),
    io_ops: opt('integer'),
    io_bytes: opt('integer'),
    io_latency_ns: opt('integer'),
  } satisfies FieldTable<ActivityEvent>,
};

type AllKeys = AegisEvent extends infer E ? (E extends AegisEvent ? keyof E : never) : never;

/**
 * Stable key order of the `json` formatter: identity and correlation first (the documented AegisBPF order),
 * then process context, then type-specific fields. Append new fields at the end of their group, never reorder:
 * byte-stable output is part of the contract (golden files).
 */
export const FIELD_ORDER = [
  'ts',
  'type',
  'host',
  'pid',
  'ppid',
  'start_time',
  'exec_id',
  'trace_id',
  'parent_start_time',
  'parent_exec_id',
  'parent_trace_id',
  'cgid',
  'cgroup_path',
  'comm',
  'uid',
  'gid',
  'exe',
  'args',
  'args_truncated',
  'parent_comm',
  'parent_exe',
  'start_ts',
  'parent_start_ts',
  'container_id',
  'exit_code',
  'signal',
  'duration_ns',
  'path',
  'resolved_path',
  'ino',
  'dev',
  'open_flags',
  'family',
  'protocol',
  'direction',
  'local_ip',
  'local_port',
  'remote_ip',
  'remote_port',
  'action',
  'policy',
  'mode',
  'status',
  'message',
  'sensor',
  'hook',
  'audit_action',
  'audit_result',
  'audit_actor',
  'audit_actor_type',
  'audit_target',
  'audit_source',
  'audit_seq',
  'audit_hash',
  'event_id',
  'labels',
  'alert',
  'severity',
  'condition',
  'value',
  'started_at',
  'detector',
  'anomaly_key',
  'score',
  'threshold',
  'baseline',
  'trigger_event_id',
  'trigger_type',
  'subject',
  'current',
  'capacity',
  'slope_per_s',
  'forecast_seconds',
  'horizon_seconds',
  'interval_ms',
  'cpu_percent',
  'load1',
  'mem_total_bytes',
  'mem_available_bytes',
  'disk_read_bytes',
  'disk_write_bytes',
  'net_rx_bytes',
  'net_tx_bytes',
  'top_cpu',
  'top_rss',
  'syscalls',
  'io_ops',
  'io_bytes',
  'io_latency_ns',
] as const satisfies readonly AllKeys[];

export type FieldName = (typeof FIELD_ORDER)[number];

/** Kind of every field name across all event types (a name has the same kind in every type; a test checks). */
export const FIELD_KINDS: ReadonlyMap<string, FieldKind> = (() => {
  const kinds = new Map<string, FieldKind>();
  for (const table of Object.values(EVENT_FIELDS)) {
    for (const [name, spec] of Object.entries(table)) kinds.set(name, spec.kind);
  }
  return kinds;
})();

/** Event types that carry a given field. */
export function typesWithField(name: string): EventType[] {
  return (Object.keys(EVENT_FIELDS) as EventType[]).filter((t) => name in EVENT_FIELDS[t]);
}
