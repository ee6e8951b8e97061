/**
 * Decoded kernel records -> canonical events. The ONE place that knows both the record layout names and the
 * event field names; when src/event/types.ts changes, this file (and only this file) follows.
 *
 * Keeps the process cache current (fork/exec insert, exit evicts), resolves cgroup ids to paths and rule ids to
 * policy rule names, and converts kernel time to `ts`.
 */
import fs from 'node:fs';
import path from 'node:path';
import { ACTION_NAMES, FLAG, HOOK_NAMES } from './abi';
import type { BootClock } from './boot-clock';
import type { CgroupResolver } from './cgroup-resolver';
import type {
  AegisEvent,
  BaseEvent,
  BlockEvent,
  ConnectEvent,
  ExecEvent,
  ExitEvent,
  Mode,
  SensorEvent,
} from '../event/types';
import type { ProcessCache, ProcessEntry } from './process-cache';
import { execIdOf } from './process-cache';
import type { DecodedRecord, ExecRecord, ExitRecord, FileRecord, NetRecord, ProcFields } from './records';
import { parentStartTimeText } from './records';
import { protocolName } from './text';

export type SensorBackend = 'lsm' | 'tracepoint';

/** Rule id (as stored in the kernel maps) -> the policy rule's `id`. */
export interface RuleNames {
  name(ruleId: number): string | undefined;
}

export interface EventMapperOptions {
  readonly host: string;
  readonly backend: SensorBackend;
  readonly clock: BootClock;
  readonly cache: ProcessCache;
  readonly cgroups: CgroupResolver;
  readonly rules: RuleNames;
  /** The sensor's own identity for `sensor` events; default: read from /proc/self. */
  readonly self?: SelfIdentity;
}

export interface SelfIdentity {
  readonly pid: number;
  readonly ppid: number;
  readonly startTime: number;
  readonly comm: string;
  readonly exe: string;
  readonly cgid: number;
  readonly cgroupPath: string;
}

/** The process fields of an event the daemon emits about itself (sensor, audit, trend, host_stats events). */
export function selfProcessFields(self: SelfIdentity): {
  readonly pid: number;
  readonly ppid: number;
  readonly start_time: number;
  readonly exec_id: string;
  readonly trace_id: string;
  readonly cgid: number;
  readonly cgroup_path: string;
  readonly comm: string;
  readonly exe: string;
} {
  const execId = execIdOf(self.pid, String(self.startTime));
  return {
    pid: self.pid,
    ppid: self.ppid,
    start_time: self.startTime,
    exec_id: execId,
    trace_id: execId,
    cgid: self.cgid,
    cgroup_path: self.cgroupPath,
    comm: self.comm,
    exe: self.exe,
  };
}

export interface EventMapper {
  /** undefined for records that only feed the cache (fork). */
  map(rec: DecodedRecord): AegisEvent | undefined;
  sensorEvent(status: string, message: string, extra?: { readonly policy?: string; readonly mode?: Mode }): SensorEvent;
}

const MODE_NAMES: readonly Mode[] = ['audit', 'enforce'];

/** An event under construction (see base() below). */
type Draft<T> = { -readonly [K in keyof T]: T[K] };

/**
 * The sensor process itself. start_time comes from /proc/self/stat (clock ticks since boot, so 10 ms resolution on
 * CLK_TCK=100): good enough for `sensor` events, which no kernel record refers back to.
 */
export function readSelfIdentity(cgroupRoot: string | undefined): SelfIdentity {
  let startTime = 0;
  let comm = 'node';
  try {
    const stat = fs.readFileSync('/proc/self/stat', 'utf8');
    const afterComm = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
    const ticks = Number(afterComm[19]); // field 22 overall
    startTime = Number.isFinite(ticks) ? ticks * 10_000_000 : 0;
  } catch {
    // not Linux /proc: leave zeros
  }
  let cgroupPath = '';
  let cgid = 0;
  try {
    const line = fs
      .readFileSync('/proc/self/cgroup', 'utf8')
      .split('\n')
      .find((l) => l.startsWith('0::'));
    if (line !== undefined && cgroupRoot !== undefined) {
      cgroupPath = line.slice(3);
      cgid = fs.statSync(path.join(cgroupRoot, cgroupPath)).ino; // a cgroup v2 id is its directory's inode
    }
  } catch {
    // no cgroup info
  }
  return { pid: process.pid, ppid: process.ppid, startTime, comm, exe: process.execPath, cgid, cgroupPath };
}

