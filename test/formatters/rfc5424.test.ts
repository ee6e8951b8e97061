import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { AegisEvent } from '../../src/event/types';
import { isValidEvent } from '../../src/event/validate';
import { syslogSeverity, eventClassId } from '../../src/formatters/common';
import { createFormatter, formatterNames } from '../../src/formatters/registry';
import {
  createRfc5424Formatter,
  createTimestampField,
  escapeSdValue,
  headerField,
  rfc5424Timestamp,
  SD_ALL_FIELDS,
} from '../../src/formatters/rfc5424';
import type { Rfc5424Options } from '../../src/formatters/rfc5424';
import { validateConfigText } from '../../src/config/load';
import { generateEvents } from '../helpers/events';
import { parseRfc5424, sdParams } from '../parsers/rfc5424';
import { compareGolden, goldenCases } from './golden';
import { expectedHeader, expectedSd, jsonRoundTrip, SUMMARY_FIELDS } from './syslog-expect';

const CTX = { hostname: 'fallback-host', version: '0.1.0' };
const fmt = (options: Rfc5424Options = {}): ((e: AegisEvent) => string) => {
  const f = createRfc5424Formatter(options, CTX);
  return (e) => f.format(e);
};
const cases = goldenCases();
const byName = new Map(cases.map((c) => [c.name, c.event]));
const ev = (name: string): AegisEvent => byName.get(name)!;

/** Parse an output and check it against the event field by field (the documented mapping). */
function checkAgainstEvent(
  out: string,
  event: AegisEvent,
  options: Rfc5424Options = {},
  sdFields: readonly string[] = SUMMARY_FIELDS,
): void {
  const m = parseRfc5424(out);
  const facility = typeof options.facility === 'number' ? options.facility : options.facility === 'audit' ? 13 : 16;
  assert.equal(m.pri, facility * 8 + syslogSeverity(event));
  assert.equal(m.version, 1);
  assert.equal(m.timestamp, event.ts);
  assert.equal(m.hostname, expectedHeader(options.hostname ?? (event.host === '' ? CTX.hostname : event.host), 255));
  assert.equal(m.appName, options.app_name ?? 'aegisbpf');
  assert.equal(m.procId, String(event.pid));
  assert.equal(m.msgId, expectedHeader(eventClassId(event), 32));
  if (sdFields.length === 0) assert.equal(m.sd, undefined);
  else {
    assert.equal(m.sd?.length, 1);
    assert.deepEqual(sdParams(m, m.sd[0]!.id), expectedSd(event, sdFields));
  }
  assert.equal(m.bom, options.bom === true);
  assert.deepEqual(JSON.parse(m.msgText!), jsonRoundTrip(event));
}

test('rfc5424 golden files: every event type and edge case, byte for byte', () => {
  const problems: string[] = [];
  const f = fmt();
  for (const { name, event } of cases) {
    assert.ok(isValidEvent(event), `golden input ${name} must be a valid event`);
    const m = compareGolden('rfc5424', name, 'txt', f(event));
    if (m !== undefined) problems.push(m);
  }
  assert.deepEqual(problems, []);
});

/** Syslog-specific edge cases (header limits, odd timestamps) and option variants, as golden files too. */
const EDGE_CASES: readonly { name: string; event: () => AegisEvent; options?: Rfc5424Options }[] = [
  {
    name: 'edge-hostname-hostile',
    event: () => ({ ...ev('exec-minimal'), host: 'host name\twith ünïcode\n<134>1 forged' }),
  },
  { name: 'edge-hostname-too-long', event: () => ({ ...ev('exec-minimal'), host: 'h'.repeat(300) }) },
  { name: 'edge-hostname-empty', event: () => ({ ...ev('exec-minimal'), host: '' }) },
  {
    name: 'edge-msgid-too-long',
    event: () => ({ ...ev('sensor-started'), status: 'a_very_long_sensor_status_name_that_exceeds_limits' }),
  },
  { name: 'edge-ts-offset-millis', event: () => ({ ...ev('exec-minimal'), ts: '2026-11-21T12:30:00.123+02:00' }) },
  { name: 'edge-sd-escapes', event: () => ({ ...ev('block-audit'), path: 'a"b\\c]d [x@1 y="z"] \\"', policy: '\\' }) },
  {
    name: 'options-facility-audit-bom',
    event: () => ev('block-kill-adversarial'),
    options: { facility: 'audit', bom: true },
  },
  { name: 'options-sd-all', event: () => ev('exec-full'), options: { sd_fields: 'all' } },
  { name: 'options-sd-none', event: () => ev('exec-full'), options: { sd_fields: 'none' } },
  {
    name: 'options-sd-list-custom-id',
    event: () => ev('connect-ipv4'),
    options: { sd_fields: ['remote_ip', 'remote_port', 'type'], sd_id: 'acme', enterprise_number: 4711 },
  },
  {
    name: 'options-hostname-appname-facility-number',
    event: () => ev('exit-signal'),
    options: { hostname: 'relay-7', app_name: 'edr', facility: 4 },
  },
  { name: 'options-msg-cef', event: () => ev('block-kill-adversarial'), options: { msg: 'cef' } },
  {
    name: 'options-msg-cef-space-after-header-bom',
    event: () => ev('connect-ipv6-block'),
    options: { msg: 'cef', cef: { space_after_header: true }, bom: true },
  },
];

