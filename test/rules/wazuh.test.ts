/**
 * Wazuh 4.x content in rules/wazuh/4.x/ (no Wazuh manager can run here: its build downloads its dependencies from
 * Wazuh's own servers). Checked with Wazuh's regex semantics instead:
 * - every OS_Regex / OS_Match pattern compiles in PyPI `wazuhregex` (a reimplementation of Wazuh's os_regex);
 * - test/helpers/wazuh-eval.py (a small evaluator of the decoder tree and the rule tree, see its header for what it
 *   models and what not) decodes the formatters' real output for every event type, in the three forms Wazuh receives
 *   (JSON behind an RFC 3164 header, CEF behind an RFC 3164 header, bare JSON lines), plus adversarial events;
 * - each decodes to the fields the formatter wrote and fires the expected rule id and level; negatives fire nothing.
 */
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import fc from 'fast-check';
import type { AegisEvent } from '../../src/event/types';
import { createFormatter } from '../../src/formatters/registry';
import { packagePath } from '../../src/util/paths';
import { GOLDEN_CONTEXT, goldenCases } from '../formatters/golden';
import { adversarialEvent } from '../helpers/adversarial';
import { generateEvents } from '../helpers/events';
import { siemTool } from '../helpers/siem-tools';
import { makeTempDir } from '../helpers/tmp';
import { parseCef } from '../parsers/cef';

const DECODERS = packagePath('rules', 'wazuh', '4.x', 'decoders', 'aegisbpf_decoders.xml');
const RULES = packagePath('rules', 'wazuh', '4.x', 'rules', 'aegisbpf_rules.xml');
const EVALUATOR = packagePath('test', 'helpers', 'wazuh-eval.py');
const tool = siemTool('python_wazuh');
const skip = 'skip' in tool ? tool.skip : false;

interface EvalRule {
  id: string;
  level: number;
  chain: string[];
  groups: string[];
  mitre: string[];
  description: string;
}
interface EvalResult {
  decoder: string | null;
  program_name: string | null;
  static: Record<string, string>;
  dynamic: Record<string, string>;
  rule: EvalRule | null;
}
interface EvalOutput {
  problems: string[];
  patterns: { where: string; engine: string; pattern: string; errors: Record<string, string> }[];
  results: EvalResult[];
  rules: { id: string; level: number; groups: string[]; mitre: string[]; description: string; if_sid: string[] }[];
}

function evaluate(events: readonly string[], decoders = [DECODERS], rules = [RULES]): EvalOutput {
  if ('skip' in tool) throw new Error(tool.skip);
  const r = spawnSync(tool.path, [EVALUATOR], {
    input: JSON.stringify({ decoders, rules, events }),
    encoding: 'utf8',
    maxBuffer: 256 * 1024 * 1024,
  });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout) as EvalOutput;
}

// ---- samples: the formatters' own output ---------------------------------------------------------------------

type Form = 'syslog-json' | 'syslog-cef' | 'json-line';
const FORMS: Record<Form, (e: AegisEvent) => string> = {
  'syslog-json': (
    (f) => (e: AegisEvent) =>
      f.format(e)
  )(createFormatter({ type: 'rfc3164' }, GOLDEN_CONTEXT)),
  'syslog-cef': (
    (f) => (e: AegisEvent) =>
      f.format(e)
  )(createFormatter({ type: 'rfc3164', msg: 'cef' }, GOLDEN_CONTEXT)),
  'json-line': (
    (f) => (e: AegisEvent) =>
      f.format(e)
  )(createFormatter('json', GOLDEN_CONTEXT)),
};

