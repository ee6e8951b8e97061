/**
 * The only module that loads the native addon (native/build/Release/aegis_native.node). Everything else imports
 * the typed interface from here, so the addon can be missing (replay-only installs) without breaking imports:
 * `loadNative()` throws a `SensorError` with code AEGIS_ERR_NATIVE_NOT_BUILT and the reason recorded at install
 * time (native/build/unavailable.json, written by scripts/build-native.js).
 *
 * must match: native/src/addon.cc (exports), native/src/bpf-object.cc, native/src/bpf-map.cc,
 * native/src/ring-reader.cc, native/src/feature-probe.cc, native/src/fs-mounts.cc.
 */
import fs from 'node:fs';
import path from 'node:path';
import { SensorError } from './errors';
import { PACKAGE_ROOT, packagePath } from '../util/paths';

export const NATIVE_PATHS = {
  addon: packagePath('native', 'build', 'Release', 'aegis_native.node'),
  unavailable: packagePath('native', 'build', 'unavailable.json'),
  sensorObject: packagePath('bpf', 'build', 'aegis.bpf.o'),
  probeObject: packagePath('bpf', 'build', 'probe.bpf.o'),
  /** The opt-in activity counters (syscalls, block I/O): src/sensor/activity.ts. */
  activityObject: packagePath('bpf', 'build', 'activity.bpf.o'),
} as const;

export interface NativeProgramInfo {
  readonly name: string;
  readonly section: string;
  readonly autoload: boolean;
  readonly type: number;
  readonly insns: number;
}

export interface NativeProgramStats {
  readonly name: string;
  readonly id: number;
  /** Cumulative; only advances while kernel.bpf_stats_enabled = 1. */
  readonly runTimeNs: number;
  readonly runCount: number;
  /** Runs skipped because the program was already running on that CPU. */
  readonly recursionMisses: number;
}

export interface NativeMapInfo {
  readonly name: string;
  readonly type: number;
  readonly keySize: number;
  readonly valueSize: number;
  readonly maxEntries: number;
  readonly internal: boolean;
}

export interface NativeRodataVar {
  readonly name: string;
  readonly offset: number;
  readonly size: number;
}

export interface NativeMapEntries {
  readonly count: number;
  /** count * keySize bytes */
  readonly keys: Buffer;
  /** count * valueBytes bytes */
  readonly values: Buffer;
}

export interface NativeMap {
  readonly name: string;
  readonly type: number;
  readonly keySize: number;
  readonly valueSize: number;
  /** Bytes of a value buffer: valueSize, or round_up(valueSize, 8) * possibleCpus for per-CPU maps. */
  readonly valueBytes: number;
  readonly maxEntries: number;
  readonly percpu: boolean;
  readonly possibleCpus?: number;
  lookup(key: Buffer): Buffer | null;
  /** flags: BPF_ANY (0, default), BPF_NOEXIST (1), BPF_EXIST (2). */
  update(key: Buffer, value: Buffer, flags?: number): void;
  /** false when the key was not there */
  delete(key: Buffer): boolean;
  entries(): NativeMapEntries;
  close(): void;
}

export interface NativeBpfObject {
  readonly state: 'opened' | 'loaded' | 'destroyed';
  programs(): NativeProgramInfo[];
  /** Loaded programs only; needs a loaded object. */
  programStats(): NativeProgramStats[];
  /** BPF_PROG_TEST_RUN of a loaded packet program: its return value and the kernel's mean ns per run. */
  testRun(program: string, packet: Buffer, repeat?: number): { retval: number; durationNs: number };
  maps(): NativeMapInfo[];
  rodataVars(): NativeRodataVar[];
  setAutoload(program: string, autoload: boolean): void;
  setMaxEntries(map: string, maxEntries: number): void;
  setRodata(name: string, value: Buffer): void;
  setPinPath(map: string, path: string | null): void;
  load(): void;
  /** Returns a link id for detach(). */
  attach(
    program: string,
    /** xdpFlags: XDP_FLAGS_* for an XDP attach (2 = generic/SKB mode); 0 or absent = the kernel's choice. */
    options?: { cgroupPath?: string; ifindex?: number; xdpFlags?: number },
  ): number;
  detach(linkId: number): boolean;
  map(name: string): NativeMap;
  destroy(): void;
}

export interface NativeRingReaderStats {
  readonly batches: number;
  readonly records: number;
  readonly bytes: number;
  /** Records larger than the batch buffer, dropped in user space (should stay 0). */
  readonly oversize: number;
  /** Polls that stopped at maxRecordsPerTick to let the event loop breathe. */
  readonly cappedTicks: number;
  /** Wakeups deferred to the coalescing timer (minIntervalMicros). */
  readonly coalesced: number;
  readonly polling: boolean;
}

/**
 * Called once per batch. `buffer` is the reader's pooled buffer, reused for the next batch: decode synchronously,
 * keep nothing that points into it. Frames: [u32 length][u32 reserved][record][pad to 8].
 */
export type RingBatchCallback = (buffer: Buffer, byteLength: number, recordCount: number) => void;

