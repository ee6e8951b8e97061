import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isIPv4, isIPv6 } from 'node:net';
import fc from 'fast-check';
import type { AegisEvent } from '../../src/event/types';
import { isValidEvent } from '../../src/event/validate';
import { EVENT_FIELDS } from '../../src/event/fields';
import { cefFormatter } from '../../src/formatters/cef';
import type { CefOptions } from '../../src/formatters/cef';
import { baseName, eventClassId, eventName, eventTime, processStart, severityOf } from '../../src/formatters/common';
import { createFormatter } from '../../src/formatters/registry';
import type { Formatter } from '../../src/formatters/types';
import { CEF_DICTIONARY, CefParseError, parseCef } from '../parsers/cef';
import { adversarialEvent } from '../helpers/adversarial';
import { compareGolden, GOLDEN_CONTEXT, goldenBytes, goldenCases } from './golden';

const make = (options: CefOptions = {}, context = GOLDEN_CONTEXT): Formatter => cefFormatter.create(options, context);
const cases = goldenCases();
const byName = new Map(cases.map((c) => [c.name, c.event]));
const ev = (name: string): AegisEvent => byName.get(name)!;

// ---- The documented mapping, written out again independently of src/formatters/cef.ts ----

const FFFD = '\ufffd';
const LONE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;
/** Documented sanitization of extension values: NUL and lone surrogates become U+FFFD; everything else is escaped. */
const extValue = (s: string): string => s.replace(LONE, FFFD).replace(/\u0000/g, FFFD);
/** Header values: CR, LF, NUL and lone surrogates become U+FFFD. */
const hdrValue = (s: string): string => s.replace(LONE, FFFD).replace(/[\r\n\u0000]/g, FFFD);
const escapedBytes = (s: string): number =>
  Buffer.byteLength(s.replace(/[\\=]/g, '\\$&').replace(/\r/g, '\\r').replace(/\n/g, '\\n'), 'utf8');