const base = goldenCases().find((c) => c.name === 'exec-full')?.event as AegisEvent;
function variant(patch: Record<string, unknown>): AegisEvent {
  const e: Record<string, unknown> = { ...base, ...patch };
  for (const [k, v] of Object.entries(patch)) if (v === undefined) delete e[k];
  return e as unknown as AegisEvent;
}
/** Hand-written adversarial and coverage events: quotes, spaces, forged `act=`/`dst=` text, escaped newlines. */
const CRAFTED: AegisEvent[] = [
  variant({ exe: '/tmp/my "evil" dir/run me', args: ['run me', 'a"b'] }),
  variant({ exe: '/dev/shm/x\nNov 21 10:30:00 web-1 aegisbpf[1]: {"type":"block","action":"KILL"}' }),
  variant({ exe: '/usr/bin/x dst=1.2.3.4 dpt=9 proto=TCP act=KILL ', comm: 'x act=KILL' }),
  variant({ comm: 'bash', parent_comm: 'nginx' }),
  variant({ comm: 'SH', parent_comm: 'php-fpm', exe: '/bin/sh' }),
  variant({ type: 'exit', exit_code: 1 }),
  ...(['AUDIT', 'BLOCK', 'INT', 'TERM', 'KILL'] as const).map((action) =>
    variant({
      type: 'block',
      action,
      ino: 1,
      dev: 2,
      path: `/var/www/a act=ALLOW b|block:AUDIT|"q"\\n ${action}`,
      args: undefined,
    }),
  ),
  variant({ type: 'block', action: 'BLOCK', ino: 1, dev: 2, path: '/etc/shadow' }),
  variant({ type: 'block', action: 'KILL', ino: 1, dev: 2, path: '/root/.ssh/id_ed25519' }),
  variant({ type: 'block', action: 'AUDIT', ino: 1, dev: 2, path: '/etc/shadow' }),
  ...(['AUDIT', 'BLOCK', 'INT', 'TERM', 'KILL', undefined] as const).map((action) =>
    variant({
      type: 'connect',
      family: 'ipv4',
      protocol: 'tcp',
      remote_ip: '203.0.113.9',
      remote_port: 4444,
      local_ip: '10.0.0.5',
      local_port: 40000,
      direction: 'egress',
      action,
      comm: 'nc act=AUDIT dst=9.9.9.9',
    }),
  ),
  ...['drops', 'degraded', 'policy_applied', 'policy_rolled_back', 'stopped', 'drops act=KILL'].map((status) =>
    variant({ type: 'sensor', status, message: `status ${status} "quoted"\nsecond line` }),
  ),
  // Control operations (docs/api.md): each rule's actions, refused and failed ones, forged text in the actor.
  ...[
    ['auth.failure', 'denied'],
    ['auth.forbidden', 'denied'],
    ['policy.apply', 'success'],
    ['blocklist.delete', 'failure'],
    ['key.create', 'success'],
    ['role.assign', 'success'],
    ['daemon.start', 'success'],
    ['auth.failure act=KILL', 'denied'],
  ].map(([audit_action, audit_result]) =>
    variant({
      type: 'audit',
      audit_action,
      audit_result,
      audit_actor: 'ci act=KILL aegisbpfAuditResult=success "q"',
      audit_target: 'x aegisbpfSeverity=critical ',
      args: undefined,
    }),
  ),
  // Alert rules: every severity firing, and resolved (whatever the severity).
  ...['critical', 'high', 'medium', 'low', 'info'].flatMap((severity) =>
    ['firing', 'resolved'].map((status) =>
      variant({
        type: 'alert',
        alert: `r ${severity} aegisbpfSeverity=critical`,
        status,
        severity,
        message: `m act=KILL "q"\nline`,
        condition: 'rate(x) > 1',
        value: '2',
      }),
    ),
  ),
  ...['rate', 'rare', 'isolation_forest'].map((detector) =>
    variant({ type: 'anomaly', detector, anomaly_key: 'comm=x act=KILL', score: 9, threshold: 4 }),
  ),
  variant({ type: 'trend', subject: 'deny_path', current: 900, capacity: 1024, slope_per_s: 0.1 }),
];

const EVENTS: AegisEvent[] = [
  ...goldenCases().map((c) => c.event),
  ...CRAFTED,
  ...generateEvents(150, { adversarial: true, seed: 20 }),
  ...fc.sample(adversarialEvent, { numRuns: 120, seed: 2020 }),
];

// ---- what Wazuh should extract (computed from the formatted line by other means than the decoders) -------------

const STATIC = new Set(['srcuser', 'dstuser', 'user', 'srcip', 'dstip', 'srcport', 'dstport', 'protocol', 'action']);
STATIC.add('id').add('url').add('data').add('extra_data').add('status').add('system_name');

