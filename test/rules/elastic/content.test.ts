/**
 * rules/elastic/ against a real Elasticsearch 8.19 (one node for this file): `aegisbpf rules install elastic`, the
 * mapping the templates produce compared field by field with what the ecs formatter emits, the detection rules'
 * queries over seeded positive and negative events, and the ingest pipeline's request shape.
 *
 * This node is the integration-test distribution (docs/test-services.md §2.3): no ILM, no ingest processors, no
 * match_only_text/wildcard/constant_keyword. So here the templates install with reduced types (and the test checks
 * that mapping), the full-type templates are checked against the ECS definitions without a cluster, ILM is tested
 * for request shape in install.test.ts, and the pipeline's processors run in the interpreter
 * (ingest-pipeline.test.ts) while this file checks that the node parses the pipeline's structure and indexes the
 * interpreter's output cleanly.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rawRequest } from '../../../src/sinks/elasticsearch/client';
import { parseElasticsearchConfig } from '../../../src/sinks/elasticsearch/config';
import { REDUCED_TYPES, loadElasticContent, reduceFieldTypes } from '../../../src/sinks/elasticsearch/install';
import type { JsonObject } from '../../../src/sinks/elasticsearch/install';
import { createElasticsearchTransport } from '../../../src/sinks/elasticsearch/transport';
import { documentId } from '../../../src/sinks/elasticsearch/target';
import { createLogger } from '../../../src/util/logger';
import { formatEcs } from '../../../src/formatters/ecs';
import { formatJson } from '../../../src/formatters/json';
import type { AegisEvent } from '../../../src/event/types';
import { spawnCli, waitExit } from '../../helpers/cli';
import { goldenCases } from '../../formatters/golden';
import { generateEvents } from '../../helpers/events';
import { ecsField, flatten } from '../../helpers/ecs-definitions';
import { effectiveMappings, flattenProperties } from '../../helpers/elastic-content';
import type { FieldMapping } from '../../helpers/elastic-content';
import { loadKibanaRules, loadSamples } from '../../helpers/detection-rules';
import { kqlToDsl } from '../../helpers/kql';
import type { Doc, PipelineSpec } from '../../helpers/ingest-pipeline';
import { runPipeline } from '../../helpers/ingest-pipeline';
import { useElasticsearch } from '../../helpers/elasticsearch';

const quiet = createLogger({ level: 'FATAL', write: () => undefined });
const content = loadElasticContent();
const fx = useElasticsearch();

async function call(
  method: 'GET' | 'POST' | 'PUT',
  p: string,
  body?: unknown,
): Promise<{ status: number; body: Record<string, unknown> }> {
  const r = await rawRequest(fx.client, { method, path: p, ...(body === undefined ? {} : { body }) });
  if (!r.ok) throw r.error as Error;
  return { status: r.status, body: r.body as Record<string, unknown> };
}

/** Every ECS/aegisbpf field path the ecs formatter writes, over every golden case and many generated events. */
function emittedFields(): Set<string> {
  const out = new Set<string>();
  for (const e of [...goldenCases().map((c) => c.event), ...generateEvents(3000, { seed: 2, adversarial: true })]) {
    for (const k of flatten(JSON.parse(formatEcs(e))).keys()) out.add(k.startsWith('labels.') ? 'labels' : k);
  }
  return out;
}

/** Index events with the real sink transport; return their ids. */
async function indexEvents(prefix: string, events: readonly AegisEvent[]): Promise<void> {
  const t = createElasticsearchTransport(
    parseElasticsearchConfig({ url: fx.es!.url, index: `${prefix}-%{+yyyy.MM.dd}` }),
    { logger: quiet, version: 'test' },
  );
  for (let i = 0; i < events.length; i += 1000) {
    const records = events.slice(i, i + 1000).map((event) => ({ event, data: formatEcs(event), bytes: 0 }));
    const r = await t.send({ id: i, records, bytes: 0, attempt: 1 }, new AbortController().signal);
    assert.equal(r.kind, 'delivered', JSON.stringify(r));
  }
  await t.close();
  await call('POST', `/${prefix}-*/_refresh`);
}

