/**
 * IBM QRadar content in rules/qradar/ (no QRadar runs here). Checked with what QRadar itself uses:
 * - test/helpers/LsxCheck.java, compiled by this test with javac, parses each log source extension with the JDK's XML
 *   parser, holds it to the documented element and attribute set (device-extension in its namespace, patterns in
 *   CDATA, match-group / matcher / event-match-single with their attributes, known matcher fields), compiles every
 *   pattern with java.util.regex and applies the matchers QRadar's way (per field, in `order`, first match wins,
 *   capture group or substitution template);
 * - the payloads are the formatters' real output (bare lines, RFC 3164 and RFC 5424 framing) for every event type and
 *   adversarial events; every capture must equal the event's field as the payload carries it, and EventName must
 *   always be found;
 * - the custom properties resolve (JSON keypath, CEF key, LEEF key) to the event's field for every event.
 */
import { before, after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import fc from 'fast-check';
import { FIELD_ORDER } from '../../src/event/fields';
import type { AegisEvent } from '../../src/event/types';
import { createFormatter } from '../../src/formatters/registry';
import { packagePath } from '../../src/util/paths';
import { GOLDEN_CONTEXT, goldenCases } from '../formatters/golden';
import { adversarialEvent } from '../helpers/adversarial';
import { generateEvents } from '../helpers/events';
import { makeTempDir } from '../helpers/tmp';
import { parseCef } from '../parsers/cef';
import { parseLeef } from '../parsers/leef';
import { parseRfc5424 } from '../parsers/rfc5424';

const DIR = packagePath('rules', 'qradar');
const JSON_LSX = path.join(DIR, 'aegisbpf-json.lsx.xml');
const CEF_LSX = path.join(DIR, 'aegisbpf-cef.lsx.xml');
const javac = spawnSync('javac', ['-version'], { encoding: 'utf8' });
const skip = javac.status === 0 ? false : 'javac (JDK 17) is not installed: apt-get install openjdk-17-jdk-headless';

const tmp = makeTempDir('qradar-lsx-');
after(() => tmp.cleanup());
before(() => {
  if (skip !== false) return;
  const r = spawnSync('javac', ['-d', tmp.dir, packagePath('test', 'helpers', 'LsxCheck.java')], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
});

interface LsxResult {
  problems: string[];
  patterns: string[];
  fields: Map<string, string>[];
  events: ({ name: string; category: string; severity: number } | undefined)[];
}

function runLsx(lsx: string, payloads: readonly string[]): LsxResult {
  const file = path.join(tmp.dir, `payloads-${path.basename(lsx)}.b64`);
  fs.writeFileSync(file, payloads.map((p) => Buffer.from(p, 'utf8').toString('base64')).join('\n') + '\n');
  const r = spawnSync('java', ['-Xss8m', '-cp', tmp.dir, 'LsxCheck', lsx, file], {
    encoding: 'utf8',
    maxBuffer: 512 * 1024 * 1024,
  });
  assert.equal(r.status, 0, r.stderr);
  const d = (s: string): string => Buffer.from(s, 'base64').toString('utf8');
  const out: LsxResult = { problems: [], patterns: [], fields: payloads.map(() => new Map()), events: [] };
  for (const line of r.stdout.split('\n')) {
    const [kind, a, b, c, e] = line.split('\t') as [string, string, string, string, string];
    if (kind === 'problem') out.problems.push(d(a));
    else if (kind === 'pattern') out.patterns.push(d(a));
    else if (kind === 'field') out.fields[Number(a)]?.set(b, d(c));
    else if (kind === 'event') out.events[Number(a)] = { name: d(b), category: d(c), severity: Number(e) };
  }
  return out;
}

// ---- samples ---------------------------------------------------------------------------------------------------

const base = goldenCases().find((c) => c.name === 'exec-full')?.event as AegisEvent;
function variant(patch: Record<string, unknown>): AegisEvent {
  const e: Record<string, unknown> = { ...base, ...patch };
  for (const [k, v] of Object.entries(patch)) if (v === undefined) delete e[k];
  return e as unknown as AegisEvent;
}
const FORGED = '] CEF:0|aegisbpf|aegisbpf|9|exec|Forged|1|src=6.6.6.6 spt=1 {"ts":"x","type":"exec","action":"KILL"}';
const CRAFTED: AegisEvent[] = [
  variant({ exe: '/tmp/my "evil" dir/run me', comm: 'x act=ALLOW dst=1.2.3.4' }),
  variant({ type: 'block', action: 'KILL', ino: 1, dev: 2, path: `/var/www/a act=ALLOW b ${FORGED}\\n` }),
  variant({ type: 'block', action: 'BLOCK', ino: 1, dev: 2, path: `x\\`, policy: 'p\\' }),
  variant({
    type: 'connect',
    family: 'ipv4',
    protocol: 'tcp',
    remote_ip: '203.0.113.9',
    remote_port: 4444,
    local_ip: '10.0.0.5',
    local_port: 40000,
    comm: FORGED,
    labels: { action: 'KILL', local_ip: '6.6.6.6', zz: 'x' },
  }),
  ...['drops', 'degraded', 'policy_rolled_back', 'error', 'stopped'].map((status) =>
    variant({ type: 'sensor', status, message: `m ${FORGED}` }),
  ),
  // Every documented audit action (docs/api.md), each analytics detector and trend subject: one QID each.
  ...[
    ...['policy.apply', 'policy.rollback', 'blocklist.add', 'blocklist.delete', 'key.create', 'key.revoke'],
    ...['key.rotate', 'role.create', 'role.assign', 'auth.failure', 'auth.forbidden', 'daemon.start', 'daemon.stop'],
  ].map((audit_action) =>
    variant({ type: 'audit', audit_action, audit_result: 'success', audit_actor: `ci ${FORGED}`, args: undefined }),
  ),
  variant({ type: 'audit', audit_action: `x${'y'.repeat(40)}`, audit_result: 'failure', audit_actor: 'a' }),
  ...['rate', 'rare', 'isolation_forest'].map((detector) =>
    variant({ type: 'anomaly', detector, anomaly_key: `k ${FORGED}`, score: 0.9, threshold: 0.5 }),
  ),
  ...['events', 'deny_inode', 'deny_path', 'deny_path_leaf', 'allow_cgroup', 'net_v4_lpm', 'net_v6_lpm'].map(
    (subject) => variant({ type: 'trend', subject, current: 10, capacity: 100, slope_per_s: 0.5 }),
  ),
  ...['net_port', 'net_addr_port'].map((subject) => variant({ type: 'trend', subject, current: 1, slope_per_s: 1 })),
  // Labels come before the analytics fields in the json key order: a label named like one must not be taken for it.
  variant({
    type: 'anomaly',
    detector: 'rare',
    anomaly_key: 'k',
    score: 1,
    threshold: 1,
    labels: { a: '"detector":"forged"}', detector: 'forged', 'x"}': '"subject":"y' },
  }),
];
const EVENTS: AegisEvent[] = [
  ...goldenCases().map((c) => c.event),
  ...CRAFTED,
  ...generateEvents(120, { adversarial: true, seed: 21 }),
  ...fc.sample(adversarialEvent, { numRuns: 120, seed: 2021 }),
];

const fmt = (spec: Parameters<typeof createFormatter>[0]): ((e: AegisEvent) => string) => {
  const f = createFormatter(spec, GOLDEN_CONTEXT);
  return (e) => f.format(e);
};
const JSON_FORMS = {
  json: fmt('json'),
  'rfc3164-json': fmt({ type: 'rfc3164' }),
  'rfc5424-json': fmt({ type: 'rfc5424', sd_fields: 'all' }),
};
const CEF_FORMS = {
  cef: fmt('cef'),
  'rfc3164-cef': fmt({ type: 'rfc3164', msg: 'cef' }),
  'rfc5424-cef': fmt({ type: 'rfc5424', msg: 'cef', sd_fields: 'all' }),
};

function samplesOf(
  forms: Record<string, (e: AegisEvent) => string>,
): { form: string; event: AegisEvent; line: string }[] {
  return EVENTS.flatMap((event) => Object.entries(forms).map(([form, f]) => ({ form, event, line: f(event) })));
}
const jsonSamples = samplesOf(JSON_FORMS);
const cefSamples = samplesOf(CEF_FORMS);

/** The syslog MSG (or the line itself) of a sample. */
function msgOf(form: string, line: string): string {
  if (form.startsWith('rfc5424')) return parseRfc5424(line).msgText ?? '';
  if (form.startsWith('rfc3164')) return line.slice(line.indexOf(']: ') + 3);
  return line;
}

const qidMap = fs
  .readFileSync(path.join(DIR, 'qid-map.csv'), 'utf8')
  .trim()
  .split('\n')
  .slice(1)
  .map((l) => l.split(','));
const QID_SEVERITY = new Map(qidMap.map((r) => [r[0] as string, Number(r[4])]));

// ---- expected values --------------------------------------------------------------------------------------------

/** The value as a JSON LSX regex can take it: only when JSON writes it without escapes. */
function plainJson(v: unknown): string | undefined {
  if (typeof v === 'number') return String(v);
  if (typeof v !== 'string' || v === '') return undefined;
  return JSON.stringify(v) === `"${v}"` ? v : undefined;
}

/** The field that qualifies a type's class id (CEF Signature ID `type:value`), besides sensor's status. */
const QUALIFIER: Record<string, string | undefined> = { audit: 'audit_action', anomaly: 'detector', trend: 'subject' };

function expectedJsonFields(msg: string): Map<string, string> {
  const o = JSON.parse(msg) as Record<string, unknown>;
  const m = new Map<string, string>();
  const type = o.type as string;
  if ((type === 'block' || type === 'connect') && typeof o.action === 'string')
    m.set('EventName', `${type}:${o.action}`);
  else if (type === 'sensor' && /^[A-Za-z0-9_.-]{1,40}$/.test(o.status as string))
    m.set('EventName', `sensor:${String(o.status)}`);
  else if (type === 'alert') m.set('EventName', `alert:${o.status === 'resolved' ? 'resolved' : 'firing'}`);
  else if (QUALIFIER[type] !== undefined && /^[A-Za-z0-9_.-]{1,40}$/.test(o[QUALIFIER[type]] as string))
    m.set('EventName', `${type}:${String(o[QUALIFIER[type]])}`);
  else m.set('EventName', type);
  const host = plainJson(o.host);
  if (host !== undefined) m.set('HostName', host);
  if (type === 'connect') {
    const put = (field: string, v: string | undefined): void => void (v !== undefined && m.set(field, v));
    // Source is the initiator: the remote end of an ingress connection.
    const ingress = o.direction === 'ingress';
    put('SourceIp', plainJson(ingress ? o.remote_ip : o.local_ip));
    put('SourcePort', plainJson(ingress ? o.remote_port : o.local_port));
    put('DestinationIp', plainJson(ingress ? o.local_ip : o.remote_ip));
    put('DestinationPort', plainJson(ingress ? o.local_port : o.remote_port));
    if (/^[A-Za-z0-9]+$/.test(o.protocol as string)) m.set('Protocol', o.protocol as string);
  }
  return m;
}

function cefEscape(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/=/g, '\\=').replace(/\r/g, '\\r').replace(/\n/g, '\\n');
}

function expectedCefFields(msg: string): Map<string, string> {
  const c = parseCef(msg, { checkTypes: false });
  const x = c.extension;
  const m = new Map<string, string>([['EventName', c.signatureId]]);
  if (x.has('dvchost')) m.set('HostName', cefEscape(x.get('dvchost') as string));
  const ipv4 = /^\d{1,3}(\.\d{1,3}){3}$/;
  const src = x.get('src') ?? x.get('c6a2');
  const dst = x.get('dst') ?? x.get('c6a3');
  if (src !== undefined && (ipv4.test(src) || /^[0-9A-Fa-f:.]+(%.*)?$/.test(src))) m.set('SourceIp', cefEscape(src));
  if (dst !== undefined && (ipv4.test(dst) || /^[0-9A-Fa-f:.]+(%.*)?$/.test(dst)))
    m.set('DestinationIp', cefEscape(dst));
  if (x.has('spt')) m.set('SourcePort', x.get('spt') as string);
  if (x.has('dpt')) m.set('DestinationPort', x.get('dpt') as string);
  if (/^[A-Za-z0-9]+$/.test(x.get('proto') ?? '')) m.set('Protocol', x.get('proto') as string);
  return m;
}

// ---- tests ------------------------------------------------------------------------------------------------------

function checkForm(lsx: string, samples: typeof jsonSamples, expected: (msg: string) => Map<string, string>): void {
  const r = runLsx(
    lsx,
    samples.map((s) => s.line),
  );
  assert.deepEqual(r.problems, []);
  assert.ok(r.patterns.length >= 9);
  const failures: string[] = [];
  samples.forEach((s, i) => {
    const want = expected(msgOf(s.form, s.line));
    const got = r.fields[i] as Map<string, string>;
    const where = `${s.form} ${JSON.stringify(s.line).slice(0, 200)}`;
    if (!got.has('EventName')) failures.push(`${where}: no EventName`);
    for (const [k, v] of want)
      if (got.get(k) !== v)
        failures.push(`${where}: ${k} = ${JSON.stringify(got.get(k))}, expected ${JSON.stringify(v)}`);
    for (const k of got.keys())
      if (!want.has(k)) failures.push(`${where}: unexpected ${k} = ${JSON.stringify(got.get(k))}`);
    const name = got.get('EventName') as string;
    const ev = r.events[i];
    if (QID_SEVERITY.has(name)) {
      if (ev?.name !== name || ev.severity !== QID_SEVERITY.get(name) || ev.category !== 'aegisbpf')
        failures.push(`${where}: event-match-single for ${name}: ${JSON.stringify(ev)}`);
    } else if (ev !== undefined) failures.push(`${where}: ${name} mapped but not in qid-map.csv`);
  });
  assert.deepEqual(failures.slice(0, 8), [], `${failures.length} failures`);
  // Every event name of the QID map is produced by some sample (golden + crafted cover every type and action).
  const names = new Set(r.fields.map((f) => f.get('EventName')));
  for (const n of QID_SEVERITY.keys())
    // The bare qualified types are the JSON LSX's fallback for a value it cannot take as written (CEF always qualifies).
    if (!['sensor', 'sensor:started', 'connect:INT', 'connect:TERM', 'audit', 'anomaly', 'trend'].includes(n))
      assert.ok(names.has(n), `no sample produced ${n}`);
}

test(
  'JSON LSX: documented XML; every pattern compiles in java.util.regex; EventName and fields equal the event',
  { skip },
  () => {
    checkForm(JSON_LSX, jsonSamples, expectedJsonFields);
  },
);

test(
  'CEF LSX: documented XML; every pattern compiles in java.util.regex; EventName and fields equal the event',
  { skip },
  () => {
    checkForm(CEF_LSX, cefSamples, expectedCefFields);
  },
);

test('negatives: other vendors, other JSON, forged text outside the real header yield no EventName', { skip }, () => {
  const negatives = [
    'CEF:0|other|thing|1.0|block:KILL|x|9|act=KILL',
    '<13>Nov 21 10:30:00 web-1 sshd[1]: text CEF:0|aegisbpf|aegisbpf|1|exec|x|1|src=1.1.1.1',
    '{"type":"exec","ts":"x"}',
    '{"event":{"action":"exec"},"ts":"x","type":"exec"}',
    'LEEF:2.0|aegisbpf|aegisbpf|1.2.3|exec|x09|cat=exec',
  ];
  for (const lsx of [JSON_LSX, CEF_LSX]) {
    const r = runLsx(lsx, negatives);
    r.fields.forEach((f, i) => assert.equal(f.get('EventName'), undefined, `${path.basename(lsx)}: ${negatives[i]}`));
  }
});

test(
  'the checker rejects the AegisBPF guide-style XML (wrong root, regex= attribute, capture_groups)',
  { skip },
  () => {
    const bad = path.join(tmp.dir, 'guide.xml');
    fs.writeFileSync(
      bad,
      '<?xml version="1.0"?><device_extension><pattern id="p" regex="act=(\\w+)"/>' +
        '<match-group order="1"><matcher field="EventName" pattern-id="p" capture_groups="1"/></match-group></device_extension>',
    );
    const r = runLsx(bad, ['x']);
    assert.ok(r.problems.some((p) => /root must be <device-extension/.test(p)));
    assert.ok(r.problems.some((p) => /regex/.test(p)));
    assert.ok(r.problems.some((p) => /capture_groups/.test(p)));
    assert.ok(r.problems.some((p) => /CDATA/.test(p)));
  },
);

test('qid-map.csv and the event-match-single entries of both LSX files agree', () => {
  for (const lsx of [JSON_LSX, CEF_LSX]) {
    const xml = fs.readFileSync(lsx, 'utf8');
    const entries = [
      ...xml.matchAll(/<event-match-single event-name="([^"]+)" device-event-category="aegisbpf" severity="(\d+)"/g),
    ];
    assert.deepEqual(
      entries.map((m) => [m[1], Number(m[2])]),
      [...QID_SEVERITY.entries()],
      path.basename(lsx),
    );
  }
  for (const r of qidMap) {
    assert.equal(r.length, 7, r.join(','));
    assert.ok(Number(r[4]) >= 1 && Number(r[4]) <= 10);
    assert.match(r[5] as string, /^(40\d\d)?$/);
  }
});

