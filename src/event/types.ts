/**
 * The canonical aegisbpf event, as TypeScript types.
 *
 * The JSON Schema in rules/schema/event.schema.json is the published contract; these types mirror it and
 * test/event/schema-sync.test.ts fails when the two disagree (through the field tables in ./fields.ts, which the
 * compiler ties to these interfaces key by key).
 *
 * Field names follow the documented AegisBPF event schema (`type`, `pid`, `ppid`, `start_time`, `exec_id`, …) and
 * add what a SIEM needs. The event is flat: no key is both a leaf and a prefix, so every formatter can map it
 * without conflicts. Events are immutable once built; processors return new objects.
 */

export const EVENT_TYPES = [
  'exec',
  'exit',
  'block',
  'connect',
  'sensor',
  'audit',
  'alert',
  'anomaly',
  'trend',
  'host_stats',
  'activity',
] as const;
export type EventType = (typeof EVENT_TYPES)[number];

export const ACTIONS = ['AUDIT', 'BLOCK', 'TERM', 'KILL', 'INT'] as const;
/** AUDIT observes; BLOCK denies the syscall (LSM / cgroup hook); TERM, KILL, INT send a signal (the syscall in flight is not undone). */
export type Action = (typeof ACTIONS)[number];

export const MODES = ['audit', 'enforce'] as const;
export type Mode = (typeof MODES)[number];

/** Fields every event carries (required) or may carry (optional). */
export interface BaseEvent {
  /** Wall-clock time of the event, RFC 3339 UTC with microseconds: `2026-11-21T10:30:00.123456Z`. */
  readonly ts: string;
  readonly type: EventType;
  /** Host name of the machine the event happened on. */
  readonly host: string;
  readonly pid: number;
  readonly ppid: number;
  /** Process start time, nanoseconds since boot (kernel clock). Exact up to 2^53 ns (104 days of uptime). */
  readonly start_time: number;
  /** Stable execution identifier, `<pid>:<start_time>` built from the kernel's exact value. */
  readonly exec_id: string;
  /** Correlation identifier; equal to `exec_id`. */
  readonly trace_id: string;
  /** cgroup v2 id (inode number of the cgroup directory). */
  readonly cgid: number;
  readonly cgroup_path: string;
  /** Kernel command name (at most 15 bytes in the kernel). */
  readonly comm: string;

  /** Unique id assigned where the event was produced; stable across resends (sinks use it for idempotence). */
  readonly event_id?: string;
  readonly uid?: number;
  readonly gid?: number;
  /** Executable path of the process. */
  readonly exe?: string;
  /** Command line arguments, argv[0] first; bounded by the sensor (see `args_truncated`). */
  readonly args?: readonly string[];
  readonly args_truncated?: boolean;
  readonly parent_start_time?: number;
  readonly parent_exec_id?: string;
  readonly parent_trace_id?: string;
  readonly parent_comm?: string;
  readonly parent_exe?: string;
  /** `start_time` converted to wall clock by the `enrich` processor (RFC 3339 with microseconds). */
  readonly start_ts?: string;
  readonly parent_start_ts?: string;
  readonly container_id?: string;
  /** Sensor backend that produced the event: `lsm`, `tracepoint`, … (`replay` for replayed data without one). */
  readonly sensor?: string;
  /** Kernel hook that produced the record, e.g. `sched_process_exec`, `sys_exit_openat`, `cgroup/connect4`. */
  readonly hook?: string;
  readonly mode?: Mode;
  /** User-defined string labels (added by `enrich`); a prefix only, never a leaf. */
  readonly labels?: Readonly<Record<string, string>>;
}

export interface ExecEvent extends BaseEvent {
  readonly type: 'exec';
}

export interface ExitEvent extends BaseEvent {
  readonly type: 'exit';
  /** Exit status as passed to exit(2) (0–255); absent-equivalent 0 when killed by a signal. */
  readonly exit_code: number;
  /** Signal number that terminated the process, when it was killed by one. */
  readonly signal?: number;
  /** Process lifetime in nanoseconds. */
  readonly duration_ns?: number;
}

export interface BlockEvent extends BaseEvent {
  readonly type: 'block';
  readonly ino: number;
  readonly dev: number;
  readonly action: Action;
  /** Path of the file when available (inode-based rules may leave it empty). */
  readonly path?: string;
  /** Canonical path, when it differs from `path`. */
  readonly resolved_path?: string;
  /** open(2) flags. */
  readonly open_flags?: number;
  /** Id of the policy rule that matched. */
  readonly policy?: string;
}

export interface ConnectEvent extends BaseEvent {
  readonly type: 'connect';
  readonly family: 'ipv4' | 'ipv6';
  readonly protocol: string;
  readonly remote_ip: string;
  readonly remote_port: number;
  readonly direction?: 'egress' | 'ingress';
  readonly local_ip?: string;
  readonly local_port?: number;
  readonly action?: Action;
  readonly policy?: string;
}

export interface SensorEvent extends BaseEvent {
  readonly type: 'sensor';
  /** What happened: `started`, `stopped`, `degraded`, `policy_applied`, `policy_rolled_back`, `drops`, … */
  readonly status: string;
  readonly message?: string;
  readonly policy?: string;
}

/**
 * A control operation on the daemon (policy apply/rollback, blocklist change, key or role change, failed
 * authentication, daemon start/stop): the same record as the hash-chained audit log (docs/api.md#audit-trail).
 * The process fields are the daemon's own.
 */
