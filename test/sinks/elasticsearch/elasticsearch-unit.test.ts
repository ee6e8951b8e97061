/**
 * The elasticsearch sink without an Elasticsearch: configuration, index names and ids, the retry policy table, and
 * request shape / answers a real node cannot give here (Retry-After, 401, 413, another version), against a local
 * HTTP server that records requests and answers from a script. Everything that a real node can do is tested
 * against one in elasticsearch-sink.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { validateConfigText } from '../../../src/config/load';
import { parseElasticsearchConfig } from '../../../src/sinks/elasticsearch/config';
import { checkIndexPattern, documentId, indexName, parseIndexPattern } from '../../../src/sinks/elasticsearch/target';
import { classifyBulkResponse, classifyHttpStatus, classifyItem } from '../../../src/sinks/elasticsearch/retry-policy';
import { createElasticsearchTransport } from '../../../src/sinks/elasticsearch/transport';
import { createSink } from '../../../src/sinks/core/sink';
import { createDeadLetterQueue } from '../../../src/sinks/core/dead-letter';
import { createSinkStats } from '../../../src/telemetry/stats';
import { createLogger } from '../../../src/util/logger';
import { formatEcs, ecsFormatter } from '../../../src/formatters/ecs';
import type { AegisEvent } from '../../../src/event/types';
import type { Batch } from '../../../src/sinks/core/types';
import { DEFAULT_CORE_OPTIONS } from '../../../src/sinks/core/types';
import { generateEvents } from '../../helpers/events';
import { makeTempDir } from '../../helpers/tmp';
import { spawnCli, waitExit } from '../../helpers/cli';
import type { Recorder, ScriptedAnswer } from '../../helpers/http-recorder';
import { bulkLines, startRecorder } from '../../helpers/http-recorder';

const signal = (): AbortSignal => new AbortController().signal;
const quiet = createLogger({ level: 'FATAL', write: () => undefined });
const batch = (events: readonly AegisEvent[]): Batch<string> => {
  const records = events.map((event) => {
    const data = formatEcs(event);
    return { event, data, bytes: Buffer.byteLength(data) };
  });
  return { id: 1, records, bytes: records.reduce((n, r) => n + r.bytes, 0), attempt: 1 };
};
const yaml = (sink: string): string =>
  `sources: { s: { type: replay, path: samples/events.ndjson } }\nsinks:\n  es:\n${sink
    .split('\n')
    .map((l) => `    ${l}`)
    .join('\n')}\n`;

/** Answers like Elasticsearch 8.19: GET / with a version, cluster health, templates present, _bulk all created. */
function esLike(
  over: (r: { method: string; url: string; body: Buffer }) => ScriptedAnswer | undefined = () => undefined,
) {
  return (r: { method: string; url: string; body: Buffer }): ScriptedAnswer => {
    const custom = over(r);
    if (custom !== undefined) return custom;
    const p = r.url.split('?')[0] ?? '';
    if (r.method === 'GET' && p === '/') return { status: 200, body: { version: { number: '8.19.0' } } };
    if (p === '/_cluster/health') return { status: 200, body: { status: 'green' } };
    if (p.startsWith('/_resolve/index/')) return { status: 200, body: { indices: [], aliases: [], data_streams: [] } };
    if (p.startsWith('/_index_template/_simulate_index/'))
      return { status: 200, body: { template: { mappings: { properties: { '@timestamp': { type: 'date' } } } } } };
    if (p === '/_bulk') {
      const n = r.body.toString('utf8').split('\n').filter(Boolean).length / 2;
      return {
        status: 200,
        body: { errors: false, items: Array.from({ length: n }, () => ({ create: { status: 201 } })) },
      };
    }
    return { status: 404, body: { error: 'not scripted' } };
  };
}

async function withRecorder(fn: (r: Recorder) => Promise<void>): Promise<void> {
  const r = await startRecorder();
  try {
    await fn(r);
  } finally {
    await r.close();
  }
}

// ---- configuration ----------------------------------------------------------------------------------------

