/**
 * The opt-in activity counters (bpf/activity/activity.bpf.c): per-process syscalls and block I/O, summed over CPUs
 * and turned into deltas per read. Loaded as its own BPF object, so the sensor never enables a syscall tracepoint
 * unless the `activity` source asks (docs/analytics.md says what that costs the host).
 *
 * Bounded: the kernel map holds at most 16384 processes; each read deletes the entries of processes that did nothing
 * since the previous read (idle, or exited after their last counted syscall), so the map holds the active ones.
 */
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

// must match: bpf/include/aegis_activity.h (test/sensor/activity.test.ts checks both against the object's BTF)
const VALUE_SIZE = 32;
const IDENT_SIZE = 40;

/** Per-CPU counters, by C member name. */
export const ACTIVITY_VALUE_LAYOUT = {
  cName: 'aegis_activity',
  size: VALUE_SIZE,
  offsets: { syscalls: 0, io_ops: 8, io_bytes: 16, io_latency_ns: 24 },
} as const;

/** The process identity, one per process. */
export const ACTIVITY_IDENT_LAYOUT = {
  cName: 'aegis_activity_ident',
  size: IDENT_SIZE,
  offsets: { start_time: 0, cgid: 8, ppid: 16, pad: 20, comm: 24 },
} as const;

const V = ACTIVITY_VALUE_LAYOUT.offsets;
const I = ACTIVITY_IDENT_LAYOUT.offsets;

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
  const idents: NativeMap = obj.map('aegis_activity_ident');
  if (map.valueSize !== VALUE_SIZE || idents.valueSize !== IDENT_SIZE)
    throw new SensorError(
      'AEGIS_ERR_SENSOR_LOAD',
      `aegis_activity values are ${map.valueSize} and ${idents.valueSize} bytes, expected ${VALUE_SIZE} and ${IDENT_SIZE}`,
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
        for (let c = 0; c < cpus; c++) {
          const at = base + c * stride;
          cur.syscalls += e.values.readBigUInt64LE(at + V.syscalls);
          cur.ioOps += e.values.readBigUInt64LE(at + V.io_ops);
          cur.ioBytes += e.values.readBigUInt64LE(at + V.io_bytes);
          cur.ioLatency += e.values.readBigUInt64LE(at + V.io_latency_ns);
        }
        key.writeUInt32LE(pid);
        const id = idents.lookup(key);
        cur.startTime = id === null ? 0n : id.readBigUInt64LE(I.start_time);
        seen.add(pid);
        const prev = previous.get(pid);
        const same = prev !== undefined && prev.startTime === cur.startTime;
        const d = (a: bigint, b: bigint | undefined): number => Number(same && b !== undefined ? a - b : a);
        const syscalls = d(cur.syscalls, prev?.syscalls);
        const ioOps = d(cur.ioOps, prev?.ioOps);
        if (syscalls === 0 && ioOps === 0) {
          // Nothing since the last read: forget it here and in the kernel (it comes back on its next syscall).
          map.delete(key);
          idents.delete(key);
          previous.delete(pid);
          continue;
        }
        previous.set(pid, cur);
        let comm = '';
        if (id !== null) {
          const end = id.indexOf(0, I.comm);
          comm = id.toString('utf8', I.comm, end < 0 ? I.comm + 16 : end);
        }
        out.push({
          pid,
          ppid: id === null ? 0 : id.readUInt32LE(I.ppid),
          startTime: cur.startTime.toString(),
          cgid: id === null ? 0 : Number(id.readBigUInt64LE(I.cgid)),
          comm,
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
      idents.close();
      obj.destroy();
    },
  };
}
