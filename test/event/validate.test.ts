import { test } from 'node:test';
import assert from 'node:assert/strict';
import { explainInvalidEvent, isValidEvent, loadEventSchema } from '../../src/event/validate';
import { generateEvents } from '../helpers/events';

test('generated events of every type, adversarial strings included, are valid', () => {
  for (const e of generateEvents(500, { adversarial: true })) assert.ok(isValidEvent(e), explainInvalidEvent(e));
});

test('the schema examples are valid', () => {
  for (const e of (loadEventSchema() as { examples: unknown[] }).examples) assert.ok(isValidEvent(e), explainInvalidEvent(e));
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
    [(() => { const { host: _h, ...rest } = good!; return rest; })(), /must have required property 'host'/],
    [{ ...good, type: 'block' }, /must have required property 'ino'/],
    [{ ...good, type: 'exit' }, /must have required property 'exit_code'/],
    [{ ...good, type: 'exec', ino: 5 }, /unknown field 'ino'/],
  ];
  for (const [event, pattern] of cases) {
    assert.equal(isValidEvent(event), false, JSON.stringify(event).slice(0, 80));
    assert.match(explainInvalidEvent(event) ?? '', pattern);
  }
});