test('config: a full example validates; defaults are safe (TLS verified, gzip 1, guide index pattern)', () => {
  const ok = validateConfigText(
    yaml(
      'type: elasticsearch\nurl: https://es.example.com:9200\napi_key_file: /run/secrets/es\ntls: { ca_file: /etc/es-ca.pem }\npipeline: my-pipe',
    ),
  );
  assert.deepEqual(ok.problems, []);
  const c = parseElasticsearchConfig({ url: 'https://es:9200/' });
  assert.equal(c.tls.verify, true);
  assert.equal(c.compressionLevel, 1);
  assert.deepEqual(c.urls, ['https://es:9200']);
  assert.equal(c.target.kind, 'index');
  assert.equal(
    c.target.kind === 'index' ? indexName(c.target.pattern, '2026-11-21T10:30:00.123456Z') : '',
    'aegisbpf-2026.11.21',
  );
  const ds = parseElasticsearchConfig({ url: 'http://es:9200', data_stream: { namespace: 'prod' } });
  assert.deepEqual(ds.target, { kind: 'data_stream', name: 'logs-aegisbpf.events-prod', namespace: 'prod' });
  assert.deepEqual(parseElasticsearchConfig({ url: 'http://es', username: 'u', password: 'p' }).auth, {
    kind: 'basic',
    username: 'u',
    password: 'p',
  });
  assert.equal(parseElasticsearchConfig({ url: 'http://es', compression: 'none' }).compressionLevel, 0);
});

test('config: every mistake is named with its key', () => {
  const problems = (sink: string): readonly string[] => validateConfigText(yaml(sink)).problems;
  assert.ok(
    problems('type: elasticsearch\nurl: https://user:pw@es:9200').some((p) =>
      /sinks\.es\.url: must not contain credentials/.test(p),
    ),
  );
  assert.ok(problems('type: elasticsearch\nurl: ftp://es').some((p) => /url: must be http/.test(p)));
  assert.ok(
    problems('type: elasticsearch\nurl: http://es\nindex: x\ndata_stream: {}').some((p) =>
      /index: set either index or data_stream/.test(p),
    ),
  );
  assert.ok(problems('type: elasticsearch\nurl: http://es\nindex: Aegis-%{+yyyy}').some((p) => /lower case/.test(p)));
  assert.ok(
    problems('type: elasticsearch\nurl: http://es\nindex: a-%{+yyyy.MM.ddTHH}').some((p) =>
      /unsupported date format character 'T'/.test(p),
    ),
  );
  assert.ok(
    problems('type: elasticsearch\nurl: http://es\napi_key: k\nusername: u\npassword: p').some((p) =>
      /api_key: set either/.test(p),
    ),
  );
  assert.ok(
    problems('type: elasticsearch\nurl: http://es\nusername: u').some((p) =>
      /password: is required with username/.test(p),
    ),
  );
  assert.ok(
    problems('type: elasticsearch\nurl: http://es\ntls: { ca_file: /x }').some((p) =>
      /tls: only applies to https/.test(p),
    ),
  );
  assert.ok(
    problems('type: elasticsearch\nurl: http://es\ndata_stream: { namespace: Has-Dash }').some((p) =>
      /namespace/.test(p),
    ),
  );
  assert.ok(
    problems('type: elasticsearch\nurl: http://es\nformat: json').some((p) => /format/.test(p)),
    'the templates map ecs; json is refused',
  );
  assert.deepEqual(checkIndexPattern('aegisbpf-%{+YYYY.MM.dd}-%{+HH}'), []);
});

// ---- index names and document ids -------------------------------------------------------------------------

test('the index comes from the event’s own UTC date, not the time of sending', () => {
  const p = parseIndexPattern('aegisbpf-%{+yyyy.MM.dd}');
  assert.equal(indexName(p, '2026-12-31T23:59:59.999999Z'), 'aegisbpf-2026.12.31');
  assert.equal(
    indexName(parseIndexPattern('a-%{+yy}-%{+MM}-%{+dd}_%{+HH}'), '2026-01-02T03:04:05.000000Z'),
    'a-26-01-02_03',
  );
});