function expectedExtension(e: AegisEvent): Map<string, string> {
  const m = new Map<string, string>();
  const put = (k: string, v: string | number | boolean | undefined): void => {
    if (v === undefined || v === '') return;
    m.set(k, typeof v === 'string' ? extValue(v) : String(v));
  };
  put('rt', eventTime(e).millis);
  put('dvchost', e.host);
  put('externalId', e.event_id);
  const lifecycle = e.type === 'exec' || e.type === 'exit';
  if (e.type === 'block' || e.type === 'connect') put('act', e.action);
  if (e.type === 'audit') {
    put('act', e.audit_action);
    put('suser', e.audit_actor);
    if (e.audit_source !== undefined && isIPv4(e.audit_source)) put('src', e.audit_source);
  }
  put(
    'outcome',
    e.type === 'audit'
      ? e.audit_result === 'success'
        ? 'success'
        : 'failure'
      : e.type === 'exec'
        ? 'success'
        : e.type === 'block' || e.type === 'connect'
          ? e.action === 'BLOCK'
            ? 'failure'
            : 'success'
          : undefined,
  );
  if (e.type === 'connect') {
    const [srcIp, srcPort, dstIp, dstPort] =
      e.direction === 'ingress'
        ? [e.remote_ip, e.remote_port, e.local_ip, e.local_port]
        : [e.local_ip, e.local_port, e.remote_ip, e.remote_port];
    for (const [ip, v4, v6, label, other] of [
      [srcIp, 'src', 'c6a2', 'Source IPv6 Address', 'aegisbpfSrcAddress'],
      [dstIp, 'dst', 'c6a3', 'Destination IPv6 Address', 'aegisbpfDstAddress'],
    ] as const) {
      if (ip === undefined) continue;
      if (isIPv4(ip)) put(v4, ip);
      else if (isIPv6(ip)) {
        put(v6, ip);
        put(`${v6}Label`, label);
      } else put(other, ip);
    }
    put('spt', srcPort);
    put('dpt', dstPort);
    put('proto', e.protocol.toUpperCase());
    put('deviceDirection', e.direction === undefined ? undefined : e.direction === 'egress' ? 1 : 0);
  }
  if (lifecycle) {
    put('spid', e.ppid);
    put('sproc', e.parent_comm);
    put('dpid', e.pid);
    put('dproc', e.comm);
  } else if (
    e.type === 'sensor' ||
    e.type === 'audit' ||
    e.type === 'alert' ||
    e.type === 'trend' ||
    e.type === 'host_stats'
  ) {
    put('dvcpid', e.pid);
    put('deviceProcessName', e.comm);
  } else {
    put('spid', e.pid);
    put('sproc', e.comm);
    put('aegisbpfExe', e.exe);
    put('aegisbpfPpid', e.ppid);
    put('aegisbpfParentComm', e.parent_comm);
  }
  if (
    e.type === 'sensor' ||
    e.type === 'audit' ||
    e.type === 'alert' ||
    e.type === 'trend' ||
    e.type === 'host_stats'
  ) {
    put('aegisbpfExe', e.exe);
    put('aegisbpfPpid', e.ppid);
    put('aegisbpfParentComm', e.parent_comm);
  }
  put('suid', e.uid);
  const file = lifecycle ? e.exe : e.type === 'block' ? e.path : undefined;
  if (file !== undefined && file !== '') {
    put('filePath', file);
    put('fname', baseName(file));
  }
  if (e.type === 'block') put('fileId', e.ino);
  const cmd = e.args === undefined || e.args.length === 0 ? undefined : e.args.join(' ');
  const message =
    e.type === 'sensor' || e.type === 'audit' || e.type === 'alert' || e.type === 'anomaly' || e.type === 'trend'
      ? e.message
      : undefined;
  if (message !== undefined) {
    put('msg', message);
    put('aegisbpfCmdLine', cmd);
  } else put('msg', cmd);
  const labelled = (n: string, label: string, v: string | undefined): void => {
    if (v === undefined || v === '') return;
    put(n, v);
    put(`${n}Label`, label);
  };
  labelled('cs1', 'cgroupPath', e.cgroup_path);
  labelled('cs2', 'execId', e.exec_id);
  labelled('cs3', 'traceId', e.trace_id);
  labelled('cs4', 'policy', e.type === 'block' || e.type === 'connect' || e.type === 'sensor' ? e.policy : undefined);
  labelled('cs5', 'mode', e.mode);
  labelled('cs6', 'sensor', e.sensor);
  const start = processStart(e, undefined);
  labelled('deviceCustomDate1', 'processStartTime', start === undefined ? undefined : String(start.millis));
  if (e.parent_start_ts !== undefined)
    labelled('deviceCustomDate2', 'parentProcessStartTime', String(Date.parse(e.parent_start_ts.slice(0, 23) + 'Z')));
  put('aegisbpfArgsTruncated', e.args_truncated);
  put('aegisbpfGid', e.gid);
  put('aegisbpfParentExe', e.parent_exe);
  put('aegisbpfParentExecId', e.parent_exec_id);
  put('aegisbpfParentTraceId', e.parent_trace_id);
  put('aegisbpfContainerId', e.container_id);
  if (e.type === 'block') put('aegisbpfResolvedPath', e.resolved_path);
  if (e.type === 'exit') put('aegisbpfDurationNs', e.duration_ns);
  if (e.type === 'sensor') put('aegisbpfStatus', e.status);
  if (e.type === 'audit') {
    put('aegisbpfAuditResult', e.audit_result);
    put('aegisbpfAuditActorType', e.audit_actor_type);
    put('aegisbpfAuditTarget', e.audit_target);
    if (e.audit_source !== undefined && !isIPv4(e.audit_source)) put('aegisbpfAuditSource', e.audit_source);
    put('aegisbpfAuditSeq', e.audit_seq);
    put('aegisbpfAuditHash', e.audit_hash);
  }
  if (e.type === 'alert') {
    put('aegisbpfAlert', e.alert);
    put('aegisbpfStatus', e.status);
    put('aegisbpfSeverity', e.severity);
    put('aegisbpfCondition', e.condition);
    put('aegisbpfValue', e.value);
    put('aegisbpfStartedAt', e.started_at);
  }
  put('aegisbpfHook', e.hook);
  // Analytics figures under aegisbpf + the CamelCase of their canonical name (arrays comma-joined).
  for (const [k, v] of Object.entries(e)) {
    if (!['anomaly', 'trend', 'host_stats', 'activity'].includes(e.type) || k === 'message' || k in EVENT_FIELDS.exec)
      continue;
    const camel = k.replace(/(^|_)([a-z0-9])/g, (_m, _u: string, c: string) => c.toUpperCase());
    put(`aegisbpf${camel}`, Array.isArray(v) ? v.join(',') : String(v));
  }
  if (e.labels !== undefined && Object.keys(e.labels).length > 0) {
    const sorted = Object.fromEntries(
      Object.keys(e.labels)
        .sort()
        .map((k) => [k, e.labels![k]]),
    );
    put('aegisbpfLabels', JSON.stringify(sorted));
  }
  labelled('cn1', 'cgroupId', String(e.cgid));
  if (e.type === 'exit') {
    labelled('cn2', 'exitCode', String(e.exit_code));
    labelled('cn3', 'signal', e.signal === undefined ? undefined : String(e.signal));
  }
  if (e.type === 'block') {
    labelled('cn2', 'openFlags', e.open_flags === undefined ? undefined : String(e.open_flags));
    labelled('cn3', 'device', String(e.dev));
  }
  return m;
}

