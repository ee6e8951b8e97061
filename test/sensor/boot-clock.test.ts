import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createBootClock } from '../../src/sensor/boot-clock';

void test('ktime + offset formats as RFC 3339 UTC with exactly six fractional digits, exactly', () => {
  // wall = 2026-11-21T10:30:00.123456789Z at ktime 5 s
  const wallNs = BigInt(Date.UTC(2026, 10, 21, 10, 30, 0)) * 1_000_000n + 123_456_789n;
  const clock = createBootClock({ offsetNs: wallNs - 5_000_000_000n });
  assert.equal(clock.format(5_000_000_000), '2026-11-21T10:30:00.123456Z');
  assert.equal(clock.format(5_000_000_000 + 876_543_211), '2026-11-21T10:30:01.000000Z');
  assert.equal(clock.format(5_000_000_000 + 543), '2026-11-21T10:30:00.123457Z', 'floor of 123457.332 us');
  // 100 days of uptime: still exact
  const day100 = 100 * 86_400 * 1e9;
  const c2 = createBootClock({ offsetNs: 0n });
  assert.equal(c2.format(day100 + 1000), '1970-04-11T00:00:00.000001Z');
});

void test('the measured offset puts "now" within a few ms of Date.now()', () => {
  const clock = createBootClock();
  const now = clock.nowMonotonicNs();
  const ts = Date.parse(clock.format(now));
  assert.ok(Math.abs(ts - Date.now()) < 20, `formatted now ${clock.format(now)}`);
});