test('document ids: deterministic, content-derived without event_id, host-scoped with it', () => {
  const [e] = generateEvents(1);
  const id = documentId(e!);
  assert.match(id, /^[A-Za-z0-9_-]{22}$/);
  assert.equal(documentId(JSON.parse(JSON.stringify(e)) as AegisEvent), id, 'same content, same id');
  assert.equal(
    documentId(Object.fromEntries(Object.entries(e!).reverse()) as unknown as AegisEvent),
    id,
    'key order does not matter',
  );
  assert.notEqual(
    documentId({ ...e!, ts: '2026-11-21T10:00:00.000001Z' }),
    id,
    'a different microsecond is a different event',
  );
  const withId = { ...e!, event_id: 'boot-1:42' };
  assert.equal(
    documentId({ ...withId, path: '/changed' } as AegisEvent),
    documentId(withId),
    'with event_id the id ignores the content',
  );
  assert.notEqual(
    documentId({ ...withId, host: 'other-host' }),
    documentId(withId),
    'two hosts reusing an event_id never collide',
  );
  const ids = new Set(generateEvents(20_000, { seed: 8 }).map(documentId));
  assert.equal(ids.size, 20_000, 'no collisions among distinct events');
});

// ---- retry policy -----------------------------------------------------------------------------------------

test('retry policy: the per-item table', () => {
  const item = (status: number, type?: string, reason?: string) => ({
    status,
    ...(type === undefined ? {} : { error: { type, reason } }),
  });
  assert.equal(classifyItem(item(201)), 'delivered');
  assert.equal(classifyItem(item(200)), 'delivered');
  assert.equal(classifyItem(item(409, 'version_conflict_engine_exception')), 'duplicate');
  assert.equal(classifyItem(item(429, 'es_rejected_execution_exception')), 'retry');
  assert.equal(classifyItem(item(503, 'unavailable_shards_exception')), 'retry');
  assert.equal(classifyItem(item(500)), 'retry');
  assert.equal(
    classifyItem(
      item(403, 'cluster_block_exception', 'index [x] blocked by: [FORBIDDEN/12/index read-only / allow delete (api)]'),
    ),
    'retry',
  );
  assert.equal(classifyItem(item(404, 'index_not_found_exception')), 'retry');
  assert.equal(classifyItem(item(400, 'illegal_argument_exception', 'pipeline with id [p] does not exist')), 'retry');
  assert.equal(
    classifyItem(item(400, 'document_parsing_exception', '[1:6] failed to parse field [process.pid] of type [long]')),
    'reject',
  );
  assert.equal(classifyItem(item(400, 'strict_dynamic_mapping_exception')), 'reject');
  assert.equal(classifyItem(item(409, 'some_other_conflict')), 'reject');
});

test('retry policy: a 200 with mixed items is partial with ES’s reason; all retryable is a whole retry; ambiguity is retried', () => {
  const mixed = classifyBulkResponse(
    {
      errors: true,
      items: [
        { create: { status: 201 } },
        {
          create: {
            status: 409,
            error: { type: 'version_conflict_engine_exception', reason: '[a]: version conflict' },
          },
        },
        { create: { status: 429, error: { type: 'es_rejected_execution_exception', reason: 'queue full' } } },
        {
          create: {
            status: 400,
            error: {
              type: 'document_parsing_exception',
              reason: 'failed to parse field [process.pid] of type [long]',
              caused_by: { type: 'illegal_argument_exception', reason: 'For input string: "x"' },
            },
          },
        },
      ],
    },
    4,
  );
  assert.deepEqual(mixed, {
    kind: 'partial',
    retry: [2],
    rejected: [
      {
        index: 3,
        reason:
          'elasticsearch 400 document_parsing_exception: failed to parse field [process.pid] of type [long] (caused by illegal_argument_exception: For input string: "x")',
      },
    ],
    duplicates: 1,
  });
  assert.deepEqual(
    classifyBulkResponse({ errors: true, items: [{ create: { status: 409 } }, { create: { status: 201 } }] }, 2),
    { kind: 'delivered', duplicates: 1 },
  );
  assert.equal(
    classifyBulkResponse({ errors: true, items: [{ create: { status: 429 } }, { create: { status: 503 } }] }, 2).kind,
    'retryable',
  );
  assert.equal(
    classifyBulkResponse({ errors: true, items: [{ create: { status: 201 } }] }, 2).kind,
    'retryable',
    'fewer items than documents: resend all (ids make it safe)',
  );
  assert.equal(classifyBulkResponse('garbage', 1).kind, 'retryable');
  assert.deepEqual(classifyBulkResponse({ errors: false }, 3), { kind: 'delivered' });
});

