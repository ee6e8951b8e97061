import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createProcessSampler } from '../../src/telemetry/process-usage';

test('CPU percent is CPU time over wall time since the previous sample, held for at least minIntervalMillis', () => {
  let now = 0;
  let cpu = 0;
  let rss = 123;
  const s = createProcessSampler({ minIntervalMillis: 1000, now: () => now, cpuMicros: () => cpu, rss: () => rss });
  now = 2000;
  cpu = 500_000; // 0.5 s of CPU in 2 s
  assert.deepEqual(s.sample(), { cpuPercent: 25, rssBytes: 123 });
  now = 2500;
  cpu = 1_000_000; // too soon: previous values kept (RSS too: not read again)
  rss = 456;
  assert.deepEqual(s.sample(), { cpuPercent: 25, rssBytes: 123 });
  now = 4000;
  cpu = 3_500_000; // 3 s of CPU over 2 s since the last sample: two threads busy
  assert.deepEqual(s.sample(), { cpuPercent: 150, rssBytes: 456 });
});

test('the real sampler measures this process: RSS, and CPU time over wall time as the process itself sees it', () => {
  const s = createProcessSampler({ minIntervalMillis: 0 });
  const cpu = (): number => {
    const u = process.cpuUsage();
    return (u.user + u.system) / 1000;
  };
  s.sample();
  const wall0 = performance.now();
  const cpu0 = cpu();
  // Burn at least 100 ms of CPU (not of wall time: on a loaded machine this process is descheduled).
  let x = 0;
  while (cpu() - cpu0 < 100) x += Math.sqrt(x + 1);
  const cpu1 = cpu();
  const wall1 = performance.now();
  const u = s.sample();
  const wall2 = performance.now();
  const cpu2 = cpu();
  // The sampler's interval lies between [wall0, wall1] and [previous sample, wall2]: bracket its expected value.
  const low = ((cpu1 - cpu0) / (wall2 - wall0 + 1)) * 100 * 0.9;
  const high = ((cpu2 - cpu0 + 5) / (wall1 - wall0)) * 100 * 1.1;
  assert.ok(
    u.cpuPercent >= low && u.cpuPercent <= high,
    `measured ${u.cpuPercent}%, expected between ${low} and ${high} (x=${x})`,
  );
  assert.ok(u.rssBytes > 1 << 20, `rss ${u.rssBytes}`);
});
