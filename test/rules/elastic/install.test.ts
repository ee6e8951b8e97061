/**
 * The installer against a scripted "full" cluster (ILM, every ingest processor, every field type), i.e. what the
 * test Elasticsearch cannot be: REQUEST SHAPE ONLY for ILM policies, the lifecycle setting and the pipeline PUT.
 * The real-node behaviour (reduced types, ILM and pipeline skipped) is in content.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createEsClient } from '../../../src/sinks/elasticsearch/client';
import {
  installElasticContent,
  loadElasticContent,
  pipelineProcessorTypes,
  reduceFieldTypes,
  stamp,
  withoutLifecycle,
} from '../../../src/sinks/elasticsearch/install';
import type { JsonObject } from '../../../src/sinks/elasticsearch/install';
import { startRecorder } from '../../helpers/http-recorder';
import type { Recorder, ScriptedAnswer } from '../../helpers/http-recorder';
import { runCli } from '../../helpers/cli';

const content = loadElasticContent();

/** A cluster that stores what is PUT and answers GETs in each API's envelope. */
function fullCluster(r: Recorder): Map<string, JsonObject> {
  const stored = new Map<string, JsonObject>();
  r.answer = (q): ScriptedAnswer => {
    const p = q.url.split('?')[0] ?? '';
    if (p === '/_ilm/status') return { status: 200, body: { operation_mode: 'RUNNING' } };
    if (p === '/_nodes/ingest') {
      return {
        status: 200,
        body: {
          nodes: {
            a: {
              ingest: {
                processors: ['convert', 'gsub', 'join', 'json', 'remove', 'rename', 'set', 'date'].map((type) => ({
                  type,
                })),
              },
            },
          },
        },
      };
    }
    const name = decodeURIComponent(p.split('/').pop() ?? '');
    if (q.method === 'PUT') {
      stored.set(p, JSON.parse(q.body.toString('utf8')) as JsonObject);
      return { status: 200, body: { acknowledged: true } };
    }
    const body = stored.get(p);
    if (body === undefined) return { status: 404, body: { error: 'missing' } };
    if (p.startsWith('/_ilm/policy/')) return { status: 200, body: { [name]: { version: 1, policy: body.policy } } };
    if (p.startsWith('/_component_template/'))
      return { status: 200, body: { component_templates: [{ name, component_template: body }] } };
    if (p.startsWith('/_index_template/'))
      return { status: 200, body: { index_templates: [{ name, index_template: body }] } };
    if (p.startsWith('/_ingest/pipeline/')) return { status: 200, body: { [name]: body } };
    return { status: 404, body: {} };
  };
  return stored;
}

test('request shape on a cluster with ILM and ingest processors: policies, lifecycle settings, full ECS types, the pipeline', async () => {
  const r = await startRecorder();
  const stored = fullCluster(r);
  const client = createEsClient({
    urls: [r.url],
    auth: { kind: 'none' },
    tls: { caFile: undefined, verify: true, serverName: undefined },
  });
  try {
    const report = await installElasticContent(client, { version: '9.9.9' });
    assert.equal(report.ilm, true);
    assert.equal(report.types, 'full');
    assert.equal(report.incomplete, false);
    assert.deepEqual(
      report.items.map((i) => `${i.status} ${i.kind} ${i.name}`),
      [
        'created ilm_policy aegisbpf-daily',
        'created ilm_policy aegisbpf-stream',
        'created component_template aegisbpf-ecs-mappings',
        'created component_template aegisbpf-json-mappings',
        'created component_template aegisbpf-settings',
        'created index_template aegisbpf',
        'created index_template logs-aegisbpf.events',
        'created ingest_pipeline aegisbpf-json-to-ecs',
      ],
    );
    const puts = r.requests.filter((q) => q.method === 'PUT').map((q) => q.url);
    assert.ok(
      puts.indexOf('/_component_template/aegisbpf-settings') < puts.indexOf('/_index_template/aegisbpf'),
      'components before the templates that use them',
    );
    assert.ok(
      puts.indexOf('/_ilm/policy/aegisbpf-daily') < puts.indexOf('/_index_template/aegisbpf'),
      'policies before the templates that name them',
    );
    const daily = stored.get('/_ilm/policy/aegisbpf-daily')!;
    const { _meta: meta, ...phases } = daily.policy as JsonObject;
    assert.deepEqual(
      phases,
      { phases: (content.ilmPolicies[0]!.body.policy as JsonObject).phases },
      'the policy file as shipped',
    );
    assert.equal((meta as JsonObject).aegisbpf_version, '9.9.9');
    assert.match((meta as JsonObject).aegisbpf_sha256 as string, /^[0-9a-f]{64}$/);
    const idx = stored.get('/_index_template/aegisbpf')!;
    assert.deepEqual(((idx.template as JsonObject).settings as JsonObject).index, {
      lifecycle: { name: 'aegisbpf-daily' },
    });
    const ds = stored.get('/_index_template/logs-aegisbpf.events')!;
    assert.deepEqual(ds.data_stream, {});
    assert.deepEqual(((ds.template as JsonObject).settings as JsonObject).index, {
      lifecycle: { name: 'aegisbpf-stream' },
    });
    assert.match(
      JSON.stringify(stored.get('/_component_template/aegisbpf-ecs-mappings')),
      /"match_only_text"/,
      'full ECS types',
    );
    assert.match(JSON.stringify(stored.get('/_component_template/aegisbpf-ecs-mappings')), /"wildcard"/);
    const pipe = stored.get('/_ingest/pipeline/aegisbpf-json-to-ecs')!;
    assert.deepEqual(pipe.processors, content.ingestPipelines[0]!.body.processors);

    // Idempotent: a second run finds every hash and PUTs nothing.
    const before = r.requests.filter((q) => q.method === 'PUT').length;
    const again = await installElasticContent(client, { version: '9.9.9' });
    assert.deepEqual([...new Set(again.items.map((i) => i.status))], ['unchanged']);
    assert.equal(r.requests.filter((q) => q.method === 'PUT').length, before);
    // A new aegisbpf version stamps differently: an upgrade re-installs (the content may have changed with it).
    const upgrade = await installElasticContent(client, { version: '10.0.0' });
    assert.deepEqual([...new Set(upgrade.items.map((i) => i.status))], ['updated']);
    // --no-ilm: no policies, no lifecycle setting.
    const noIlm = await installElasticContent(client, { version: '10.0.0', ilm: 'off' });
    assert.ok(noIlm.items.filter((i) => i.kind === 'ilm_policy').every((i) => i.status === 'skipped'));
    assert.equal(
      ((stored.get('/_index_template/aegisbpf')!.template as JsonObject).settings as JsonObject | undefined)?.index,
      undefined,
    );
  } finally {
    await client.close();
    await r.close();
  }
});