test('aegisbpf rules install elastic: installs what this cluster supports, says what it skipped and why, and is idempotent', async (t) => {
  if (fx.es === undefined) return t.skip(fx.skipReason);
  const first = await waitExit(spawnCli(['rules', 'install', 'elastic', '--url', fx.es.url]));
  assert.equal(first.code, 3, `exit 3: installed, but the pipeline was skipped\n${first.stdout}\n${first.stderr}`);
  const lines = first.stdout.trim().split('\n');
  for (const name of ['aegisbpf-settings', 'aegisbpf-ecs-mappings', 'aegisbpf-json-mappings'])
    assert.ok(
      lines.some((l) => /^created\s+component template/.test(l) && l.endsWith(name)),
      name,
    );
  for (const name of ['aegisbpf', 'logs-aegisbpf.events'])
    assert.ok(
      lines.some((l) => /^created\s+index template/.test(l) && l.endsWith(name)),
      name,
    );
  assert.ok(lines.some((l) => /^skipped\s+ilm policy\s+aegisbpf-daily: the cluster has no ILM/.test(l)));
  assert.ok(
    lines.some((l) =>
      /^skipped\s+ingest pipeline\s+aegisbpf-json-to-ecs: the cluster's ingest nodes lack the processors convert, gsub, join, json, remove, rename, set/.test(
        l,
      ),
    ),
  );
  assert.ok(lines.includes('field types: reduced; ILM: not available'));
  assert.match(
    first.stderr,
    /lacks an optional field type.*match_only_text/,
    'the fallback to reduced types is logged',
  );

  const second = await waitExit(spawnCli(['rules', 'install', 'elastic', '--url', fx.es.url, '--json']));
  assert.equal(second.code, 3);
  const report = JSON.parse(second.stdout) as { items: { kind: string; status: string }[]; types: string };
  assert.deepEqual(
    [...new Set(report.items.filter((i) => i.kind.endsWith('template')).map((i) => i.status))],
    ['unchanged'],
    'a second run changes nothing',
  );
  assert.equal(report.types, 'reduced');
  assert.equal(second.stderr, '', 'and does not even try the refused types again');

  const stored = await call('GET', '/_index_template/aegisbpf');
  const tpl = (stored.body.index_templates as { index_template: JsonObject }[])[0]!.index_template;
  assert.deepEqual(tpl.index_patterns, ['aegisbpf-*']);
  assert.equal(
    ((tpl.template as JsonObject | undefined)?.settings as JsonObject | undefined)?.index,
    undefined,
    'no index.lifecycle.name on a cluster without ILM',
  );
});

test('GET _mapping of a new aegisbpf-* index equals the template, and every field the ecs formatter emits has its intended type', async (t) => {
  if (fx.es === undefined) return t.skip(fx.skipReason);
  await waitExit(spawnCli(['rules', 'install', 'elastic', '--url', fx.es.url]));
  const index = `aegisbpf-mapping-${process.pid}`;
  const created = await call('PUT', `/${index}`);
  assert.equal(created.status, 200);
  const got = ((await call('GET', `/${index}/_mapping`)).body[index] as { mappings: JsonObject }).mappings;
  assert.equal(got.dynamic, 'false');
  assert.equal(got.date_detection, false);
  const actual = flattenProperties(got.properties as JsonObject);
  const intended = new Map([...effectiveMappings(content, 'aegisbpf')].map(([k, v]) => [k, reduceFieldTypes(v)]));
  // Elasticsearch answers `dynamic` as a string.
  const norm = (m: FieldMapping | undefined): unknown => {
    if (m === undefined) return undefined;
    const o: Record<string, unknown> = { ...m };
    if (typeof o.dynamic === 'boolean' || typeof o.dynamic === 'string') o.dynamic = String(o.dynamic);
    return JSON.parse(JSON.stringify(o, Object.keys(o).sort())) as unknown;
  };
  assert.deepEqual(
    [...actual.keys()].sort(),
    [...intended.keys()].sort(),
    'exactly the template’s fields, nothing dynamic',
  );
  for (const [field, m] of intended) assert.deepEqual(norm(actual.get(field)), norm(m), field);

  const emitted = emittedFields();
  for (const field of emitted) {
    if (field === 'labels') {
      assert.equal(actual.get('labels')?.type, 'object');
      continue;
    }
    const full = effectiveMappings(content, 'aegisbpf').get(field);
    assert.ok(full !== undefined, `${field} is emitted but not mapped`);
    const def = ecsField(field);
    if (!field.startsWith('aegisbpf.')) {
      assert.ok(def !== undefined, `${field} is an ECS field`);
      assert.equal(full.type, def.type, `${field}: full template type is the ECS type`);
      for (const mf of def.multi_fields ?? [])
        assert.deepEqual(full.fields, { [mf.name]: { type: mf.type } }, `${field}: ECS multi-field`);
    }
    const expectedHere = REDUCED_TYPES[full.type]?.type ?? full.type;
    assert.equal(actual.get(field)?.type, expectedHere, `${field}: type on this cluster`);
  }
  // Fields mapped but never emitted: only the ones the json format carries that ECS output moves elsewhere.
  const unused = [...intended.keys()].filter((f) => !emitted.has(f) && !f.startsWith('aegisbpf.'));
  assert.deepEqual(unused, [], 'every ECS field in the template is one the formatter writes');
});