/**
 * Parsed extension equals the expected one, except that keys listed in aegisbpfTruncated hold the longest prefix of
 * the expected value whose escaped form fits the key's dictionary length (and only those keys, only when too long).
 */
function assertSameFields(parsed: ReadonlyMap<string, string>, expected: Map<string, string>, enforce: boolean): void {
  const truncated = parsed.get('aegisbpfTruncated')?.split(',') ?? [];
  const shouldCut: string[] = [];
  for (const [k, v] of expected) {
    const def = CEF_DICTIONARY[k];
    if (enforce && def?.type === 'string' && escapedBytes(v) > def.length) shouldCut.push(k);
  }
  assert.deepEqual(
    truncated,
    shouldCut,
    'aegisbpfTruncated lists exactly the keys whose values exceed their dictionary length',
  );
  const got = new Map(parsed);
  got.delete('aegisbpfTruncated');
  for (const k of shouldCut) {
    const full = expected.get(k)!;
    const cut = got.get(k)!;
    const max = CEF_DICTIONARY[k]!.length;
    assert.ok(full.startsWith(cut), `${k}: the cut value is a prefix of the full value`);
    assert.ok(escapedBytes(cut) <= max, `${k}: the cut value fits ${max} bytes escaped`);
    const next = [...full.slice(cut.length)][0]!;
    assert.ok(escapedBytes(cut + next) > max, `${k}: the cut is as long as possible`);
    got.set(k, full);
  }
  assert.deepEqual(Object.fromEntries([...got].sort()), Object.fromEntries([...expected].sort()));
}

function checkHeader(line: string, e: AegisEvent): void {
  const r = parseCef(line);
  assert.equal(r.version, 0);
  assert.equal(r.vendor, 'aegisbpf');
  assert.equal(r.product, 'aegisbpf');
  assert.equal(r.deviceVersion, GOLDEN_CONTEXT.version);
  assert.equal(r.signatureId, hdrValue(eventClassId(e)));
  assert.equal(r.name, hdrValue(eventName(e)));
  assert.equal(r.severity, String(severityOf(e)));
}

// ---- Tests ----

test('cef golden files: every event type and edge case, byte for byte (default options and space_after_header)', () => {
  const problems: string[] = [];
  const plain = make();
  const spaced = make({ space_after_header: true });
  for (const { name, event } of cases) {
    for (const m of [
      compareGolden('cef', name, 'cef', goldenBytes(plain.format(event))),
      compareGolden('cef-space-after-header', name, 'cef', goldenBytes(spaced.format(event))),
    ]) {
      if (m !== undefined) problems.push(m);
    }
  }
  assert.deepEqual(problems, []);
});

test('every golden case parses with the strict CEF parser into exactly the documented fields', () => {
  const f = make();
  for (const { name, event } of cases) {
    const line = f.format(event);
    checkHeader(line, event);
    assertSameFields(parseCef(line).extension, expectedExtension(event), true);
    assert.ok(!/[\r\n]/.test(line), `${name}: one line`);
  }
});

test('round trip: adversarial values come back exactly (or as documented) through the strict parser (property)', () => {
  const plain = make();
  const whole = make({ enforce_lengths: false });
  const spaced = make({ space_after_header: true });
  fc.assert(
    fc.property(adversarialEvent, (e) => {
      assert.ok(isValidEvent(e), 'generated events are schema-valid');
      const line = plain.format(e);
      checkHeader(line, e);
      assertSameFields(parseCef(line).extension, expectedExtension(e), true);
      assertSameFields(parseCef(whole.format(e), { checkTypes: false }).extension, expectedExtension(e), false);
      const s = parseCef(spaced.format(e), { allowLeadingSpace: true });
      assert.ok(s.leadingSpace);
      assert.deepEqual(s.extension, parseCef(line).extension);
    }),
    { numRuns: Number(process.env.AEGIS_FC_RUNS ?? 400) },
  );
});

