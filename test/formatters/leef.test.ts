import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isIP } from 'node:net';
import fc from 'fast-check';
import { EVENT_FIELDS } from '../../src/event/fields';
import Ajv2020 from 'ajv/dist/2020';
import type { AegisEvent } from '../../src/event/types';
import { isValidEvent } from '../../src/event/validate';
import { baseName, eventClassId, eventTime, processStart, severityOf } from '../../src/formatters/common';
import { leefFormatter, leefTextTime, parseLeefDelimiter } from '../../src/formatters/leef';
import type { LeefOptions } from '../../src/formatters/leef';
import { createFormatter } from '../../src/formatters/registry';
import type { Formatter } from '../../src/formatters/types';
import { validateConfigText } from '../../src/config/load';
import { isAegisError } from '../../src/util/errors';
import { LeefParseError, parseLeef, parseSimpleDate } from '../parsers/leef';
import { adversarialEvent } from '../helpers/adversarial';
import { compareGolden, GOLDEN_CONTEXT, goldenBytes, goldenCases } from './golden';

const make = (options: LeefOptions = {}): Formatter => leefFormatter.create(options, GOLDEN_CONTEXT);
const cases = goldenCases();
const ev = (name: string): AegisEvent => cases.find((c) => c.name === name)!.event;

const VARIANTS: readonly { dir: string; options: LeefOptions; delimiter: string }[] = [
  { dir: 'leef', options: {}, delimiter: '\t' },
  { dir: 'leef-1.0', options: { version: '1.0' }, delimiter: '\t' },
  { dir: 'leef-caret-epoch', options: { delimiter: '^', dev_time: 'epoch_millis' }, delimiter: '^' },
];

// ---- The documented mapping, written out again independently of src/formatters/leef.ts ----

const FFFD = '\ufffd';
const LONE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;
/** Documented sanitization: the delimiter, C0 controls, DEL and lone surrogates become U+FFFD. */
const clean = (s: string, delimiter: string): string =>
  s
    .replace(LONE, FFFD)
    .replace(/[\u0000-\u001f\u007f]/g, FFFD)
    .split(delimiter)
    .join(FFFD);

function expectedAttributes(e: AegisEvent, delimiter: string, text: boolean): Map<string, string> {
  const m = new Map<string, string>();
  const put = (k: string, v: string | number | boolean | undefined): void => {
    if (v === undefined || v === '') return;
    m.set(k, typeof v === 'string' ? clean(v, delimiter) : String(v));
  };
  const time = (millis: number): string => (text ? leefTextTime(millis) : String(millis));
  put('devTime', time(eventTime(e).millis));
  if (text) put('devTimeFormat', 'MMM dd yyyy HH:mm:ss.SSS z');
  put('cat', e.type);
  put('sev', Math.max(1, severityOf(e)));
  if (e.type === 'connect') {
    const ingress = e.direction === 'ingress';
    const src = ingress ? e.remote_ip : e.local_ip;
    const dst = ingress ? e.local_ip : e.remote_ip;
    put(src === undefined || isIP(src) !== 0 ? 'src' : 'srcAddress', src);
    put('srcPort', ingress ? e.remote_port : e.local_port);
    put(dst === undefined || isIP(dst) !== 0 ? 'dst' : 'dstAddress', dst);
    put('dstPort', ingress ? e.local_port : e.remote_port);
    const keyword =
      /^[A-Za-z][A-Za-z0-9.+-]*$/.test(e.protocol) || (/^[0-9]{1,3}$/.test(e.protocol) && Number(e.protocol) <= 255);
    put(keyword ? 'proto' : 'protocol', e.protocol.toUpperCase());
    put('direction', e.direction);
  }
  if (e.type === 'block' || e.type === 'connect' || e.type === 'sensor') put('policy', e.policy);
  if (e.type === 'block' || e.type === 'connect') put('action', e.action);
  put('mode', e.mode);
  put('host', e.host);
  put('pid', e.pid);
  put('ppid', e.ppid);
  put('comm', e.comm);
  put('exe', e.exe);
  put('cmdLine', e.args === undefined || e.args.length === 0 ? undefined : e.args.join(' '));
  put('argsTruncated', e.args_truncated);
  put('uid', e.uid);
  put('gid', e.gid);
  put('parentComm', e.parent_comm);
  put('parentExe', e.parent_exe);
  put('execId', e.exec_id);
  put('traceId', e.trace_id);
  put('parentExecId', e.parent_exec_id);
  put('parentTraceId', e.parent_trace_id);
  const start = processStart(e, undefined);
  if (start !== undefined) put('processStartTime', time(start.millis));
  if (e.parent_start_ts !== undefined)
    put('parentProcessStartTime', time(Date.parse(e.parent_start_ts.slice(0, 23) + 'Z')));
  put('cgroupId', e.cgid);
  put('cgroupPath', e.cgroup_path);
  put('containerId', e.container_id);
  if (e.type === 'exit') {
    put('exitCode', e.exit_code);
    put('signal', e.signal);
    put('durationNs', e.duration_ns);
  }
  if (e.type === 'block') {
    if (e.path !== undefined && e.path !== '') {
      put('filePath', e.path);
      put('fileName', baseName(e.path));
    }
    put('resolvedPath', e.resolved_path);
    put('inode', e.ino);
    put('device', e.dev);
    put('openFlags', e.open_flags);
  }
  if (e.type === 'sensor') {
    put('status', e.status);
    put('message', e.message);
  }
  if (e.type === 'anomaly' || e.type === 'trend') put('message', e.message);
  // Analytics figures: lowerCamelCase of the canonical name, arrays comma-joined.
  if (['anomaly', 'trend', 'host_stats', 'activity'].includes(e.type)) {
    for (const [k, v] of Object.entries(e)) {
      if (k === 'message' || k in EVENT_FIELDS.exec) continue;
      put(
        k.replace(/_([a-z0-9])/g, (_m, c: string) => c.toUpperCase()),
        Array.isArray(v) ? v.join(',') : String(v),
      );
    }
  }
  if (e.type === 'audit') {
    put('usrName', e.audit_actor);
    put('auditAction', e.audit_action);
    put('auditResult', e.audit_result);
    put('auditActorType', e.audit_actor_type);
    put('auditTarget', e.audit_target);
    put('auditSeq', e.audit_seq);
    put('auditHash', e.audit_hash);
    put('message', e.message);
    if (e.audit_source !== undefined && e.audit_source !== '')
      put(isIP(e.audit_source) !== 0 ? 'src' : 'srcAddress', e.audit_source);
  }
  if (e.type === 'alert') {
    put('alert', e.alert);
    put('status', e.status);
    put('alertSeverity', e.severity);
    put('message', e.message);
    put('condition', e.condition);
    put('value', e.value);
    put('startedAt', e.started_at);
  }
  put('sensor', e.sensor);
  put('hook', e.hook);
  put('eventId', e.event_id);
  if (e.labels !== undefined && Object.keys(e.labels).length > 0) {
    put(
      'labels',
      JSON.stringify(
        Object.fromEntries(
          Object.keys(e.labels)
            .sort()
            .map((k) => [k, e.labels![k]]),
        ),
      ),
    );
  }
  return m;
}