interface CustomProperty {
  name: string;
  field: string;
  type: string;
  json: string;
  leef: string;
  cef: { key: string; events?: string[] }[];
}
const props = (
  JSON.parse(fs.readFileSync(path.join(DIR, 'custom-properties.json'), 'utf8')) as { properties: CustomProperty[] }
).properties;

/** Lone UTF-16 surrogates as U+FFFD (what every formatter writes for them). */
function wellFormed(s: string): string {
  return s.replace(/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g, '\ufffd');
}

/** A QRadar JSON keypath (`/"a"/"b"`, `[n]`, `[]`) evaluated on a parsed object. */
function keypath(obj: unknown, kp: string): unknown {
  assert.match(kp, /^(\/"[^"]+"(\[\d*\])?)+$/, kp);
  let cur: unknown = obj;
  for (const m of kp.matchAll(/\/"([^"]+)"(\[(\d*)\])?/g)) {
    cur = cur !== null && typeof cur === 'object' ? (cur as Record<string, unknown>)[m[1] as string] : undefined;
    if (m[2] !== undefined && m[3] !== '') cur = Array.isArray(cur) ? cur[Number(m[3])] : undefined;
  }
  return cur;
}

test('custom properties: every field of the schema, the guide four included; each expression resolves to the field', () => {
  const fields = new Set<string>(FIELD_ORDER);
  for (const p of props) assert.ok(fields.has(p.field), `${p.name}: ${p.field} is not an event field`);
  for (const f of ['pid', 'path', 'action', 'cgroup_path'])
    assert.ok(
      props.some((p) => p.field === f),
      f,
    );
  const json = createFormatter('json', GOLDEN_CONTEXT);
  const cef = createFormatter({ type: 'cef', enforce_lengths: false }, GOLDEN_CONTEXT);
  const leef = createFormatter('leef', GOLDEN_CONTEXT);
  const clean = (v: string): boolean => !/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/.test(v);
  const failures: string[] = [];
  for (const e of [...goldenCases().map((c) => c.event), ...CRAFTED, ...generateEvents(60, { adversarial: true })]) {
    const obj = JSON.parse(json.format(e)) as Record<string, unknown>;
    const c = parseCef(cef.format(e), { checkTypes: false }).extension;
    const l = parseLeef(leef.format(e)).attributes;
    for (const p of props) {
      const v = obj[p.field];
      if (keypath(obj, p.json) !== v) failures.push(`${p.name} json ${p.json}`);
      // CEF and LEEF leave empty values out.
      if (v === undefined || v === '' || typeof v === 'object') continue;
      const want = wellFormed(typeof v === 'string' ? v : JSON.stringify(v));
      const cefExpr = p.cef.find((x) => (x.events === undefined || x.events.includes(e.type)) && c.has(x.key));
      const cefWanted = p.cef.some((x) => x.events === undefined || x.events.includes(e.type));
      if (cefWanted && clean(want)) {
        const got = cefExpr === undefined ? undefined : c.get(cefExpr.key);
        const ok = p.field === 'protocol' ? got === want.toUpperCase() : got === want;
        if (!ok) failures.push(`${p.name} (${e.type}) cef: ${JSON.stringify(got)} != ${JSON.stringify(want)}`);
      }
      const leefGot = l.get(p.leef);
      if (clean(want) && (p.field === 'protocol' ? leefGot !== want.toUpperCase() : leefGot !== want))
        failures.push(`${p.name} (${e.type}) leef ${p.leef}: ${JSON.stringify(leefGot)} != ${JSON.stringify(want)}`);
    }
  }
  assert.deepEqual([...new Set(failures)].slice(0, 10), []);
});