test('injection: a path full of CEF syntax forges no key and no header field', () => {
  const e = ev('block-kill-adversarial');
  const r = parseCef(make().format(e));
  assert.equal(r.extension.get('filePath'), (e as { path: string }).path.replace('\u0000', FFFD));
  assert.equal(r.extension.get('act'), 'KILL', 'the forged act=allow did not replace the real action');
  assert.equal(r.extension.get('cs1'), e.cgroup_path);
  assert.ok(!r.extension.has('dst'), 'the forged dst= inside the path is not a key');
  assert.equal(r.signatureId, 'block:KILL');
  assert.equal(r.severity, '9');
});

test('file paths never go to dst/src; dst and src only ever hold IPv4 addresses; IPv6 goes to c6a2/c6a3', () => {
  const f = make();
  for (const { event } of cases) {
    const x = parseCef(f.format(event)).extension;
    for (const k of ['src', 'dst']) if (x.has(k)) assert.ok(isIPv4(x.get(k)!), `${k}=${x.get(k)!}`);
    if (event.type === 'block' && event.path !== undefined && event.path !== '') {
      assert.equal(x.get('filePath')?.slice(0, 20), extValue(event.path).slice(0, 20));
      assert.equal(x.get('fname'), extValue(baseName(event.path)).slice(0, x.get('fname')!.length));
    }
  }
  const v6 = parseCef(f.format(ev('connect-ipv6-block'))).extension;
  assert.equal(v6.get('c6a3'), '2001:db8::dead:beef');
  assert.equal(v6.get('c6a3Label'), 'Destination IPv6 Address');
  assert.ok(!v6.has('dst'));
});

test('the strict parser itself rejects the AegisBPF SIEM guide mapping (path in dst) and broken escaping', () => {
  const ok = 'CEF:0|aegisbpf|aegisbpf|1|block:KILL|Process killed|9|rt=1795257000123 act=KILL';
  assert.doesNotThrow(() => parseCef(ok));
  assert.throws(() => parseCef(ok + ' dst=/etc/shadow'), CefParseError, 'a path in dst');
  assert.throws(() => parseCef(ok + ' filePath=/tmp/a=b'), CefParseError, 'an unescaped =');
  assert.throws(() => parseCef(ok + ' filePath=/tmp/a\\|b'), CefParseError, 'a header escape in the extension');
  assert.throws(() => parseCef(ok + ' msg=a\nb'), CefParseError, 'a raw LF');
  assert.throws(() => parseCef(ok + ' cs1=x'), CefParseError, 'a custom string without its label');
  assert.throws(
    () => parseCef('CEF:0|a|b|1|c|d|3| rt=1'),
    CefParseError,
    'a space after the last header | (strict mode)',
  );
  assert.throws(() => parseCef('CEF:0|a|b\\x|1|c|d|3|'), CefParseError, 'an unknown header escape');
  assert.throws(() => parseCef('CEF:0|a|b|1|c|d|11|'), CefParseError, 'severity out of range');
  const spec = parseCef(
    'CEF:0|Acme|EDR Shipper|1.2.0|process:start|Process started|3|rt=1718000000123 cs1Label=commandLine cs1=cmd.exe /c echo a\\=b|c\\nnext cs2Label=processPath cs2=C:\\\\Windows\\\\System32\\\\cmd.exe act=start',
  );
  assert.equal(spec.extension.get('cs1'), 'cmd.exe /c echo a=b|c\nnext');
  assert.equal(spec.extension.get('cs2'), 'C:\\Windows\\System32\\cmd.exe');
  assert.equal(
    parseCef('CEF:0|a|b|1|c|d|3|msg=x  trail  cn1Label=l cn1=1').extension.get('msg'),
    'x  trail ',
    'spaces before the separator belong to the value',
  );
});

test('enforce_lengths: a 4 KiB path is cut to 1023 bytes in filePath and listed; enforce_lengths=false keeps it whole', () => {
  const e = ev('block-long-path') as AegisEvent & { path: string };
  const cut = parseCef(make().format(e)).extension;
  assert.equal(Buffer.byteLength(cut.get('filePath')!), 1023);
  assert.ok(e.path.startsWith(cut.get('filePath')!));
  assert.deepEqual(cut.get('aegisbpfTruncated')?.split(','), ['filePath']);
  const whole = parseCef(make({ enforce_lengths: false }).format(e), { checkTypes: false }).extension;
  assert.equal(whole.get('filePath'), e.path);
  assert.ok(!whole.has('aegisbpfTruncated'));
});

