/**
 * The opt-in activity counters (bpf/activity/activity.bpf.c): per-process syscalls and block I/O, summed over CPUs
 * and turned into deltas per read. Loaded as its own BPF object, so the sensor never enables a syscall tracepoint
 * unless the `activity` source asks (docs/analytics.md says what that costs the host).
 *
 * Bounded: the kernel map holds at most 16384 processes; each read deletes the entries of processes that did nothing
 * since the previous read (idle, or exited after their last counted syscall), so the map holds the active ones.
 */
import fs from 'node:fs';
import { loadNative, NATIVE_PATHS } from '../native/binding';
import type { NativeBinding, NativeBpfObject, NativeMap } from '../native/binding';
import { SensorError } from '../native/errors';

export interface ActivityCounters {
  readonly pid: number;
  readonly ppid: number;
  /** Group leader's start time, ns since boot (exact, as in the sensor's exec_id), as a decimal string. */
  readonly startTime: string;
  readonly cgid: number;
  readonly comm: string;
  readonly syscalls: number;
  readonly ioOps: number;
  readonly ioBytes: number;
  readonly ioLatencyNs: number;
}

export interface ActivityCollector {
  /** Whether the block-I/O tracepoints are attached (else io_* stay 0). */
  readonly blockIo: boolean;
  /** Counters since the previous read, for processes with any activity. */
  read(): ActivityCounters[];
  close(): void;
}

export interface ActivityCollectorOptions {
  readonly blockIo: boolean;
  readonly objectPath?: string;
  readonly native?: NativeBinding;
}

// must match: bpf/include/aegis_activity.h:struct aegis_activity (test/sensor/activity.test.ts checks the object's BTF)
const VALUE_SIZE = 72;
const OFF = { syscalls: 0, ioOps: 8, ioBytes: 16, ioLatency: 24, startTime: 32, cgid: 40, ppid: 48, comm: 56 } as const;

/** The value layout, by C member name, for the BTF check. */
export const ACTIVITY_VALUE_LAYOUT = {
  cName: 'aegis_activity',
  size: VALUE_SIZE,
  offsets: {
    syscalls: OFF.syscalls,
    io_ops: OFF.ioOps,
    io_bytes: OFF.ioBytes,
    io_latency_ns: OFF.ioLatency,
    start_time: OFF.startTime,
    cgid: OFF.cgid,
    ppid: OFF.ppid,
    pad: 52,
    comm: OFF.comm,
  },
} as const;

/**
 * The command name of a live process from /proc: the map's per-CPU copies are written when the entry is created and
 * at exec, each on its own CPU, so after an exec some CPUs' copies are stale. Undefined once the process is gone.
 */
function liveComm(pid: number): string | undefined {
  try {
    return fs.readFileSync(`/proc/${pid}/comm`, 'utf8').trimEnd();
  } catch {
    return undefined;
  }
}

interface Cumulative {
  startTime: bigint;
  syscalls: bigint;
  ioOps: bigint;
  ioBytes: bigint;
  ioLatency: bigint;
}

export function openActivityCollector(options: ActivityCollectorOptions): ActivityCollector {
  const native = options.native ?? loadNative();
  let obj: NativeBpfObject | undefined;
  try {
    obj = new native.BpfObject(options.objectPath ?? NATIVE_PATHS.activityObject);
    if (!options.blockIo) {
      obj.setAutoload('aegis_activity_rq_issue', false);
      obj.setAutoload('aegis_activity_rq_complete', false);
    }
    obj.load();
    obj.attach('aegis_activity_sys_enter');
    obj.attach('aegis_activity_exec');
  } catch (err) {
    obj?.destroy();
    throw new SensorError(
      'AEGIS_ERR_SENSOR_LOAD',
      `The activity counters could not be loaded: ${(err as Error).message}`,
      {
        cause: err,
        errno: (err as { errno?: number }).errno,
      },
    );
  }
  let blockIo = false;
  if (options.blockIo) {
    try {
      obj.attach('aegis_activity_rq_issue');
      obj.attach('aegis_activity_rq_complete');
      blockIo = true;
    } catch {
      // Feature-probed by trying: a kernel without these BTF tracepoints still gets syscall counts.
    }
  }
  const map: NativeMap = obj.map('aegis_activity');
  if (map.valueSize !== VALUE_SIZE)
    throw new SensorError(
      'AEGIS_ERR_SENSOR_LOAD',
      `aegis_activity values are ${map.valueSize} bytes, expected ${VALUE_SIZE}`,
    );
  const stride = Math.ceil(map.valueSize / 8) * 8;
  const cpus = map.percpu ? map.valueBytes / stride : 1;
  const previous = new Map<number, Cumulative>();
  const key = Buffer.alloc(4);

  return {
    blockIo,
    read() {
      const e = map.entries();
      const out: ActivityCounters[] = [];
      const seen = new Set<number>();
      for (let i = 0; i < e.count; i++) {
        const pid = e.keys.readUInt32LE(i * map.keySize);
        const base = i * map.valueBytes;
        const cur: Cumulative = { startTime: 0n, syscalls: 0n, ioOps: 0n, ioBytes: 0n, ioLatency: 0n };
        let ident = -1;
        for (let c = 0; c < cpus; c++) {
          const at = base + c * stride;
          cur.syscalls += e.values.readBigUInt64LE(at + OFF.syscalls);
          cur.ioOps += e.values.readBigUInt64LE(at + OFF.ioOps);
          cur.ioBytes += e.values.readBigUInt64LE(at + OFF.ioBytes);
          cur.ioLatency += e.values.readBigUInt64LE(at + OFF.ioLatency);
          if (ident < 0 && e.values.readBigUInt64LE(at + OFF.startTime) !== 0n) ident = at;
        }
        if (ident < 0) ident = base;
        cur.startTime = e.values.readBigUInt64LE(ident + OFF.startTime);
        seen.add(pid);
        const prev = previous.get(pid);
        const same = prev !== undefined && prev.startTime === cur.startTime;
        const d = (a: bigint, b: bigint | undefined): number => Number(same && b !== undefined ? a - b : a);
        const syscalls = d(cur.syscalls, prev?.syscalls);
        const ioOps = d(cur.ioOps, prev?.ioOps);
        if (syscalls === 0 && ioOps === 0) {
          // Nothing since the last read: forget it here and in the kernel (it comes back on its next syscall).
          key.writeUInt32LE(pid);
          map.delete(key);
          previous.delete(pid);
          continue;
        }
        previous.set(pid, cur);
        const commEnd = e.values.indexOf(0, ident + OFF.comm);
        const kernelComm = e.values.toString(
          'utf8',
          ident + OFF.comm,
          commEnd < 0 || commEnd > ident + OFF.comm + 16 ? ident + OFF.comm + 16 : commEnd,
        );
        out.push({
          pid,
          ppid: e.values.readUInt32LE(ident + OFF.ppid),
          startTime: cur.startTime.toString(),
          cgid: Number(e.values.readBigUInt64LE(ident + OFF.cgid)),
          comm: liveComm(pid) ?? kernelComm,
          syscalls,
          ioOps,
          ioBytes: d(cur.ioBytes, prev?.ioBytes),
          ioLatencyNs: d(cur.ioLatency, prev?.ioLatency),
        });
      }
      for (const pid of previous.keys()) if (!seen.has(pid)) previous.delete(pid);
      return out;
    },
    close() {
      map.close();
      obj.destroy();
    },
  };
}
