import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ProcReader } from '../../src/sensor/process-cache';
import { createProcessCache } from '../../src/sensor/process-cache';
import type { ExecRecord, ProcFields } from '../../src/sensor/records';

const proc = (pid: number, startTime: number, ppid = 1, parentStartTime = 10, comm = 'p'): ProcFields => ({
  pid,
  tid: pid,
  ppid,
  uid: 0,
  gid: 0,
  startTime,
  startTimeExact: undefined,
  parentStartTime,
  parentStartTimeExact: undefined,
  cgid: 1,
  comm,
});

const noProc: ProcReader = { exe: () => '', comm: () => '' };

const exec = (p: ProcFields, exe: string, args: string[]): ExecRecord => ({
  kind: 'exec',
  op: 1,
  flags: 0,
  ktime: p.startTime + 1,
  proc: p,
  exeIno: 1,
  exeDev: 1,
  argc: args.length,
  filename: exe,
  exe,
  args,
});

void test('fork inherits the parent image, exec replaces it, exit evicts', () => {
  const c = createProcessCache({ proc: noProc });
  c.onExec(exec(proc(100, 1000, 1, 10, 'bash'), '/bin/bash', ['bash']), false);
  const child = c.onFork(proc(101, 2000, 100, 1000, 'bash'));
  assert.equal(child.exe, '/bin/bash');
  assert.equal(child.execId, '101:2000');
  assert.equal(child.parentExecId, '100:1000');
  const after = c.onExec(exec(proc(101, 2000, 100, 1000, 'ls'), '/bin/ls', ['ls', '-l']), false);
  assert.equal(after.exe, '/bin/ls');
  assert.deepEqual(after.args, ['ls', '-l']);
  assert.equal(c.get(101)?.exe, '/bin/ls');
  const gone = c.onExit(proc(101, 2000, 100, 1000, 'ls'));
  assert.equal(gone.exe, '/bin/ls');
  assert.equal(c.get(101), undefined, 'evicted on exit');
  assert.equal(c.stats().evictedExit, 1);
});

void test('a reused pid is a different process (identity is pid + start_time)', () => {
  const c = createProcessCache({ proc: { exe: (pid) => `/proc-exe/${pid}`, comm: () => 'x' } });
  c.onExec(exec(proc(200, 1, 1, 10), '/old', []), false);
  const reused = c.observe(proc(200, 999));
  assert.equal(reused.execId, '200:999');
  assert.equal(reused.exe, '/proc-exe/200', 'unknown process: exe from /proc');
  const exitOfOld = c.onExit(proc(200, 1));
  assert.equal(exitOfOld.exe, '', 'the old process is not confused with the new one');
  assert.equal(c.get(200)?.startTime, 999);
});

void test('parents unknown to the cache come from the record identity plus /proc, and are completed by their own records', () => {
  const c = createProcessCache({ proc: { exe: () => '/usr/sbin/sshd', comm: () => 'sshd' } });
  const parent = c.parentOf(proc(300, 50, 42, 5));
  assert.equal(parent?.execId, '42:5');
  assert.equal(parent?.comm, 'sshd');
  const own = c.observe(proc(42, 5, 1, 2, 'sshd'));
  assert.equal(own.parentExecId, '1:2', 'completed from its own record');
});

void test('bounded: the oldest entry goes when full, and is counted', () => {
  const c = createProcessCache({ maxEntries: 3, proc: noProc });
  for (let pid = 1; pid <= 5; pid++) c.onFork(proc(pid, pid * 10));
  assert.equal(c.stats().size, 3);
  assert.equal(c.stats().evictedFull, 2);
  assert.equal(c.get(1), undefined);
  assert.equal(c.get(5)?.pid, 5);
});
