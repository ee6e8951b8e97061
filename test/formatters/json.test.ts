import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { formatJson, formatJsonOrdered, jsonFormatter } from '../../src/formatters/json';
import { FIELD_ORDER } from '../../src/event/fields';
import { isValidEvent } from '../../src/event/validate';
import type { AegisEvent } from '../../src/event/types';
import { createFormatter, formatterNames } from '../../src/formatters/registry';
import { compareGolden, goldenCases } from './golden';
import { generateEvents } from '../helpers/events';

test('json golden files: every event type and edge case, byte for byte', () => {
  const problems: string[] = [];
  for (const { name, event } of goldenCases()) {
    assert.ok(isValidEvent(event), `golden input ${name} must be a valid event`);
    const m = compareGolden('json', name, 'json', formatJson(event) + '\n');
    if (m !== undefined) problems.push(m);
  }
  assert.deepEqual(problems, []);
});

test('json is registered and built through the registry', () => {
  assert.ok(formatterNames().includes('json'));
  const f = createFormatter('json', { hostname: 'h', version: '0' });
  const [e] = generateEvents(1);
  assert.equal(f.format(e!), formatJson(e!));
  assert.equal(jsonFormatter.output, 'string');
});

test('key order is FIELD_ORDER whatever the input order', () => {
  const [e] = generateEvents(1);
  const reversed = Object.fromEntries(Object.entries(e!).reverse()) as unknown as AegisEvent;
  assert.equal(formatJson(reversed), formatJson(e!));
  const keys = Object.keys(JSON.parse(formatJson(e!)) as object);
  const order = keys.map((k) => (FIELD_ORDER as readonly string[]).indexOf(k));
  assert.deepEqual(
    order,
    [...order].sort((a, b) => a - b),
  );
});

test('round trip: parsing the output gives back exactly the event, for adversarial strings (property)', () => {
  const nasty = fc.string({
    unit: fc.constantFrom(
      '|',
      '=',
      '\\',
      ']',
      '"',
      '\r',
      '\n',
      '\t',
      '\u0000',
      'ü',
      '☃',
      '\ud83d\ude00',
      '\u2028',
      'a',
      ' ',
    ),
  });
  fc.assert(
    fc.property(nasty, nasty, fc.array(nasty, { maxLength: 5 }), (pathValue, comm, args) => {
      const [base] = generateEvents(1);
      const event = { ...base, type: 'exec', comm: comm.slice(0, 16), exe: pathValue, args } as AegisEvent;
      const line = formatJson(event);
      assert.ok(!line.includes('\n') && !line.includes('\r'), 'one record is one line');
      const parsed = JSON.parse(line) as Record<string, unknown>;
      assert.deepEqual(parsed, JSON.parse(JSON.stringify(event)));
    }),
    { numRuns: 500 },
  );
});

test('lone surrogates (invalid UTF-16 from a bad decode) are escaped, never emitted raw', () => {
  const [base] = generateEvents(1);
  const line = formatJson({ ...base!, exe: 'a\ud800b' });
  assert.ok(line.includes('a\\ud800b'));
  assert.ok(Buffer.from(line, 'utf8').toString('utf8') === line, 'output is well-formed UTF-8 text');
});

test('the generated writers and the ordered loop write the same bytes for shuffled and partial events (property)', () => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 10_000 }), fc.boolean(), fc.boolean(), (i, shuffle, withUndefined) => {
      const [e] = generateEvents(1, { seed: i + 1, adversarial: true });
      let event = e as unknown as Record<string, unknown>;
      if (withUndefined) event = { ...event, path: undefined, exe: undefined };
      if (shuffle) event = Object.fromEntries(Object.entries(event).sort(() => (i % 3) - 1));
      assert.equal(formatJson(event as unknown as AegisEvent), formatJsonOrdered(event as unknown as AegisEvent));
    }),
    { numRuns: 2000 },
  );
});