test('header: a sensor status with |, \\ and a line break cannot shift header fields', () => {
  const e = ev('sensor-status-injection');
  const line = make().format(e);
  assert.ok(!/[\r\n]/.test(line));
  const r = parseCef(line);
  assert.equal(r.name, 'Sensor degraded|CEF:0\\x');
  assert.equal(r.severity, String(severityOf(e)));
  assert.equal(r.extension.get('aegisbpfStatus'), 'degraded|CEF:0\\x');
  assert.equal(r.extension.get('msg'), 'ring buffer full\nCEF:0|forged|x|1|2|3|10|act=allow\r\ncontinues');
});

test('start_time becomes deviceCustomDate1 (epoch ms) only when a wall clock is known; never invented', () => {
  const e = ev('exec-minimal');
  assert.ok(!parseCef(make().format(e)).extension.has('deviceCustomDate1'));
  const boot = BigInt(Date.parse('2026-11-20T00:00:00Z')) * 1_000_000n;
  const x = parseCef(make({}, { ...GOLDEN_CONTEXT, bootWallNanos: boot }).format(e)).extension;
  assert.equal(x.get('deviceCustomDate1'), String(Date.parse('2026-11-20T00:16:27.654Z')));
  assert.equal(x.get('deviceCustomDate1Label'), 'processStartTime');
  assert.equal(
    parseCef(make().format(ev('exec-full'))).extension.get('deviceCustomDate1'),
    String(Date.parse('2026-11-21T09:00:00.000Z')),
  );
});

test('cef is registered, with an options schema the registry accepts', () => {
  const f = createFormatter({ type: 'cef', space_after_header: true }, GOLDEN_CONTEXT);
  assert.ok(f.format(ev('exec-minimal')).includes('|3| rt='));
  assert.equal(cefFormatter.output, 'string');
});

test('cef device_vendor/device_product and signature: guide write the AegisBPF SIEM guide’s header; dst stays a path-free IPv4 key', () => {
  const f = createFormatter<string>(
    { type: 'cef', device_vendor: 'AegisBPF', device_product: 'AegisBPF', signature: 'guide' },
    GOLDEN_CONTEXT,
  );
  const base = goldenCases().find((c) => c.event.type === 'block')!.event;
  const fileBlock = { ...base, action: 'BLOCK', hook: 'lsm/file_open', path: '/etc/shadow' } as AegisEvent;
  const execKill = { ...base, action: 'KILL', hook: 'lsm/bprm_check_security' } as AegisEvent;
  const audit = { ...base, action: 'AUDIT', hook: 'sys_exit_openat' } as AegisEvent;
  const line = f.format(fileBlock);
  assert.ok(line.startsWith(`CEF:0|AegisBPF|AegisBPF|${GOLDEN_CONTEXT.version}|BLOCK|File Access Blocked|`), line);
  assert.match(f.format(execKill), /\|KILL\|Execution Blocked\|/);
  assert.match(f.format(audit), /\|AUDIT\|File Access Audited\|/);
  // The strict parser accepts it; the path is in filePath, never in dst (an IPv4 key).
  const parsed = parseCef(line);
  assert.deepEqual(
    [parsed.vendor, parsed.product, parsed.signatureId, parsed.name],
    ['AegisBPF', 'AegisBPF', 'BLOCK', 'File Access Blocked'],
  );
  assert.equal(parsed.extension.get('filePath'), '/etc/shadow');
  assert.equal(parsed.extension.get('dst'), undefined);
  // Other events keep their class ids; the default stays `aegisbpf|aegisbpf` with class ids (content depends on it).
  const exec = goldenCases().find((c) => c.event.type === 'exec')!.event;
  assert.match(f.format(exec), /^CEF:0\|AegisBPF\|AegisBPF\|[^|]+\|exec\|/);
  const plain = createFormatter('cef', GOLDEN_CONTEXT);
  assert.match(plain.format(fileBlock), /^CEF:0\|aegisbpf\|aegisbpf\|[^|]+\|block:BLOCK\|File access blocked\|/);
});