test('retry policy: whole-request statuses, Retry-After in seconds or as a date', () => {
  assert.deepEqual(classifyHttpStatus(503, { error: { type: 'x', reason: 'y' } }, '7'), {
    kind: 'retryable',
    reason: 'elasticsearch answered HTTP 503: x: y',
    retryAfterMillis: 7000,
  });
  assert.equal(
    (classifyHttpStatus(429, {}, new Date(10_000 + 3000).toUTCString(), 10_000) as { retryAfterMillis?: number })
      .retryAfterMillis,
    3000,
  );
  assert.equal(classifyHttpStatus(413, {}, undefined).kind, 'too_large');
  assert.deepEqual(classifyHttpStatus(401, {}, undefined), {
    kind: 'retryable',
    reason: "elasticsearch answered HTTP 401 (check the credentials and the role's privileges)",
    unhealthy: true,
  });
  assert.equal(classifyHttpStatus(400, { error: 'bad' }, undefined).kind, 'rejected');
  assert.equal(classifyHttpStatus(502, {}, undefined).kind, 'retryable');
});

// ---- request shape against a scripted server ---------------------------------------------------------------

test('request shape: POST /_bulk, NDJSON create actions with index and _id, gzip level 1, filtered response', async () => {
  await withRecorder(async (r) => {
    r.answer = esLike();
    const t = createElasticsearchTransport(parseElasticsearchConfig({ url: r.url, pipeline: 'p1' }), {
      logger: quiet,
      version: '0',
    });
    const events = generateEvents(50, { adversarial: true });
    assert.deepEqual(await t.send(batch(events), signal()), { kind: 'delivered' });
    const bulk = r.requests.find((q) => q.url.startsWith('/_bulk'))!;
    const url = new URL(bulk.url, 'http://x');
    assert.equal(bulk.method, 'POST');
    assert.equal(url.searchParams.get('filter_path'), 'errors,items.*.status,items.*.error');
    assert.equal(url.searchParams.get('pipeline'), 'p1');
    assert.equal(url.searchParams.get('require_data_stream'), null, 'index mode does not require a data stream');
    assert.equal(bulk.headers['content-encoding'], 'gzip');
    assert.match(String(bulk.headers['content-type']), /application\/(vnd\.elasticsearch\+)?x-ndjson/);
    assert.ok(
      bulk.rawBytes < bulk.body.length / 3,
      `gzip shrinks the body (${bulk.rawBytes} of ${bulk.body.length} bytes)`,
    );
    assert.equal(bulk.body.toString('utf8'), t.bulkBody(batch(events).records).toString('utf8'));
    assert.ok(bulk.body.toString('utf8').endsWith('\n'), 'the final line ends with a newline');
    const lines = bulkLines(bulk);
    assert.equal(lines.length, 100);
    for (let i = 0; i < events.length; i++) {
      assert.deepEqual(lines[2 * i], {
        create: {
          _index: indexName(parseIndexPattern('aegisbpf-%{+yyyy.MM.dd}'), events[i]!.ts),
          _id: documentId(events[i]!),
        },
      });
      assert.deepEqual(lines[2 * i + 1], JSON.parse(formatEcs(events[i]!)));
    }
    await t.close();
  });
});