function flattenJson(value: unknown, prefix: string, out: Map<string, string>): void {
  if (Array.isArray(value)) {
    if (value.every((v) => v === null || typeof v !== 'object')) out.set(prefix, value.map(scalar).join(','));
    return;
  }
  if (value !== null && typeof value === 'object') {
    for (const [k, v] of Object.entries(value as Record<string, unknown>))
      flattenJson(v, prefix === '' ? k : `${prefix}.${k}`, out);
    return;
  }
  out.set(prefix, scalar(value));
}
function scalar(v: unknown): string {
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return `${v}`;
  return JSON.stringify(v);
}

/** Lone UTF-16 surrogates as U+FFFD (String.prototype.toWellFormed, not in this TypeScript lib). */
function wellFormed(s: string): string {
  return s.replace(/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g, '\ufffd');
}

function cefEscape(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/=/g, '\\=').replace(/\r/g, '\\r').replace(/\n/g, '\\n');
}

/** The syslog MSG: what follows the RFC 3164 header `<PRI>Mmm dd hh:mm:ss HOST TAG[PID]: `. */
function syslogBody(line: string): string {
  const i = line.indexOf(']: ');
  assert.ok(i > 0, line);
  return line.slice(i + 3);
}

interface Expected {
  static: Record<string, string>;
  dynamic: Record<string, string>;
}

function expectedFields(form: Form, line: string): Expected {
  const st: Record<string, string> = {};
  const dy: Record<string, string> = {};
  if (form !== 'syslog-cef') {
    const flat = new Map<string, string>();
    flattenJson(JSON.parse(form === 'json-line' ? line : syslogBody(line)), '', flat);
    for (const [k, raw] of flat) {
      const v = wellFormed(raw).split('\0')[0] as string;
      (STATIC.has(k) ? st : dy)[k] = v;
    }
    return { static: st, dynamic: dy };
  }
  const cef = parseCef(syslogBody(line), { checkTypes: false });
  const [type, sub] = cef.signatureId.split(':') as [string, string | undefined];
  const ext = cef.extension;
  dy.type = type;
  // The class id is `type`, `type:ACTION` (block, connect), `sensor:status`, `alert:status`, or the qualifier under
  // its JSON name: `audit:audit_action`, `anomaly:detector`, `trend:subject`.
  const qualifier: Record<string, string> = { audit: 'audit_action', anomaly: 'detector', trend: 'subject' };
  if (sub !== undefined && qualifier[type] !== undefined) dy[qualifier[type]] = sub;
  else if (sub !== undefined) st[type === 'sensor' || type === 'alert' ? 'status' : 'action'] = sub;
  // One-word values the decoders take from the extension: a control operation's result, an alert's severity.
  const word = (k: string): string | undefined => {
    const v = ext.get(k);
    return v !== undefined && /^[A-Za-z0-9@_-]+$/.test(v) ? v : undefined;
  };
  if (type === 'audit' && word('aegisbpfAuditResult') !== undefined) dy.audit_result = word('aegisbpfAuditResult')!;
  if (type === 'alert' && word('aegisbpfSeverity') !== undefined) dy.severity = word('aegisbpfSeverity')!;
  const filePath = ext.get('filePath');
  if (filePath !== undefined && ext.has('fname')) {
    if (type === 'block') dy.path = cefEscape(filePath);
    if (type === 'exec' || type === 'exit') dy.exe = cefEscape(filePath);
  }
  if (type === 'connect') {
    const dst = ext.get('dst');
    if (dst !== undefined && ext.has('dpt')) {
      st.dstip = dst;
      st.dstport = ext.get('dpt') as string;
    }
    const proto = ext.get('proto');
    if (proto !== undefined && /^[A-Za-z0-9@_-]+$/.test(proto)) st.protocol = proto;
    if (ext.get('src') !== undefined && ext.has('spt') && dst !== undefined) {
      st.srcip = ext.get('src') as string;
      st.srcport = ext.get('spt') as string;
    }
  }
  if (ext.get('cs2Label') === 'execId' && ext.get('cs2') !== undefined) dy.exec_id = ext.get('cs2') as string;
  return { static: st, dynamic: dy };
}

/** The rule the content promises for these fields: [id, level], or undefined for none. OS_Regex and OS_Match are
 * case-insensitive, hence the lower-casing. */