export interface NativeRingReader {
  start(): void;
  stop(): void;
  /** Synchronous drain; calls the batch callback before returning. Returns records consumed. */
  consume(): number;
  close(): void;
  stats(): NativeRingReaderStats;
}

export interface NativeProbeResult {
  readonly loaded: boolean;
  /** Positive errno of the load, 0 when loaded. */
  readonly loadErrno: number;
  readonly attached: boolean;
  readonly attachErrno: number;
  readonly log: string;
}

export interface NativeBinding {
  readonly BpfObject: new (path: string) => NativeBpfObject;
  readonly RingReader: new (
    map: NativeMap,
    onBatch: RingBatchCallback,
    options?: { batchBytes?: number; maxRecordsPerTick?: number; minIntervalMicros?: number },
  ) => NativeRingReader;
  openPinnedMap(path: string): NativeMap;
  probeProgram(
    objectPath: string,
    programName: string,
    options?: { attach?: boolean; cgroupPath?: string },
  ): NativeProbeResult;
  /** statfs(2) f_type, or null when statfs fails. */
  statfsType(path: string): number | null;
  mountFs(fstype: 'tracefs' | 'bpf', target: string, data?: string): void;
  /**
   * One journald native-protocol entry to the datagram socket at socketPath: 0 = sent as a datagram, 1 = sent as a
   * sealed memfd (SCM_RIGHTS; too large for a datagram, or forceMemfd), negative = minus errno (never blocks).
   */
  journalSend(socketPath: string, payload: Uint8Array, forceMemfd?: boolean): number;
  /** 0 when something listens on the journald socket (datagram connect succeeds), else minus errno; sends nothing. */
  journalProbe(socketPath: string): number;
  libbpfVersion(): string;
  numPossibleCpus(): number;
  /** CRC-32C of bytes[start, end) (SSE4.2 where the CPU has it): the disk buffer's checksum, src/util/crc32c.ts. */
  crc32c(bytes: Buffer, start: number, end: number): number;
  /**
   * Fill the CRC field of every record in buf[0, end) (src/sinks/core/disk-format.ts layout): one call per write of
   * the disk buffer instead of a pass per record. Returns the records checksummed.
   */
  crc32cRecords(buf: Buffer, end: number): number;
  readonly errorCodes: readonly string[];
  readonly abiOpMax: number;
}

/** The names the addon must export (test/native/binding.test.ts checks them without root). */
export const NATIVE_EXPORTS: readonly (keyof NativeBinding)[] = [
  'BpfObject',
  'RingReader',
  'openPinnedMap',
  'probeProgram',
  'statfsType',
  'mountFs',
  'journalSend',
  'journalProbe',
  'libbpfVersion',
  'numPossibleCpus',
  'crc32c',
  'crc32cRecords',
  'errorCodes',
  'abiOpMax',
];

export type NativeStatus = { readonly available: true } | { readonly available: false; readonly reason: string };

let cached: NativeBinding | undefined;

/** Why the addon is not there, as recorded at install time (or a generic reason). */
function unavailableReason(): string {
  try {
    const parsed = JSON.parse(fs.readFileSync(NATIVE_PATHS.unavailable, 'utf8')) as { reason?: unknown };
    if (typeof parsed.reason === 'string') return parsed.reason;
  } catch {
    // no record: fall through to the generic reason
  }
  return `native addon not built (${path.relative(PACKAGE_ROOT, NATIVE_PATHS.addon)} is missing); run \`npm ci\` or \`npm run build:native\` on a host with clang, bpftool, libbpf-dev and kernel BTF`;
}

/** Whether the addon and the BPF objects are present (does not load anything). */
export function nativeStatus(): NativeStatus {
  if (!fs.existsSync(NATIVE_PATHS.addon)) return { available: false, reason: unavailableReason() };
  for (const obj of [NATIVE_PATHS.sensorObject, NATIVE_PATHS.probeObject]) {
    if (!fs.existsSync(obj))
      return {
        available: false,
        reason: `BPF object ${path.relative(PACKAGE_ROOT, obj)} is missing; run \`npm run build:native\``,
      };
  }
  return { available: true };
}

/** Loads the addon once. Throws SensorError(AEGIS_ERR_NATIVE_NOT_BUILT) with the reason when it cannot. */
export function loadNative(): NativeBinding {
  if (cached !== undefined) return cached;
  const status = nativeStatus();
  if (!status.available) throw new SensorError('AEGIS_ERR_NATIVE_NOT_BUILT', status.reason);
  let mod: unknown;
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- a .node file can only be require()d
    mod = require(NATIVE_PATHS.addon);
  } catch (err) {
    throw new SensorError('AEGIS_ERR_NATIVE_NOT_BUILT', `native addon failed to load: ${(err as Error).message}`, {
      cause: err,
    });
  }
  const binding = mod as NativeBinding;
  const missing = NATIVE_EXPORTS.filter((name) => !(name in binding));
  if (missing.length > 0) {
    throw new SensorError(
      'AEGIS_ERR_NATIVE_NOT_BUILT',
      `native addon is stale (missing exports: ${missing.join(', ')}); run \`npm run build:native\``,
    );
  }
  cached = binding;
  return binding;
}
