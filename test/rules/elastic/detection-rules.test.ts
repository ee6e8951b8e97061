/**
 * Detection rules as data (STYLE 12): schema-checked Kibana rule JSON, TOML generated from it and parsed back by a
 * real TOML parser, every referenced field mapped in the template and emitted by the ecs formatter, and positive and
 * negative samples for every rule. Running the queries against Elasticsearch is in content.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { formatEcs } from '../../../src/formatters/ecs';
import { isValidEvent } from '../../../src/event/validate';
import type { AegisEvent } from '../../../src/event/types';
import { loadElasticContent } from '../../../src/sinks/elasticsearch/install';
import {
  RULES_DIR,
  TOML_DATES,
  kibanaRuleToToml,
  loadKibanaRules,
  loadSamples,
  tomlFileName,
} from '../../helpers/detection-rules';
import { kqlFields, kqlToDsl } from '../../helpers/kql';
import { flatten } from '../../helpers/ecs-definitions';
import { mappedFields } from '../../helpers/elastic-content';

const rules = loadKibanaRules();

test('the five rules of the issue are there: High Block Rate, KILL/TERM, world-writable exec, denied addresses, sensor drops; and the control API and anomaly rules', () => {
  assert.deepEqual(
    rules.map((r) => r.file),
    [
      'aegisbpf-anomaly-detected',
      'aegisbpf-api-authentication-failures',
      'aegisbpf-connection-to-denied-address',
      'aegisbpf-exec-from-world-writable-path',
      'aegisbpf-high-block-rate',
      'aegisbpf-kill-term-enforcement',
      'aegisbpf-sensor-event-drops',
    ],
  );
  const hbr = rules.find((r) => r.file === 'aegisbpf-high-block-rate')!.rule;
  assert.equal(hbr.name, 'AegisBPF High Block Rate', 'the guide’s rule keeps its name');
  assert.equal(hbr.type, 'threshold');
  assert.deepEqual(hbr.threshold, { field: ['host.name'], value: 100 });
  assert.equal(hbr.interval, '5m');
});

test('every rule has the Kibana fields the issue asks for, with valid values', () => {
  const ids = new Set<string>();
  for (const { file, rule } of rules) {
    assert.match(
      rule.rule_id,
      /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
      `${file}: rule_id is a UUID v4`,
    );
    assert.ok(!ids.has(rule.rule_id), `${file}: rule_id unique`);
    ids.add(rule.rule_id);
    assert.ok(
      Number.isInteger(rule.risk_score) && rule.risk_score >= 0 && rule.risk_score <= 100,
      `${file}: risk_score`,
    );
    assert.ok(['low', 'medium', 'high', 'critical'].includes(rule.severity), `${file}: severity`);
    // Kibana's risk score bands: low 0-21, medium 22-47, high 48-73, critical 74-100.
    const band =
      rule.risk_score <= 21 ? 'low' : rule.risk_score <= 47 ? 'medium' : rule.risk_score <= 73 ? 'high' : 'critical';
    assert.equal(rule.severity, band, `${file}: severity matches the risk score band`);
    assert.ok(['query', 'threshold'].includes(rule.type), `${file}: type`);
    assert.equal(rule.language, 'kuery');
    assert.deepEqual(rule.index, ['aegisbpf-*', 'logs-aegisbpf.events-*']);
    assert.match(rule.from, /^now-\d+[smh]$/);
    assert.match(rule.interval, /^\d+[smh]$/);
    const toSeconds = (s: string): number =>
      Number(s.replace(/\D/g, '')) * ({ s: 1, m: 60, h: 3600 } as Record<string, number>)[s.slice(-1)]!;
    assert.ok(
      toSeconds(rule.from.slice(4)) >= toSeconds(rule.interval),
      `${file}: from covers at least one interval (no gap between runs)`,
    );
    assert.ok(rule.threat.length > 0, `${file}: MITRE ATT&CK mapping`);
    for (const t of rule.threat) {
      assert.equal(t.framework, 'MITRE ATT&CK');
      assert.match(t.tactic.id, /^TA\d{4}$/);
      assert.equal(t.tactic.reference, `https://attack.mitre.org/tactics/${t.tactic.id}/`);
      assert.ok(t.technique.length > 0);
      for (const tech of t.technique) {
        assert.match(tech.id, /^T\d{4}$/);
        assert.equal(tech.reference, `https://attack.mitre.org/techniques/${tech.id}/`);
        for (const sub of tech.subtechnique ?? []) {
          assert.match(sub.id, new RegExp(`^${tech.id}\\.\\d{3}$`));
          assert.equal(sub.reference, `https://attack.mitre.org/techniques/${sub.id.replace('.', '/')}/`);
        }
      }
    }
    assert.doesNotThrow(() => kqlToDsl(rule.query), `${file}: the query parses as KQL`);
  }
});

test('every field a rule references is mapped by the installed templates and written by the ecs formatter', () => {
  const mapped = mappedFields(loadElasticContent());
  for (const { file, rule } of rules) {
    const fields = [...kqlFields(rule.query), ...(rule.threshold?.field ?? [])];
    const emitted = new Set<string>();
    for (const s of loadSamples(file))
      for (const k of flatten(JSON.parse(formatEcs(s.event as unknown as AegisEvent))).keys()) emitted.add(k);
    for (const f of fields) {
      assert.ok(mapped.has(f), `${file}: ${f} is not mapped by the templates`);
      assert.ok(emitted.has(f), `${file}: ${f} is never written by the ecs formatter for this rule's samples`);
    }
  }
});

test('every rule has valid positive and negative sample events', () => {
  for (const { file } of rules) {
    const samples = loadSamples(file);
    assert.ok(
      samples.some((s) => s.expect === 'alert'),
      `${file}: has positives`,
    );
    assert.ok(
      samples.some((s) => s.expect === 'none'),
      `${file}: has negatives`,
    );
    for (const s of samples) assert.ok(isValidEvent(s.event), `${file}: sample '${s.name}' is a valid event`);
  }
});

test('the elastic/detection-rules TOML files are generated from the Kibana JSON (byte for byte)', () => {
  const dir = path.join(RULES_DIR, 'toml');
  const expected = new Set<string>();
  const problems: string[] = [];
  for (const { file, rule } of rules) {
    const name = tomlFileName(file, rule);
    expected.add(name);
    const text = kibanaRuleToToml(rule, TOML_DATES);
    const target = path.join(dir, name);
    if (process.env.AEGIS_UPDATE_GOLDEN === '1') fs.writeFileSync(target, text);
    else if (!fs.existsSync(target)) problems.push(`missing ${name} (AEGIS_UPDATE_GOLDEN=1 writes it)`);
    else if (fs.readFileSync(target, 'utf8') !== text)
      problems.push(`${name} differs from what ${file}.json generates (AEGIS_UPDATE_GOLDEN=1 rewrites it)`);
  }
  assert.deepEqual(problems, []);
  assert.deepEqual(fs.readdirSync(dir).sort(), [...expected].sort(), 'no stale TOML files');
});

test('a real TOML parser (Python tomllib) reads each TOML file back to the Kibana rule', (t) => {
  const probe = spawnSync('python3', ['-c', 'import tomllib'], { encoding: 'utf8' });
  if (probe.status !== 0) {
    t.skip(`python3 with tomllib (Python >= 3.11) is not available: ${probe.stderr.trim()}`);
    return;
  }
  for (const { file, rule } of rules) {
    const tomlPath = path.join(RULES_DIR, 'toml', tomlFileName(file, rule));
    const r = spawnSync(
      'python3',
      ['-c', 'import json,sys,tomllib; print(json.dumps(tomllib.load(open(sys.argv[1],"rb"))))', tomlPath],
      { encoding: 'utf8' },
    );
    assert.equal(r.status, 0, r.stderr);
    const parsed = JSON.parse(r.stdout) as { metadata: Record<string, unknown>; rule: Record<string, unknown> };
    assert.equal(parsed.metadata.maturity, 'production');
    assert.match(String(parsed.metadata.creation_date), /^\d{4}\/\d{2}\/\d{2}$/);
    const { version: _version, enabled: _enabled, ...expected } = rule;
    assert.deepEqual(parsed.rule, JSON.parse(JSON.stringify(expected)) as unknown, file);
  }
});