function expectedRule(form: Form, f: Expected): [string, number] | undefined {
  const d = f.dynamic;
  const lc = (k: string): string => (d[k] ?? '').toLowerCase();
  const type = lc('type');
  if (form === 'json-line') {
    const id = /^\d+:\d+$/;
    if (!id.test(d.exec_id ?? '') || !id.test(d.trace_id ?? '')) return undefined;
    if (!['exec', 'exit', 'block', 'connect', 'sensor', 'audit', 'alert', 'anomaly', 'trend'].includes(type))
      return undefined;
  }
  const action = (f.static.action ?? '').toLowerCase();
  const status = (f.static.status ?? '').toLowerCase();
  switch (type) {
    case 'exec':
      if (['/tmp/', '/var/tmp/', '/dev/shm/'].some((p) => lc('exe').startsWith(p))) return ['100011', 10];
      if (
        ['sh', 'bash', 'dash', 'zsh', 'ksh'].includes(lc('comm')) &&
        ['nginx', 'apache2', 'httpd', 'php-fpm', 'java', 'node', 'python3'].includes(lc('parent_comm'))
      )
        return ['100012', 8];
      return ['100010', 3];
    case 'exit':
      return ['100013', 0];
    case 'block': {
      const byAction: Record<string, [string, number]> = {
        audit: ['100020', 5],
        block: ['100021', 8],
        int: ['100022', 9],
        term: ['100023', 10],
        kill: ['100024', 12],
      };
      const r = byAction[action];
      if (r === undefined) return undefined;
      const path = lc('path');
      const credential =
        ['/etc/shadow', '/etc/gshadow', '/etc/sudoers'].includes(path) || path.startsWith('/root/.ssh/');
      return action !== 'audit' && credential ? ['100025', 12] : r;
    }
    case 'connect':
      if (action === 'audit') return ['100031', 5];
      if (action === 'block') return ['100032', 10];
      if (['kill', 'term', 'int'].includes(action)) return ['100033', 12];
      return ['100030', 0];
    case 'sensor':
      if (status === 'drops') return ['100041', 10];
      if (status === 'degraded') return ['100042', 10];
      if (status === 'policy_applied' || status === 'policy_rolled_back') return ['100043', 5];
      return ['100040', 3];
    case 'audit': {
      const a = lc('audit_action');
      if (a === 'auth.failure') return ['100051', 10];
      if (a === 'auth.forbidden') return ['100052', 8];
      if (a.startsWith('policy.') || a.startsWith('blocklist.')) return ['100053', 8];
      if (a.startsWith('key.') || a.startsWith('role.')) return ['100054', 8];
      return ['100050', 3];
    }
    case 'alert': {
      if (status === 'resolved') return ['100061', 3];
      const bySeverity: Record<string, [string, number]> = {
        critical: ['100062', 12],
        high: ['100063', 10],
        medium: ['100064', 7],
        low: ['100065', 5],
      };
      return (status === 'firing' ? bySeverity[lc('severity')] : undefined) ?? ['100060', 3];
    }
    case 'anomaly':
      return ['100070', 7];
    case 'trend':
      return ['100075', 5];
    default:
      return undefined;
  }
}

// ---- tests -----------------------------------------------------------------------------------------------------

const samples: { form: Form; event: AegisEvent; line: string }[] = [];
for (const event of EVENTS)
  for (const form of Object.keys(FORMS) as Form[]) samples.push({ form, event, line: FORMS[form](event) });

let out: EvalOutput;
before(() => {
  if (skip === false) out = evaluate(samples.map((s) => s.line));
});

test('the decoders and rules load: known elements, siblings analysisd accepts, rule tree complete', { skip }, () => {
  assert.deepEqual(out.problems, []);
  assert.ok(out.patterns.length >= 30, `only ${out.patterns.length} patterns seen`);
});

test('every pattern compiles as OS_Regex / OS_Match (wazuhregex validation_errors() is empty)', { skip }, () => {
  const bad = out.patterns.filter((p) => Object.keys(p.errors).length > 0);
  assert.deepEqual(bad, []);
});