test('rfc5424 golden files: header edge cases and options, byte for byte', () => {
  const problems: string[] = [];
  for (const c of EDGE_CASES) {
    const m = compareGolden('rfc5424', c.name, 'txt', fmt(c.options)(c.event()));
    if (m !== undefined) problems.push(m);
  }
  assert.deepEqual(problems, []);
});

test('every golden and edge output is strict RFC 5424 and carries exactly the event', () => {
  for (const { event } of cases) checkAgainstEvent(fmt()(event), event);
  for (const c of EDGE_CASES) {
    const e = c.event();
    const o = c.options ?? {};
    const fields =
      o.sd_fields === 'all'
        ? SD_ALL_FIELDS
        : o.sd_fields === 'none'
          ? []
          : Array.isArray(o.sd_fields)
            ? o.sd_fields
            : SUMMARY_FIELDS;
    const out = fmt(o)(e);
    const m = parseRfc5424(out);
    if (c.name === 'edge-ts-offset-millis') {
      assert.equal(m.timestamp, '2026-11-21T10:30:00.123000Z', 'normalized to UTC with microseconds');
      continue;
    }
    if (o.msg === 'cef') {
      const m = parseRfc5424(out);
      assert.equal(
        m.msgText,
        createFormatter({ type: 'cef', ...o.cef }, CTX).format(e),
        "MSG is the cef format's line",
      );
      assert.equal(m.msgText?.includes('\n'), false);
      assert.deepEqual(sdParams(m, 'aegis@32473'), expectedSd(e, fields));
      continue;
    }
    if (o.enterprise_number !== undefined) {
      assert.equal(m.sd![0]!.id, 'acme@4711');
      assert.deepEqual(sdParams(m, 'acme@4711'), expectedSd(e, fields));
      continue;
    }
    checkAgainstEvent(out, e, o, fields);
  }
});

test('severity: block/KILL is more severe than exec; facility configurable by name or number', () => {
  const kill = parseRfc5424(fmt()(ev('block-kill-adversarial')));
  const exec = parseRfc5424(fmt()(ev('exec-minimal')));
  assert.ok(kill.severity < exec.severity, 'lower syslog severity number = more severe');
  assert.equal(kill.severity, 2, 'KILL is critical');
  assert.equal(kill.facility, 16, 'local0 by default');
  assert.equal(parseRfc5424(fmt({ facility: 'authpriv' })(ev('exec-minimal'))).facility, 10);
  assert.equal(parseRfc5424(fmt({ facility: 23 })(ev('exec-minimal'))).pri, 23 * 8 + exec.severity);
  assert.equal(
    parseRfc5424(fmt({ facility: 0 })(ev('exec-minimal'))).pri,
    exec.severity,
    'kern: PRI has no leading zero',
  );
});

test('header fields are PRINTUSASCII and within their limits whatever the input', () => {
  assert.equal(headerField('a b\u0000c\u00fc😀', 255), 'a_b_c__');
  assert.equal(headerField('', 48), '-');
  assert.equal(headerField('x'.repeat(60), 48), 'x'.repeat(48));
  assert.equal(rfc5424Timestamp('not a time'), '-');
  assert.equal(rfc5424Timestamp('2026-11-21T10:30:60.000000Z'), '-', 'no leap seconds in RFC 5424');
  assert.equal(rfc5424Timestamp('2026-11-21T10:30:00Z'), '2026-11-21T10:30:00.000000Z');
  assert.equal(escapeSdValue('a"b\\c]d'), 'a\\"b\\\\c\\]d');
  assert.equal(escapeSdValue('x\u0000y\ud800z\udc00😀'), 'x\ufffdy\ufffdz\ufffd😀');
  assert.equal(escapeSdValue('a\r\nb\tc'), 'a\ufffd\ufffdb\tc', 'one event is one line: CR and LF never raw');
});

