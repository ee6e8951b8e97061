import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { createHecFormat, hecFormatter, hecTime } from '../../src/formatters/hec';
import { formatJson } from '../../src/formatters/json';
import { eventClassId, severityOf } from '../../src/formatters/common';
import { isValidEvent } from '../../src/event/validate';
import type { AegisEvent } from '../../src/event/types';
import { createFormatter, formatterNames } from '../../src/formatters/registry';
import { compareGolden, goldenCases } from './golden';
import { generateEvents } from '../helpers/events';
import { parseTimestampMicros } from '../../src/util/time';

const format = createHecFormat();

test('hec golden files: every event type and edge case, byte for byte', () => {
  const problems: string[] = [];
  for (const { name, event } of goldenCases()) {
    assert.ok(isValidEvent(event), `golden input ${name} must be a valid event`);
    const m = compareGolden('hec', name, 'json', format(event) + '\n');
    if (m !== undefined) problems.push(m);
  }
  assert.deepEqual(problems, []);
});

test('hec is registered; options reach the envelope', () => {
  assert.ok(formatterNames().includes('hec'));
  assert.equal(hecFormatter.output, 'string');
  const [e] = generateEvents(1);
  const f = createFormatter(
    { type: 'hec', sourcetype: 'aegis:edr', source: 'sensor-a', index: 'edr', indexed_labels: false },
    { hostname: 'h', version: '0' },
  );
  const env = JSON.parse(f.format({ ...e!, labels: { env: 'prod' } })) as Record<string, unknown>;
  assert.deepEqual(Object.keys(env), ['time', 'host', 'source', 'sourcetype', 'index', 'event', 'fields']);
  assert.equal(env.sourcetype, 'aegis:edr');
  assert.equal(env.source, 'sensor-a');
  assert.equal(env.index, 'edr');
  assert.deepEqual(
    env.fields,
    { event_class: eventClassId(e!), vendor_severity: severityOf(e!) },
    'indexed_labels: false sends no label fields',
  );
  const d = JSON.parse(createFormatter('hec', { hostname: 'h', version: '0' }).format(e!)) as Record<string, unknown>;
  assert.equal(d.sourcetype, 'aegisbpf');
  assert.equal(d.source, 'aegisbpf');
  assert.ok(!('index' in d), 'no index unless configured: the token default applies');
});

test('time: epoch seconds with a millisecond fraction, floored from microseconds, exact as text', () => {
  assert.equal(hecTime('2026-11-21T10:30:00.123456Z'), '1795257000.123');
  assert.equal(hecTime('2026-11-21T10:30:00.999999Z'), '1795257000.999', 'never rounded into the next second');
  assert.equal(hecTime('2026-11-21T10:30:00.000000Z'), '1795257000.000');
  assert.equal(hecTime('1970-01-01T00:00:00.000001Z'), '0.000');
  assert.equal(hecTime('1969-12-31T23:59:59.999500Z'), '-0.001', 'before 1970: floored toward the past');
  assert.equal(hecTime('not a time'), undefined);
  const [e] = generateEvents(1);
  const line = format({ ...e!, ts: '2026-11-21T10:30:00.999999Z' });
  assert.ok(line.startsWith('{"time":1795257000.999,'), line);
});

test('time (property): the canonical fast path equals exact BigInt arithmetic for any timestamp, in any order', () => {
  const exact = (ts: string): string => {
    const micros = parseTimestampMicros(ts)!;
    let millis = micros / 1000n;
    if (micros < 0n && micros % 1000n !== 0n) millis -= 1n;
    const abs = millis < 0n ? -millis : millis;
    return `${millis < 0n ? '-' : ''}${abs / 1000n}.${String(abs % 1000n).padStart(3, '0')}`;
  };
  fc.assert(
    fc.property(
      fc.integer({ min: -2_000_000_000_000_000, max: 8_000_000_000_000_000 }),
      fc.boolean(),
      (micros, repeatSecond) => {
        const ms = Math.floor(micros / 1000);
        const ts =
          new Date(ms).toISOString().slice(0, 19) +
          '.' +
          String(((micros % 1_000_000) + 1_000_000) % 1_000_000).padStart(6, '0') +
          'Z';
        assert.equal(hecTime(ts), exact(ts), ts);
        if (repeatSecond) {
          const same = ts.slice(0, 20) + '999999Z';
          assert.equal(hecTime(same), exact(same), same);
        }
      },
    ),
    { numRuns: 3000 },
  );
  assert.equal(hecTime('2026-11-21T10:30:00.123Z'), '1795257000.123', 'other fraction lengths take the general path');
  assert.equal(hecTime('2026-11-21T10:30:00.123456+01:00'), '1795253400.123', 'offsets too');
});

