/** The `enforcement_event` log line: which events are enforcements, its fields, and the rate limit with its count. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { AegisEvent } from '../../../src/event/types';
import { createEnforcementLog, isEnforcement } from '../../../src/pipeline/sources/enforcement-log';
import { createLogger } from '../../../src/util/logger';
import { generateEvents } from '../../helpers/events';

const [base] = generateEvents(1);
const block = (over: Record<string, unknown>): AegisEvent => ({
  ...base!,
  type: 'block',
  action: 'KILL',
  ino: 42,
  dev: 2049,
  path: '/etc/shadow',
  mode: 'enforce',
  ...over,
});

void test('enforcements: enforce-mode rule hits other than AUDIT; audit-mode hits and plain events are not', () => {
  assert.equal(isEnforcement(block({})), true);
  assert.equal(isEnforcement(block({ mode: 'audit' })), false);
  assert.equal(isEnforcement(block({ action: 'AUDIT' })), false);
  assert.equal(isEnforcement({ ...base!, mode: 'enforce' }), false, 'an exec is not an enforcement');
});

void test('enforcement_event: the guide’s fields; at most N lines per second, the rest counted and summarized', () => {
  const lines: Record<string, unknown>[] = [];
  let now = 1_000_000;
  const logger = createLogger({
    write: (l) => void lines.push(JSON.parse(l) as Record<string, unknown>),
    now: () => now,
  });
  const log = createEnforcementLog(logger, { maxPerSecond: 5, now: () => now });
  log.observe(Array.from({ length: 12 }, () => block({})));
  const events = lines.filter((l) => l.msg === 'enforcement_event');
  assert.equal(events.length, 5);
  assert.deepEqual(
    Object.keys(events[0]!).sort(),
    ['action', 'cgroup', 'comm', 'inode', 'level', 'msg', 'path', 'pid', 'timestamp', 'ts', 'uid'].sort(),
  );
  assert.equal(events[0]!.inode, '2049:42');
  assert.equal(events[0]!.level, 'INFO');
  assert.equal(log.suppressedTotal(), 7);
  const summary = lines.filter((l) => l.msg === 'enforcement_event lines suppressed');
  assert.equal(summary.length, 1, 'one summary per 10 s at most');
  // One second later the bucket holds 5 again.
  now += 1000;
  log.observe(Array.from({ length: 5 }, () => block({})));
  assert.equal(log.loggedTotal(), 10);
});
