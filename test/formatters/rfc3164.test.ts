import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { AegisEvent } from '../../src/event/types';
import { syslogSeverity } from '../../src/formatters/common';
import { createFormatter, formatterNames } from '../../src/formatters/registry';
import { createRfc3164Formatter, rfc3164Tag, rfc3164Timestamp } from '../../src/formatters/rfc3164';
import type { Rfc3164Options } from '../../src/formatters/rfc3164';
import { generateEvents } from '../helpers/events';
import { parseRfc3164 } from '../parsers/rfc3164';
import { compareGolden, goldenCases } from './golden';
import { expectedHeader, jsonRoundTrip } from './syslog-expect';

const CTX = { hostname: 'fallback-host', version: '0.1.0' };
const fmt = (options: Rfc3164Options = {}): ((e: AegisEvent) => string) => {
  const f = createRfc3164Formatter(options, CTX);
  return (e) => f.format(e);
};
const cases = goldenCases();
const ev = (name: string): AegisEvent => cases.find((c) => c.name === name)!.event;

function check(out: string, event: AegisEvent, options: Rfc3164Options = {}): void {
  const m = parseRfc3164(out);
  assert.equal(m.pri, (options.facility === undefined ? 16 : Number(options.facility)) * 8 + syslogSeverity(event));
  const d = new Date(Date.parse(event.ts));
  assert.equal(
    m.timestamp,
    `${d.toUTCString().slice(8, 11)} ${String(d.getUTCDate()).padStart(2, ' ')} ${d.toISOString().slice(11, 19)}`,
  );
  assert.equal(
    m.hostname,
    expectedHeader(options.hostname ?? (event.host === '' ? CTX.hostname : event.host), 255) ?? '-',
  );
  assert.equal(m.tag, options.app_name ?? 'aegisbpf');
  assert.equal(m.pid, String(event.pid));
  assert.ok(!m.msg.includes('\n'), 'one message is one line');
  assert.deepEqual(JSON.parse(m.msg), jsonRoundTrip(event));
}

test('rfc3164 golden files: every event type and edge case, byte for byte', () => {
  const problems: string[] = [];
  for (const { name, event } of cases) {
    const m = compareGolden('rfc3164', name, 'txt', fmt()(event));
    if (m !== undefined) problems.push(m);
  }
  const edge = compareGolden(
    'rfc3164',
    'options-tag-hostile-day-padding',
    'txt',
    fmt({ app_name: 'my app/edr:x', hostname: 'relay 7', facility: 4 })({
      ...ev('exec-minimal'),
      ts: '2026-11-01T01:02:03.000004Z',
    }),
  );
  if (edge !== undefined) problems.push(edge);
  const cefCase = compareGolden('rfc3164', 'options-msg-cef', 'txt', fmt({ msg: 'cef' })(ev('block-kill-adversarial')));
  if (cefCase !== undefined) problems.push(cefCase);
  assert.deepEqual(problems, []);
});

test('every output has the RFC 3164 shape and the MSG carries exactly the event', () => {
  for (const { event } of cases) check(fmt()(event), event);
  const padded = fmt()({ ...ev('exec-minimal'), ts: '2026-11-01T01:02:03.000004Z' });
  assert.match(padded, /^<\d+>Nov {2}1 01:02:03 /, 'day < 10 is space-padded');
});

test("msg: cef puts the cef format's line in MSG, after the TAG", () => {
  const e = ev('block-kill-adversarial');
  const m = parseRfc3164(fmt({ msg: 'cef' })(e));
  assert.equal(m.msg, createFormatter('cef', CTX).format(e));
  assert.ok(!m.msg.includes('\n'));
});

test('TAG is alphanumeric (plus _ . -), at most 32 characters', () => {
  assert.equal(rfc3164Tag('aegisbpf'), 'aegisbpf');
  assert.equal(rfc3164Tag('my app/edr:x[1]'), 'my_app_edr_x_1_');
  assert.equal(rfc3164Tag('x'.repeat(40)), 'x'.repeat(32));
  assert.equal(rfc3164Timestamp('2026-02-09T23:59:59.999999Z'), 'Feb  9 23:59:59');
});

test('property: adversarial field values never break the header, and the JSON MSG gives them back', () => {
  const unit = fc.constantFrom(
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
    '\ud800',
    ' ',
    ':',
    '[',
    'a',
  );
  const s = fc.string({ unit, maxLength: 30 });
  fc.assert(
    fc.property(s, s, s, (host, comm, p) => {
      const [base] = generateEvents(1, { seed: 3 });
      const event = { ...base!, host, comm, exe: p } as AegisEvent;
      check(fmt()(event), event);
    }),
    { numRuns: 1000 },
  );
});

test('rfc3164 is registered', () => {
  assert.ok(formatterNames().includes('rfc3164'));
  assert.match(
    createFormatter({ type: 'rfc3164', facility: 'auth' }, CTX).format(ev('exec-minimal')),
    /^<37>Nov 21 10:30:00 web-1 aegisbpf\[4242\]: \{/,
  );
});
