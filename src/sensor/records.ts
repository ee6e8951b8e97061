/**
 * Decoded kernel records (one type per op code) and their decoders. Layouts come only from ./abi.ts; each decoder
 * reads fixed offsets and copies what it needs out of the (reused) batch buffer.
 */
import { EXEC, EXIT, FILE, FORK, HDR, NET, OP, PROC } from './abi';
import type { RecordDecoder } from './decoder-registry';
import { decodeComm, decodeStringList, decodeText, formatIpv4, formatIpv6, readU64, u64ExactText } from './text';

/** The process block every record carries (struct aegis_proc). */
export interface ProcFields {
  readonly pid: number;
  readonly tid: number;
  readonly ppid: number;
  readonly uid: number;
  readonly gid: number;
  /** ns since boot (CLOCK_MONOTONIC) at fork of the thread group leader; exact below 2^53. */
  readonly startTime: number;
  /** The exact decimal digits when start_time >= 2^53 (the number is rounded then), else undefined. */
  readonly startTimeExact: string | undefined;
  readonly parentStartTime: number;
  readonly parentStartTimeExact: string | undefined;
  readonly cgid: number;
  readonly comm: string;
}

interface RecordBase {
  readonly op: number;
  /** AEGIS_F_* */
  readonly flags: number;
  /** bpf_ktime_get_ns() at the hook, CLOCK_MONOTONIC ns. */
  readonly ktime: number;
  readonly proc: ProcFields;
}

export interface ExecRecord extends RecordBase {
  readonly kind: 'exec';
  readonly exeIno: number;
  /** kernel dev_t encoding */
  readonly exeDev: number;
  readonly argc: number;
  /** As passed to execve. */
  readonly filename: string;
  /** Resolved path of the executable (the interpreter for scripts). */
  readonly exe: string;
  readonly args: string[];
}

export interface ExitRecord extends RecordBase {
  readonly kind: 'exit';
  /** wait(2) status: (code << 8) | signal */
  readonly exitStatus: number;
}

export interface ForkRecord extends RecordBase {
  readonly kind: 'fork';
}

export interface FileRecord extends RecordBase {
  readonly kind: 'file';
  readonly ino: number;
  /** kernel dev_t encoding */
  readonly dev: number;
  readonly openFlags: number;
  readonly ruleId: number;
  readonly action: number;
  readonly hook: number;
  readonly verdict: number;
  readonly mode: number;
  readonly ret: number;
  /** The name the caller passed, when known. */
  readonly path: string;
  /** Walked from the dentry: absolute, symlinks resolved. */
  readonly resolved: string;
}

export interface NetRecord extends RecordBase {
  readonly kind: 'connect';
  readonly ruleId: number;
  /** AF_INET (2) or AF_INET6 (10) */
  readonly family: number;
  readonly protocol: number;
  readonly action: number;
  readonly hook: number;
  readonly verdict: number;
  readonly mode: number;
  readonly remotePort: number;
  readonly localPort: number;
  readonly remoteIp: string;
  readonly localIp: string;
}

export type DecodedRecord = ExecRecord | ExitRecord | ForkRecord | FileRecord | NetRecord;

/** Exact digits of the process start_time (for exec_id), whatever its size. */
export function startTimeText(proc: ProcFields): string {
  return proc.startTimeExact ?? String(proc.startTime);
}

export function parentStartTimeText(proc: ProcFields): string {
  return proc.parentStartTimeExact ?? String(proc.parentStartTime);
}

const u64 = readU64;

const P = PROC.fields;

/** struct aegis_proc at `base`. Reads go through a DataView: TurboFan inlines them, Buffer#readUInt32LE it does not. */
function decodeProc(v: DataView, buf: Buffer, base: number): ProcFields {
  return {
    pid: v.getUint32(base + P.pid.offset, true),
    tid: v.getUint32(base + P.tid.offset, true),
    ppid: v.getUint32(base + P.ppid.offset, true),
    uid: v.getUint32(base + P.uid.offset, true),
    gid: v.getUint32(base + P.gid.offset, true),
    startTime: u64(v, base + P.start_time.offset),
    startTimeExact: u64ExactText(v, base + P.start_time.offset),
    parentStartTime: u64(v, base + P.parent_start_time.offset),
    parentStartTimeExact: u64ExactText(v, base + P.parent_start_time.offset),
    cgid: u64(v, base + P.cgid.offset),
    comm: decodeComm(v, buf, base + P.comm.offset),
  };
}

const H = HDR.fields;

function flagsOf(v: DataView, off: number): number {
  return v.getUint16(off + H.flags.offset, true);
}

function ktimeOf(v: DataView, off: number): number {
  return u64(v, off + H.ktime.offset);
}

/** A length field, clamped to its slot so a corrupt length can never read past the field. */
function lenIn(v: DataView, off: number, slotSize: number): number {
  const n = v.getUint16(off, true);
  return n < slotSize ? n : slotSize - 1;
}

