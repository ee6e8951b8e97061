import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  eventClassId,
  eventName,
  eventTime,
  isEnforcement,
  ocsfSeverityId,
  processStart,
  severityOf,
  syslogSeverity,
} from '../../src/formatters/common';
import type { AegisEvent } from '../../src/event/types';
import { goldenCases } from './golden';

const byName = new Map(goldenCases().map((c) => [c.name, c.event]));
const ev = (name: string): AegisEvent => byName.get(name)!;

test('severity ranks enforcement above observation and KILL above TERM above BLOCK above AUDIT above exec', () => {
  const kill = { ...ev('block-audit'), action: 'KILL' } as AegisEvent;
  const term = { ...ev('block-audit'), action: 'TERM' } as AegisEvent;
  const block = { ...ev('block-audit'), action: 'BLOCK' } as AegisEvent;
  const order = [kill, term, block, ev('block-audit'), ev('exec-minimal'), ev('exit-signal')].map(severityOf);
  assert.deepEqual(
    order,
    [...order].sort((a, b) => b - a),
  );
  assert.ok(new Set(order.slice(0, 4)).size === 4);
  for (const e of byName.values()) {
    const s = severityOf(e);
    assert.ok(s >= 0 && s <= 10);
    assert.ok(syslogSeverity(e) >= 0 && syslogSeverity(e) <= 7);
    assert.ok(ocsfSeverityId(e) >= 1 && ocsfSeverityId(e) <= 5);
  }
  assert.ok(syslogSeverity(kill) < syslogSeverity(ev('exec-minimal')), 'syslog: lower number is more severe');
});

test('class ids and names are stable and low-cardinality', () => {
  assert.equal(eventClassId(ev('block-kill-adversarial')), 'block:KILL');
  assert.equal(eventClassId(ev('connect-ipv4')), 'connect');
  assert.equal(eventClassId(ev('connect-ipv6-block')), 'connect:BLOCK');
  assert.equal(eventClassId(ev('sensor-started')), 'sensor:started');
  assert.equal(eventName(ev('block-kill-adversarial')), 'Process killed on file access');
  assert.equal(isEnforcement(ev('block-audit')), false);
  assert.equal(isEnforcement(ev('connect-ipv6-block')), true);
});

test('event time and process start conversions', () => {
  assert.deepEqual(eventTime(ev('exec-minimal')), {
    millis: Date.parse('2026-11-21T10:30:00.123Z'),
    micros: BigInt(Date.parse('2026-11-21T10:30:00.123Z')) * 1000n + 456n,
  });
  assert.deepEqual(processStart(ev('exec-full'), undefined), {
    iso: '2026-11-21T09:00:00.000001Z',
    millis: Date.parse('2026-11-21T09:00:00.000Z'),
  });
  assert.equal(processStart(ev('exec-minimal'), undefined), undefined, 'no invented datetimes');
  const boot = BigInt(Date.parse('2026-11-20T00:00:00Z')) * 1_000_000n;
  assert.deepEqual(processStart(ev('exec-minimal'), boot), {
    iso: '2026-11-20T00:16:27.654321Z',
    millis: Date.parse('2026-11-20T00:16:27.654Z'),
  });
});