export function createEventMapper(options: EventMapperOptions): EventMapper {
  const { host, backend, clock, cache, cgroups, rules } = options;
  const self = options.self ?? readSelfIdentity(cgroups.root);

  /*
   * Events are built by assignment onto one object literal, never by spreading: spreads of these ~20-field objects
   * were most of the mapping profile (object cloning, megamorphic shapes). Each builder below assigns every
   * required field of its event type; test/sensor/event-mapper.test.ts pins them.
   */
  const base = (
    type: AegisEvent['type'],
    rec: DecodedRecord,
    entry: ProcessEntry,
    proc: ProcFields,
  ): Draft<BaseEvent> => {
    const parent = cache.parentOf(proc);
    // Parent identity straight from the record: exact even when the parent is not cached.
    const parentExecId = execIdOf(proc.ppid, parentStartTimeText(proc));
    const b: Draft<BaseEvent> = {
      ts: clock.format(rec.ktime),
      type,
      host,
      pid: proc.pid,
      ppid: proc.ppid,
      start_time: proc.startTime,
      exec_id: entry.execId,
      trace_id: entry.execId,
      cgid: proc.cgid,
      cgroup_path: cgroups.resolve(proc.cgid),
      comm: proc.comm,
      uid: proc.uid,
      gid: proc.gid,
      parent_start_time: proc.parentStartTime,
      parent_exec_id: parentExecId,
      parent_trace_id: parentExecId,
      sensor: backend,
      hook: HOOK_NAMES[rec.kind === 'file' || rec.kind === 'connect' ? rec.hook : HOOK_FOR_KIND[rec.kind]] ?? '',
    };
    if (entry.exe !== '') b.exe = entry.exe;
    if (parent !== undefined && parent.comm !== '') b.parent_comm = parent.comm;
    if (parent !== undefined && parent.exe !== '') b.parent_exe = parent.exe;
    return b;
  };

  const exec = (rec: ExecRecord): ExecEvent => {
    const truncated = (rec.flags & FLAG.TRUNC_ARGS) !== 0;
    const entry = cache.onExec(rec, truncated);
    const ev = base('exec', rec, entry, rec.proc) as Draft<ExecEvent>;
    ev.args = rec.args;
    if (truncated) ev.args_truncated = true;
    return ev;
  };

  const exit = (rec: ExitRecord): ExitEvent => {
    const entry = cache.onExit(rec.proc);
    const signal = rec.exitStatus & 0x7f;
    const ev = base('exit', rec, entry, rec.proc) as Draft<ExitEvent>;
    ev.exit_code = (rec.exitStatus >> 8) & 0xff;
    ev.duration_ns = Math.max(0, rec.ktime - rec.proc.startTime);
    if (signal !== 0) ev.signal = signal;
    return ev;
  };

  const ruleName = (ruleId: number): string => rules.name(ruleId) ?? `rule#${ruleId}`;

  const file = (rec: FileRecord): BlockEvent => {
    const entry = cache.observe(rec.proc);
    const shownPath = rec.path !== '' ? rec.path : rec.resolved;
    const ev = base('block', rec, entry, rec.proc) as Draft<BlockEvent>;
    ev.ino = rec.ino;
    ev.dev = rec.dev; // kernel encoding (MAJOR << 20 | MINOR), as the event schema specifies
    ev.path = shownPath;
    if (rec.resolved !== '' && rec.resolved !== shownPath) ev.resolved_path = rec.resolved;
    ev.open_flags = rec.openFlags;
    ev.action = ACTION_NAMES[rec.action] ?? 'AUDIT';
    ev.policy = ruleName(rec.ruleId);
    ev.mode = MODE_NAMES[rec.mode] ?? 'audit';
    return ev;
  };

  const connect = (rec: NetRecord): ConnectEvent => {
    const entry = cache.observe(rec.proc);
    const ev = base('connect', rec, entry, rec.proc) as Draft<ConnectEvent>;
    ev.family = rec.family === 10 ? 'ipv6' : 'ipv4';
    ev.protocol = protocolName(rec.protocol);
    ev.direction = 'egress';
    ev.remote_ip = rec.remoteIp;
    ev.remote_port = rec.remotePort;
    ev.local_ip = rec.localIp;
    ev.local_port = rec.localPort;
    const action = ACTION_NAMES[rec.action];
    if (action !== undefined) {
      ev.action = action;
      ev.policy = ruleName(rec.ruleId);
      ev.mode = MODE_NAMES[rec.mode] ?? 'audit';
    }
    return ev;
  };

  return {
    map(rec) {
      switch (rec.kind) {
        case 'exec':
          return exec(rec);
        case 'exit':
          return exit(rec);
        case 'fork':
          cache.onFork(rec.proc);
          return undefined;
        case 'file':
          return file(rec);
        case 'connect':
          return connect(rec);
      }
    },
    sensorEvent(status, message, extra) {
      const ev: SensorEvent = {
        ts: clock.format(clock.nowMonotonicNs()),
        type: 'sensor',
        host,
        ...selfProcessFields(self),
        sensor: backend,
        status,
        message,
      };
      const out: Draft<SensorEvent> = ev;
      if (extra?.policy !== undefined) out.policy = extra.policy;
      if (extra?.mode !== undefined) out.mode = extra.mode;
      return out;
    },
  };
}

const HOOK_FOR_KIND: Readonly<Record<'exec' | 'exit' | 'fork', number>> = { exec: 1, exit: 2, fork: 3 };
