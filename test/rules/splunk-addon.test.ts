/**
 * The Splunk add-on in rules/splunk/ (no Splunk runs here, so it is linted instead):
 * - every .conf file parses as Splunk conf syntax (stanzas, key = value, comments) with keys Splunk knows;
 * - every field it references exists in the `hec`/`json` formatter output, or is one the add-on itself defines
 *   (aliases, calculated fields, lookups) or a search creates;
 * - TIME_PREFIX / TIME_FORMAT find the json format's timestamp;
 * - the CIM data models get their tags and recommended fields;
 * - eventtypes and detections match their positive samples and not their negative ones.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import type { AegisEvent } from '../../src/event/types';
import { isValidEvent } from '../../src/event/validate';
import { createHecFormat } from '../../src/formatters/hec';
import { formatJson } from '../../src/formatters/json';
import { packagePath } from '../../src/util/paths';
import { goldenCases } from '../formatters/golden';
import { generateEvents } from '../helpers/events';
import { analyzeSearch, evalFields, get, matchesBaseSearch, parseConf, searchTermFields } from './splunk-conf';
import type { ConfStanza } from './splunk-conf';

const APP = packagePath('rules', 'splunk');
const conf = (file: string): ConfStanza[] => {
  const r = parseConf(fs.readFileSync(path.join(APP, file), 'utf8'));
  assert.deepEqual(r.problems, [], file);
  return r.stanzas;
};

/** Fields Splunk adds to every event, whatever the data. */
const METADATA = new Set([
  '_time',
  '_raw',
  'host',
  'source',
  'sourcetype',
  'index',
  'eventtype',
  'tag',
  'linecount',
  'splunk_server',
]);

/** Fields as KV_MODE = json names them (nested objects `a.b`, arrays `a{}`), plus the hec envelope's indexed fields. */
function flatten(value: unknown, prefix: string, out: Map<string, unknown>): void {
  if (Array.isArray(value)) {
    out.set(`${prefix}{}`, value);
    return;
  }
  if (value !== null && typeof value === 'object') {
    for (const [k, v] of Object.entries(value as Record<string, unknown>))
      flatten(v, prefix === '' ? k : `${prefix}.${k}`, out);
    return;
  }
  out.set(prefix, value);
}

const hec = createHecFormat();
const goldens = goldenCases();
const outputEvents: AegisEvent[] = [...goldens.map((c) => c.event), ...generateEvents(500, { adversarial: true })];

/** Search-time fields of one event as Splunk would see it from the hec envelope (json `event` + indexed `fields`). */
function searchTimeFields(e: AegisEvent): Map<string, unknown> {
  const env = JSON.parse(hec(e)) as {
    host: string;
    source: string;
    sourcetype: string;
    event: unknown;
    fields: Record<string, unknown>;
  };
  const out = new Map<string, unknown>();
  flatten(env.event, '', out);
  for (const [k, v] of Object.entries(env.fields)) out.set(k, v);
  out.set('sourcetype', env.sourcetype);
  out.set('source', env.source);
  return out;
}

const OUTPUT_FIELDS: Set<string> = new Set();
for (const e of outputEvents) {
  for (const k of searchTimeFields(e).keys()) OUTPUT_FIELDS.add(k);
  const json = new Map<string, unknown>();
  flatten(JSON.parse(formatJson(e)), '', json);
  for (const k of json.keys()) OUTPUT_FIELDS.add(k);
}

const props = conf('default/props.conf');
const stanza = props.find((s) => s.name === 'aegisbpf');

/** What the add-on defines at search time: alias targets, calculated fields, lookup outputs. */
function definedFields(): { aliases: Map<string, string>; evals: Map<string, string>; lookups: string[] } {
  const aliases = new Map<string, string>();
  const evals = new Map<string, string>();
  const lookups: string[] = [];
  for (const e of stanza?.entries ?? []) {
    if (e.key.startsWith('FIELDALIAS-')) {
      for (const m of e.value.matchAll(/(\S+)\s+AS\s+(\S+)/gi)) aliases.set(m[2] as string, m[1] as string);
    } else if (e.key.startsWith('EVAL-')) {
      evals.set(e.key.slice('EVAL-'.length), e.value);
    } else if (e.key.startsWith('LOOKUP-')) {
      const out = /\bOUTPUT(?:NEW)?\s+(.+)$/i.exec(e.value);
      for (const f of (out?.[1] ?? '').split(/[\s,]+/)) if (f !== '' && f.toUpperCase() !== 'AS') lookups.push(f);
    }
  }
  return { aliases, evals, lookups };
}

