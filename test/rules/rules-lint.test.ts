/**
 * One linter over everything in rules/ (STYLE 12: rules are data with a linter and evidence):
 * - every file belongs to a known kind of content; a file no kind claims fails (new content needs a line here);
 * - every file parses in its own syntax (JSON, YAML, XML, TOML, CSV, Splunk conf, text);
 * - every file is exercised by the test named for its kind, and that test names its folder;
 * - the fields content refers to exist: Wazuh 4.x `<field name>` in the event or the decoders' order, QRadar
 *   custom properties and Wazuh 5.x `$_aegis.*` in the event schema, Sigma `product: aegisbpf` detections and the
 *   json pipeline's targets in the event schema, the ECS pipeline's targets in the ecs output;
 * - every detection has positive and negative samples (Sigma, Elastic, Splunk), and the engines whose samples are
 *   generated from the formatters (Wazuh, QRadar) are held to every rule firing by their own tests.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { FIELD_ORDER } from '../../src/event/fields';
import { formatEcs } from '../../src/formatters/ecs';
import { packagePath } from '../../src/util/paths';
import { goldenCases } from '../formatters/golden';
import { parseConf } from './splunk-conf';

const RULES = packagePath('rules');
type Syntax = 'json' | 'yaml' | 'xml' | 'toml' | 'csv' | 'conf' | 'text';

/** Kinds of content: which files, their syntax, and the test that runs them in (or against) their engine. */
const KINDS: { readonly pattern: RegExp; readonly syntax: Syntax; readonly test: string }[] = [
  { pattern: /^schema\/.*\.json$/, syntax: 'json', test: 'test/event/schema-sync.test.ts' },
  {
    pattern: /^elastic\/detection-rules\/toml\/.*\.toml$/,
    syntax: 'toml',
    test: 'test/rules/elastic/detection-rules.test.ts',
  },
  {
    pattern: /^elastic\/detection-rules\/.*\.json$/,
    syntax: 'json',
    test: 'test/rules/elastic/detection-rules.test.ts',
  },
  { pattern: /^elastic\/.*\.json$/, syntax: 'json', test: 'test/rules/elastic/content.test.ts' },
  { pattern: /^filebeat\/.*\.yml$/, syntax: 'yaml', test: 'test/rules/elastic/shippers.test.ts' },
  { pattern: /^vector\/.*\.toml$/, syntax: 'toml', test: 'test/rules/elastic/shippers.test.ts' },
  { pattern: /^grafana\/.*\.json$/, syntax: 'json', test: 'test/rules/grafana-dashboards.test.ts' },
  { pattern: /^prometheus\/.*\.yml$/, syntax: 'yaml', test: 'test/rules/prometheus-rules.test.ts' },
  { pattern: /^rsyslog\/.*\.conf$/, syntax: 'text', test: 'test/rules/rsyslog.test.ts' },
  { pattern: /^syslog-ng\/.*\.conf$/, syntax: 'text', test: 'test/rules/syslog-ng.test.ts' },
  { pattern: /^splunk\/(default|metadata)\/.*\.(conf|meta)$/, syntax: 'conf', test: 'test/rules/splunk-addon.test.ts' },
  { pattern: /^splunk\/lookups\/.*\.csv$/, syntax: 'csv', test: 'test/rules/splunk-addon.test.ts' },
  { pattern: /^splunk\/samples\/.*\.json$/, syntax: 'json', test: 'test/rules/splunk-addon.test.ts' },
  { pattern: /^splunk(-hec-inputs)?\/app\.manifest$/, syntax: 'json', test: 'test/rules/splunk-appinspect.test.ts' },
  {
    pattern: /^splunk-hec-inputs\/(default|metadata)\/.*\.(conf|meta)$/,
    syntax: 'conf',
    test: 'test/rules/splunk-appinspect.test.ts',
  },
  { pattern: /^wazuh\/4\.x\/.*\.xml$/, syntax: 'xml', test: 'test/rules/wazuh.test.ts' },
  { pattern: /^wazuh\/5\.x\/decoders\/.*\.yml$/, syntax: 'yaml', test: 'test/rules/wazuh-5x.test.ts' },
  { pattern: /^qradar\/.*\.xml$/, syntax: 'xml', test: 'test/rules/qradar.test.ts' },
  { pattern: /^qradar\/.*\.json$/, syntax: 'json', test: 'test/rules/qradar.test.ts' },
  { pattern: /^qradar\/.*\.csv$/, syntax: 'csv', test: 'test/rules/qradar.test.ts' },
  {
    pattern: /^security-onion\/(fleet|templates)\/.*\.json$/,
    syntax: 'json',
    test: 'test/rules/security-onion.test.ts',
  },
  { pattern: /^security-onion\/ingest\/[a-z0-9.-]+$/, syntax: 'json', test: 'test/rules/security-onion.test.ts' },
  { pattern: /^security-onion\/logstash\/.*\.conf$/, syntax: 'text', test: 'test/rules/security-onion.test.ts' },
  { pattern: /^sigma\/.*\.yml$/, syntax: 'yaml', test: 'test/rules/sigma.test.ts' },
  { pattern: /^sigma\/samples\/.*\.json$/, syntax: 'json', test: 'test/rules/sigma.test.ts' },
  { pattern: /(^|\/)README\.md$/, syntax: 'text', test: 'test/rules/rules-lint.test.ts' },
];