function check(line: string, e: AegisEvent, v: (typeof VARIANTS)[number]): void {
  const r = parseLeef(line);
  assert.equal(r.version, v.options.version ?? '2.0');
  assert.deepEqual(
    [r.vendor, r.product, r.productVersion, r.eventId],
    ['aegisbpf', 'aegisbpf', GOLDEN_CONTEXT.version, eventClassId(e)],
  );
  assert.equal(r.delimiter, v.delimiter);
  assert.equal(r.devTimeMillis, eventTime(e).millis, 'devTime means the event time (to the millisecond)');
  const text = (v.options.dev_time ?? 'text') === 'text';
  assert.deepEqual(
    Object.fromEntries([...r.attributes].sort()),
    Object.fromEntries([...expectedAttributes(e, v.delimiter, text)].sort()),
  );
}

test('leef golden files: every event type and edge case, byte for byte (2.0 tab, 1.0, 2.0 caret + epoch)', () => {
  const problems: string[] = [];
  for (const v of VARIANTS) {
    const f = make(v.options);
    for (const { name, event } of cases) {
      const m = compareGolden(v.dir, name, 'leef', goldenBytes(f.format(event)));
      if (m !== undefined) problems.push(m);
    }
  }
  assert.deepEqual(problems, []);
});

test('every golden case parses with the strict LEEF parser into exactly the documented attributes', () => {
  for (const v of VARIANTS) {
    const f = make(v.options);
    for (const { event } of cases) check(f.format(event), event, v);
  }
});

test('round trip: adversarial values come back exactly or as documented (delimiter and controls → U+FFFD) (property)', () => {
  const formatters = VARIANTS.map((v) => ({ v, f: make(v.options) }));
  fc.assert(
    fc.property(adversarialEvent, (e) => {
      assert.ok(isValidEvent(e));
      for (const { v, f } of formatters) check(f.format(e), e, v);
    }),
    { numRuns: Number(process.env.AEGIS_FC_RUNS ?? 300) },
  );
});

test('configurable delimiter: any allowed character in literal or hex form, announced in the header', () => {
  const e = ev('block-control-chars');
  for (const [spec, char, header] of [
    ['^', '^', '^'],
    ['x5E', '^', 'x5E'],
    ['0x5e', '^', '0x5e'],
    ['\t', '\t', 'x09'],
    ['x09', '\t', 'x09'],
    ['|', '|', 'x7C'],
    ['\u00a6', '\u00a6', '\u00a6'],
    ['x00A6', '\u00a6', 'x00A6'],
    ['#', '#', '#'],
  ] as const) {
    const line = make({ delimiter: spec }).format(e);
    const r = parseLeef(line);
    assert.equal(r.delimiter, char, spec);
    assert.equal(r.delimiterField, header, spec);
    // The path holds ^, |, tab and ¦: whichever is the delimiter was replaced, the others kept.
    const p = r.attributes.get('filePath')!;
    assert.ok(!p.includes(char), `${spec}: no delimiter inside a value`);
    for (const other of ['^', '|', '\u00a6'])
      if (other !== char) assert.ok(p.includes(other), `${spec}: ${other} kept`);
  }
});

