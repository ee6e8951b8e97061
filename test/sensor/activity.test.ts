/**
 * The activity counters on the real kernel: a child that makes a known number of system calls (100 000 getppid, plus
 * Python's start-up) is counted within that bound, with the sensor's exec_id, and the activity source yields it as an
 * event. Skipped with the reason where BPF is unavailable (not root, no BTF, no addon).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { isValidEvent } from '../../src/event/validate';
import { ACTIVITY_IDENT_LAYOUT, ACTIVITY_VALUE_LAYOUT, openActivityCollector } from '../../src/sensor/activity';
import { NATIVE_PATHS } from '../../src/native/binding';
import fs from 'node:fs';
import { activityEvents, createActivitySource, parseActivityOptions } from '../../src/pipeline/sources/activity';
import type { ActivityEvent } from '../../src/event/types';
import { skipUnlessKernel } from './helpers';

const CALLS = 100_000;
/** Python's own start-up and exit, measured at about 2 400 syscalls; generous so a slower host still passes. */
const STARTUP_ALLOWANCE = 20_000;

function busyChild(): number {
  const r = spawnSync(
    'python3',
    ['-c', `import os\nprint(os.getpid(), flush=True)\nfor _ in range(${CALLS}): os.getppid()`],
    {
      encoding: 'utf8',
    },
  );
  assert.equal(r.status, 0, r.stderr);
  return Number(r.stdout.trim());
}

test('a child making 100 000 syscalls is counted within its start-up allowance, with its exact start time', (t) => {
  if (skipUnlessKernel(t)) return;
  if (spawnSync('python3', ['--version']).status !== 0) return t.skip('python3 is not installed');
  const c = openActivityCollector({ blockIo: true });
  try {
    c.read();
    const pid = busyChild();
    const rows = c.read();
    const mine = rows.find((r) => r.pid === pid);
    assert.ok(mine !== undefined, `pid ${pid} not counted`);
    assert.ok(mine.syscalls >= CALLS && mine.syscalls <= CALLS + STARTUP_ALLOWANCE, String(mine.syscalls));
    assert.match(mine.comm, /^python3/, 'the command name after exec (python3, or python3.N behind a version shim)');
    assert.equal(mine.ppid, process.pid);
    assert.ok(BigInt(mine.startTime) > 0n);
    // Read again: the child is gone and did nothing since, so it is not reported and its entry is deleted.
    assert.equal(
      c.read().find((r) => r.pid === pid),
      undefined,
    );
    const events = activityEvents(c, parseActivityOptions({}), 'h', Date.now(), 1000);
    for (const e of events) assert.ok(isValidEvent(e), JSON.stringify(e));
  } finally {
    c.close();
  }
});

test('the activity source yields the child as a valid activity event with exec_id <pid>:<start_time>', async (t) => {
  if (skipUnlessKernel(t)) return;
  if (spawnSync('python3', ['--version']).status !== 0) return t.skip('python3 is not installed');
  const stop = new AbortController();
  let pid = 0;
  let slept = 0;
  const src = createActivitySource(parseActivityOptions({ interval: 10, max_processes: 16384 }), {
    name: 'activity',
    hostname: 'h',
    sleep: () => {
      // Between the baseline and the first interval: the child runs.
      if (slept++ === 0) pid = busyChild();
      return Promise.resolve(!stop.signal.aborted);
    },
  });
  let found: ActivityEvent | undefined;
  for await (const chunk of src.read(stop.signal)) {
    found = (chunk as ActivityEvent[]).find((e) => e.pid === pid);
    stop.abort();
  }
  assert.ok(found !== undefined);
  assert.ok(isValidEvent(found), JSON.stringify(found));
  assert.ok(found.syscalls >= CALLS && found.syscalls <= CALLS + STARTUP_ALLOWANCE);
  assert.equal(found.exec_id, `${pid}:${found.start_time}`);
  assert.ok(found.io_ops !== undefined, 'block I/O counted where the tracepoints exist');
});

test('the TS layouts match struct aegis_activity and aegis_activity_ident in the BTF of bpf/build/activity.bpf.o', (t) => {
  if (!fs.existsSync(NATIVE_PATHS.activityObject)) return t.skip(`${NATIVE_PATHS.activityObject} is not built`);
  const r = spawnSync(
    process.env.BPFTOOL ?? 'bpftool',
    ['btf', 'dump', 'file', NATIVE_PATHS.activityObject, 'format', 'raw', '-j'],
    {
      encoding: 'utf8',
      maxBuffer: 64 << 20,
    },
  );
  if (r.error !== undefined || r.status !== 0)
    return t.skip(`bpftool unavailable (${r.error?.message ?? r.stderr.trim()})`);
  const types = (
    JSON.parse(r.stdout) as {
      types: { kind: string; name?: string; size?: number; members?: { name: string; bits_offset: number }[] }[];
    }
  ).types;
  for (const layout of [ACTIVITY_VALUE_LAYOUT, ACTIVITY_IDENT_LAYOUT]) {
    const s = types.find((x) => x.kind === 'STRUCT' && x.name === layout.cName);
    assert.ok(s !== undefined, `struct ${layout.cName} in the BTF`);
    assert.equal(s.size, layout.size, layout.cName);
    assert.deepEqual(Object.fromEntries(s.members!.map((m) => [m.name, m.bits_offset / 8])), layout.offsets);
  }
});