test('indexed fields are flat strings and numbers whose names never collide with event keys', () => {
  for (const e of [...goldenCases().map((c) => c.event), ...generateEvents(200, { adversarial: true })]) {
    const env = JSON.parse(format(e)) as { event: Record<string, unknown>; fields: Record<string, unknown> };
    for (const [k, v] of Object.entries(env.fields)) {
      assert.ok(typeof v === 'string' || typeof v === 'number', `${k} is flat`);
      assert.ok(!(k in env.event), `${k} is not also an event key`);
    }
  }
});

test('round trip (property): parsing the envelope gives back exactly the event, its metadata and indexed fields, for adversarial strings', () => {
  const nasty = fc.string({
    unit: fc.constantFrom(
      '|',
      '=',
      '\\',
      ']',
      '"',
      '}',
      '{',
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
      '}{"event":',
    ),
  });
  const labelKey = fc.stringMatching(/^[A-Za-z_][A-Za-z0-9_]{0,20}$/);
  fc.assert(
    fc.property(
      nasty,
      nasty,
      fc.array(nasty, { maxLength: 5 }),
      fc.dictionary(labelKey, nasty, { maxKeys: 4 }),
      nasty,
      nasty,
      (exe, host, args, labels, sourcetype, index) => {
        const [base] = generateEvents(1);
        const event = {
          ...base,
          type: 'exec',
          host,
          exe,
          args,
          ...(Object.keys(labels).length > 0 ? { labels } : {}),
        } as AegisEvent;
        const st = sourcetype === '' ? 'aegisbpf' : sourcetype;
        const line = createHecFormat({ sourcetype: st, ...(index === '' ? {} : { index }) })(event);
        assert.ok(!line.includes('\n') && !line.includes('\r'), 'one envelope is one line');
        const env = JSON.parse(line) as Record<string, unknown>;
        assert.deepEqual(env.event, JSON.parse(JSON.stringify(event)));
        assert.equal(JSON.stringify(env.event), formatJson(event), 'event is the json format, byte for byte');
        assert.equal(env.host, host);
        assert.equal(env.sourcetype, st);
        assert.equal(env.index, index === '' ? undefined : index);
        const expectedFields: Record<string, unknown> = { event_class: 'exec', vendor_severity: severityOf(event) };
        for (const [k, v] of Object.entries(labels)) expectedFields[`label_${k}`] = v;
        assert.deepEqual(env.fields, expectedFields);
      },
    ),
    { numRuns: 500 },
  );
});

test('concatenated envelopes split back into the same events (the /event body framing)', () => {
  const events = generateEvents(50, { adversarial: true });
  const body = events.map(format).join('');
  // Parse back-to-back JSON objects the way HEC does: one value after another.
  const parsed: unknown[] = [];
  let depth = 0;
  let inString = false;
  let start = 0;
  for (let i = 0; i < body.length; i++) {
    const c = body[i];
    if (inString) {
      if (c === '\\') i++;
      else if (c === '"') inString = false;
      continue;
    }
    if (c === '"') inString = true;
    else if (c === '{') depth++;
    else if (c === '}' && --depth === 0) {
      parsed.push(JSON.parse(body.slice(start, i + 1)));
      start = i + 1;
    }
  }
  assert.equal(parsed.length, events.length);
  assert.deepEqual(
    parsed.map((p) => (p as { event: unknown }).event),
    JSON.parse(JSON.stringify(events)),
  );
});
