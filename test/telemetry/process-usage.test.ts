import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createProcessSampler } from '../../src/telemetry/process-usage';

test('CPU percent is CPU time over wall time since the previous sample, held for at least minIntervalMillis', () => {
  let now = 0;
  let cpu = 0;
  const s = createProcessSampler({ minIntervalMillis: 1000, now: () => now, cpuMicros: () => cpu, rss: () => 123 });
  now = 2000;
  cpu = 500_000; // 0.5 s of CPU in 2 s
  assert.deepEqual(s.sample(), { cpuPercent: 25, rssBytes: 123 });
  now = 2500;
  cpu = 1_000_000; // too soon: previous value kept
  assert.equal(s.sample().cpuPercent, 25);
  now = 4000;
  cpu = 3_500_000; // 3 s of CPU over 2 s since the last sample: two threads busy
  assert.equal(s.sample().cpuPercent, 150);
});

test('the real sampler reports this process: RSS > 0 and a CPU percent that rises with work', () => {
  const s = createProcessSampler({ minIntervalMillis: 0 });
  s.sample();
  const until = Date.now() + 200;
  let x = 0;
  while (Date.now() < until) x += Math.sqrt(x + 1);
  const u = s.sample();
  assert.ok(u.rssBytes > 1 << 20, `rss ${u.rssBytes}`);
  assert.ok(u.cpuPercent > 30, `busy loop for 200 ms measured ${u.cpuPercent}% (x=${x})`);
});
