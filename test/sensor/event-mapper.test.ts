/**
 * Records -> canonical events: field names, ids, lineage, actions, paths. Uses decoded records built from the ABI
 * (no kernel), so every field mapping is pinned here.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createBootClock } from '../../src/sensor/boot-clock';
import type { CgroupResolver } from '../../src/sensor/cgroup-resolver';
import { createDecoderRegistry } from '../../src/sensor/decoder-registry';
import { createEventMapper } from '../../src/sensor/event-mapper';
import type { BlockEvent, ConnectEvent, ExecEvent, ExitEvent } from '../../src/event/types';
import { createProcessCache } from '../../src/sensor/process-cache';
import type { DecodedRecord } from '../../src/sensor/records';
import { RECORD_DECODERS } from '../../src/sensor/records';
import { batch, execRecord, exitRecord, fileRecord, forkRecord, netRecord } from './record-builder';

const cgroups: CgroupResolver = {
  root: '/sys/fs/cgroup',
  resolve: (id) => (id === 7 ? '/system.slice/app.service' : ''),
  rescan: () => undefined,
  stats: () => ({ entries: 1, rescans: 0, misses: 0 }),
};

function mapAll(records: Buffer[]) {
  const out: DecodedRecord[] = [];
  const b = batch(records);
  createDecoderRegistry<DecodedRecord>(RECORD_DECODERS).decodeBatch(b, b.length, out);
  const mapper = createEventMapper({
    host: 'h1',
    backend: 'tracepoint',
    clock: createBootClock({ offsetNs: 1_700_000_000_000_000_000n }),
    cache: createProcessCache({ proc: { exe: () => '/usr/bin/parent', comm: () => 'parentcomm' } }),
    cgroups,
    rules: { name: (id) => (id === 9 ? 'kill-secret' : undefined) },
    self: { pid: 1, ppid: 0, startTime: 0, comm: 'aegisbpf', exe: '/usr/bin/node', cgid: 1, cgroupPath: '/' },
  });
  return out.map((r) => mapper.map(r)).filter((e) => e !== undefined);
}

const p = {
  pid: 500,
  ppid: 400,
  startTime: 9_007_199_254_740_993n,
  parentStartTime: 3000n,
  cgid: 7n,
  comm: 'tool',
  uid: 1000,
  gid: 1000,
};

void test('exec: identity from exact u64 digits, lineage, exe and args; fork makes no event', () => {
  const [ex] = mapAll([forkRecord({ proc: p }), execRecord({ proc: p, exe: '/opt/tool', args: ['tool', '--x'] })]) as [
    ExecEvent,
  ];
  assert.equal(ex.type, 'exec');
  assert.equal(ex.exec_id, '500:9007199254740993', 'exact digits above 2^53');
  assert.equal(ex.trace_id, ex.exec_id);
  assert.equal(ex.parent_exec_id, '400:3000');
  assert.equal(ex.parent_trace_id, '400:3000');
  assert.equal(ex.parent_comm, 'parentcomm');
  assert.equal(ex.parent_exe, '/usr/bin/parent');
  assert.equal(ex.exe, '/opt/tool');
  assert.deepEqual(ex.args, ['tool', '--x']);
  assert.equal(ex.cgroup_path, '/system.slice/app.service');
  assert.equal(ex.cgid, 7);
  assert.equal(ex.host, 'h1');
  assert.equal(ex.sensor, 'tracepoint');
  assert.equal(ex.hook, 'sched_process_exec');
  assert.match(ex.ts, /^2023-11-14T22:13:2\d\.\d{6}Z$/);
  assert.equal(ex.args_truncated, undefined);
});

void test('exit: code and signal split from the wait status, duration from start_time', () => {
  const q = { ...p, startTime: 1_000_000_000n };
  const [a, b] = mapAll([
    exitRecord({ proc: q, status: 3 << 8, ktime: 3_000_000_000n }),
    exitRecord({ proc: { ...q, pid: 501 }, status: 9 }),
  ]) as [ExitEvent, ExitEvent];
  assert.equal(a.exit_code, 3);
  assert.equal(a.signal, undefined);
  assert.equal(a.duration_ns, 2_000_000_000);
  assert.equal(b.exit_code, 0);
  assert.equal(b.signal, 9);
});

void test('file hit -> block event with action, policy, mode, kernel-encoded dev, both paths', () => {
  const [e] = mapAll([
    fileRecord({
      proc: p,
      path: 'rel/secret',
      resolved: '/home/u/rel/secret',
      ruleId: 9,
      action: 4,
      ino: 12345n,
      dev: (254 << 20) | 1,
    }),
  ]) as [BlockEvent];
  assert.equal(e.type, 'block');
  assert.equal(e.action, 'KILL');
  assert.equal(e.policy, 'kill-secret');
  assert.equal(e.mode, 'enforce');
  assert.equal(e.ino, 12345);
  assert.equal(e.dev, (254 << 20) | 1, 'dev in kernel encoding, as the event schema says');
  assert.equal(e.path, 'rel/secret');
  assert.equal(e.resolved_path, '/home/u/rel/secret');
  assert.equal(e.hook, 'sys_exit_openat');
  const [same] = mapAll([fileRecord({ proc: p, path: '', resolved: '/x', ruleId: 1 })]) as [BlockEvent];
  assert.equal(same.path, '/x');
  assert.equal(same.resolved_path, undefined, 'resolved_path only when it differs');
  assert.equal(same.policy, 'rule#1', 'unknown rule ids are still reported');
});

void test('connect: tuple, protocol name, and action/policy only for rule hits', () => {
  const [plain, hit] = mapAll([
    netRecord({ proc: p, remote: [1, 1, 1, 1], remotePort: 53 }),
    netRecord({ proc: p, remote: [127, 0, 0, 1], remotePort: 8080, action: 2, ruleId: 9 }),
  ]) as [ConnectEvent, ConnectEvent];
  assert.equal(plain.remote_ip, '1.1.1.1');
  assert.equal(plain.protocol, 'tcp');
  assert.equal(plain.direction, 'egress');
  assert.equal(plain.action, undefined);
  assert.equal(plain.policy, undefined);
  assert.equal(hit.action, 'BLOCK');
  assert.equal(hit.policy, 'kill-secret');
  assert.equal(hit.mode, 'enforce');
  assert.equal(hit.hook, 'cgroup/connect4');
});

void test('every event serialises to JSON and back unchanged', () => {
  const events = mapAll([
    forkRecord({ proc: p }),
    execRecord({ proc: p, args: [Buffer.from([0xff, 0x22])] }),
    fileRecord({ proc: p }),
    netRecord({ proc: p }),
    exitRecord({ proc: p }),
  ]);
  for (const e of events) assert.deepEqual(JSON.parse(JSON.stringify(e)), e);
});