test('one QID map for all three forms: LEEF EventID = CEF Signature ID = the JSON LSX EventName, for every event', () => {
  const leef = createFormatter('leef', GOLDEN_CONTEXT);
  const cef = createFormatter('cef', GOLDEN_CONTEXT);
  for (const e of [...goldenCases().map((c) => c.event), ...CRAFTED]) {
    const id = parseLeef(leef.format(e)).eventId;
    assert.equal(id, parseCef(cef.format(e), { checkTypes: false }).signatureId);
    const jsonName = expectedJsonFields(JSON_FORMS.json(e)).get('EventName');
    // The JSON LSX reads the status (audit_action, detector, subject) as written; CEF/LEEF replace characters
    // outside [A-Za-z0-9_.-] in it and cut it at 40: then the JSON name is the bare type.
    const qualifier =
      e.type === 'sensor' ? e.status : (e as unknown as Record<string, unknown>)[QUALIFIER[e.type] ?? ''];
    const clean = typeof qualifier !== 'string' || /^[A-Za-z0-9_.-]{1,40}$/.test(qualifier);
    assert.equal(jsonName, clean ? id : e.type);
    if (e.type !== 'sensor' && clean) assert.ok(QID_SEVERITY.has(id), `${id} has a QID map entry`);
  }
});