function walk(dir: string, rel = ''): string[] {
  return fs.readdirSync(path.join(dir, rel), { withFileTypes: true }).flatMap((d) => {
    const r = rel === '' ? d.name : `${rel}/${d.name}`;
    return d.isDirectory() ? walk(dir, r) : [r];
  });
}
const FILES = walk(RULES).sort();
const kindOf = (f: string): (typeof KINDS)[number] | undefined => KINDS.find((k) => k.pattern.test(f));

test('every file in rules/ is a known kind of content, exercised by a test that names its folder', () => {
  const unclaimed = FILES.filter((f) => kindOf(f) === undefined);
  assert.deepEqual(unclaimed, [], 'add a kind (syntax and test) to KINDS for new content');
  for (const f of FILES) {
    const k = kindOf(f) as (typeof KINDS)[number];
    const src = path.join(packagePath(), k.test);
    assert.ok(fs.existsSync(src), `${f}: ${k.test} does not exist`);
    const folder = f.split('/')[0] as string;
    if (k.test !== 'test/rules/rules-lint.test.ts')
      assert.ok(fs.readFileSync(src, 'utf8').includes(folder), `${k.test} does not name rules/${folder}`);
  }
});

test('every file parses in its own syntax', () => {
  const xmlOrToml: string[] = [];
  for (const f of FILES) {
    const k = kindOf(f) as (typeof KINDS)[number];
    const text = fs.readFileSync(path.join(RULES, f), 'utf8');
    assert.ok(text.trim().length > 0, `${f} is empty`);
    switch (k.syntax) {
      case 'json':
        assert.doesNotThrow(() => JSON.parse(text), f);
        break;
      case 'yaml':
        assert.doesNotThrow(() => parseYaml(text), f);
        break;
      case 'conf':
        assert.deepEqual(parseConf(text).problems, [], f);
        break;
      case 'csv': {
        const rows = text.trim().split('\n');
        const n = (rows[0] as string).split(',').length;
        for (const r of rows) assert.equal(r.split(',').length, n, `${f}: ${r}`);
        break;
      }
      case 'xml':
      case 'toml':
        xmlOrToml.push(f);
        break;
      case 'text':
        break;
    }
  }
  // XML (Wazuh's several top-level elements wrapped in one root) and TOML, with Python's standard library.
  const r = spawnSync(
    'python3',
    [
      '-c',
      [
        'import sys, tomllib, xml.etree.ElementTree as ET',
        'bad = []',
        'for f in sys.argv[1:]:',
        '    t = open(f, encoding="utf-8").read()',
        '    try:',
        '        if f.endswith(".toml"): tomllib.loads(t)',
        '        else: ET.fromstring("<root>" + t.split("?>", 1)[-1] + "</root>")',
        '    except Exception as e: bad.append(f + ": " + str(e))',
        'print("\\n".join(bad))',
      ].join('\n'),
      ...xmlOrToml.map((f) => path.join(RULES, f)),
    ],
    { encoding: 'utf8' },
  );
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout.trim(), '', r.stdout);
  assert.ok(xmlOrToml.length >= 10);
});

const EVENT_FIELDS = new Set<string>(FIELD_ORDER);
const ECS_FIELDS = new Set<string>();
for (const c of goldenCases()) {
  const walkEcs = (v: unknown, p: string): void => {
    if (v !== null && typeof v === 'object' && !Array.isArray(v))
      for (const [k, x] of Object.entries(v)) walkEcs(x, p === '' ? k : `${p}.${k}`);
    else ECS_FIELDS.add(p);
  };
  walkEcs(JSON.parse(formatEcs(c.event)), '');
}