export interface AuditEvent extends BaseEvent {
  readonly type: 'audit';
  /** `policy.apply`, `policy.rollback`, `blocklist.add`, `blocklist.delete`, `key.create`, `auth.failure`, … */
  readonly audit_action: string;
  /** `success`, `failure` or `denied`. */
  readonly audit_result: string;
  /** Who: API key name (with the client certificate subject under mTLS), local CLI user, or `aegisbpf`. */
  readonly audit_actor: string;
  /** `api-key`, `client-cert`, `cli`, `daemon`, `anonymous`. */
  readonly audit_actor_type?: string;
  /** What the operation acted on: a blocklist entry id, a key name, `generation 7`, … */
  readonly audit_target?: string;
  /** From where: the client address, `local` for the CLI and the daemon. */
  readonly audit_source?: string;
  /** The record's sequence number and SHA-256 in the audit log's hash chain. */
  readonly audit_seq?: number;
  readonly audit_hash?: string;
  /** Details: the refusal reason, the policy message, … */
  readonly message?: string;
}

export const ALERT_SEVERITIES = ['critical', 'high', 'medium', 'low', 'info'] as const;
export type AlertSeverity = (typeof ALERT_SEVERITIES)[number];

/**
 * An alert rule changed state (docs/alerts.md): produced by the agent itself, so the process fields describe the
 * aegisbpf process. `value` is the condition's value as decimal text (rates are fractional; the schema has no
 * fractional number kind), e.g. `"140.25"`.
 */
export interface AlertEvent extends BaseEvent {
  readonly type: 'alert';
  /** Name of the alert rule. */
  readonly alert: string;
  /** `firing` (also repeated every `repeat`) or `resolved`. */
  readonly status: string;
  readonly severity: string;
  /** The rule's message with its placeholders filled in. */
  readonly message: string;
  /** The rule's condition as configured. */
  readonly condition: string;
  readonly value: string;
  /** When the alert started firing (RFC 3339), on firing repeats and on the resolved event. */
  readonly started_at?: string;
}

/** The analytics detectors (src/pipeline/processors/anomaly*.ts). */
export const ANOMALY_DETECTORS = ['rate', 'rare', 'isolation_forest'] as const;
export type AnomalyDetector = (typeof ANOMALY_DETECTORS)[number];

/**
 * A finding of the `anomaly` processor. The process fields (pid, exec_id, comm, …) are those of the event that
 * triggered it, so a SIEM correlates the finding with that process like any other event.
 */
export interface AnomalyEvent extends BaseEvent {
  readonly type: 'anomaly';
  readonly detector: AnomalyDetector;
  /** What the detector keys its state by, `name=value` pairs joined by spaces: `host=web-1 comm=curl`. */
  readonly anomaly_key: string;
  /** The detector's score (rate: robust z-score; rare: 1; isolation_forest: anomaly score in (0, 1]). */
  readonly score: number;
  /** The score at or above which the detector reports. */
  readonly threshold: number;
  /** What the score was compared with (rate: median events per window; isolation_forest: mean score of the sample). */
  readonly baseline?: number;
  /** `event_id` of the triggering event, when it had one. */
  readonly trigger_event_id?: string;
  /** `type` of the triggering event. */
  readonly trigger_type?: string;
  readonly message?: string;
}

/** A forecast of the trends analysis: a map or the event volume heading for a limit. Process fields: the daemon's. */
export interface TrendEvent extends BaseEvent {
  readonly type: 'trend';
  /** What is forecast: a map name (`deny_inode`, …) or `events` (event volume). */
  readonly subject: string;
  /** The latest value (map entries; events per second). */
  readonly current: number;
  /** The limit forecast to be reached (a map's max_entries). */
  readonly capacity?: number;
  /** Fitted slope of the linear regression, units per second. */
  readonly slope_per_s: number;
  /** Seconds from `ts` until `capacity` is reached at the fitted slope. */
  readonly forecast_seconds?: number;
  /** The configured horizon within which a forecast is reported, seconds. */
  readonly horizon_seconds?: number;
  readonly message?: string;
}

/** One sample of the `host` source (from /proc). Process fields: the daemon's. Byte and tick figures are deltas over `interval_ms`. */
export interface HostStatsEvent extends BaseEvent {
  readonly type: 'host_stats';
  /** Length of the interval the deltas cover, milliseconds (0 for the first sample). */
  readonly interval_ms: number;
  /** Busy share of all CPUs over the interval, percent (0–100). */
  readonly cpu_percent: number;
  /** One-minute load average. */
  readonly load1: number;
  readonly mem_total_bytes: number;
  readonly mem_available_bytes: number;
  readonly disk_read_bytes: number;
  readonly disk_write_bytes: number;
  readonly net_rx_bytes: number;
  readonly net_tx_bytes: number;
  /** Top processes by CPU over the interval: `<pid> <comm> <percent>`. */
  readonly top_cpu?: readonly string[];
  /** Top processes by resident memory: `<pid> <comm> <bytes>`. */
  readonly top_rss?: readonly string[];
}

/** A periodic per-process summary of the sensor's activity counters (syscalls, block I/O) over `interval_ms`. */
export interface ActivityEvent extends BaseEvent {
  readonly type: 'activity';
  readonly interval_ms: number;
  /** System calls entered by the process during the interval. */
  readonly syscalls: number;
  /** Block I/O requests completed for the process, and their bytes and summed latency (ns). */
  readonly io_ops?: number;
  readonly io_bytes?: number;
  readonly io_latency_ns?: number;
}

export type AegisEvent =
  | ExecEvent
  | ExitEvent
  | BlockEvent
  | ConnectEvent
  | SensorEvent
  | AuditEvent
  | AlertEvent
  | AnomalyEvent
  | TrendEvent
  | HostStatsEvent
  | ActivityEvent;

export type EventOf<T extends EventType> = Extract<AegisEvent, { type: T }>;
