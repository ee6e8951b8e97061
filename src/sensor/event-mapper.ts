/**
 * Decoded kernel records -> canonical events. The ONE place that knows both the record layout names and the
 * event field names; when src/event/types.ts changes, this file (and only this file) follows.
 *
 * Keeps the process cache current (fork/exec insert, exit evicts), resolves cgroup ids to paths and rule ids to
 * policy rule names, and converts kernel time to `ts`.
 */
import fs from 'node:fs';
import { ACTION_NAMES, FLAG, HOOK_NAMES } from './abi';
import type { BootClock } from './boot-clock';
import type { CgroupResolver } from './cgroup-resolver';
import type { AegisEvent, BaseEvent, BlockEvent, ConnectEvent, ExecEvent, ExitEvent, Mode, SensorEvent } from './event-types';
import type { ProcessCache, ProcessEntry } from './process-cache';
import { execIdOf } from './process-cache';
import type { DecodedRecord, ExecRecord, ExitRecord, FileRecord, NetRecord, ProcFields } from './records';
import { kernelDevToUser, protocolName } from './text';

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
  readonly cgroupPath: string;
}

export interface EventMapper {
  /** undefined for records that only feed the cache (fork). */
  map(rec: DecodedRecord): AegisEvent | undefined;
  sensorEvent(status: string, message: string, extra?: { readonly policy?: string; readonly mode?: Mode }): SensorEvent;
}

const MODE_NAMES: readonly Mode[] = ['audit', 'enforce'];

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
  try {
    const line = fs.readFileSync('/proc/self/cgroup', 'utf8').split('\n').find((l) => l.startsWith('0::'));
    if (line !== undefined && cgroupRoot !== undefined) cgroupPath = line.slice(3);
  } catch {
    // no cgroup info
  }
  return { pid: process.pid, ppid: process.ppid, startTime, comm, exe: process.execPath, cgroupPath };
}

export function createEventMapper(options: EventMapperOptions): EventMapper {
  const { host, backend, clock, cache, cgroups, rules } = options;
  const self = options.self ?? readSelfIdentity(cgroups.root);

  const base = (rec: DecodedRecord, entry: ProcessEntry, proc: ProcFields) => {
    const parent = cache.parentOf(proc);
    // Parent identity straight from the record: exact even when the parent is not cached.
    const parentExecId = execIdOf(proc.ppid, proc.parentStartTimeText);
    const b: Omit<BaseEvent, 'type'> & { -readonly [K in 'parent_comm' | 'parent_exe' | 'exe']?: string } = {
      ts: clock.format(rec.ktime),
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
    const ev: ExecEvent = { ...base(rec, entry, rec.proc), type: 'exec', args: rec.args };
    return truncated ? { ...ev, args_truncated: true } : ev;
  };

  const exit = (rec: ExitRecord): ExitEvent => {
    const entry = cache.onExit(rec.proc);
    const signal = rec.exitStatus & 0x7f;
    const ev: ExitEvent = {
      ...base(rec, entry, rec.proc),
      type: 'exit',
      exit_code: (rec.exitStatus >> 8) & 0xff,
      duration_ns: Math.max(0, rec.ktime - rec.proc.startTime),
    };
    return signal !== 0 ? { ...ev, signal } : ev;
  };

  const ruleName = (ruleId: number): string => rules.name(ruleId) ?? `rule#${ruleId}`;

  const file = (rec: FileRecord): BlockEvent => {
    const entry = cache.observe(rec.proc);
    const path = rec.path !== '' ? rec.path : rec.resolved;
    const ev: BlockEvent = {
      ...base(rec, entry, rec.proc),
      type: 'block',
      ino: rec.ino,
      dev: kernelDevToUser(rec.dev),
      path,
      open_flags: rec.openFlags,
      action: ACTION_NAMES[rec.action] ?? 'AUDIT',
      policy: ruleName(rec.ruleId),
      mode: MODE_NAMES[rec.mode] ?? 'audit',
    };
    return rec.resolved !== '' && rec.resolved !== path ? { ...ev, resolved_path: rec.resolved } : ev;
  };

  const connect = (rec: NetRecord): ConnectEvent => {
    const entry = cache.observe(rec.proc);
    const ev: ConnectEvent = {
      ...base(rec, entry, rec.proc),
      type: 'connect',
      family: rec.family === 10 ? 'ipv6' : 'ipv4',
      protocol: protocolName(rec.protocol),
      direction: 'egress',
      remote_ip: rec.remoteIp,
      remote_port: rec.remotePort,
      local_ip: rec.localIp,
      local_port: rec.localPort,
    };
    const action = ACTION_NAMES[rec.action];
    if (action === undefined) return ev;
    return { ...ev, action, policy: ruleName(rec.ruleId), mode: MODE_NAMES[rec.mode] ?? 'audit' };
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
      const execId = execIdOf(self.pid, String(self.startTime));
      const ev: SensorEvent = {
        ts: clock.format(clock.nowMonotonicNs()),
        type: 'sensor',
        host,
        pid: self.pid,
        ppid: self.ppid,
        start_time: self.startTime,
        exec_id: execId,
        trace_id: execId,
        cgid: 0,
        cgroup_path: self.cgroupPath,
        comm: self.comm,
        exe: self.exe,
        sensor: backend,
        status,
        message,
      };
      return { ...ev, ...(extra?.policy !== undefined ? { policy: extra.policy } : {}), ...(extra?.mode !== undefined ? { mode: extra.mode } : {}) };
    },
  };
}

const HOOK_FOR_KIND: Readonly<Record<'exec' | 'exit' | 'fork', number>> = { exec: 1, exit: 2, fork: 3 };