test('fields referenced by Wazuh, QRadar and Sigma content exist in the event schema or the ecs output', () => {
  // Wazuh 4.x: <field name> names a JSON key of the event (nested labels as labels.x) or a decoder order field.
  const decoders = fs.readFileSync(path.join(RULES, 'wazuh/4.x/decoders/aegisbpf_decoders.xml'), 'utf8');
  const orderFields = new Set(
    [...decoders.matchAll(/<order>([^<]+)<\/order>/g)].flatMap((m) => (m[1] as string).split(',').map((s) => s.trim())),
  );
  const wrules = fs.readFileSync(path.join(RULES, 'wazuh/4.x/rules/aegisbpf_rules.xml'), 'utf8');
  for (const m of wrules.matchAll(/<field name="([^"]+)">/g))
    assert.ok(EVENT_FIELDS.has(m[1] as string) || orderFields.has(m[1] as string), `wazuh field ${m[1]}`);
  for (const f of orderFields)
    assert.ok(EVENT_FIELDS.has(f) || ['srcip', 'srcport', 'dstip', 'dstport'].includes(f), `decoder order ${f}`);
  // QRadar custom properties.
  const props = (
    JSON.parse(fs.readFileSync(path.join(RULES, 'qradar/custom-properties.json'), 'utf8')) as {
      properties: { field: string }[];
    }
  ).properties;
  for (const p of props) assert.ok(EVENT_FIELDS.has(p.field), `qradar property ${p.field}`);
  // Wazuh 5.x.
  for (const f of fs.readdirSync(path.join(RULES, 'wazuh/5.x/decoders')))
    for (const m of fs
      .readFileSync(path.join(RULES, 'wazuh/5.x/decoders', f), 'utf8')
      .matchAll(/\$_aegis\.([A-Za-z_]+)/g))
      assert.ok(EVENT_FIELDS.has(m[1] as string), `wazuh 5.x ${f}: ${m[1]}`);
  // Sigma: aegisbpf-product detections use event fields; the pipelines map onto event fields (json) or ECS fields.
  for (const f of fs.readdirSync(path.join(RULES, 'sigma/rules'))) {
    const r = parseYaml(fs.readFileSync(path.join(RULES, 'sigma/rules', f), 'utf8')) as {
      logsource?: { product?: string };
      detection?: Record<string, unknown>;
      fields?: string[];
    };
    if (r.logsource?.product !== 'aegisbpf') continue;
    for (const [name, sel] of Object.entries(r.detection ?? {})) {
      if (name === 'condition') continue;
      for (const key of Object.keys(sel as object))
        assert.ok(EVENT_FIELDS.has(key.split('|')[0] as string), `sigma ${f}: ${key}`);
    }
    for (const key of r.fields ?? []) assert.ok(EVENT_FIELDS.has(key), `sigma ${f} fields: ${key}`);
  }
  for (const [file, known] of [
    ['aegisbpf-json.yml', EVENT_FIELDS],
    ['aegisbpf-ecs.yml', ECS_FIELDS],
  ] as const) {
    const p = parseYaml(fs.readFileSync(path.join(RULES, 'sigma/pipelines', file), 'utf8')) as {
      transformations: { type: string; mapping?: Record<string, string>; conditions?: Record<string, string> }[];
    };
    for (const t of p.transformations) {
      for (const target of Object.values(t.mapping ?? {})) assert.ok(known.has(target), `${file}: ${target}`);
      for (const field of Object.keys(t.conditions ?? {})) assert.ok(known.has(field), `${file}: ${field}`);
    }
  }
});

test('every detection has positive and negative samples', () => {
  for (const f of fs.readdirSync(path.join(RULES, 'sigma/rules'))) {
    const s = JSON.parse(fs.readFileSync(path.join(RULES, 'sigma/samples', f.replace(/\.yml$/, '.json')), 'utf8')) as {
      positives: unknown[];
      negatives: unknown[];
    };
    assert.ok(s.positives.length > 0 && s.negatives.length > 0, `sigma ${f}`);
  }
  for (const f of fs.readdirSync(path.join(RULES, 'elastic/detection-rules/kibana'))) {
    const s = JSON.parse(fs.readFileSync(path.join(RULES, 'elastic/detection-rules/samples', f), 'utf8')) as {
      samples: { expect: string }[];
    };
    assert.ok(s.samples.some((x) => x.expect !== 'none') && s.samples.some((x) => x.expect === 'none'), `elastic ${f}`);
  }
  const splunk = JSON.parse(fs.readFileSync(path.join(RULES, 'splunk/samples/detections.json'), 'utf8')) as Record<
    string,
    { positive?: unknown[]; negative?: unknown[] }
  >;
  const searches = fs.readFileSync(path.join(RULES, 'splunk/default/savedsearches.conf'), 'utf8');
  for (const m of searches.matchAll(/^\[(aegisbpf - [^\]]+)\]/gm)) {
    const s = splunk[m[1] as string];
    assert.ok((s?.positive?.length ?? 0) > 0 && (s?.negative?.length ?? 0) > 0, `splunk ${m[1]}`);
  }
  // Wazuh 4.x and QRadar samples are the formatters' output for every event type; their tests assert that every
  // rule fires (test/rules/wazuh.test.ts) and every event name is produced (test/rules/qradar.test.ts), plus negatives.
  assert.match(fs.readFileSync(packagePath('test', 'rules', 'wazuh.test.ts'), 'utf8'), /never fired/);
  assert.match(fs.readFileSync(packagePath('test', 'rules', 'qradar.test.ts'), 'utf8'), /no sample produced/);
});
