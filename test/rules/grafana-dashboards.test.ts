/**
 * rules/grafana: the committed dashboards are what `aegisbpf dashboard generate` prints, have the guide's panels, are
 * well-formed Grafana JSON, and every query in them (and in the runbook and metrics.md) is valid PromQL (promtool).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { DASHBOARD_TYPES, dashboardJson, dashboardQueries } from '../../src/cli/commands/dashboard-grafana';
import { packagePath } from '../../src/util/paths';
import { runCli } from '../helpers/cli';
import { codeBlocks } from '../helpers/markdown';
import { promtool, promtoolMissing } from '../helpers/promtool';
import { makeTempDir } from '../helpers/tmp';

type Json = Record<string, unknown>;
const committed = (type: string): Json =>
  JSON.parse(fs.readFileSync(packagePath('rules', 'grafana', `${type}.json`), 'utf8')) as Json;

test('rules/grafana/<type>.json is exactly what `aegisbpf dashboard generate --type <type>` prints', () => {
  assert.deepEqual(
    fs.readdirSync(packagePath('rules', 'grafana')).sort(),
    DASHBOARD_TYPES.map((t) => `${t}.json`).sort(),
  );
  for (const type of DASHBOARD_TYPES) {
    const file = fs.readFileSync(packagePath('rules', 'grafana', `${type}.json`), 'utf8');
    assert.equal(
      file,
      dashboardJson(type),
      `rules/grafana/${type}.json is stale: regenerate it with aegisbpf dashboard generate --type ${type}`,
    );
    const r = runCli(['dashboard', 'generate', '--type', type]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, file);
  }
  const bad = runCli(['dashboard', 'generate', '--type', 'fancy']);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--type must be one of overview, enforcement, performance \(got 'fancy'\)/);
  assert.equal(runCli(['dashboard', 'show', '--type', 'overview']).code, 2);
});

test('the guide’s three dashboards with the guide’s panels', () => {
  const titles = (type: string): string[] => (committed(type).panels as Json[]).map((p) => p.title as string);
  for (const t of ['System Health', 'Enforcement Rate', 'Map Utilization', 'Ringbuf Health'])
    assert.ok(titles('overview').includes(t), `overview: ${t}`);
  for (const t of ['Blocks by Action', 'Top Blocked Paths', 'Blocks Over Time', 'Block Event Timeline'])
    assert.ok(titles('enforcement').includes(t), `enforcement: ${t}`);
  for (const t of ['CPU Usage', 'Memory Usage', 'Event Latency', 'Map Growth Rate'])
    assert.ok(titles('performance').includes(t), `performance: ${t}`);
  const panel = (type: string, title: string): Json =>
    (committed(type).panels as Json[]).find((p) => p.title === title)!;
  assert.equal(panel('overview', 'Map Utilization').type, 'gauge');
  assert.deepEqual(((panel('overview', 'Map Utilization').fieldConfig as Json).defaults as Json).thresholds, {
    mode: 'absolute',
    steps: [
      { color: 'green', value: null },
      { color: 'yellow', value: 0.7 },
      { color: 'red', value: 0.85 },
    ],
  });
  assert.equal(panel('enforcement', 'Blocks by Action').type, 'piechart');
  assert.equal(panel('enforcement', 'Block Event Timeline').type, 'logs');
  assert.equal(panel('performance', 'Event Latency').type, 'heatmap');
});

test('well-formed: unique uids and panel ids, panels inside the 24-column grid, data sources are declared variables', () => {
  const uids = new Set<string>();
  for (const type of DASHBOARD_TYPES) {
    const d = committed(type);
    assert.ok(typeof d.uid === 'string' && !uids.has(d.uid));
    uids.add(d.uid);
    assert.equal(typeof d.schemaVersion, 'number');
    const variables = new Set(((d.templating as Json).list as Json[]).map((v) => `\${${v.name as string}}`));
    const ids = new Set<number>();
    for (const p of d.panels as Json[]) {
      assert.ok(!ids.has(p.id as number), `${type}: duplicate panel id ${String(p.id)}`);
      ids.add(p.id as number);
      const g = p.gridPos as { x: number; y: number; w: number; h: number };
      assert.ok(
        g.x >= 0 && g.w > 0 && g.x + g.w <= 24 && g.h > 0 && g.y >= 0,
        `${type}/${p.title as string}: gridPos ${JSON.stringify(g)}`,
      );
      if (p.type === 'row') continue;
      const uid = (p.datasource as Json).uid as string;
      assert.ok(variables.has(uid), `${type}/${p.title as string}: data source ${uid} is not a dashboard variable`);
      const targets = p.targets as Json[];
      assert.ok(targets.length > 0, `${type}/${p.title as string}: no query`);
      assert.equal(new Set(targets.map((t) => t.refId)).size, targets.length);
      for (const t of targets) assert.equal((t.datasource as Json).uid, uid);
    }
  }
});

/** Grafana's variables replaced the way Grafana does before the query reaches Prometheus. */
function concrete(expr: string): string {
  return expr.replace(/\$__rate_interval/g, '1m').replace(/\$instance/g, '.*');
}

test(
  'every PromQL query in the dashboards, the runbook and metrics.md parses (promtool check rules)',
  { skip: promtoolMissing() },
  () => {
    const queries: { where: string; expr: string }[] = [];
    for (const type of DASHBOARD_TYPES)
      for (const expr of dashboardQueries(committed(type)))
        queries.push({ where: `rules/grafana/${type}.json`, expr: concrete(expr) });
    for (const doc of ['runbook.md', 'metrics.md']) {
      const blocks = codeBlocks(fs.readFileSync(packagePath('docs', doc), 'utf8'), 'promql');
      assert.ok(blocks.length >= 10, `docs/${doc}: ${blocks.length} promql blocks`);
      for (const expr of blocks) queries.push({ where: `docs/${doc}`, expr });
    }
    const { dir, cleanup } = makeTempDir();
    const file = path.join(dir, 'queries.yml');
    fs.writeFileSync(
      file,
      YAML.stringify({
        groups: [{ name: 'queries', rules: queries.map((q, i) => ({ record: `aegisbpf:query_${i}`, expr: q.expr })) }],
      }),
    );
    const r = promtool(['check', 'rules', file]);
    assert.equal(
      r.code,
      0,
      `${r.stdout}${r.stderr}\n${queries.map((q, i) => `${i}: ${q.where}: ${q.expr}`).join('\n')}`,
    );
    assert.match(r.stdout, new RegExp(`SUCCESS: ${queries.length} rules found`));
    // The check itself: a query that is not PromQL is caught.
    fs.writeFileSync(
      file,
      YAML.stringify({ groups: [{ name: 'q', rules: [{ record: 'x:y', expr: 'rate(aegisbpf_blocks_total[5m]' }] }] }),
    );
    assert.notEqual(promtool(['check', 'rules', file]).code, 0);
    cleanup();
  },
);