test('property: the stream timestamp check (minute prefix remembered) gives what the full check gives, for any sequence', () => {
  // Timestamps of one minute with every character of the seconds and fraction mutated now and then, and other minutes
  // (some of them impossible dates) in between: the remembered prefix must never let a bad one through.
  const base = fc.constantFrom(
    '2026-11-21T10:30:',
    '2026-11-21T10:31:',
    '2024-02-29T23:59:',
    '2025-02-29T23:59:',
    '2026-13-01T00:00:',
    '2026-11-21T24:00:',
  );
  const tail = fc
    .tuple(
      fc.integer({ min: 0, max: 69 }),
      fc.integer({ min: 0, max: 999_999 }),
      fc.constantFrom('Z', 'Z', 'Z', 'z', '+', ''),
      fc.constantFrom('.', '.', ',', ':'),
    )
    .map(([sec, frac, z, dot]) => `${String(sec).padStart(2, '0')}${dot}${String(frac).padStart(6, '0')}${z}`);
  const ts = fc.oneof(
    fc.tuple(base, tail).map(([b, t]) => b + t),
    fc.constantFrom('not a time', '2026-11-21T10:30:00Z', ''),
  );
  fc.assert(
    fc.property(fc.array(ts, { minLength: 1, maxLength: 40 }), (sequence) => {
      const field = createTimestampField();
      for (const t of sequence) assert.equal(field(t), rfc5424Timestamp(t), t);
    }),
    { numRuns: 2000 },
  );
});

test('SD values are cut at 16 KiB of UTF-8 on a character boundary (rsyslog mmpstrucdata has a 32 KiB buffer); MSG keeps the whole value', () => {
  const huge = '/' + 'ü☃😀'.repeat(16384 / 4); // 16 384 characters, ~37 KiB of UTF-8, within the schema's limit
  const e = { ...ev('block-audit'), path: huge } as AegisEvent;
  assert.ok(isValidEvent(e));
  const m = parseRfc5424(fmt()(e));
  const sd = sdParams(m, 'aegis@32473')!;
  assert.ok(Buffer.byteLength(sd.path!) <= 16 * 1024 && Buffer.byteLength(sd.path!) > 16 * 1024 - 4);
  assert.ok(huge.startsWith(sd.path!));
  assert.equal((JSON.parse(m.msgText!) as { path: string }).path, huge);
});

test('BOM option: MSG starts with EF BB BF and the rest is valid UTF-8', () => {
  const out = Buffer.from(fmt({ bom: true })(ev('block-kill-adversarial')), 'utf8');
  const m = parseRfc5424(out);
  assert.equal(m.bom, true);
  const at = out.indexOf(Buffer.from([0xef, 0xbb, 0xbf]));
  assert.equal(out[at - 1], 0x20, 'one SP between SD and the BOM');
  assert.equal(parseRfc5424(fmt()(ev('block-kill-adversarial'))).bom, false, 'off by default');
});

// ---- property tests ---------------------------------------------------------------------------------------------

const nastyUnit = fc.constantFrom(
  '|',
  '=',
  '\\',
  ']',
  '[',
  '"',
  '\r',
  '\n',
  '\t',
  '\u0000',
  '\u001b',
  'ü',
  '☃',
  '\ud83d\ude00',
  '\ud800',
  '\udfff',
  '\ufffd',
  '\u2028',
  ' ',
  '-',
  '@',
  'a',
  'Z',
  '0',
);
const nasty = fc.string({ unit: nastyUnit, maxLength: 40 });
const longPath = fc
  .tuple(nasty, fc.integer({ min: 3000, max: 4096 }))
  .map(([s, n]) => ('/' + 'd'.repeat(n)).slice(0, n - s.length) + s);