test('request shape: no compression when configured off; data streams use create into logs-aegisbpf.events-<ns>, require_data_stream from 8.13', async () => {
  for (const [version, expected] of [
    ['8.19.0', 'true'],
    ['8.12.2', null],
  ] as const) {
    await withRecorder(async (r) => {
      r.answer = esLike((q) =>
        q.method === 'GET' && q.url === '/' ? { status: 200, body: { version: { number: version } } } : undefined,
      );
      const t = createElasticsearchTransport(
        parseElasticsearchConfig({ url: r.url, data_stream: { namespace: 'prod' }, compression: 'none' }),
        { logger: quiet, version: '0' },
      );
      assert.equal((await t.send(batch(generateEvents(3)), signal())).kind, 'delivered');
      const bulk = r.requests.find((q) => q.url.startsWith('/_bulk'))!;
      assert.equal(bulk.headers['content-encoding'], undefined);
      assert.equal(
        new URL(bulk.url, 'http://x').searchParams.get('require_data_stream'),
        expected,
        `Elasticsearch ${version}`,
      );
      assert.equal((bulkLines(bulk)[0] as { create: { _index: string } }).create._index, 'logs-aegisbpf.events-prod');
      await t.close();
    });
  }
});

test('request shape: API key and basic credentials are sent as Authorization headers', async () => {
  await withRecorder(async (r) => {
    r.answer = esLike();
    const a = createElasticsearchTransport(parseElasticsearchConfig({ url: r.url, api_key: 'aWQ6a2V5' }), {
      logger: quiet,
      version: '0',
    });
    await a.send(batch(generateEvents(1)), signal());
    assert.equal(r.requests.at(-1)!.headers.authorization, 'ApiKey aWQ6a2V5');
    await a.close();
    const b = createElasticsearchTransport(
      parseElasticsearchConfig({ url: r.url, username: 'aegis', password: 'pässword' }),
      { logger: quiet, version: '0' },
    );
    await b.send(batch(generateEvents(1)), signal());
    assert.equal(r.requests.at(-1)!.headers.authorization, `Basic ${Buffer.from('aegis:pässword').toString('base64')}`);
    await b.close();
  });
});

test('answers a real node does not give here: 503 with Retry-After is waited for by the core; 413 splits the batch', async () => {
  await withRecorder(async (r) => {
    let bulks = 0;
    const times: number[] = [];
    r.answer = esLike((q) => {
      if (!q.url.startsWith('/_bulk')) return undefined;
      times.push(Date.now());
      bulks++;
      if (bulks === 1)
        return {
          status: 503,
          headers: { 'retry-after': '1' },
          body: { error: { type: 'unavailable', reason: 'maintenance' } },
        };
      const n = q.body.toString('utf8').split('\n').filter(Boolean).length / 2;
      if (n > 4) return { status: 413, body: { error: 'too large' } };
      return undefined;
    });
    const { dir, cleanup } = makeTempDir();
    const stats = createSinkStats('es', 'elasticsearch');
    const transport = createElasticsearchTransport(parseElasticsearchConfig({ url: r.url }), {
      logger: quiet,
      version: '0',
    });
    const dlq = createDeadLetterQueue({
      path: path.join(dir, 'dlq.ndjson'),
      maxBytes: 1 << 20,
      logger: quiet,
      stats: { written: 0, bytes: 0, failed: 0 },
    });
    const sink = createSink(
      {
        name: 'es',
        type: 'elasticsearch',
        transport,
        formatter: ecsFormatter.create({}, { hostname: 'h', version: '0' }),
        stats,
        logger: quiet,
        deadLetter: dlq,
        random: () => 0,
      },
      { ...DEFAULT_CORE_OPTIONS, batch: { maxEvents: 16, maxBytes: 1 << 20, timeoutMillis: 10 } },
    );
    await sink.accept(generateEvents(16));
    const report = await sink.close(30_000);
    assert.equal(report.undelivered, 0);
    assert.equal(stats.delivered, 16);
    assert.ok(
      times[1]! - times[0]! >= 990,
      `the retry waited for Retry-After: 1 s (waited ${times[1]! - times[0]!} ms)`,
    );
    assert.equal(bulks, 1 + 1 + 2 + 4, '503, then 16 → 413, 8 → 413 ×2, 4 → ok ×4');
    assert.equal(stats.deadLettered, 0);
    cleanup();
  });
});

