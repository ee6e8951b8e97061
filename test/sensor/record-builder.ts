/**
 * Builds raw kernel records and ring batches from the ABI layouts, for decode tests. Writes through the same
 * offsets the decoders read (src/sensor/abi.ts), which test/sensor/layout-btf.test.ts ties to the C structs.
 */
import type { StructLayout } from '../../src/sensor/abi';
import { EXEC, EXIT, FILE, FORK, FRAME_HEADER_BYTES, HDR, NET, OP, PROC } from '../../src/sensor/abi';

export interface ProcInit {
  pid?: number;
  tid?: number;
  ppid?: number;
  uid?: number;
  gid?: number;
  startTime?: bigint;
  parentStartTime?: bigint;
  cgid?: bigint;
  comm?: Buffer | string;
}

function field(layout: StructLayout, name: string): { offset: number; size: number } {
  const f = layout.fields[name];
  if (f === undefined) throw new Error(`${layout.cName}.${name}`);
  return f;
}

function writeHdr(buf: Buffer, op: number, size: number, ktime: bigint, flags = 0): void {
  buf.writeUInt16LE(op, HDR.fields.op.offset);
  buf.writeUInt16LE(flags, HDR.fields.flags.offset);
  buf.writeUInt32LE(size, HDR.fields.size.offset);
  buf.writeBigUInt64LE(ktime, HDR.fields.ktime.offset);
}

function writeProc(buf: Buffer, base: number, p: ProcInit): void {
  const F = PROC.fields;
  buf.writeUInt32LE(p.pid ?? 1000, base + F.pid.offset);
  buf.writeUInt32LE(p.tid ?? p.pid ?? 1000, base + F.tid.offset);
  buf.writeUInt32LE(p.ppid ?? 1, base + F.ppid.offset);
  buf.writeUInt32LE(p.uid ?? 0, base + F.uid.offset);
  buf.writeUInt32LE(p.gid ?? 0, base + F.gid.offset);
  buf.writeBigUInt64LE(p.startTime ?? 5_000_000_000n, base + F.start_time.offset);
  buf.writeBigUInt64LE(p.parentStartTime ?? 1_000_000n, base + F.parent_start_time.offset);
  buf.writeBigUInt64LE(p.cgid ?? 1n, base + F.cgid.offset);
  const comm = typeof p.comm === 'string' ? Buffer.from(p.comm) : (p.comm ?? Buffer.from('test'));
  comm.copy(buf, base + F.comm.offset, 0, Math.min(comm.length, F.comm.size - 1));
}

function bytes(v: Buffer | string): Buffer {
  return typeof v === 'string' ? Buffer.from(v) : v;
}

export function execRecord(o: {
  proc?: ProcInit;
  ktime?: bigint;
  flags?: number;
  filename?: Buffer | string;
  exe?: Buffer | string;
  args?: (Buffer | string)[];
  exeIno?: bigint;
  exeDev?: number;
}): Buffer {
  const args = Buffer.concat((o.args ?? ['/bin/true']).flatMap((a) => [bytes(a), Buffer.from([0])]));
  const size = EXEC.fields.args.offset + args.length;
  const buf = Buffer.alloc(size);
  writeHdr(buf, OP.EXEC, size, o.ktime ?? 6_000_000_000n, o.flags);
  writeProc(buf, EXEC.fields.proc.offset, o.proc ?? {});
  buf.writeBigUInt64LE(o.exeIno ?? 42n, EXEC.fields.exe_ino.offset);
  buf.writeUInt32LE(o.exeDev ?? 254 << 20, EXEC.fields.exe_dev.offset);
  const filename = bytes(o.filename ?? '/bin/true');
  const exe = bytes(o.exe ?? '/usr/bin/true');
  buf.writeUInt16LE(filename.length, EXEC.fields.filename_len.offset);
  buf.writeUInt16LE(exe.length, EXEC.fields.exe_len.offset);
  buf.writeUInt16LE(args.length, EXEC.fields.args_len.offset);
  buf.writeUInt16LE(o.args?.length ?? 1, EXEC.fields.argc.offset);
  filename.copy(buf, EXEC.fields.filename.offset);
  exe.copy(buf, EXEC.fields.exe.offset);
  args.copy(buf, EXEC.fields.args.offset);
  return buf;
}

