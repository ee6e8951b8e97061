import assert from 'node:assert/strict';
import { test } from 'node:test';
import { OP, OP_MAX } from '../../src/sensor/abi';
import { createDecoderRegistry } from '../../src/sensor/decoder-registry';
import type { DecodedRecord, ExecRecord, FileRecord, NetRecord } from '../../src/sensor/records';
import { RECORD_DECODERS, startTimeText } from '../../src/sensor/records';
import { batch, execRecord, exitRecord, fileRecord, forkRecord, netRecord } from './record-builder';

const registry = () => createDecoderRegistry<DecodedRecord>(RECORD_DECODERS);

void test('every op decodes its record; a batch is decoded in order', () => {
  const r = registry();
  const out: DecodedRecord[] = [];
  const proc = {
    pid: 4242,
    ppid: 1,
    comm: 'worker',
    startTime: 123_456_789n,
    parentStartTime: 42n,
    cgid: 7n,
    uid: 1000,
    gid: 100,
  };
  const b = batch([
    forkRecord({ proc }),
    execRecord({ proc, filename: './run.sh', exe: '/usr/bin/bash', args: ['bash', 'run.sh', ''] }),
    fileRecord({ proc, path: 'secret', resolved: '/home/u/secret', ruleId: 99, action: 4 }),
    netRecord({ proc, remote: [192, 168, 1, 2], remotePort: 8443, action: 2, ruleId: 5 }),
    exitRecord({ proc, status: 3 << 8 }),
  ]);
  assert.equal(r.decodeBatch(b, b.length, out), 5);
  assert.deepEqual(
    out.map((x) => x.kind),
    ['fork', 'exec', 'file', 'connect', 'exit'],
  );
  for (const x of out) {
    assert.equal(x.proc.pid, 4242);
    assert.equal(x.proc.comm, 'worker');
    assert.equal(x.proc.startTime, 123_456_789);
    assert.equal(startTimeText(x.proc), '123456789');
    assert.equal(x.proc.cgid, 7);
    assert.equal(x.proc.uid, 1000);
  }
  const ex = out[1] as ExecRecord;
  assert.equal(ex.filename, './run.sh');
  assert.equal(ex.exe, '/usr/bin/bash');
  assert.deepEqual(ex.args, ['bash', 'run.sh', '']);
  const f = out[2] as FileRecord;
  assert.equal(f.path, 'secret');
  assert.equal(f.resolved, '/home/u/secret');
  assert.equal(f.ruleId, 99);
  assert.equal(f.action, 4);
  const n = out[3] as NetRecord;
  assert.equal(n.remoteIp, '192.168.1.2');
  assert.equal(n.remotePort, 8443);
  assert.equal(r.stats().malformed, 0);
  assert.equal(r.stats().unknownTotal, 0);
  assert.equal(r.stats().decoded[OP.EXEC], 1);
});

void test('unknown op codes are counted per op and skipped, never thrown', () => {
  const r = registry();
  const unknown = forkRecord({});
  unknown.writeUInt16LE(6, 0); // an op this decoder does not know (a newer kernel object)
  const huge = forkRecord({});
  huge.writeUInt16LE(60000, 0);
  const out: DecodedRecord[] = [];
  const b = batch([unknown, forkRecord({}), huge, unknown]);
  assert.equal(r.decodeBatch(b, b.length, out), 1);
  const s = r.stats();
  assert.equal(s.unknownTotal, 3);
  assert.equal(s.unknownOps[6], 2);
  assert.equal(s.unknownOps[OP_MAX], 1);
});

void test('malformed frames are counted and skipped: short records, sizes beyond the frame, truncated batches', () => {
  const r = registry();
  const out: DecodedRecord[] = [];
  const short = exitRecord({}).subarray(0, 40); // shorter than struct aegis_exit_rec
  const lying = exitRecord({});
  lying.writeUInt32LE(4096, 4); // header claims more than the frame holds
  const good = exitRecord({});
  const b = batch([short, lying, good, Buffer.alloc(4)]);
  assert.equal(r.decodeBatch(b, b.length - 3, out), 1); // last frame cut
  assert.equal(out[0]?.kind, 'exit');
  assert.equal(r.stats().malformed, 3);
});

void test('corrupt string lengths never read outside their field', () => {
  const rec = execRecord({ filename: 'abc', exe: 'def', args: ['x'] });
  rec.writeUInt16LE(65535, 92); // filename_len
  rec.writeUInt16LE(65535, 96); // args_len
  const out: DecodedRecord[] = [];
  registry().decodeBatch(batch([rec]), batch([rec]).length, out);
  const ex = out[0] as ExecRecord;
  assert.equal(ex.filename.length, 255);
  assert.deepEqual(ex.args, ['x']);
});

void test('attacker bytes in comm, paths and args decode deterministically and stay JSON-safe', () => {
  const bad = Buffer.from([0x2f, 0xff, 0xfe, 0x0a, 0x22, 0x5c]);
  const out: DecodedRecord[] = [];
  const b = batch([
    execRecord({
      proc: { comm: Buffer.from([0xc3, 0x28, 0x41]) },
      filename: bad,
      exe: bad,
      args: [bad, Buffer.from([0xe2, 0x82])],
    }),
  ]);
  registry().decodeBatch(b, b.length, out);
  const ex = out[0] as ExecRecord;
  assert.equal(ex.proc.comm, '\uFFFD(A');
  assert.equal(ex.filename, '/\uFFFD\uFFFD\n"\\');
  assert.deepEqual(ex.args, ['/\uFFFD\uFFFD\n"\\', '\uFFFD']);
  assert.deepEqual(JSON.parse(JSON.stringify(ex)), JSON.parse(JSON.stringify(ex)));
});

void test('IPv6 connect records format the address', () => {
  const out: DecodedRecord[] = [];
  const v6 = netRecord({ family: 10, remote: [...Buffer.from('20010db8000000000000000000000001', 'hex')], hook: 12 });
  const b = batch([v6]);
  registry().decodeBatch(b, b.length, out);
  assert.equal((out[0] as NetRecord).remoteIp, '2001:db8::1');
});

void test('a registry refuses duplicate and out-of-range ops', () => {
  const r = registry();
  assert.throws(
    () => r.register({ op: OP.EXEC, name: 'again', minSize: 16, decode: () => ({}) as DecodedRecord }),
    /already has a decoder/,
  );
  assert.throws(
    () => r.register({ op: OP_MAX, name: 'big', minSize: 16, decode: () => ({}) as DecodedRecord }),
    RangeError,
  );
});