const KNOWN_KEYS: Record<string, RegExp> = {
  'default/props.conf':
    /^(KV_MODE|AUTO_KV_JSON|category|description|pulldown_type|SHOULD_LINEMERGE|LINE_BREAKER|TRUNCATE|CHARSET|TIME_PREFIX|TIME_FORMAT|MAX_TIMESTAMP_LOOKAHEAD|TZ|FIELDALIAS-\w+|EVAL-[\w.]+|LOOKUP-\w+|REPORT-\w+|TRANSFORMS-\w+)$/,
  'default/transforms.conf':
    /^(filename|case_sensitive_match|max_matches|min_matches|default_match|match_type|REGEX|FORMAT|DEST_KEY|SOURCE_KEY)$/,
  'default/eventtypes.conf': /^(search|description|priority|color|disabled)$/,
  'default/tags.conf': /^[a-z_]+$/,
  'default/savedsearches.conf':
    /^(search|description|disabled|enableSched|cron_schedule|dispatch\.(earliest|latest)_time|counttype|relation|quantity|alert\.(track|suppress|suppress\.period|suppress\.fields|severity|digest_mode)|is_visible)$/,
  'default/macros.conf': /^(definition|iseval|args|description|errormsg|validation)$/,
  'default/app.conf': /^(is_configured|state|is_visible|label|author|description|version|id|name|check_for_updates)$/,
  'metadata/default.meta': /^(access|export)$/,
};

test('every .conf file of the add-on parses as Splunk conf syntax, with keys Splunk knows', () => {
  const files = ['default', 'metadata'].flatMap((d) => fs.readdirSync(path.join(APP, d)).map((f) => `${d}/${f}`));
  assert.deepEqual(files.sort(), Object.keys(KNOWN_KEYS).sort(), 'a new .conf file needs its keys listed here');
  for (const file of files) {
    const stanzas = conf(file);
    assert.ok(stanzas.length > 0, `${file} has stanzas`);
    for (const s of stanzas) {
      for (const e of s.entries) {
        assert.match(e.key, KNOWN_KEYS[file] as RegExp, `${file}:${e.line} [${s.name}] unknown key ${e.key}`);
        if (file !== 'default/tags.conf') assert.notEqual(e.value, '', `${file}:${e.line} ${e.key} has a value`);
      }
    }
  }
  assert.equal(get(stanza!, 'KV_MODE'), 'json');
  assert.equal(get(stanza!, 'INDEXED_EXTRACTIONS'), undefined, 'never both KV_MODE = json and INDEXED_EXTRACTIONS');
  for (const s of conf('default/tags.conf')) for (const e of s.entries) assert.match(e.value, /^(enabled|disabled)$/);
  for (const s of conf('default/savedsearches.conf'))
    if (s.name !== 'default') assert.ok(get(s, 'search') !== undefined && get(s, 'description') !== undefined, s.name);
  // The HEC input is its own inputs-only app (Splunk Cloud refuses HEC token stanzas in apps; see AppInspect).
  const inputs = parseConf(
    fs.readFileSync(packagePath('rules', 'splunk-hec-inputs', 'default', 'inputs.conf'), 'utf8'),
  );
  assert.deepEqual(inputs.problems, []);
  for (const s of inputs.stanzas)
    for (const e of s.entries)
      assert.match(
        e.key,
        /^(disabled|token|description|sourcetype|index|indexes|useACK|source|host|connection_host|outputgroup)$/,
      );
  const input = inputs.stanzas.find((s) => s.name.startsWith('http://'));
  assert.ok(input !== undefined, 'a HEC input stanza');
  assert.equal(get(input, 'sourcetype'), 'aegisbpf');
  assert.equal(get(input, 'useACK'), '1');
});

