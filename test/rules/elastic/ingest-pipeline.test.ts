/**
 * The ingest pipeline rules/elastic/ingest-pipelines/aegisbpf-json-to-ecs.json turns the `json` format into the
 * document the `ecs` formatter writes.
 *
 * NOT RUN ON ELASTICSEARCH HERE: the test Elasticsearch has no ingest processors (docs/test-services.md §2.3: only
 * `set_security_user`; storing or `_simulate`-ing this pipeline answers 400 "No processor type exists"). Instead the
 * pipeline runs in test/helpers/ingest-pipeline.ts, an interpreter written from the Elasticsearch processor
 * reference that refuses anything it does not model; the interpreter's own behaviour on the documented cases is
 * checked below. content.test.ts checks the request shape against the real node and indexes the interpreter's
 * output through the real templates.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { formatEcs } from '../../../src/formatters/ecs';
import { formatJson } from '../../../src/formatters/json';
import { isValidEvent } from '../../../src/event/validate';
import { loadElasticContent } from '../../../src/sinks/elasticsearch/install';
import { goldenCases } from '../../formatters/golden';
import { generateEvents } from '../../helpers/events';
import { anyEvent } from '../../helpers/event-arbitrary';
import type { Doc, PipelineSpec } from '../../helpers/ingest-pipeline';
import { NotModelled, compileCondition, processorTypes, runPipeline } from '../../helpers/ingest-pipeline';

const pipeline = loadElasticContent().ingestPipelines.find((p) => p.name === 'aegisbpf-json-to-ecs')!
  .body as unknown as PipelineSpec;
const ecsOf = (e: Parameters<typeof formatEcs>[0]): Doc => JSON.parse(formatEcs(e)) as Doc;

test('json → pipeline equals the ecs formatter, for every golden case', () => {
  for (const { name, event } of goldenCases()) {
    const r = runPipeline(pipeline, { message: formatJson(event) });
    assert.equal(r.failure, undefined, `${name}: ${r.failure?.message ?? ''}`);
    assert.deepEqual(r.doc, ecsOf(event), name);
  }
});

test('json → pipeline equals the ecs formatter for any event: every type, action and optional field (property)', () => {
  fc.assert(
    fc.property(anyEvent, (event) => {
      assert.ok(isValidEvent(event), JSON.stringify(event));
      const r = runPipeline(pipeline, { message: formatJson(event) });
      assert.equal(r.failure, undefined, r.failure?.message);
      assert.deepEqual(r.doc, ecsOf(event));
    }),
    { numRuns: 3000 },
  );
  for (const event of generateEvents(2000, { seed: 5, adversarial: true })) {
    assert.deepEqual(runPipeline(pipeline, { message: formatJson(event) }).doc, ecsOf(event));
  }
});

test('fields a shipper adds are replaced by the event’s own (Filebeat journald: _PID is the daemon, not the process)', () => {
  const [event] = generateEvents(1, { seed: 3 });
  const shipped: Doc = {
    '@timestamp': '2026-11-21T11:00:00.000Z',
    message: formatJson(event!),
    process: { pid: 812, name: 'node', command_line: '/usr/bin/node /usr/bin/aegisbpf run' },
    user: { id: '0' },
    host: { name: 'shipper-host', hostname: 'shipper-host', os: { family: 'debian' } },
    event: { created: '2026-11-21T11:00:00.001Z' },
    ecs: { version: '8.0.0' },
    agent: { type: 'filebeat', version: '8.19.0' },
    input: { type: 'journald' },
    journald: { custom: { stream_id: 'x' } },
  };
  const r = runPipeline(pipeline, shipped);
  const { agent, input, journald, ...rest } = r.doc;
  assert.deepEqual(
    rest,
    ecsOf(event!),
    'every ECS field is the event’s; nothing of the shipper’s process/user/host survives',
  );
  assert.deepEqual(
    { agent, input, journald },
    { agent: shipped.agent, input: shipped.input, journald: shipped.journald },
    'unrelated shipper fields are kept',
  );
});

test('a line that is not an event is kept and marked, never dropped: pipeline_error with the reason', () => {
  const notJson = runPipeline(pipeline, { message: 'aegisbpf: plain text' });
  assert.ok(notJson.failure !== undefined);
  assert.equal((notJson.doc.event as Doc).kind, 'pipeline_error');
  assert.equal(notJson.doc.message, 'aegisbpf: plain text', 'the raw line survives for re-processing');
  assert.equal((notJson.doc.error as Doc).type, 'aegisbpf-json-to-ecs');
  assert.match((notJson.doc.error as Doc).message as string, /JSON/);
  // The daemon's own log lines are JSON too (same journald unit, stderr): not events.
  const logLine = runPipeline(pipeline, {
    message: '{"ts":"2026-11-21T10:00:00.000Z","level":"INFO","msg":"aegisbpf started."}',
  });
  assert.equal((logLine.doc.event as Doc).kind, 'pipeline_error');
  assert.match((logLine.doc.error as Doc).message as string, /not present|doesn't exist/);
});

test('the pipeline uses only modelled processors and Painless conditions the interpreter parses', () => {
  assert.deepEqual([...processorTypes(pipeline)].sort(), [
    'convert',
    'gsub',
    'join',
    'json',
    'remove',
    'rename',
    'set',
  ]);
  for (const p of pipeline.processors) {
    const opts = Object.values(p)[0]!;
    if (typeof opts.if === 'string') assert.doesNotThrow(() => compileCondition(opts.if as string), opts.if);
  }
});

// ---- the interpreter against the documented behaviour it models ----------------------------------------------

const run = (processors: PipelineSpec['processors'], doc: Doc, onFailure?: PipelineSpec['on_failure']) =>
  runPipeline({ processors, ...(onFailure === undefined ? {} : { on_failure: onFailure }) }, doc);

test('interpreter: set (value, templates, copy_from, override, ignore_empty_value) as documented', () => {
  assert.deepEqual(run([{ set: { field: 'count', value: 1 } }], {}).doc, { count: 1 });
  // The set processor reference: host.os.name from {{{os}}}.
  assert.deepEqual(run([{ set: { field: 'host.os.name', value: '{{{os}}}' } }], { os: 'Ubuntu' }).doc, {
    os: 'Ubuntu',
    host: { os: { name: 'Ubuntu' } },
  });
  assert.deepEqual(
    run([{ set: { field: 'a', value: 'x', override: false } }], { a: 'y' }).doc,
    { a: 'y' },
    'override: false keeps a non-null value',
  );
  assert.deepEqual(
    run([{ set: { field: 'a', value: 'x', override: false } }], { a: null }).doc,
    { a: 'x' },
    '…but fills a null one',
  );
  assert.deepEqual(run([{ set: { field: 'b', copy_from: 'a' } }], { a: { c: [1] } }).doc, {
    a: { c: [1] },
    b: { c: [1] },
  });
  assert.deepEqual(run([{ set: { field: 'b', copy_from: 'missing', ignore_empty_value: true } }], { a: 1 }).doc, {
    a: 1,
  });
  assert.throws(() => run([{ set: { field: 'b', copy_from: 'missing' } }], {}), /not present/);
  assert.deepEqual(
    run([{ set: { field: 'b', value: '{{{missing}}}', ignore_empty_value: true } }], {}).doc,
    {},
    'a template rendering empty is skipped',
  );
  assert.throws(
    () => run([{ set: { field: 'b', value: '{{x}}' } }], { x: '<' }),
    NotModelled,
    'double-brace (escaping) templates are refused, not guessed',
  );
});

test('interpreter: rename fails on a missing field or an existing target; remove fails on a missing field', () => {
  assert.deepEqual(run([{ rename: { field: 'provider', target_field: 'cloud.provider' } }], { provider: 'aws' }).doc, {
    cloud: { provider: 'aws' },
  });
  assert.throws(() => run([{ rename: { field: 'a', target_field: 'b' } }], {}), /doesn't exist/);
  assert.deepEqual(run([{ rename: { field: 'a', target_field: 'b', ignore_missing: true } }], {}).doc, {});
  assert.throws(() => run([{ rename: { field: 'a', target_field: 'b' } }], { a: 1, b: 2 }), /already exists/);
  assert.throws(() => run([{ remove: { field: 'a' } }], {}), /not present/);
  assert.deepEqual(run([{ remove: { field: ['a', 'b.c'], ignore_missing: true } }], { a: 1, b: { c: 2, d: 3 } }).doc, {
    b: { d: 3 },
  });
  assert.throws(
    () => run([{ set: { field: 'a.b', value: 1 } }], { a: 'string' }),
    /cannot set \[b\] with parent object of type \[java.lang.String\]/,
  );
});

test('interpreter: json, convert, join, gsub as documented', () => {
  assert.deepEqual(run([{ json: { field: 'm', target_field: 'j' } }], { m: '{"a":[1,"x"]}' }).doc, {
    m: '{"a":[1,"x"]}',
    j: { a: [1, 'x'] },
  });
  assert.throws(() => run([{ json: { field: 'm' } }], { m: '{bad' }), /JSON/);
  assert.deepEqual(run([{ convert: { field: 'n', type: 'string', target_field: 's' } }], { n: 1837265 }).doc, {
    n: 1837265,
    s: '1837265',
  });
  assert.deepEqual(
    run([{ convert: { field: 'n', type: 'string' } }], { n: [1, 2] }).doc,
    { n: ['1', '2'] },
    'a list is converted element by element',
  );
  assert.deepEqual(run([{ join: { field: 'a', separator: '-' } }], { a: ['x', 'y'] }).doc, { a: 'x-y' });
  assert.throws(
    () => run([{ join: { field: 'a', separator: '-' } }], { a: 'x' }),
    /cannot be cast to \[java.util.List\]/,
    'join throws when the field is not an array',
  );
  assert.deepEqual(
    run([{ gsub: { field: 'a', pattern: '_', replacement: ' ', target_field: 'b' } }], { a: 'x_y_z' }).doc,
    { a: 'x_y_z', b: 'x y z' },
  );
  assert.throws(
    () => run([{ gsub: { field: 'a', pattern: '.*', replacement: '' } }], { a: 'x' }),
    NotModelled,
    'regex patterns are refused: Java and JavaScript regexes differ',
  );
  assert.throws(
    () => run([{ date: { field: 'a', formats: ['ISO8601'] } }], { a: 'x' }),
    NotModelled,
    'unmodelled processors are refused',
  );
});

test('interpreter: Painless conditions, null safety, and failure handling as documented', () => {
  const doc: Doc = { a: { type: 'block', n: 0, s: 'policy_x', l: [], m: {} } };
  const c = (src: string): boolean => compileCondition(src)(doc);
  assert.equal(c("ctx.a?.type == 'block' && ctx.a.n == 0"), true);
  assert.equal(c("ctx.b?.type == 'block'"), false, '?. on a missing object is null');
  assert.throws(() => c("ctx.b.type == 'x'"), /NullPointerException/, '. on null throws');
  assert.equal(
    c("ctx.a.s.startsWith('policy_') && ctx.a.l.isEmpty() && ctx.a.m.isEmpty() && !(ctx.a.x != null)"),
    true,
  );
  assert.throws(() => c('ctx.a.n'), /not a boolean/);
  assert.throws(() => compileCondition('ctx.a.s =~ /x/'), NotModelled);
  // A processor that fails without on_failure stops the pipeline; the pipeline's on_failure sees the message.
  const r = run(
    [{ rename: { field: 'x', target_field: 'y', tag: 't1' } }, { set: { field: 'never', value: 1 } }],
    { a: 1 },
    [
      { set: { field: 'error.message', value: '{{{_ingest.on_failure_message}}}' } },
      { set: { field: 'error.tag', value: '{{{_ingest.on_failure_processor_tag}}}' } },
    ],
  );
  assert.deepEqual(r.doc, { a: 1, error: { message: "field [x] doesn't exist", tag: 't1' } });
  // ignore_failure skips; a processor-level on_failure handles and continues.
  assert.deepEqual(
    run([{ rename: { field: 'x', target_field: 'y', ignore_failure: true } }, { set: { field: 'z', value: 1 } }], {})
      .doc,
    { z: 1 },
  );
  const handled = run(
    [
      { rename: { field: 'x', target_field: 'y', on_failure: [{ set: { field: 'h', value: true } }] } },
      { set: { field: 'z', value: 1 } },
    ],
    {},
  );
  assert.deepEqual(handled.doc, { h: true, z: 1 });
});
