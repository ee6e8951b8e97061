/**
 * Security Onion 2.4 content in rules/security-onion/:
 * - the Fleet "Custom Logs" policy has Security Onion's shape (package log, namespace so, dataset aegisbpf) and names
 *   the ingest pipeline that is shipped;
 * - the ingest pipeline `aegisbpf` runs (in test/helpers/ingest-pipeline.ts: the Elasticsearch started here is the
 *   integration-test distribution, which has no ingest processors, docs/test-services.md §2.3) on the json line of
 *   every event type and adversarial events: the ECS document the elasticsearch sink writes, plus the guide's tags;
 * - on the real Elasticsearch: the node parses the pipeline (it lacks only the processors), the template installs
 *   over the aegisbpf component templates, the pipeline's output indexes cleanly into an index named like Security
 *   Onion's data stream, and the Hunt queries of docs/siem/security-onion.md find exactly what they should;
 * - the Logstash filter for older deployments names only fields of the event schema and of the ecs output, with the
 *   same values (Logstash itself cannot run here).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { FIELD_ORDER } from '../../src/event/fields';
import type { AegisEvent } from '../../src/event/types';
import { formatEcs } from '../../src/formatters/ecs';
import { formatJson } from '../../src/formatters/json';
import { reduceFieldTypes } from '../../src/sinks/elasticsearch/install';
import { packagePath } from '../../src/util/paths';
import { goldenCases } from '../formatters/golden';
import { spawnCli, waitExit } from '../helpers/cli';
import { generateEvents } from '../helpers/events';
import type { Doc, PipelineSpec } from '../helpers/ingest-pipeline';
import { runPipeline } from '../helpers/ingest-pipeline';
import type { ElasticsearchService } from '../helpers/services';
import { startElasticsearch } from '../helpers/services';

const DIR = packagePath('rules', 'security-onion');
const read = (...p: string[]): Record<string, unknown> =>
  JSON.parse(fs.readFileSync(path.join(DIR, ...p), 'utf8')) as Record<string, unknown>;
const pipeline = read('ingest', 'aegisbpf') as unknown as PipelineSpec;
const toEcs = JSON.parse(
  fs.readFileSync(packagePath('rules', 'elastic', 'ingest-pipelines', 'aegisbpf-json-to-ecs.json'), 'utf8'),
) as PipelineSpec;
// Security Onion's own `common` pipeline is not available here; an empty one stands in for it.
const PIPELINES = { 'aegisbpf-json-to-ecs': toEcs, common: { processors: [] } };

const EVENTS: AegisEvent[] = [
  ...goldenCases().map((c) => c.event),
  ...generateEvents(300, { adversarial: true, seed: 24 }),
];

/** What the Elastic Agent's log input hands to the pipeline: the line in `message`, plus its own fields. */
function agentDoc(e: AegisEvent): Doc {
  return {
    message: formatJson(e),
    tags: ['aegisbpf'],
    data_stream: { type: 'logs', dataset: 'aegisbpf', namespace: 'so' },
    event: { dataset: 'aegisbpf' },
    host: { name: 'so-agent-host' },
  };
}

/** The guide's `alert` tag: a policy match (any action), an anomaly finding, or an alert rule's state change. */
function forAnalyst(e: AegisEvent): boolean {
  return (
    e.type === 'anomaly' ||
    e.type === 'alert' ||
    ((e.type === 'block' || e.type === 'connect') && e.action !== undefined)
  );
}

function expectedTags(e: AegisEvent): string[] {
  const action = e.type === 'block' || e.type === 'connect' ? e.action : undefined;
  const tags = ['aegisbpf'];
  if (forAnalyst(e)) tags.push('alert');
  if (action !== undefined && action !== 'AUDIT') tags.push('execution_blocked');
  return tags;
}

test('the Fleet Custom Logs policy: package log, namespace so, dataset aegisbpf, pipeline aegisbpf', () => {
  const p = read('fleet', 'aegisbpf-logs.json') as {
    package: { name: string };
    namespace: string;
    inputs: Record<string, { streams: Record<string, { vars: Record<string, unknown> }> }>;
  };
  assert.equal(p.package.name, 'log');
  assert.equal(p.namespace, 'so');
  const vars = p.inputs['logs-logfile']?.streams['log.logs']?.vars ?? {};
  assert.equal(vars['data_stream.dataset'], 'aegisbpf');
  assert.equal(vars.custom, 'pipeline: aegisbpf');
  assert.ok(fs.existsSync(path.join(DIR, 'ingest', 'aegisbpf')), 'the pipeline the policy names is shipped');
  assert.ok((vars.paths as string[]).every((x) => x.startsWith('/')));
  assert.ok(!/^so-/.test('aegisbpf'), 'a plain pipeline name, not so-*');
});

test('the pipeline turns every event type into the elasticsearch sink’s ECS document, with the guide’s tags', () => {
  for (const e of EVENTS) {
    const { doc, failure } = runPipeline(pipeline, agentDoc(e), { pipelines: PIPELINES });
    assert.equal(failure, undefined);
    const { tags, data_stream: ds, ...rest } = doc;
    assert.deepEqual(tags, expectedTags(e), JSON.stringify(e).slice(0, 300));
    assert.deepEqual(ds, { type: 'logs', dataset: 'aegisbpf', namespace: 'so' });
    assert.deepEqual(rest, JSON.parse(formatEcs(e)) as Doc);
  }
  // A line that is not an aegisbpf event is kept and marked, not dropped.
  const bad = runPipeline(pipeline, { message: 'not json', tags: ['aegisbpf'] }, { pipelines: PIPELINES });
  assert.equal((bad.doc.event as Doc).kind, 'pipeline_error');
});

