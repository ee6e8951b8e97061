import { test } from 'node:test';
import assert from 'node:assert/strict';
import { explainInvalidEvent, isValidEvent, isValidEventBySchema, loadEventSchema } from '../../src/event/validate';
import { generateEvents } from '../helpers/events';

test('generated events of every type, adversarial strings included, are valid', () => {
  for (const e of generateEvents(500, { adversarial: true })) assert.ok(isValidEvent(e), explainInvalidEvent(e));
});

test('the schema examples are valid', () => {
  for (const e of (loadEventSchema() as { examples: unknown[] }).examples)
    assert.ok(isValidEvent(e), explainInvalidEvent(e));
});

test('invalid events are refused with a message naming the field', () => {
  const [good] = generateEvents(1);
  const cases: [Record<string, unknown>, RegExp][] = [
    [{ ...good, pid: -1 }, /pid: must be >= 0/],
    [{ ...good, pid: '12' }, /pid: must be integer/],
    [{ ...good, ts: '2026-11-21T10:00:00Z' }, /ts: must match pattern/],
    [{ ...good, type: 'open' }, /type: must be one of "exec", "exit", "block", "connect", "sensor"/],
    [{ ...good, extra: 1 }, /unknown field 'extra'/],
    [{ ...good, comm: 'x'.repeat(17) }, /comm: must NOT have more than 16 characters/],
    [
      (() => {
        const { host: _h, ...rest } = good!;
        return rest;
      })(),
      /must have required property 'host'/,
    ],
    [{ ...good, type: 'block' }, /must have required property 'ino'/],
    [{ ...good, type: 'exit' }, /must have required property 'exit_code'/],
    [{ ...good, type: 'exec', ino: 5 }, /unknown field 'ino'/],
  ];
  for (const [event, pattern] of cases) {
    assert.equal(isValidEvent(event), false, JSON.stringify(event).slice(0, 80));
    assert.match(explainInvalidEvent(event) ?? '', pattern);
  }
});

/** A valid event's JSON text with `extra` (raw JSON members) added, parsed the way the sources parse input. */
const parsedWith = (extra: string): unknown => {
  const [good] = generateEvents(1);
  return JSON.parse(`${JSON.stringify(good).slice(0, -1)},${extra}}`) as unknown;
};

test('an event key __proto__ was dropped silently: it and every Object.prototype name are refused, naming the key', () => {
  for (const key of ['__proto__', 'constructor', 'toString', 'hasOwnProperty', 'valueOf', '__defineGetter__']) {
    const event = parsedWith(`"${key}":{"a":1}`);
    assert.ok(Object.keys(event as object).includes(key), 'JSON.parse keeps it as an own key');
    assert.equal(isValidEvent(event), false, key);
    assert.equal(isValidEventBySchema(event), false, key);
    assert.equal(
      explainInvalidEvent(event),
      `event: field name '${key}' is not allowed (an Object.prototype member name, never an event field)`,
    );
  }
  // An ordinary unknown key is refused as before; `prototype` is not an Object.prototype member, just unknown.
  assert.match(explainInvalidEvent(parsedWith('"prototype":1')) ?? '', /^event: unknown field 'prototype'$/);
});

test('integers like start_time 1.2e29 passed: every integer field refuses what its kernel type cannot hold', () => {
  const u64 = '18446744073709551615 (an unsigned 64-bit kernel value)';
  const exec = generateEvents(1)[0]!;
  const cases: [Record<string, unknown>, string][] = [
    [{ ...exec, start_time: 1.2e29 }, `start_time: must be <= ${u64}`],
    [{ ...exec, parent_start_time: 2 ** 65 }, `parent_start_time: must be <= ${u64}`],
    [{ ...exec, cgid: 1e20 * 1000 }, `cgid: must be <= ${u64}`],
    [{ ...exec, pid: 2 ** 32 }, 'pid: must be <= 4294967295'],
  ];
  for (const [event, message] of cases) {
    assert.equal(isValidEvent(event), false, message);
    assert.equal(explainInvalidEvent(event), message);
  }
  const block = JSON.parse(
    `{"ts":"2026-11-21T10:30:01.000001Z","type":"block","host":"h","pid":1,"ppid":0,"start_time":1,"exec_id":"1:1","trace_id":"1:1","cgid":1,"cgroup_path":"/","comm":"c","path":"/x","ino":1e30,"dev":4294967296,"action":"BLOCK"}`,
  ) as unknown;
  assert.equal(explainInvalidEvent(block), `ino: must be <= ${u64}; dev: must be <= 4294967295`);
  // Past 2^53 but within a u64 stays valid: the sensor's start_time passes 2^53 ns after ~104 days of uptime
  // (documented in docs/formats.md; exec_id carries the exact value).
  assert.ok(isValidEvent({ ...exec, start_time: 2 ** 60 }));
  assert.ok(isValidEvent({ ...exec, start_time: Number.MAX_SAFE_INTEGER + 1 }));
});

test('error reasons have no size bound: an event with 100 000 unknown keys is explained in the first 10 problems and the count', () => {
  const keys = Array.from({ length: 100_000 }, (_, i) => `"k${i}_${'x'.repeat(i === 0 ? 5000 : 1)}":1`).join(',');
  const reason = explainInvalidEvent(parsedWith(keys)) ?? '';
  assert.ok(reason.length < 2048, `${reason.length} characters`);
  assert.match(reason, /; … and 99990 more problems \(100000 in all\)$/);
  assert.match(reason, /^event: unknown field 'k0_x{61}… \(5003 characters in all\)'; event: unknown field 'k1_x'/);
});
