import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { createCgroupResolver, findCgroup2Mount } from '../../src/sensor/cgroup-resolver';

void test('finds the cgroup2 mount in a mounts table (hybrid and unified layouts)', () => {
  assert.equal(
    findCgroup2Mount('tmpfs /sys/fs/cgroup tmpfs rw 0 0\ncgroup2 /sys/fs/cgroup/unified cgroup2 rw 0 0\n'),
    '/sys/fs/cgroup/unified',
  );
  assert.equal(findCgroup2Mount('cgroup2 /sys/fs/cgroup cgroup2 rw 0 0\n'), '/sys/fs/cgroup');
  assert.equal(findCgroup2Mount('proc /proc proc rw 0 0\n'), undefined);
});

void test('ids resolve to paths relative to the root; misses rescan at most once per interval', () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'aegis-cg-'));
  try {
    fs.mkdirSync(path.join(root, 'system.slice', 'a.service'), { recursive: true });
    let now = 0;
    const r = createCgroupResolver({ root, minRescanIntervalMillis: 1000, now: () => now });
    const idA = fs.statSync(path.join(root, 'system.slice', 'a.service')).ino;
    assert.equal(r.resolve(idA), '/system.slice/a.service');
    assert.equal(r.resolve(fs.statSync(root).ino), '/');
    fs.mkdirSync(path.join(root, 'b'));
    const idB = fs.statSync(path.join(root, 'b')).ino;
    assert.equal(r.resolve(idB), '', 'rate limited: no rescan within the interval');
    now = 2000;
    assert.equal(r.resolve(idB), '/b');
    assert.equal(r.stats().rescans, 2);
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
});