let es: ElasticsearchService | undefined;
let esSkip = '';
before(async () => {
  const started = await startElasticsearch();
  if (!started.ok) esSkip = started.reason;
  else es = started;
});
after(async () => {
  await es?.stop();
});

async function call(
  method: string,
  p: string,
  body?: unknown,
): Promise<{ status: number; body: Record<string, unknown> }> {
  const ndjson = typeof body === 'string';
  const r = await fetch(`${es?.url}${p}`, {
    method,
    headers: { 'content-type': ndjson ? 'application/x-ndjson' : 'application/json' },
    ...(body === undefined ? {} : { body: ndjson ? body : JSON.stringify(body) }),
  });
  return { status: r.status, body: (await r.json()) as Record<string, unknown> };
}

test('on Elasticsearch: pipeline structure, template, and the Hunt queries over logs-aegisbpf-so', async (t) => {
  if (es === undefined) return t.skip(esSkip);
  // NOT a run of the pipeline: this distribution has no ingest processors (the interpreter ran it above).
  const sim = await call('POST', '/_ingest/pipeline/_simulate', {
    pipeline,
    docs: [{ _source: agentDoc(EVENTS[0] as AegisEvent) }],
  });
  assert.equal(sim.status, 400);
  assert.match(JSON.stringify(sim.body), /No processor type exists with name \[pipeline\]/);
  const { processors: _p, ...rest } = pipeline;
  assert.equal((await call('PUT', '/_ingest/pipeline/aegisbpf', { ...rest, processors: [] })).status, 200);

  const install = await waitExit(spawnCli(['rules', 'install', 'elastic', '--url', es.url]));
  assert.ok(install.code === 0 || install.code === 3, install.stderr);
  // This node has no data-streams module: the template goes in without `data_stream`, and a plain index named like
  // Security Onion's data stream takes its mappings.
  const { data_stream: _d, ...template } = reduceFieldTypes(read('templates', 'logs-aegisbpf-so.json'));
  const put = await call('PUT', '/_index_template/logs-aegisbpf-so', template);
  assert.equal(put.status, 200, JSON.stringify(put.body));
  const index = 'logs-aegisbpf-so';
  const lines: string[] = [];
  EVENTS.forEach((e, i) => {
    const { doc } = runPipeline(pipeline, agentDoc(e), { pipelines: PIPELINES });
    lines.push(JSON.stringify({ create: { _index: index, _id: String(i) } }), JSON.stringify(doc));
  });
  const bulk = await call('POST', '/_bulk?refresh=true', lines.join('\n') + '\n');
  assert.equal(bulk.body.errors, false, JSON.stringify(bulk.body).slice(0, 2000));
  const mapping = await call('GET', `/${index}/_mapping/field/tags`);
  assert.match(JSON.stringify(mapping.body), /"type":"keyword"/);

  const ids = async (q: string): Promise<string[]> => {
    const r = await call('POST', `/${index}/_search`, {
      size: 1000,
      _source: false,
      query: { query_string: { query: q } },
    });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    return (r.body.hits as { hits: { _id: string }[] }).hits.map((h) => h._id).sort();
  };
  const where = (f: (e: AegisEvent) => boolean): string[] => EVENTS.flatMap((e, i) => (f(e) ? [String(i)] : [])).sort();
  const action = (e: AegisEvent): string | undefined =>
    e.type === 'block' || e.type === 'connect' ? e.action : undefined;
  assert.deepEqual(
    await ids('tags:execution_blocked'),
    where((e) => action(e) !== undefined && action(e) !== 'AUDIT'),
  );
  assert.deepEqual(await ids('tags:alert AND event.module:aegisbpf'), where(forAnalyst));
  assert.deepEqual(
    await ids('tags:execution_blocked AND aegisbpf.action:KILL'),
    where((e) => action(e) === 'KILL'),
  );
  assert.deepEqual(
    await ids('event.dataset:aegisbpf.events AND aegisbpf.type:sensor'),
    where((e) => e.type === 'sensor'),
  );
});

test('the Logstash filter names only event-schema and ecs-output fields, and copies each to where ecs puts it', () => {
  const conf = fs.readFileSync(path.join(DIR, 'logstash', 'aegisbpf.conf'), 'utf8').replace(/^\s*#.*$/gm, '');
  const fields = new Set<string>(FIELD_ORDER);
  const sourceRefs = [...conf.matchAll(/\[aegisbpf\]\[([a-z_]+)\]/g)].map((m) => m[1] as string);
  assert.ok(sourceRefs.length >= 6);
  for (const f of sourceRefs) assert.ok(fields.has(f), `[aegisbpf][${f}] is not an event field`);
  const copies = [...conf.matchAll(/"\[aegisbpf\]\[([a-z_]+)\]" => "((?:\[[a-z_]+\])+)"/g)].map((m) => ({
    from: m[1] as string,
    to: [...(m[2] as string).matchAll(/\[([a-z_]+)\]/g)].map((x) => x[1] as string),
  }));
  assert.equal(copies.length, 5);
  for (const e of EVENTS.slice(0, 40)) {
    const ecs = JSON.parse(formatEcs(e)) as Doc;
    const raw = JSON.parse(formatJson(e)) as Doc;
    for (const c of copies) {
      if (raw[c.from] === undefined || raw[c.from] === '') continue;
      const got = c.to.reduce<unknown>((o, k) => (o as Doc | undefined)?.[k], ecs);
      assert.deepEqual(got, raw[c.from], `${c.from} → ${c.to.join('.')} (${e.type})`);
    }
  }
  // The tags it adds are the pipeline's, with the same conditions.
  assert.match(conf, /add_tag => \["alert"\]/);
  assert.match(conf, /add_tag => \["execution_blocked"\]/);
  assert.match(conf, /\[aegisbpf\]\[action\] != "AUDIT"/);
});