test('every field the add-on references exists in the hec/json formatter output, or is defined by the add-on or its search', () => {
  const { aliases, evals, lookups } = definedFields();
  const raw = (f: string): boolean => OUTPUT_FIELDS.has(f) || METADATA.has(f);
  const problems: string[] = [];
  for (const [target, source] of aliases)
    if (!raw(source))
      problems.push(`props FIELDALIAS ${source} AS ${target}: ${source} is not in the formatter output`);
  for (const [target, expr] of evals)
    for (const f of evalFields(expr))
      if (!raw(f)) problems.push(`props EVAL-${target}: ${f} is not in the formatter output`);
  for (const e of stanza?.entries ?? []) {
    if (!e.key.startsWith('LOOKUP-')) continue;
    const m = /^(\S+)\s+(\S+)(?:\s+AS\s+(\S+))?\s+OUTPUT/i.exec(e.value);
    assert.ok(m !== null, e.value);
    const [, table, column, eventField] = m as unknown as [string, string, string, string | undefined];
    if (!raw(eventField ?? column))
      problems.push(`props ${e.key}: ${eventField ?? column} is not in the formatter output`);
    const t = conf('default/transforms.conf').find((s) => s.name === table);
    assert.ok(t !== undefined, `transforms.conf defines ${table}`);
    const csv = path.join(APP, 'lookups', get(t, 'filename') ?? '');
    assert.ok(fs.existsSync(csv), `${csv} exists`);
    const header = fs.readFileSync(csv, 'utf8').split('\n')[0]!.split(',');
    for (const col of [column, ...lookups]) assert.ok(header.includes(col), `${csv} has column ${col}`);
  }
  const available = (f: string, created: readonly string[] = []): boolean =>
    raw(f) || aliases.has(f) || evals.has(f) || lookups.includes(f) || created.includes(f);
  for (const s of conf('default/eventtypes.conf')) {
    for (const f of searchTermFields(get(s, 'search') ?? ''))
      if (!available(f)) problems.push(`eventtypes [${s.name}]: ${f} is not defined`);
  }
  for (const s of conf('default/savedsearches.conf')) {
    const search = get(s, 'search');
    if (search === undefined) continue;
    const a = analyzeSearch(search);
    problems.push(...a.problems.map((p) => `savedsearches [${s.name}]: ${p}`));
    for (const r of a.reads)
      if (!available(r.field, a.creates))
        problems.push(`savedsearches [${s.name}] ${r.command}: ${r.field} is not defined`);
    // The base search runs before calculated fields are usable as filters in every context; keep it on raw fields and aliases.
    for (const f of searchTermFields(search.split('|')[0] ?? ''))
      if (!raw(f) && !aliases.has(f))
        problems.push(
          `savedsearches [${s.name}]: base search filters on ${f}, which is neither an event field nor an alias`,
        );
  }
  assert.deepEqual(problems, []);
});

test("TIME_PREFIX / TIME_FORMAT / MAX_TIMESTAMP_LOOKAHEAD find exactly the json format's ts", () => {
  const prefix = new RegExp(get(stanza!, 'TIME_PREFIX') ?? '(missing)');
  const format = get(stanza!, 'TIME_FORMAT') ?? '';
  const lookahead = Number(get(stanza!, 'MAX_TIMESTAMP_LOOKAHEAD'));
  const STRPTIME: Record<string, string> = {
    Y: '\\d{4}',
    m: '\\d{2}',
    d: '\\d{2}',
    H: '\\d{2}',
    M: '\\d{2}',
    S: '\\d{2}',
    '6N': '\\d{6}',
    '3N': '\\d{3}',
    Z: '(?:Z|[A-Z]{2,5})',
    z: '[+-]\\d{4}',
  };
  const re = new RegExp(
    '^' +
      format
        .split(/(%(?:6N|3N|[A-Za-z]))/)
        .map((p) =>
          p.startsWith('%')
            ? (STRPTIME[p.slice(1)] ?? assert.fail(`unknown ${p}`))
            : p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'),
        )
        .join(''),
  );
  for (const e of outputEvents) {
    const line = formatJson(e);
    const m = prefix.exec(line);
    assert.ok(m !== null, `TIME_PREFIX matches ${line.slice(0, 40)}`);
    const window = line.slice(m.index + m[0].length, m.index + m[0].length + lookahead);
    const t = re.exec(window);
    assert.ok(t !== null, `TIME_FORMAT matches ${window}`);
    assert.equal(t[0], e.ts, 'the whole timestamp, within the lookahead');
  }
});

test('CIM: Endpoint.Processes, Endpoint.Filesystem, Network_Traffic, Authentication, Change and Alerts get their tags and recommended fields', () => {
  const { aliases, evals } = definedFields();
  const tags = new Map(
    conf('default/tags.conf').map((s) => [
      s.name,
      s.entries
        .filter((e) => e.value === 'enabled')
        .map((e) => e.key)
        .sort(),
    ]),
  );
  const models: { eventtype: string; tags: string[]; fields: string[] }[] = [
    {
      eventtype: 'aegisbpf_process',
      tags: ['process', 'report'],
      fields: [
        'dest',
        'process',
        'process_name',
        'parent_process',
        'parent_process_name',
        'user',
        'vendor_product',
        'process_id',
        'parent_process_id',
        'process_guid',
        'process_path',
        'action',
      ],
    },
    {
      eventtype: 'aegisbpf_filesystem',
      tags: ['endpoint', 'filesystem'],
      fields: [
        'action',
        'dest',
        'file_name',
        'file_path',
        'process',
        'process_name',
        'user',
        'vendor_product',
        'process_id',
      ],
    },
    {
      eventtype: 'aegisbpf_network',
      tags: ['communicate', 'network'],
      fields: [
        'action',
        'dest',
        'dest_port',
        'dvc',
        'rule',
        'src',
        'src_port',
        'transport',
        'user',
        'vendor_product',
        'dest_ip',
        'src_ip',
        'direction',
        'process_id',
      ],
    },
  ];
  // The control API's audit trail and the alerting types (docs/siem/splunk.md).
  models.push(
    {
      eventtype: 'aegisbpf_authentication',
      tags: ['authentication'],
      fields: ['action', 'app', 'dest', 'src', 'user', 'signature', 'vendor_product'],
    },
    {
      eventtype: 'aegisbpf_change',
      tags: ['change'],
      fields: ['action', 'change_type', 'dest', 'object', 'object_category', 'result', 'user', 'vendor_product'],
    },
    {
      eventtype: 'aegisbpf_alert',
      tags: ['alert'],
      fields: ['app', 'description', 'dest', 'severity', 'signature', 'vendor_product'],
    },
  );
  for (const m of models) {
    assert.deepEqual(tags.get(`eventtype=${m.eventtype}`), m.tags, `${m.eventtype} tags`);
    for (const f of m.fields) assert.ok(aliases.has(f) || evals.has(f), `${m.eventtype}: CIM field ${f} is provided`);
  }
});

