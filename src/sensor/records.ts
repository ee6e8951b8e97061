/**
 * Decoded kernel records (one type per op code) and their decoders. Layouts come only from ./abi.ts; each decoder
 * reads fixed offsets and copies what it needs out of the (reused) batch buffer.
 */
import { EXEC, EXIT, FILE, FORK, HDR, NET, OP, PROC } from './abi';
import type { RecordDecoder } from './decoder-registry';
import { decodeCString, decodeStringList, decodeText, formatIpv4, formatIpv6, readU64, u64Text } from './text';

/** The process block every record carries (struct aegis_proc). */
export interface ProcFields {
  readonly pid: number;
  readonly tid: number;
  readonly ppid: number;
  readonly uid: number;
  readonly gid: number;
  /** ns since boot (CLOCK_MONOTONIC) at fork of the thread group leader; exact below 2^53. */
  readonly startTime: number;
  /** Exact decimal digits of start_time (for exec_id). */
  readonly startTimeText: string;
  readonly parentStartTime: number;
  readonly parentStartTimeText: string;
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

const P = PROC.fields;

/** struct aegis_proc at `base`. */
function decodeProc(buf: Buffer, base: number): ProcFields {
  return {
    pid: buf.readUInt32LE(base + P.pid.offset),
    tid: buf.readUInt32LE(base + P.tid.offset),
    ppid: buf.readUInt32LE(base + P.ppid.offset),
    uid: buf.readUInt32LE(base + P.uid.offset),
    gid: buf.readUInt32LE(base + P.gid.offset),
    startTime: readU64(buf, base + P.start_time.offset),
    startTimeText: u64Text(buf, base + P.start_time.offset),
    parentStartTime: readU64(buf, base + P.parent_start_time.offset),
    parentStartTimeText: u64Text(buf, base + P.parent_start_time.offset),
    cgid: readU64(buf, base + P.cgid.offset),
    comm: decodeCString(buf, base + P.comm.offset, P.comm.size),
  };
}

const H = HDR.fields;

function flagsOf(buf: Buffer, off: number): number {
  return buf.readUInt16LE(off + H.flags.offset);
}

function ktimeOf(buf: Buffer, off: number): number {
  return readU64(buf, off + H.ktime.offset);
}

/** A length field, clamped to its slot so a corrupt length can never read past the field. */
function lenIn(buf: Buffer, off: number, slotSize: number): number {
  const n = buf.readUInt16LE(off);
  return n < slotSize ? n : slotSize - 1;
}

const E = EXEC.fields;
export const execDecoder: RecordDecoder<ExecRecord> = {
  op: OP.EXEC,
  name: 'exec',
  minSize: E.args.offset,
  decode(buf, off, len) {
    const filenameLen = lenIn(buf, off + E.filename_len.offset, E.filename.size);
    const exeLen = lenIn(buf, off + E.exe_len.offset, E.exe.size);
    const argsAvail = len - E.args.offset;
    const argsLen = Math.min(buf.readUInt16LE(off + E.args_len.offset), E.args.size, argsAvail);
    return {
      kind: 'exec',
      op: OP.EXEC,
      flags: flagsOf(buf, off),
      ktime: ktimeOf(buf, off),
      proc: decodeProc(buf, off + E.proc.offset),
      exeIno: readU64(buf, off + E.exe_ino.offset),
      exeDev: buf.readUInt32LE(off + E.exe_dev.offset),
      argc: buf.readUInt16LE(off + E.argc.offset),
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
  decode(buf, off) {
    return {
      kind: 'exit',
      op: OP.EXIT,
      flags: flagsOf(buf, off),
      ktime: ktimeOf(buf, off),
      proc: decodeProc(buf, off + X.proc.offset),
      exitStatus: buf.readUInt32LE(off + X.exit_code.offset),
    };
  },
};

export const forkDecoder: RecordDecoder<ForkRecord> = {
  op: OP.FORK,
  name: 'fork',
  minSize: FORK.size,
  decode(buf, off) {
    return { kind: 'fork', op: OP.FORK, flags: flagsOf(buf, off), ktime: ktimeOf(buf, off), proc: decodeProc(buf, off + FORK.fields.proc.offset) };
  },
};

const F = FILE.fields;
export const fileDecoder: RecordDecoder<FileRecord> = {
  op: OP.FILE,
  name: 'file',
  minSize: F.resolved.offset,
  decode(buf, off, len) {
    const pathLen = lenIn(buf, off + F.path_len.offset, F.path.size);
    const resolvedLen = Math.min(lenIn(buf, off + F.resolved_len.offset, F.resolved.size), len - F.resolved.offset);
    return {
      kind: 'file',
      op: OP.FILE,
      flags: flagsOf(buf, off),
      ktime: ktimeOf(buf, off),
      proc: decodeProc(buf, off + F.proc.offset),
      ino: readU64(buf, off + F.ino.offset),
      dev: buf.readUInt32LE(off + F.dev.offset),
      openFlags: buf.readUInt32LE(off + F.open_flags.offset),
      ruleId: buf.readUInt32LE(off + F.rule_id.offset),
      action: buf.readUInt8(off + F.action.offset),
      hook: buf.readUInt8(off + F.hook.offset),
      verdict: buf.readUInt8(off + F.verdict.offset),
      mode: buf.readUInt8(off + F.mode.offset),
      ret: buf.readInt32LE(off + F.ret.offset),
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
  decode(buf, off) {
    const family = buf.readUInt8(off + N.family.offset);
    const ip = family === AF_INET6 ? formatIpv6 : formatIpv4;
    return {
      kind: 'connect',
      op: OP.CONNECT,
      flags: flagsOf(buf, off),
      ktime: ktimeOf(buf, off),
      proc: decodeProc(buf, off + N.proc.offset),
      ruleId: buf.readUInt32LE(off + N.rule_id.offset),
      family,
      protocol: buf.readUInt8(off + N.protocol.offset),
      action: buf.readUInt8(off + N.action.offset),
      hook: buf.readUInt8(off + N.hook.offset),
      verdict: buf.readUInt8(off + N.verdict.offset),
      mode: buf.readUInt8(off + N.mode.offset),
      remotePort: buf.readUInt16LE(off + N.remote_port.offset),
      localPort: buf.readUInt16LE(off + N.local_port.offset),
      remoteIp: ip(buf, off + N.remote_ip.offset),
      localIp: ip(buf, off + N.local_ip.offset),
    };
  },
};

/** Every decoder the sensor registers, in op order. */
export const RECORD_DECODERS: readonly RecordDecoder<DecodedRecord>[] = [execDecoder, exitDecoder, forkDecoder, fileDecoder, netDecoder];
