import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import fc from 'fast-check';
import type { AegisEvent, EventOf } from '../../src/event/types';
import { EVENT_SCHEMA_PATH } from '../../src/event/validate';
import {
  baseName,
  commandLine,
  EVENT_SCHEMA_VERSION,
  eventMillis,
  eventOutcome,
  eventTime,
  networkEndpoints,
  parentProcessStart,
  processStart,
  protocolNumber,
} from '../../src/formatters/common';
import { parseTimestampMicros } from '../../src/util/time';
import { adversarialEvent } from '../helpers/adversarial';
import { goldenCases } from './golden';

const ev = (name: string): AegisEvent => goldenCases().find((c) => c.name === name)!.event;

test('EVENT_SCHEMA_VERSION is the published event schema version', () => {
  const schema = JSON.parse(fs.readFileSync(EVENT_SCHEMA_PATH, 'utf8')) as Record<string, unknown>;
  assert.equal(EVENT_SCHEMA_VERSION, schema['x-aegisbpf-schema-version']);
});

test('eventMillis agrees with eventTime for any timestamp, in any order (its cache never leaks) (property)', () => {
  fc.assert(
    fc.property(
      fc.array(
        adversarialEvent.map((e) => e.ts),
        { minLength: 1, maxLength: 8 },
      ),
      fc.constantFrom('', 'x', '2026-11-21T10:30:00Z', '2026-11-21T10:30:00.5+01:00'),
      (stamps, odd) => {
        for (const ts of [...stamps, odd, ...stamps.reverse()]) {
          const e = { ...ev('exec-minimal'), ts } as AegisEvent;
          assert.equal(eventMillis(e), eventTime(e).millis, ts);
        }
      },
    ),
    { numRuns: 300 },
  );
});

test('processStart/parentProcessStart fast path agrees with the exact parse for any start_ts (property)', () => {
  const stamp = fc.oneof(
    adversarialEvent.map((e) => e.ts),
    fc.constantFrom(
      '2026-11-21T10:30:00.123Z',
      '2026-11-21T10:30:00Z',
      '2026-02-30T10:30:00.123456Z',
      '2026-11-21T10:30:00.12345xZ',
      '2026-11-21 10:30:00.123456Z',
    ),
  );
  fc.assert(
    fc.property(fc.array(stamp, { minLength: 1, maxLength: 6 }), (stamps) => {
      for (const ts of stamps) {
        const micros = parseTimestampMicros(ts);
        const expected = micros === undefined ? undefined : { iso: ts, millis: Number(micros / 1000n) };
        assert.deepEqual(processStart({ ...ev('exec-minimal'), start_ts: ts }, undefined), expected, ts);
        assert.deepEqual(parentProcessStart({ ...ev('exec-minimal'), parent_start_ts: ts }, undefined), expected, ts);
      }
    }),
    { numRuns: 300 },
  );
});

test('outcome: BLOCK fails the syscall; AUDIT and signals do not undo it; exec succeeded; exit and sensor have none', () => {
  const block = ev('block-audit') as EventOf<'block'>;
  assert.equal(eventOutcome(block), 'success');
  assert.equal(eventOutcome({ ...block, action: 'BLOCK' }), 'failure');
  assert.equal(eventOutcome({ ...block, action: 'KILL' }), 'success');
  assert.equal(eventOutcome(ev('connect-ipv6-block')), 'failure');
  assert.equal(eventOutcome(ev('connect-ipv4')), 'success');
  assert.equal(eventOutcome(ev('exec-minimal')), 'success');
  assert.equal(eventOutcome(ev('exit-signal')), undefined);
  assert.equal(eventOutcome(ev('sensor-started')), undefined);
});

test('network endpoints: source is the initiator (local for egress and unknown direction, remote for ingress)', () => {
  const out = ev('connect-ipv4') as EventOf<'connect'>;
  assert.deepEqual(networkEndpoints(out), {
    source: { ip: '10.0.0.5', port: 51234 },
    destination: { ip: '93.184.215.14', port: 443 },
  });
  const { direction: _d, ...noDirection } = out;
  assert.deepEqual(networkEndpoints(noDirection as EventOf<'connect'>).source.ip, '10.0.0.5');
  const inbound = ev('connect-ingress') as EventOf<'connect'>;
  assert.deepEqual(networkEndpoints(inbound), {
    source: { ip: '198.51.100.7', port: 50022 },
    destination: { ip: '192.0.2.10', port: 22 },
  });
});

test('protocol numbers, command line, base name', () => {
  assert.deepEqual(['tcp', 'UDP', '132', 'icmp', '256', 'bogus'].map(protocolNumber), [
    6,
    17,
    132,
    1,
    undefined,
    undefined,
  ]);
  assert.equal(commandLine(ev('exec-full')), 'nginx -g daemon off;');
  assert.equal(commandLine(ev('exec-minimal')), undefined);
  assert.equal(commandLine(ev('exit-code')), undefined, 'empty args: no command line');
  assert.deepEqual(['/usr/bin/curl', 'curl', '/', '', '/tmp/dir/', '/a|b/c=d'].map(baseName), [
    'curl',
    'curl',
    '',
    '',
    'dir',
    'c=d',
  ]);
});

test('parent process start: parent_start_ts, else boot + parent_start_time, else nothing', () => {
  assert.deepEqual(parentProcessStart(ev('exec-full'), undefined), {
    iso: '2026-11-21T08:59:59.999999Z',
    millis: Date.parse('2026-11-21T08:59:59.999Z'),
  });
  assert.equal(parentProcessStart(ev('block-audit'), undefined), undefined);
  assert.equal(parentProcessStart(ev('exec-minimal'), 1n), undefined, 'no parent_start_time: nothing to convert');
  const boot = BigInt(Date.parse('2026-11-20T00:00:00Z')) * 1_000_000n;
  assert.deepEqual(parentProcessStart(ev('block-audit'), boot), {
    iso: '2026-11-20T00:16:27.000000Z',
    millis: Date.parse('2026-11-20T00:16:27.000Z'),
  });
  // The same conversion as processStart() for the process itself.
  const e = { ...ev('block-audit'), start_time: 987_000_000_000 } as AegisEvent;
  assert.deepEqual(parentProcessStart(ev('block-audit'), boot), processStart(e, boot));
});