/** Search-time fields for the matcher: the event's fields plus the add-on's aliases. */
function withAliases(e: AegisEvent): Record<string, unknown> {
  const fields = Object.fromEntries(searchTimeFields(e));
  for (const [target, source] of definedFields().aliases)
    if (fields[source] !== undefined) fields[target] = fields[source];
  return fields;
}

test('eventtypes: each golden event lands in the eventtypes of its kind', () => {
  const eventtypes = conf('default/eventtypes.conf');
  const expected = (e: AegisEvent): string[] => {
    const out = ['aegisbpf'];
    if (e.type === 'exec') out.push('aegisbpf_process');
    if (e.type === 'exit') out.push('aegisbpf_process_exit');
    if (e.type === 'block') out.push('aegisbpf_filesystem');
    if (e.type === 'connect') out.push('aegisbpf_network');
    if (e.type === 'sensor') out.push('aegisbpf_sensor');
    if (e.type === 'audit') {
      out.push('aegisbpf_audit');
      if (e.audit_action.startsWith('auth.')) out.push('aegisbpf_authentication');
      if (/^(policy|blocklist|key|role)\./.test(e.audit_action)) out.push('aegisbpf_change');
    }
    if ((e.type === 'alert' && e.status === 'firing') || e.type === 'anomaly') out.push('aegisbpf_alert');
    if (e.type === 'trend' || e.type === 'host_stats' || e.type === 'activity') out.push('aegisbpf_analytics');
    if ((e.type === 'block' || e.type === 'connect') && e.action !== undefined && e.action !== 'AUDIT')
      out.push('aegisbpf_enforcement');
    return out.sort();
  };
  for (const { name, event } of goldens) {
    const fields = withAliases(event);
    const got = eventtypes
      .filter((s) => matchesBaseSearch(get(s, 'search') ?? '', fields))
      .map((s) => s.name)
      .sort();
    assert.deepEqual(got, expected(event), name);
  }
});

test('detections: every saved search has samples; positives match its base search, negatives do not', () => {
  const samples = JSON.parse(fs.readFileSync(path.join(APP, 'samples', 'detections.json'), 'utf8')) as Record<
    string,
    {
      positive: { base: string; set?: Record<string, unknown> }[];
      negative: { base: string; set?: Record<string, unknown> }[];
    }
  >;
  const byName = new Map(goldens.map((c) => [c.name, c.event]));
  const build = (s: { base: string; set?: Record<string, unknown> }): AegisEvent => {
    const base = byName.get(s.base);
    assert.ok(base !== undefined, `golden event ${s.base}`);
    const e = { ...base, ...s.set };
    assert.ok(isValidEvent(e), `sample ${s.base} + ${JSON.stringify(s.set)} is a valid event`);
    return e;
  };
  const searches = conf('default/savedsearches.conf').filter((s) => s.name !== 'default');
  assert.deepEqual(
    Object.keys(samples)
      .filter((k) => k !== '$comment')
      .sort(),
    searches.map((s) => s.name).sort(),
    'samples for exactly the saved searches',
  );
  for (const s of searches) {
    const base = (get(s, 'search') ?? '').split('|')[0] ?? '';
    const entry = samples[s.name]!;
    assert.ok(entry.positive.length > 0 && entry.negative.length > 0, `${s.name} has positive and negative samples`);
    for (const p of entry.positive)
      assert.ok(matchesBaseSearch(base, withAliases(build(p))), `${s.name}: positive ${JSON.stringify(p)}`);
    for (const n of entry.negative)
      assert.ok(!matchesBaseSearch(base, withAliases(build(n))), `${s.name}: negative ${JSON.stringify(n)}`);
  }
});