test('the data stream template: logs-aegisbpf.events-* streams get the same mapping plus data_stream.*', async (t) => {
  if (fx.es === undefined) return t.skip(fx.skipReason);
  await waitExit(spawnCli(['rules', 'install', 'elastic', '--url', fx.es.url]));
  const ns = `m${process.pid}`;
  const transport = createElasticsearchTransport(
    parseElasticsearchConfig({ url: fx.es.url, data_stream: { namespace: ns } }),
    { logger: quiet, version: 'test' },
  );
  const events = goldenCases().map((c) => c.event);
  const r = await transport.send(
    { id: 1, records: events.map((event) => ({ event, data: formatEcs(event), bytes: 0 })), bytes: 0, attempt: 1 },
    new AbortController().signal,
  );
  assert.equal(r.kind, 'delivered');
  await transport.close();
  const mappings = (await call('GET', `/logs-aegisbpf.events-${ns}/_mapping`)).body;
  const backing = Object.keys(mappings)[0]!;
  assert.match(backing, new RegExp(`^\\.ds-logs-aegisbpf\\.events-${ns}-\\d{4}\\.\\d{2}\\.\\d{2}-000001$`));
  const actual = flattenProperties((mappings[backing] as { mappings: JsonObject }).mappings.properties as JsonObject);
  const intended = effectiveMappings(content, 'logs-aegisbpf.events');
  for (const [field, m] of intended) {
    if (field === 'labels' || field === 'aegisbpf.labels') continue;
    assert.equal(actual.get(field)?.type, REDUCED_TYPES[m.type]?.type ?? m.type, field);
  }
  assert.equal(actual.get('labels.team')?.type, 'keyword', 'labels.* are mapped as keyword by the dynamic template');
  assert.equal(intended.get('data_stream.dataset')?.type, 'constant_keyword', 'on a full cluster');
});

test('each detection rule’s query, as Elasticsearch DSL, hits exactly its positive samples; the threshold groups exactly the positive host', async (t) => {
  if (fx.es === undefined) return t.skip(fx.skipReason);
  await waitExit(spawnCli(['rules', 'install', 'elastic', '--url', fx.es.url]));
  for (const { file, rule } of loadKibanaRules()) {
    const prefix = `aegisbpf-rule-${file.replace(/^aegisbpf-/, '')}-${process.pid}`;
    const expectAlert = new Set<string>();
    const expectMatch = new Set<string>();
    const events: AegisEvent[] = [];
    for (const s of loadSamples(file)) {
      for (let i = 0; i < (s.count ?? 1); i++) {
        const micros = String(Number(String(s.event.ts).slice(20, 26)) + i)
          .padStart(6, '0')
          .slice(-6);
        const e = { ...s.event, ts: `${String(s.event.ts).slice(0, 20)}${micros}Z` } as unknown as AegisEvent;
        events.push(e);
        if (s.expect === 'alert') expectAlert.add(documentId(e));
        if (s.expect === 'alert' || s.expect === 'match') expectMatch.add(documentId(e));
      }
    }
    assert.equal(new Set(events.map(documentId)).size, events.length, `${file}: sample copies are distinct events`);
    await indexEvents(prefix, events);
    const query = kqlToDsl(rule.query);
    const res = await call('POST', `/${prefix}-*/_search`, { size: 10_000, _source: false, query });
    const hits = new Set((res.body.hits as { hits: { _id: string }[] }).hits.map((h) => h._id));
    assert.deepEqual(
      [...hits].sort(),
      [...(rule.type === 'threshold' ? expectMatch : expectAlert)].sort(),
      `${file}: the query hits exactly the positives`,
    );
    if (rule.threshold !== undefined) {
      const agg = await call('POST', `/${prefix}-*/_search`, {
        size: 0,
        query,
        aggs: { groups: { terms: { field: rule.threshold.field[0], min_doc_count: rule.threshold.value, size: 100 } } },
      });
      const groups = (agg.body.aggregations as { groups: { buckets: { key: string }[] } }).groups.buckets.map(
        (b) => b.key,
      );
      const alertHosts = [
        ...new Set(
          loadSamples(file)
            .filter((s) => s.expect === 'alert')
            .map((s) => s.event.host as string),
        ),
      ];
      assert.deepEqual(groups, alertHosts, `${file}: only the host at or above ${rule.threshold.value} alerts`);
    }
  }
});