test('property: parsing the output gives back exactly the fields that went in (adversarial strings, 4 KiB paths, invalid UTF-16)', () => {
  const allFmt = fmt({ sd_fields: 'all' });
  fc.assert(
    fc.property(
      nasty,
      nasty,
      nasty,
      fc.oneof(nasty, longPath),
      nasty,
      fc.array(nasty, { maxLength: 4 }),
      nasty,
      fc.constantFrom('AUDIT', 'BLOCK', 'TERM', 'KILL', 'INT'),
      fc.boolean(),
      (host, comm, exe, pathValue, cgroup, args, policy, action, all) => {
        const [base] = generateEvents(1, { seed: 7 });
        const event = {
          ...base!,
          type: 'block',
          host,
          comm,
          exe,
          path: pathValue,
          cgroup_path: cgroup,
          args,
          policy,
          action,
          ino: 1,
          dev: 2,
          mode: 'enforce',
        } as AegisEvent;
        const out = all ? allFmt(event) : fmt()(event);
        checkAgainstEvent(out, event, {}, all ? SD_ALL_FIELDS : SUMMARY_FIELDS);
      },
    ),
    { numRuns: 1500 },
  );
});

test('property: random generated events of every type round-trip through the strict parser', () => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 1_000_000 }), fc.boolean(), (seed, bom) => {
      for (const e of generateEvents(10, { seed, adversarial: true })) checkAgainstEvent(fmt({ bom })(e), e, { bom });
    }),
    { numRuns: 300 },
  );
});

test("property: structured data from the JSON writer's slots equals structured data read from the event (msg: cef)", () => {
  // With msg: json the SD values come from the generated writer's pass over the event; with msg: cef they are read
  // from the event's properties one by one. Both must give the same params for any event, adversarial ones included.
  const headerAndSd = (out: string): unknown => {
    const m = parseRfc5424(out);
    return [m.pri, m.timestamp, m.hostname, m.appName, m.procId, m.msgId, m.sd];
  };
  for (const sd_fields of ['summary', 'all', ['path', 'pid', 'comm', 'type']] as const) {
    const viaWriter = fmt({ sd_fields });
    const viaEvent = fmt({ sd_fields, msg: 'cef' });
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 1_000_000 }), nasty, (seed, value) => {
        for (const e of generateEvents(5, { seed, adversarial: true })) {
          const odd = { ...e, comm: value, exe: value + '"]' } as AegisEvent;
          for (const event of [e, odd]) assert.deepEqual(headerAndSd(viaWriter(event)), headerAndSd(viaEvent(event)));
        }
      }),
      { numRuns: 200 },
    );
  }
});

// ---- registry and configuration -----------------------------------------------------------------------------------

test('rfc5424 is registered; options are validated by the configuration schema', () => {
  assert.ok(formatterNames().includes('rfc5424'));
  const f = createFormatter({ type: 'rfc5424', facility: 'auth', app_name: 'x', sd_fields: 'none' }, CTX);
  assert.match(f.format(ev('exec-minimal')), /^<37>1 \S+ web-1 x 4242 exec - \{/);
  const config = (format: string): string =>
    `sources: { s: { type: replay, path: samples/events.ndjson } }\nsinks: { f: { type: file, path: /tmp/x.log, format: ${format} } }\n`;
  assert.deepEqual(
    validateConfigText(
      config('{ type: rfc5424, facility: local7, enterprise_number: 4711, sd_fields: [path, pid] }'),
      {},
    ).problems,
    [],
  );
  assert.deepEqual(
    validateConfigText(
      config('{ type: rfc5424, msg: cef, cef: { space_after_header: true, enforce_lengths: false } }'),
      {},
    ).problems,
    [],
  );
  for (const [bad, why] of [
    ['{ type: rfc5424, facility: local9 }', /facility/],
    ['{ type: rfc5424, sd_fields: [args] }', /sd_fields/],
    ['{ type: rfc5424, sd_id: "has space" }', /sd_id/],
    ['{ type: rfc5424, enterprise_number: "12345678901234" }', /enterprise_number/],
    ['{ type: rfc5424, msg: xml }', /msg/],
    ['{ type: rfc5424, msg: cef, cef: { colour: red } }', /colour/],
  ] as const) {
    const problems = validateConfigText(config(bad), {}).problems;
    assert.ok(
      problems.some((p) => why.test(p)),
      `${bad}: ${problems.join('; ')}`,
    );
  }
});
