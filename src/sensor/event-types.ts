/**
 * The canonical event shapes the sensor produces.
 *
 * TEMPORARY mirror of src/event/types.ts, which the foundation is landing on main; field names and meanings are
 * identical. When the foundation is merged this file is deleted and ./event-mapper.ts imports from
 * ../event/types instead (the mapper is the one place that builds events).
 */

export type Action = 'AUDIT' | 'BLOCK' | 'TERM' | 'KILL' | 'INT';
export type Mode = 'audit' | 'enforce';

export interface BaseEvent {
  readonly ts: string;
  readonly type: 'exec' | 'exit' | 'block' | 'connect' | 'sensor';
  readonly host: string;
  readonly pid: number;
  readonly ppid: number;
  readonly start_time: number;
  readonly exec_id: string;
  readonly trace_id: string;
  readonly cgid: number;
  readonly cgroup_path: string;
  readonly comm: string;
  readonly uid?: number;
  readonly gid?: number;
  readonly exe?: string;
  readonly args?: readonly string[];
  readonly args_truncated?: boolean;
  readonly parent_start_time?: number;
  readonly parent_exec_id?: string;
  readonly parent_trace_id?: string;
  readonly parent_comm?: string;
  readonly parent_exe?: string;
  readonly sensor?: string;
  readonly hook?: string;
  readonly mode?: Mode;
}

export interface ExecEvent extends BaseEvent {
  readonly type: 'exec';
}

export interface ExitEvent extends BaseEvent {
  readonly type: 'exit';
  readonly exit_code: number;
  readonly signal?: number;
  readonly duration_ns?: number;
}

export interface BlockEvent extends BaseEvent {
  readonly type: 'block';
  readonly ino: number;
  readonly dev: number;
  readonly action: Action;
  readonly path?: string;
  readonly resolved_path?: string;
  readonly open_flags?: number;
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
  readonly status: string;
  readonly message?: string;
  readonly policy?: string;
}

export type AegisEvent = ExecEvent | ExitEvent | BlockEvent | ConnectEvent | SensorEvent;