const E = EXEC.fields;
export const execDecoder: RecordDecoder<ExecRecord> = {
  op: OP.EXEC,
  name: 'exec',
  minSize: E.args.offset,
  decode(v, buf, off, len) {
    const filenameLen = lenIn(v, off + E.filename_len.offset, E.filename.size);
    const exeLen = lenIn(v, off + E.exe_len.offset, E.exe.size);
    const argsAvail = len - E.args.offset;
    const argsLen = Math.min(v.getUint16(off + E.args_len.offset, true), E.args.size, argsAvail);
    return {
      kind: 'exec',
      op: OP.EXEC,
      flags: flagsOf(v, off),
      ktime: ktimeOf(v, off),
      proc: decodeProc(v, buf, off + E.proc.offset),
      exeIno: u64(v, off + E.exe_ino.offset),
      exeDev: v.getUint32(off + E.exe_dev.offset, true),
      argc: v.getUint16(off + E.argc.offset, true),
      filename: decodeText(buf, off + E.filename.offset, off + E.filename.offset + filenameLen),
      exe: decodeText(buf, off + E.exe.offset, off + E.exe.offset + exeLen),
      args: decodeStringList(buf, off + E.args.offset, off + E.args.offset + argsLen),
    };
  },
};

const X = EXIT.fields;
export const exitDecoder: RecordDecoder<ExitRecord> = {
  op: OP.EXIT,
  name: 'exit',
  minSize: EXIT.size,
  decode(v, buf, off) {
    return {
      kind: 'exit',
      op: OP.EXIT,
      flags: flagsOf(v, off),
      ktime: ktimeOf(v, off),
      proc: decodeProc(v, buf, off + X.proc.offset),
      exitStatus: v.getUint32(off + X.exit_code.offset, true),
    };
  },
};

export const forkDecoder: RecordDecoder<ForkRecord> = {
  op: OP.FORK,
  name: 'fork',
  minSize: FORK.size,
  decode(v, buf, off) {
    return {
      kind: 'fork',
      op: OP.FORK,
      flags: flagsOf(v, off),
      ktime: ktimeOf(v, off),
      proc: decodeProc(v, buf, off + FORK.fields.proc.offset),
    };
  },
};

const F = FILE.fields;
export const fileDecoder: RecordDecoder<FileRecord> = {
  op: OP.FILE,
  name: 'file',
  minSize: F.resolved.offset,
  decode(v, buf, off, len) {
    const pathLen = lenIn(v, off + F.path_len.offset, F.path.size);
    const resolvedLen = Math.min(lenIn(v, off + F.resolved_len.offset, F.resolved.size), len - F.resolved.offset);
    return {
      kind: 'file',
      op: OP.FILE,
      flags: flagsOf(v, off),
      ktime: ktimeOf(v, off),
      proc: decodeProc(v, buf, off + F.proc.offset),
      ino: u64(v, off + F.ino.offset),
      dev: v.getUint32(off + F.dev.offset, true),
      openFlags: v.getUint32(off + F.open_flags.offset, true),
      ruleId: v.getUint32(off + F.rule_id.offset, true),
      action: v.getUint8(off + F.action.offset),
      hook: v.getUint8(off + F.hook.offset),
      verdict: v.getUint8(off + F.verdict.offset),
      mode: v.getUint8(off + F.mode.offset),
      ret: v.getInt32(off + F.ret.offset, true),
      path: decodeText(buf, off + F.path.offset, off + F.path.offset + pathLen),
      resolved: decodeText(buf, off + F.resolved.offset, off + F.resolved.offset + Math.max(0, resolvedLen)),
    };
  },
};

const N = NET.fields;
const AF_INET6 = 10;
export const netDecoder: RecordDecoder<NetRecord> = {
  op: OP.CONNECT,
  name: 'connect',
  minSize: NET.size,
  decode(v, buf, off) {
    const family = v.getUint8(off + N.family.offset);
    const ip = family === AF_INET6 ? formatIpv6 : formatIpv4;
    return {
      kind: 'connect',
      op: OP.CONNECT,
      flags: flagsOf(v, off),
      ktime: ktimeOf(v, off),
      proc: decodeProc(v, buf, off + N.proc.offset),
      ruleId: v.getUint32(off + N.rule_id.offset, true),
      family,
      protocol: v.getUint8(off + N.protocol.offset),
      action: v.getUint8(off + N.action.offset),
      hook: v.getUint8(off + N.hook.offset),
      verdict: v.getUint8(off + N.verdict.offset),
      mode: v.getUint8(off + N.mode.offset),
      remotePort: v.getUint16(off + N.remote_port.offset, true),
      localPort: v.getUint16(off + N.local_port.offset, true),
      remoteIp: ip(buf, off + N.remote_ip.offset),
      localIp: ip(buf, off + N.local_ip.offset),
    };
  },
};

/** Every decoder the sensor registers, in op order. */
export const RECORD_DECODERS: readonly RecordDecoder<DecodedRecord>[] = [
  execDecoder,
  exitDecoder,
  forkDecoder,
  fileDecoder,
  netDecoder,
];
