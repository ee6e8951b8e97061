/**
 * pid -> process, bounded, for lineage and for fields the kernel does not repeat in every record (exe, args,
 * parent's comm).
 *
 * Identity is (pid, start_time): exec_id = "<pid>:<start_time>" with the kernel's exact digits, so a reused pid is
 * a different process. Entries come from fork and exec records; a process the sensor has never seen (it started
 * before the sensor) is created from its first record, which carries the exact pid/start_time/parent identity,
 * plus /proc for exe and comm. Exit evicts the entry (after the exit event is built); when full, the oldest entry
 * goes first and is counted.
 */
import fs from 'node:fs';
import type { ExecRecord, ProcFields } from './records';
import { parentStartTimeText, startTimeText } from './records';

export interface ProcessEntry {
  readonly pid: number;
  readonly startTime: number;
  readonly execId: string;
  readonly ppid: number;
  readonly parentStartTime: number;
  readonly parentExecId: string;
  readonly comm: string;
  /** '' when unknown */
  readonly exe: string;
  readonly args: readonly string[] | undefined;
  readonly argsTruncated: boolean;
  readonly cgid: number;
  readonly uid: number;
  readonly gid: number;
}

/** Reads of /proc for processes the sensor did not see start. Injectable for tests. */
export interface ProcReader {
  exe(pid: number): string;
  comm(pid: number): string;
}

export const procfsReader: ProcReader = {
  exe(pid) {
    try {
      return fs.readlinkSync(`/proc/${pid}/exe`);
    } catch {
      return '';
    }
  },
  comm(pid) {
    try {
      return fs.readFileSync(`/proc/${pid}/comm`, 'utf8').replace(/\n$/, '');
    } catch {
      return '';
    }
  },
};

export interface ProcessCacheStats {
  readonly size: number;
  readonly evictedFull: number;
  readonly evictedExit: number;
  readonly procReads: number;
}

export interface ProcessCache {
  /** The entry for this process, created from the record (+ /proc) when unknown. */
  observe(proc: ProcFields): ProcessEntry;
  /** The cached parent of `proc`, created from the record's parent identity (+ /proc) when unknown. */
  parentOf(proc: ProcFields): ProcessEntry | undefined;
  onFork(proc: ProcFields): ProcessEntry;
  onExec(rec: ExecRecord, argsTruncated: boolean): ProcessEntry;
  /** Removes and returns the entry (or a transient one built from the record). */
  onExit(proc: ProcFields): ProcessEntry;
  get(pid: number): ProcessEntry | undefined;
  stats(): ProcessCacheStats;
}

export interface ProcessCacheOptions {
  readonly maxEntries?: number;
  readonly proc?: ProcReader;
}

export function execIdOf(pid: number, startTimeText: string): string {
  return `${pid}:${startTimeText}`;
}

export function createProcessCache(options: ProcessCacheOptions = {}): ProcessCache {
  const maxEntries = options.maxEntries ?? 65536;
  const procfs = options.proc ?? procfsReader;
  const byPid = new Map<number, ProcessEntry>();
  /** Entries created from a child's record (parent identity + /proc only). */
  const partial = new WeakSet<ProcessEntry>();
  let evictedFull = 0;
  let evictedExit = 0;
  let procReads = 0;

  const put = (e: ProcessEntry): ProcessEntry => {
    if (!byPid.has(e.pid) && byPid.size >= maxEntries) {
      const oldest = byPid.keys().next();
      if (oldest.done !== true) {
        byPid.delete(oldest.value);
        evictedFull++;
      }
    }
    byPid.set(e.pid, e);
    return e;
  };

  const fromRecord = (
    proc: ProcFields,
    exe: string,
    args: readonly string[] | undefined,
    argsTruncated: boolean,
  ): ProcessEntry => ({
    pid: proc.pid,
    startTime: proc.startTime,
    execId: execIdOf(proc.pid, startTimeText(proc)),
    ppid: proc.ppid,
    parentStartTime: proc.parentStartTime,
    parentExecId: execIdOf(proc.ppid, parentStartTimeText(proc)),
    comm: proc.comm,
    exe,
    args,
    argsTruncated,
    cgid: proc.cgid,
    uid: proc.uid,
    gid: proc.gid,
  });

  const current = (pid: number, startTime: number): ProcessEntry | undefined => {
    const e = byPid.get(pid);
    return e !== undefined && e.startTime === startTime ? e : undefined;
  };

  const observe = (proc: ProcFields): ProcessEntry => {
    const hit = current(proc.pid, proc.startTime);
    // An entry made by parentOf() only knew the identity; the process's own record knows the rest.
    if (hit !== undefined && !partial.has(hit)) return hit;
    if (hit !== undefined) {
      partial.delete(hit);
      return put({ ...fromRecord(proc, hit.exe, hit.args, hit.argsTruncated), comm: proc.comm });
    }
    procReads++;
    return put(fromRecord(proc, procfs.exe(proc.pid), undefined, false));
  };

  return {
    observe,
    parentOf(proc) {
      if (proc.ppid === 0) return undefined;
      const hit = current(proc.ppid, proc.parentStartTime);
      if (hit !== undefined) return hit;
      procReads++;
      // Only the parent's identity is exact here (from the record); its own parent is unknown.
      const entry = put({
        pid: proc.ppid,
        startTime: proc.parentStartTime,
        execId: execIdOf(proc.ppid, parentStartTimeText(proc)),
        ppid: 0,
        parentStartTime: 0,
        parentExecId: '',
        comm: procfs.comm(proc.ppid),
        exe: procfs.exe(proc.ppid),
        args: undefined,
        argsTruncated: false,
        cgid: 0,
        uid: 0,
        gid: 0,
      });
      partial.add(entry);
      return entry;
    },
    onFork(proc) {
      // A child shares its parent's image until it execs.
      const parent = current(proc.ppid, proc.parentStartTime);
      return put(fromRecord(proc, parent?.exe ?? '', parent?.args, parent?.argsTruncated ?? false));
    },
    onExec(rec, argsTruncated) {
      return put(fromRecord(rec.proc, rec.exe !== '' ? rec.exe : rec.filename, rec.args, argsTruncated));
    },
    onExit(proc) {
      const hit = current(proc.pid, proc.startTime);
      if (hit !== undefined) {
        byPid.delete(proc.pid);
        evictedExit++;
        return hit;
      }
      // Unknown (started before the sensor, or evicted): /proc may already be gone; the record has the identity.
      return fromRecord(proc, '', undefined, false);
    },
    get(pid) {
      return byPid.get(pid);
    },
    stats() {
      return { size: byPid.size, evictedFull, evictedExit, procReads };
    },
  };
}