export function exitRecord(o: { proc?: ProcInit; ktime?: bigint; status?: number }): Buffer {
  const buf = Buffer.alloc(EXIT.size);
  writeHdr(buf, OP.EXIT, EXIT.size, o.ktime ?? 7_000_000_000n);
  writeProc(buf, EXIT.fields.proc.offset, o.proc ?? {});
  buf.writeUInt32LE(o.status ?? 0, field(EXIT, 'exit_code').offset);
  return buf;
}

export function forkRecord(o: { proc?: ProcInit; ktime?: bigint }): Buffer {
  const buf = Buffer.alloc(FORK.size);
  writeHdr(buf, OP.FORK, FORK.size, o.ktime ?? 5_500_000_000n);
  writeProc(buf, FORK.fields.proc.offset, o.proc ?? {});
  return buf;
}

export function fileRecord(o: {
  proc?: ProcInit;
  ktime?: bigint;
  path?: Buffer | string;
  resolved?: Buffer | string;
  ino?: bigint;
  dev?: number;
  ruleId?: number;
  action?: number;
  hook?: number;
  mode?: number;
  flags?: number;
}): Buffer {
  const resolved = bytes(o.resolved ?? '/tmp/x');
  const size = FILE.fields.resolved.offset + resolved.length + 1;
  const buf = Buffer.alloc(size);
  writeHdr(buf, OP.FILE, size, o.ktime ?? 6_500_000_000n, o.flags);
  writeProc(buf, FILE.fields.proc.offset, o.proc ?? {});
  buf.writeBigUInt64LE(o.ino ?? 77n, FILE.fields.ino.offset);
  buf.writeUInt32LE(o.dev ?? 254 << 20, FILE.fields.dev.offset);
  buf.writeUInt32LE(0o100000, FILE.fields.open_flags.offset);
  buf.writeUInt32LE(o.ruleId ?? 9, FILE.fields.rule_id.offset);
  buf.writeUInt8(o.action ?? 4, FILE.fields.action.offset);
  buf.writeUInt8(o.hook ?? 5, FILE.fields.hook.offset);
  buf.writeUInt8(2, FILE.fields.verdict.offset);
  buf.writeUInt8(o.mode ?? 1, FILE.fields.mode.offset);
  buf.writeInt32LE(3, FILE.fields.ret.offset);
  const p = bytes(o.path ?? '');
  buf.writeUInt16LE(p.length, FILE.fields.path_len.offset);
  buf.writeUInt16LE(resolved.length, FILE.fields.resolved_len.offset);
  p.copy(buf, FILE.fields.path.offset);
  resolved.copy(buf, FILE.fields.resolved.offset);
  return buf;
}

export function netRecord(o: {
  proc?: ProcInit;
  ktime?: bigint;
  family?: number;
  remote?: number[];
  local?: number[];
  remotePort?: number;
  localPort?: number;
  action?: number;
  ruleId?: number;
  hook?: number;
}): Buffer {
  const buf = Buffer.alloc(NET.size);
  writeHdr(buf, OP.CONNECT, NET.size, o.ktime ?? 6_600_000_000n);
  writeProc(buf, NET.fields.proc.offset, o.proc ?? {});
  buf.writeUInt32LE(o.ruleId ?? 0, NET.fields.rule_id.offset);
  buf.writeUInt8(o.family ?? 2, NET.fields.family.offset);
  buf.writeUInt8(6, NET.fields.protocol.offset);
  buf.writeUInt8(o.action ?? 0, NET.fields.action.offset);
  buf.writeUInt8(o.hook ?? 11, NET.fields.hook.offset);
  buf.writeUInt8(1, NET.fields.mode.offset);
  buf.writeUInt16LE(o.remotePort ?? 443, NET.fields.remote_port.offset);
  buf.writeUInt16LE(o.localPort ?? 0, NET.fields.local_port.offset);
  Buffer.from(o.remote ?? [10, 0, 0, 1]).copy(buf, NET.fields.remote_ip.offset);
  Buffer.from(o.local ?? [0, 0, 0, 0]).copy(buf, NET.fields.local_ip.offset);
  return buf;
}

/** Frames records the way native/src/ring-reader.cc does: [u32 len][u32 0][record][pad to 8]. */
export function batch(records: readonly Buffer[]): Buffer {
  const parts: Buffer[] = [];
  for (const r of records) {
    const head = Buffer.alloc(FRAME_HEADER_BYTES);
    head.writeUInt32LE(r.length, 0);
    parts.push(head, r, Buffer.alloc(((r.length + 7) & ~7) - r.length));
  }
  return Buffer.concat(parts);
}