test('a refusal other than a missing field type fails the install with Elasticsearch’s reason', async () => {
  const r = await startRecorder();
  r.answer = (q) => {
    if (q.url.startsWith('/_ilm/status')) return { status: 405, body: {} };
    if (q.method === 'GET') return { status: 404, body: {} };
    return {
      status: 403,
      body: {
        error: {
          type: 'security_exception',
          reason: 'action [indices:admin/index_template/put] is unauthorized for user [writer]',
        },
      },
    };
  };
  const client = createEsClient({
    urls: [r.url],
    auth: { kind: 'none' },
    tls: { caFile: undefined, verify: true, serverName: undefined },
  });
  await assert.rejects(
    installElasticContent(client, { version: '1' }),
    /installing component template aegisbpf-ecs-mappings: elasticsearch answered HTTP 403: security_exception: action \[indices:admin\/index_template\/put\] is unauthorized/,
  );
  await client.close();
  await r.close();
});

test('reduced types and lifecycle removal are pure transformations with the documented table', () => {
  const reduced = reduceFieldTypes({
    a: { type: 'match_only_text' },
    b: { type: 'wildcard' },
    c: { type: 'constant_keyword', value: 'logs' },
    d: { type: 'scaled_float', scaling_factor: 100 },
    e: { type: 'keyword', fields: { text: { type: 'match_only_text' } } },
  });
  assert.deepEqual(reduced, {
    a: { type: 'text' },
    b: { type: 'keyword' },
    c: { type: 'keyword' },
    d: { type: 'double' },
    e: { type: 'keyword', fields: { text: { type: 'text' } } },
  });
  const idx = content.indexTemplates.find((t) => t.name === 'aegisbpf')!.body;
  assert.equal((withoutLifecycle(idx).template as JsonObject | undefined)?.settings, undefined);
  assert.ok(JSON.stringify(idx).includes('lifecycle'), 'the input is not modified');
  assert.deepEqual(pipelineProcessorTypes(content.ingestPipelines[0]!.body), [
    'convert',
    'gsub',
    'join',
    'json',
    'remove',
    'rename',
    'set',
  ]);
  const a = stamp({ x: 1, _meta: { k: 'v' } }, '1');
  assert.equal(stamp(a.body, '1').sha256, a.sha256, 'stamping a stamped body gives the same hash');
});

test('rules install: usage errors exit 2 with the problem', () => {
  const none = runCli(['rules', 'install', 'elastic']);
  assert.equal(none.code, 2);
  assert.match(none.stderr, /--url is required/);
  const creds = runCli(['rules', 'install', 'elastic', '--url', 'http://u:p@es:9200']);
  assert.equal(creds.code, 2);
  assert.match(creds.stderr, /--url: must not contain credentials/);
  const target = runCli(['rules', 'install', 'splunkx']);
  assert.equal(target.code, 2);
  assert.match(target.stderr, /unknown target 'splunkx' \(known: elastic\)/);
  const help = runCli(['rules', 'install', 'elastic', '--help']);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /manage_index_templates/);
});