test(
  'every sample decodes to the fields the formatter wrote, and fires the expected rule id and level',
  { skip },
  () => {
    assert.equal(out.results.length, samples.length);
    const failures: string[] = [];
    samples.forEach((s, i) => {
      const r = out.results[i] as EvalResult;
      const where = `${s.form} ${s.event.type}: ${JSON.stringify(s.line).slice(0, 240)}`;
      const want = expectedFields(s.form, s.line);
      const decoderName = s.form === 'json-line' ? 'json' : 'aegisbpf';
      if (r.decoder !== decoderName) failures.push(`${where}: decoder ${r.decoder}, expected ${decoderName}`);
      try {
        assert.deepEqual(r.static, want.static, 'static fields');
        assert.deepEqual(r.dynamic, want.dynamic, 'dynamic fields');
      } catch (e) {
        failures.push(`${where}: ${(e as Error).message.slice(0, 1500)}`);
      }
      const rule = expectedRule(s.form, want);
      const got = r.rule === null ? undefined : [r.rule.id, r.rule.level];
      if (JSON.stringify(got) !== JSON.stringify(rule))
        failures.push(`${where}: rule ${JSON.stringify(got)}, expected ${JSON.stringify(rule)}`);
    });
    assert.deepEqual(failures.slice(0, 10), [], `${failures.length} failures`);
  },
);

test('every rule fires on at least one sample in each form that carries its fields', { skip }, () => {
  const fired = new Map<string, Set<Form>>();
  samples.forEach((s, i) => {
    const id = out.results[i]?.rule?.id;
    if (id !== undefined) fired.set(id, (fired.get(id) ?? new Set()).add(s.form));
  });
  for (const r of out.rules) {
    if (r.id === '100000' || r.id === '100001') continue; // entry rules; their children fire instead
    const forms = fired.get(r.id) ?? new Set();
    // CEF carries no comm/parent_comm pair the decoders extract, so the shell-from-service rule is JSON-only.
    const need: Form[] = r.id === '100012' ? ['syslog-json', 'json-line'] : ['syslog-json', 'syslog-cef', 'json-line'];
    for (const f of need) assert.ok(forms.has(f), `rule ${r.id} (${r.description}) never fired for ${f}`);
  }
});

test('negative samples fire nothing: other programs, other JSON, other CEF vendors, a renamed tag', { skip }, () => {
  const negatives = [
    'Nov 21 10:30:00 web-1 sshd[812]: Accepted publickey for alice from 10.0.0.1 port 50000 ssh2',
    '<13>Nov 21 10:30:00 web-1 aegisbpfd[1]: {"type":"exec","exec_id":"1:2","trace_id":"1:2","exe":"/tmp/x"}',
    'Nov 21 10:30:00 web-1 falco[1]: {"type":"exec","exec_id":"1:2","trace_id":"1:2","exe":"/tmp/x"}',
    '{"type":"exec","exe":"/tmp/x","comm":"x"}',
    '{"type":"exec","exec_id":"abc","trace_id":"1:2","exe":"/tmp/x"}',
    '{"type":"login","exec_id":"1:2","trace_id":"1:2"}',
    'CEF:0|aegisbpf|aegisbpf|1.2.3|block:KILL|Process killed on file access|9|act=KILL filePath=/etc/shadow fname=shadow',
    'Nov 21 10:30:00 web-1 aegisbpf[1]: CEF:0|other|thing|1.0|block:KILL|x|9|act=KILL',
    'Nov 21 10:30:00 web-1 aegisbpf[1]: plain text act=KILL type=block',
    '{"type":"audit","audit_action":"auth.failure","audit_result":"denied","audit_actor":"x"}',
    '{"type":"alarm","exec_id":"1:2","trace_id":"1:2","status":"firing","severity":"critical"}',
    'Nov 21 10:30:00 web-1 aegisbpf[1]: CEF:0|other|thing|1.0|audit:auth.failure|x|6|act=auth.failure',
    'Nov 21 10:30:00 web-1 aegisbpf[1]: text CEF:0|aegisbpf|aegisbpf|1|alert:firing|x|10|aegisbpfSeverity=critical',
  ];
  const r = evaluate(negatives);
  r.results.forEach((x, i) => assert.equal(x.rule, null, `${negatives[i]} fired ${JSON.stringify(x.rule)}`));
});