test('healthcheck: unsupported version, GET / missing (falls back to _nodes), no template, unreachable', async () => {
  await withRecorder(async (r) => {
    r.answer = esLike((q) =>
      q.method === 'GET' && q.url === '/' ? { status: 200, body: { version: { number: '7.17.9' } } } : undefined,
    );
    const t = createElasticsearchTransport(parseElasticsearchConfig({ url: r.url }), { logger: quiet, version: '0' });
    const old = await t.healthcheck(signal());
    assert.ok(!old.healthy && /7\.17\.9 is not supported/.test(old.reason), JSON.stringify(old));
    r.answer = esLike((q) => {
      if (q.method === 'GET' && q.url === '/')
        return { status: 405, body: { error: 'Incorrect HTTP method for uri [/]' } };
      if (q.url.startsWith('/_nodes/_local')) return { status: 200, body: { nodes: { n1: { version: '8.19.21' } } } };
      return undefined;
    });
    assert.deepEqual(await t.healthcheck(signal()), { healthy: true });
    r.answer = esLike((q) =>
      q.url.startsWith('/_index_template/_simulate_index/') ? { status: 200, body: {} } : undefined,
    );
    const none = await t.healthcheck(signal());
    assert.ok(
      !none.healthy && /no index template matches aegisbpf-\d{4}\.\d{2}\.\d{2}/.test(none.reason),
      JSON.stringify(none),
    );
    await r.pause();
    const down = await t.healthcheck(signal());
    assert.ok(!down.healthy && /cannot reach Elasticsearch/.test(down.reason), JSON.stringify(down));
    await t.close();
  });
});

test('secrets: the API key goes out in the Authorization header and nowhere else (logs, dead-letter file, stdout)', async () => {
  const { dir, cleanup } = makeTempDir();
  const secret = 'c2VjcmV0LWlkOnNlY3JldC1rZXktOTg3NjU0MzIx';
  const password = 'pw-5f1e0c9d7b';
  await withRecorder(async (r) => {
    r.answer = (q) => ({
      status: 401,
      body: {
        error: {
          type: 'security_exception',
          reason: `unable to authenticate with provided credentials for REST request [${q.url}]`,
        },
      },
    });
    fs.writeFileSync(path.join(dir, 'key'), `${secret}\n`, { mode: 0o600 });
    fs.writeFileSync(path.join(dir, 'pw'), password, { mode: 0o600 });
    const events = path.join(dir, 'in.ndjson');
    fs.writeFileSync(
      events,
      generateEvents(5)
        .map((e) => JSON.stringify(e))
        .join('\n') + '\n',
    );
    const cfg = path.join(dir, 'c.yml');
    fs.writeFileSync(
      cfg,
      [
        `data_dir: ${dir}`,
        `sources: { s: { type: replay, path: ${events} } }`,
        'sinks:',
        `  a: { type: elasticsearch, url: ${r.url}, api_key_file: ${path.join(dir, 'key')}, retry: { initial_backoff_ms: 10, max_backoff_ms: 20, max_duration_ms: 300 } }`,
        `  b: { type: elasticsearch, url: ${r.url}, username: aegis, password_file: ${path.join(dir, 'pw')}, retry: { initial_backoff_ms: 10, max_backoff_ms: 20, max_duration_ms: 300 } }`,
      ].join('\n'),
    );
    // Asynchronously: this process serves the scripted Elasticsearch.
    const run = await waitExit(spawnCli(['run', '--config', cfg, '--log-level', 'debug']));
    assert.equal(run.code, 3, run.stderr);
    assert.ok(
      r.requests.some((q) => q.headers.authorization === `ApiKey ${secret}`),
      'the key was sent',
    );
    assert.ok(
      r.requests.some(
        (q) => q.headers.authorization === `Basic ${Buffer.from(`aegis:${password}`).toString('base64')}`,
      ),
      'the password was sent',
    );
    const dlq = fs.readFileSync(path.join(dir, 'dead-letter.ndjson'), 'utf8');
    assert.match(dlq, /AEGIS_ERR_RETRY_DEADLINE/);
    assert.match(run.stderr, /HTTP 401/);
    const b64pw = Buffer.from(`aegis:${password}`).toString('base64');
    for (const [where, text] of [
      ['stderr', run.stderr],
      ['stdout', run.stdout],
      ['dead-letter file', dlq],
    ] as const) {
      for (const s of [secret, password, b64pw]) assert.ok(!text.includes(s), `${where} must not contain a secret`);
    }
  });
  cleanup();
});
