/**
 * The Filebeat and Vector configurations (rules/filebeat/, rules/vector/).
 *
 * NEITHER TOOL RUNS HERE: Filebeat 8 is not obtainable from the registries this machine may use (the Go module
 * proxy serves github.com/elastic/beats/v7 only up to v7.17.x; the v8 tags answer 403), and Vector is published on
 * none of them. So these tests check what can be checked without them: the files parse, every name in them agrees
 * with rules/elastic/ (index pattern, pipeline, fields), their line filters accept every event line and reject the
 * daemon's own log lines, and the documents they send become exactly the ecs formatter's output through the
 * ingest pipeline (run in the interpreter, see ingest-pipeline.test.ts).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { spawnSync } from 'node:child_process';
import YAML from 'yaml';
import { formatEcs } from '../../../src/formatters/ecs';
import { formatJson } from '../../../src/formatters/json';
import { createLogger } from '../../../src/util/logger';
import { loadElasticContent } from '../../../src/sinks/elasticsearch/install';
import { packagePath } from '../../../src/util/paths';
import { goldenCases } from '../../formatters/golden';
import { generateEvents } from '../../helpers/events';
import type { Doc, PipelineSpec } from '../../helpers/ingest-pipeline';
import { runPipeline } from '../../helpers/ingest-pipeline';

const content = loadElasticContent();
const pipeline = content.ingestPipelines.find((p) => p.name === 'aegisbpf-json-to-ecs')!;
const indexPatterns = (content.indexTemplates.find((t) => t.name === 'aegisbpf')!.body.index_patterns as string[]).map(
  (p) => new RegExp(`^${p.replace(/[.]/g, '\\.').replace(/\*/g, '.*')}$`),
);
const eventLines = [
  ...goldenCases().map((c) => formatJson(c.event)),
  ...generateEvents(500, { adversarial: true }).map(formatJson),
];
const logLines: string[] = [];
const logger = createLogger({ level: 'DEBUG', write: (l) => void logLines.push(l.trimEnd()) });
logger.info('aegisbpf started.', { version: '0.1.0', sources: ['s:replay'] });
logger.error('Sink is unhealthy; events wait in its buffer and are retried.', {
  sink: 'es',
  code: 'AEGIS_ERR_SINK_UNHEALTHY',
  reason: 'x',
});
logger.warn('A "type": field in a message must not fool the filter.', { type: 'block' });

type Yaml = Record<string, unknown>;

test('filebeat: parses; ships the raw line to the aegisbpf-json-to-ecs pipeline into an aegisbpf-* index, with Filebeat’s own template and ILM off', () => {
  const cfg = YAML.parse(
    fs.readFileSync(packagePath('rules', 'filebeat', 'aegisbpf-elasticsearch.yml'), 'utf8'),
  ) as Yaml;
  const out = cfg['output.elasticsearch'] as Yaml;
  assert.equal(out.pipeline, pipeline.name);
  const index = String(out.index).replace('%{+yyyy.MM.dd}', '2026.11.21');
  assert.ok(
    indexPatterns.some((r) => r.test(index)),
    `${index} is covered by the aegisbpf index template`,
  );
  assert.equal(cfg['setup.template.enabled'], false);
  assert.equal(cfg['setup.ilm.enabled'], false);
  assert.equal(cfg['setup.template.name'], 'aegisbpf');
  assert.equal(cfg['setup.template.pattern'], 'aegisbpf-*');
  assert.match(String(out.api_key), /^\$\{[A-Z_]+\}$/, 'the key comes from the environment or keystore');
  assert.ok(Array.isArray(out['ssl.certificate_authorities']), 'TLS verified against the cluster CA');
  const inputs = cfg['filebeat.inputs'] as Yaml[];
  assert.equal(inputs.filter((i) => i.enabled !== false).length, 1, 'one input enabled');
  const journald = inputs.find((i) => i.type === 'journald')!;
  assert.deepEqual(journald['include_matches.match'], ['_SYSTEMD_UNIT=aegisbpf.service'], 'Filebeat 8 match syntax');
  const fingerprint = (cfg.processors as Yaml[]).find((p) => p.fingerprint !== undefined)!.fingerprint as Yaml;
  assert.equal(fingerprint.target_field, '@metadata._id');
  assert.deepEqual(fingerprint.fields, ['message']);
  // The journald input's drop_event regexp (Go RE2; this pattern means the same in JavaScript).
  const re = new RegExp(
    ((((journald.processors as Yaml[])[0]!.drop_event as Yaml).when as Yaml).not as { regexp: { message: string } })
      .regexp.message,
  );
  for (const l of eventLines) assert.ok(re.test(l), `event line kept: ${l.slice(0, 80)}`);
  for (const l of logLines) assert.ok(!re.test(l), `daemon log line dropped: ${l}`);
});

test('filebeat: the document it sends becomes the ecs formatter’s document through the pipeline; its own fields stay beside', () => {
  for (const e of goldenCases().map((c) => c.event)) {
    const sent: Doc = {
      '@timestamp': '2026-11-21T11:00:00.000Z',
      message: formatJson(e),
      input: { type: 'filestream' },
      log: { file: { path: '/var/log/aegisbpf/events.ndjson' }, offset: 0 },
      host: { name: 'shipper' },
      agent: { type: 'filebeat', version: '8.19.0' },
      ecs: { version: '8.0.0' },
    };
    const { doc, failure } = runPipeline(pipeline.body as unknown as PipelineSpec, sent);
    assert.equal(failure, undefined);
    const { input, log, agent, ...ecs } = doc;
    assert.deepEqual(ecs, JSON.parse(formatEcs(e)) as Doc);
    assert.deepEqual({ input, log, agent }, { input: sent.input, log: sent.log, agent: sent.agent });
  }
});

test('vector: parses (Python tomllib); create actions with an _id, the event’s own date in the index, the pipeline; helper fields removed by it', (t) => {
  const probe = spawnSync('python3', ['-c', 'import tomllib'], { encoding: 'utf8' });
  if (probe.status !== 0) return t.skip(`python3 with tomllib is not available: ${probe.stderr.trim()}`);
  const file = packagePath('rules', 'vector', 'aegisbpf-elasticsearch.toml');
  const r = spawnSync(
    'python3',
    ['-c', 'import json,sys,tomllib; print(json.dumps(tomllib.load(open(sys.argv[1],"rb"))))', file],
    { encoding: 'utf8' },
  );
  assert.equal(r.status, 0, r.stderr);
  const cfg = JSON.parse(r.stdout) as { sinks: { elasticsearch: Yaml }; transforms: Record<string, Yaml> };
  const es = cfg.sinks.elasticsearch;
  assert.equal(es.pipeline, pipeline.name);
  assert.deepEqual(es.bulk, { action: 'create', index: '{{ aegisbpf_index }}' });
  assert.equal(es.id_key, 'aegisbpf_id');
  assert.equal((es.tls as Yaml).verify_certificate, true);
  const remap = String(cfg.transforms.aegisbpf_for_elasticsearch!.source);
  assert.match(remap, /\.aegisbpf_id = sha2\(line/);
  assert.match(
    remap,
    /\.aegisbpf_index = "aegisbpf-" \+ format_timestamp!\(ts, format: "%Y\.%m\.%d", timezone: "UTC"\)/,
  );
  assert.ok(indexPatterns.some((x) => x.test('aegisbpf-2026.11.21')));
  // The filter condition's regex (VRL uses Rust's regex crate; this pattern means the same in JavaScript).
  const condition = String(cfg.transforms.aegisbpf_events!.condition);
  const m = /^match\(string!\(\.message\), r'(.*)'\)$/.exec(condition);
  assert.ok(m !== null, condition);
  const keep = new RegExp(m[1]!);
  for (const l of eventLines) assert.ok(keep.test(l));
  for (const l of logLines) assert.ok(!keep.test(l), l);
  // What the sink sends (the id_key field may or may not be stripped by Vector; the pipeline removes both).
  for (const e of goldenCases().map((c) => c.event)) {
    const { doc } = runPipeline(pipeline.body as unknown as PipelineSpec, {
      message: formatJson(e),
      aegisbpf_id: 'x',
      aegisbpf_index: 'aegisbpf-2026.11.21',
    });
    assert.deepEqual(doc, JSON.parse(formatEcs(e)) as Doc);
  }
});