test('the guide’s layout (raw json decoded under aegisbpf.* by Filebeat, no pipeline) maps cleanly too, and its rule query works', async (t) => {
  if (fx.es === undefined) return t.skip(fx.skipReason);
  await waitExit(spawnCli(['rules', 'install', 'elastic', '--url', fx.es.url]));
  const index = `aegisbpf-guide-${process.pid}`;
  const lines: string[] = [];
  for (const e of goldenCases().map((c) => c.event)) {
    const doc = {
      '@timestamp': e.ts,
      message: formatJson(e),
      host: { name: e.host },
      agent: { type: 'filebeat' },
      aegisbpf: JSON.parse(formatJson(e)) as unknown,
    };
    lines.push(JSON.stringify({ create: { _index: index, _id: documentId(e) } }), JSON.stringify(doc));
  }
  const r = await rawRequest(fx.client, {
    method: 'POST',
    path: '/_bulk',
    querystring: { refresh: 'true' },
    bulkBody: lines.join('\n') + '\n',
  });
  assert.ok(r.ok && r.status === 200);
  assert.equal((r.body as { errors: boolean }).errors, false, JSON.stringify(r.body).slice(0, 2000));
  const blocks = await call('POST', `/${index}/_count`, { query: kqlToDsl('aegisbpf.type:block') });
  assert.equal(blocks.body.count, goldenCases().filter((c) => c.event.type === 'block').length);
});

test('ingest pipeline: the node parses its structure (and only lacks the processors); the interpreter’s output indexes cleanly', async (t) => {
  if (fx.es === undefined) return t.skip(fx.skipReason);
  const pipeline = content.ingestPipelines.find((p) => p.name === 'aegisbpf-json-to-ecs')!.body;
  // NOT a run of the pipeline: this distribution has no ingest processors. The answer shows the body parsed up to
  // the first processor lookup.
  const put = await call('PUT', '/_ingest/pipeline/aegisbpf-json-to-ecs', pipeline);
  assert.equal(put.status, 400);
  assert.match(JSON.stringify(put.body), /No processor type exists with name \[remove\]/);
  const simulate = await call('POST', '/_ingest/pipeline/_simulate', {
    pipeline,
    docs: [{ _source: { message: '{}' } }],
  });
  assert.equal(simulate.status, 400);
  assert.match(JSON.stringify(simulate.body), /No processor type exists with name \[remove\]/);
  // The rest of the body (description, version, _meta) is accepted as is.
  const { processors: _p, on_failure: _f, ...rest } = pipeline;
  assert.equal((await call('PUT', '/_ingest/pipeline/aegisbpf-shape-check', { ...rest, processors: [] })).status, 200);

  await waitExit(spawnCli(['rules', 'install', 'elastic', '--url', fx.es.url]));
  const index = `aegisbpf-pipeline-out-${process.pid}`;
  const events = [...goldenCases().map((c) => c.event), ...generateEvents(500, { seed: 4, adversarial: true })];
  const lines: string[] = [];
  for (const e of events) {
    const { doc, failure } = runPipeline(pipeline as unknown as PipelineSpec, { message: formatJson(e) });
    assert.equal(failure, undefined);
    lines.push(JSON.stringify({ create: { _index: index, _id: documentId(e) } }), JSON.stringify(doc));
  }
  const bulk = await rawRequest(fx.client, {
    method: 'POST',
    path: '/_bulk',
    querystring: { refresh: 'true' },
    bulkBody: lines.join('\n') + '\n',
  });
  assert.ok(bulk.ok && bulk.status === 200);
  assert.equal((bulk.body as { errors: boolean }).errors, false, JSON.stringify(bulk.body).slice(0, 2000));
  for (const e of events.slice(0, 12)) {
    const got = await call('GET', `/${index}/_doc/${documentId(e)}`);
    assert.deepEqual(got.body._source, JSON.parse(formatEcs(e)) as Doc);
  }
});
