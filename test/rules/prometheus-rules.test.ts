/**
 * rules/prometheus: the alert rules load in Prometheus (promtool check rules), their unit tests pass (promtool test
 * rules), every alert has a firing and a quiet test that really depend on its expression (mutation: an expression
 * that never fires, or always fires, must fail them), and every runbook link lands on a section that exists.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { METRICS } from '../../src/telemetry/metric-catalog';
import type { MetricSpec } from '../../src/telemetry/metric-catalog';
import { packagePath } from '../../src/util/paths';
import { headingAnchors } from '../helpers/markdown';
import { promtool, promtoolMissing } from '../helpers/promtool';
import { makeTempDir } from '../helpers/tmp';

interface Rule {
  alert: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}
interface AlertTest {
  name: string;
  input_series: { series: string; values: string }[];
  alert_rule_test: { alertname: string; exp_alerts: unknown[] }[];
}

const ALERTS = packagePath('rules', 'prometheus', 'alerts.yml');
const TESTS = packagePath('rules', 'prometheus', 'tests', 'alerts.test.yml');
const rules = (): Rule[] =>
  (YAML.parse(fs.readFileSync(ALERTS, 'utf8')) as { groups: { rules: Rule[] }[] }).groups.flatMap((g) => g.rules);
const cases = (): AlertTest[] => (YAML.parse(fs.readFileSync(TESTS, 'utf8')) as { tests: AlertTest[] }).tests;

test('the guides’ alerts, the SLO alerts and the sink alerts are all there, each with a severity, a summary, a description and a runbook', () => {
  const names = rules().map((r) => r.alert);
  for (const n of [
    'AegisBPFDaemonDown',
    'AegisBPFHighBlockRate',
    'AegisBPFMapNearFull',
    'AegisBPFRingbufDropping',
    'AegisBPFHighCPU',
    'AegisBPFHighMemory',
    'AegisBPFEventLossSLOViolation',
    'AegisBPFMetricsStale',
    'AegisBPFSinkUnhealthy',
    'AegisBPFDeadLetterGrowing',
    'AegisBPFSinkBufferNearFull',
  ])
    assert.ok(names.includes(n), `missing alert ${n}`);
  assert.equal(new Set(names).size, names.length, 'alert names are unique');
  for (const r of rules()) {
    assert.match(r.labels?.severity ?? '', /^(critical|warning|info)$/, r.alert);
    for (const a of ['summary', 'description', 'runbook'])
      assert.ok((r.annotations?.[a] ?? '') !== '', `${r.alert}: annotation ${a}`);
  }
});

test('every runbook annotation points at a section of docs/runbook.md that exists', () => {
  const anchors = headingAnchors(fs.readFileSync(packagePath('docs', 'runbook.md'), 'utf8'));
  for (const r of rules()) {
    const m = /^docs\/runbook\.md#([a-z0-9-]+)$/.exec(r.annotations?.runbook ?? '');
    assert.ok(m !== null, `${r.alert}: runbook ${r.annotations?.runbook}`);
    assert.ok(anchors.has(m[1] as string), `${r.alert}: docs/runbook.md has no section #${m[1]}`);
  }
});

test('promtool check rules accepts alerts.yml', { skip: promtoolMissing() }, () => {
  const r = promtool(['check', 'rules', ALERTS]);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.match(r.stdout, new RegExp(`SUCCESS: ${rules().length} rules found`));
});

test('promtool test rules: every alert fires and stays quiet where its tests say', { skip: promtoolMissing() }, () => {
  const r = promtool(['test', 'rules', TESTS]);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /SUCCESS/);
});

test('every alert has at least one firing and one not-firing unit test', () => {
  for (const rule of rules()) {
    const evals = cases()
      .flatMap((c) => c.alert_rule_test)
      .filter((t) => t.alertname === rule.alert);
    assert.ok(
      evals.some((t) => t.exp_alerts.length > 0),
      `${rule.alert}: no test where it fires`,
    );
    assert.ok(
      evals.some((t) => t.exp_alerts.length === 0),
      `${rule.alert}: no test where it stays quiet`,
    );
  }
});

test(
  'the unit tests depend on each expression: one that never fires or always fires makes them fail',
  { skip: promtoolMissing() },
  () => {
    const { dir, cleanup } = makeTempDir();
    fs.mkdirSync(path.join(dir, 'tests'));
    fs.copyFileSync(TESTS, path.join(dir, 'tests', 'alerts.test.yml'));
    const original = fs.readFileSync(ALERTS, 'utf8');
    const doc = YAML.parseDocument(original);
    const ruleNodes = (doc.get('groups') as YAML.YAMLSeq<YAML.YAMLMap>).items.flatMap(
      (g) => (g.get('rules') as YAML.YAMLSeq<YAML.YAMLMap>).items,
    );
    for (const node of ruleNodes) {
      const name = String(node.get('alert'));
      const expr = String(node.get('expr'));
      for (const [label, mutated] of [
        ['never fires', 'vector(0) > 1'],
        ['always fires', 'vector(1)'],
      ] as const) {
        node.set('expr', mutated);
        fs.writeFileSync(path.join(dir, 'alerts.yml'), doc.toString());
        const r = promtool(['test', 'rules', path.join(dir, 'tests', 'alerts.test.yml')]);
        assert.notEqual(r.code, 0, `${name} with an expression that ${label}: the unit tests still pass`);
        assert.match(
          r.stdout + r.stderr,
          new RegExp(`alertname: ${name}`),
          `${name} (${label}): the failure is not about this alert`,
        );
      }
      node.set('expr', expr);
    }
    cleanup();
  },
);

test('the unit tests use the metric names and label names aegisbpf exports', () => {
  const byName = new Map<string, MetricSpec>(METRICS.map((s) => [s.name, s]));
  for (const c of cases()) {
    for (const s of c.input_series) {
      const m = /^([a-z_:][a-z0-9_:]*)\{(.*)\}$/.exec(s.series);
      assert.ok(m !== null, s.series);
      const name = m[1] as string;
      const labels = [...(m[2] as string).matchAll(/([a-z_]+)="/g)]
        .map((x) => x[1] as string)
        .filter((l) => l !== 'job' && l !== 'instance')
        .sort();
      if (name === 'up') continue; // Prometheus' own scrape health
      const spec = byName.get(name);
      assert.ok(spec !== undefined, `${c.name}: ${name} is not an aegisbpf metric`);
      assert.deepEqual(labels, [...spec.labels].sort(), `${c.name}: labels of ${name}`);
    }
  }
});