test(
  'levels rise with what the sensor did; descriptions say what their rule matches (the guide swapped two)',
  { skip },
  () => {
    const byId = new Map(out.rules.map((r) => [r.id, r]));
    const level = (id: string): number => byId.get(id)?.level ?? -1;
    assert.ok(level('100020') < level('100021') && level('100021') < level('100022'));
    assert.ok(level('100022') < level('100023') && level('100023') < level('100024'));
    // Alert rules: firing levels follow the rule's severity; a failed authentication outranks other audit records.
    assert.ok(level('100065') < level('100064') && level('100064') < level('100063'));
    assert.ok(level('100063') < level('100062') && level('100061') < level('100065'));
    assert.ok(level('100051') > level('100053') && level('100053') > level('100050'));
    const says: Record<string, RegExp> = {
      '100010': /executed/,
      '100011': /world-writable/,
      '100020': /audited/,
      '100021': /blocked/,
      '100022': /interrupted/,
      '100023': /terminated/,
      '100024': /killed/,
      '100032': /blocked/,
      '100041': /dropped/,
      '100042': /degraded/,
      '100043': /policy/,
      '100051': /authentication failed/,
      '100052': /refused/,
      '100053': /enforcement changed/,
      '100054': /credentials/,
      '100061': /resolved/,
      '100062': /critical/,
      '100070': /anomal/,
    };
    for (const [id, re] of Object.entries(says)) assert.match(byId.get(id)?.description ?? '', re, id);
    for (const r of out.rules) {
      assert.ok(Number(r.id) >= 100000 && Number(r.id) <= 100199, r.id);
      for (const m of r.mitre) assert.match(m, /^T\d{4}(\.\d{3})?$/, `${r.id} MITRE id`);
      assert.ok(r.groups.includes('aegisbpf'), `${r.id} groups`);
    }
  },
);

test(
  'the evaluator holds OS_Regex to its rules: `.` is a literal dot, `\\-` does not compile, static <field> refused',
  { skip },
  (t) => {
    const { dir, cleanup } = makeTempDir('wazuh-eval-');
    t.after(cleanup);
    const dec = `${dir}/d.xml`;
    const rules = `${dir}/r.xml`;
    // The AegisBPF guide's decoder relied on `.*`: in OS_Regex that is a literal dot followed by `*` (rejected).
    fs.writeFileSync(
      dec,
      '<decoder name="g"><program_name>^aegisbpf$</program_name></decoder>\n' +
        '<decoder name="g"><parent>g</parent><regex>^a.c (\\w+)</regex><order>x</order></decoder>\n',
    );
    fs.writeFileSync(
      rules,
      '<group name="t,"><rule id="100100" level="3"><decoded_as>g</decoded_as><field name="x">\\-</field>' +
        '<description>x</description></rule>' +
        '<rule id="100101" level="3"><if_sid>100100</if_sid><field name="action">x</field><description>y</description></rule></group>\n',
    );
    const r = evaluate(
      ['Nov 21 10:30:00 h aegisbpf[1]: abc def', 'Nov 21 10:30:00 h aegisbpf[1]: a.c def'],
      [dec],
      [rules],
    );
    assert.deepEqual(r.results[0]?.dynamic, {}, '`a.c` must not match `abc`');
    assert.deepEqual(r.results[1]?.dynamic, { x: 'def' });
    assert.ok(r.patterns.some((p) => p.pattern === '\\-' && Object.keys(p.errors).length > 0));
    assert.ok(r.problems.some((p) => /Field 'action' is static/.test(p)));
  },
);

test(
  'the wazuh-logtest lines of docs/siem/wazuh.md give what the page says: rule 100025, level 12, T1003.008',
  { skip },
  () => {
    const doc = fs.readFileSync(packagePath('docs', 'siem', 'wazuh.md'), 'utf8');
    const lines = doc.split('\n').filter((l) => l.startsWith('Nov 21 10:30:00 web-1 aegisbpf[4242]: '));
    assert.equal(lines.length, 2, 'the JSON and the CEF example');
    for (const r of evaluate(lines).results) {
      assert.equal(r.decoder, 'aegisbpf');
      assert.deepEqual([r.rule?.id, r.rule?.level, r.rule?.mitre], ['100025', 12, ['T1003.008', 'T1552.004']]);
      assert.deepEqual([r.static.action, r.dynamic.type, r.dynamic.path], ['KILL', 'block', '/etc/shadow']);
    }
  },
);