test('invalid delimiters and LEEF 1.0 with a non-tab delimiter are configuration errors', () => {
  for (const bad of ['=', 'a', '7', ' ', 'x3D', '0x0a', 'x0D', 'x0', 'x41', '^^', 'x12345', '']) {
    assert.throws(
      () => parseLeefDelimiter(bad),
      (err: unknown) => isAegisError(err) && err.code === 'AEGIS_ERR_CONFIG_INVALID',
      JSON.stringify(bad),
    );
  }
  assert.throws(
    () => make({ version: '1.0', delimiter: '^' }),
    (err: unknown) => isAegisError(err) && err.code === 'AEGIS_ERR_CONFIG_INVALID',
  );
  assert.doesNotThrow(() => make({ version: '1.0', delimiter: 'x09' }));
});

test('the delimiter option schema (what `aegisbpf validate` checks) accepts exactly what the formatter accepts', () => {
  const schema = leefFormatter.optionsSchema.properties.delimiter!;
  const validate = new Ajv2020({ strict: false }).compile(schema);
  const agree = (spec: string): void => {
    let codeAccepts = true;
    try {
      parseLeefDelimiter(spec);
    } catch {
      codeAccepts = false;
    }
    assert.equal(validate(spec), codeAccepts, JSON.stringify(spec));
  };
  for (let code = 0; code <= 0xffff; code++) {
    const hex = code.toString(16);
    for (const spec of [`x${hex}`, `0x${hex.toUpperCase().padStart(4, '0')}`, `x${hex.padStart(2, '0')}`])
      if (spec.length <= 6) agree(spec);
    agree(String.fromCharCode(code));
  }
  for (const spec of ['\u{1F600}', 'ab', '', '\ud800', 'x', '0x', 'x12345']) agree(spec);
  fc.assert(
    fc.property(fc.string({ maxLength: 6, unit: 'binary' }), (spec) => agree(spec)),
    { numRuns: 2000 },
  );
});

test('aegisbpf validate names the key and the rule for a forbidden delimiter', () => {
  const r = validateConfigText(
    'sources: { s: { type: replay, path: /tmp/x } }\nsinks: { a: { type: stdout, format: { type: leef, delimiter: x3D } } }\n',
    {},
  );
  assert.equal(r.problems.length, 1, r.problems.join('\n'));
  assert.match(r.problems[0]!, /^sinks\.a\.format\.delimiter: "x3D" is not allowed \(LEEF 2\.0 attribute delimiter/);
});

test('injection: a path full of tabs, CR/LF and forged attributes stays one attribute value', () => {
  const e = ev('block-kill-adversarial');
  const line = make().format(e);
  assert.ok(!/[\r\n]/.test(line));
  const r = parseLeef(line);
  assert.equal(r.attributes.get('action'), 'KILL');
  assert.ok(r.attributes.get('filePath')!.includes('act=allow cs1=forged'));
  assert.equal(r.attributes.get('sev'), '9');
  const caret = parseLeef(make({ delimiter: '^' }).format(ev('block-control-chars')));
  assert.equal(
    caret.attributes.get('policy'),
    `deny${FFFD}tmp${FFFD}tab`,
    'caret (delimiter) and tab (control) replaced',
  );
});

test('devTime text form is what QRadar parses with the announced devTimeFormat', () => {
  const millis = Date.UTC(2026, 10, 21, 10, 30, 0, 7);
  assert.equal(leefTextTime(millis), 'Nov 21 2026 10:30:00.007 GMT');
  assert.equal(parseSimpleDate(leefTextTime(millis), 'MMM dd yyyy HH:mm:ss.SSS z'), millis);
  assert.throws(
    () => parseLeef('LEEF:2.0|a|b|1|e|^|devTime=Nov 21 2026 10:30:00 GMT'),
    LeefParseError,
    'text devTime needs devTimeFormat',
  );
  assert.throws(() => parseLeef('LEEF:2.0|a|b|1|e|^|sev=0'), LeefParseError, 'sev is 1-10');
  assert.throws(() => parseLeef('LEEF:2.0|a|b|1|e|^|src=/etc/shadow'), LeefParseError, 'src is an IP');
  assert.throws(() => parseLeef('LEEF:2.0|a|b|1|e|^|a=1^^b=2'), LeefParseError, 'empty attribute');
  assert.throws(() => parseLeef('LEEF:2.0|a|b|1|e|^|a=1^a=2'), LeefParseError, 'duplicate key');
  assert.doesNotThrow(() =>
    parseLeef('LEEF:1.0|Microsoft|MSExchange|4.0 SP1|15345|devTime=1718000000123\tsrc=10.0.0.5'),
  );
});

test('leef is registered and built through the registry', () => {
  const f = createFormatter({ type: 'leef', version: '1.0' }, GOLDEN_CONTEXT);
  assert.ok(f.format(ev('exec-minimal')).startsWith('LEEF:1.0|aegisbpf|aegisbpf|1.2.3|exec|devTime='));
});
