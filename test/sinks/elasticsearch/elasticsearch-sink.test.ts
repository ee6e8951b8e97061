/**
 * The elasticsearch sink against a real Elasticsearch 8.19 (one node for this file, started by the test command's
 * scripts/services/elasticsearch.sh; indices are unique per test). What runs for real here: `_bulk` with create,
 * per-item statuses (201/409/400), gzip, index templates, data streams' write path, TLS (through a TLS-terminating
 * proxy in front of the node, since the node itself has TLS off), the healthcheck. What cannot (401/403 from
 * security, Retry-After, 413) is in elasticsearch-unit.test.ts against a scripted server.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { rawRequest } from '../../../src/sinks/elasticsearch/client';
import { parseElasticsearchConfig } from '../../../src/sinks/elasticsearch/config';
import { installElasticContent } from '../../../src/sinks/elasticsearch/install';
import type { ElasticsearchTransport } from '../../../src/sinks/elasticsearch/transport';
import { createElasticsearchTransport } from '../../../src/sinks/elasticsearch/transport';
import { documentId } from '../../../src/sinks/elasticsearch/target';
import { createSink } from '../../../src/sinks/core/sink';
import type { Sink } from '../../../src/sinks/core/sink-api';
import { createDeadLetterQueue } from '../../../src/sinks/core/dead-letter';
import type { DeadLetterQueue } from '../../../src/sinks/core/dead-letter';
import type { Batch, SendResult, SinkCoreOptions, Transport } from '../../../src/sinks/core/types';
import { DEFAULT_CORE_OPTIONS } from '../../../src/sinks/core/types';
import { createSinkStats } from '../../../src/telemetry/stats';
import type { SinkStats } from '../../../src/telemetry/stats';
import { createLogger } from '../../../src/util/logger';
import { formatEcs } from '../../../src/formatters/ecs';
import type { Formatter } from '../../../src/formatters/types';
import type { AegisEvent } from '../../../src/event/types';
import { generateEvents } from '../../helpers/events';
import { makeTempDir } from '../../helpers/tmp';
import { spawnCli, waitExit } from '../../helpers/cli';
import { bulkLines, startRecorder } from '../../helpers/http-recorder';
import type { Recorder } from '../../helpers/http-recorder';
import { runTransportContract } from '../transport-contract';
import { useElasticsearch } from '../../helpers/elasticsearch';

const quiet = createLogger({ level: 'FATAL', write: () => undefined });
const signal = (): AbortSignal => new AbortController().signal;
let seq = 0;
const unique = (name: string): string => `${name}-${process.pid}-${++seq}`;
const fx = useElasticsearch({ heap: '512m' }, (c) => installElasticContent(c, { version: 'test' }));

async function json(method: 'GET' | 'POST' | 'PUT', p: string, body?: unknown): Promise<Record<string, unknown>> {
  const r = await rawRequest(fx.client, { method, path: p, ...(body === undefined ? {} : { body }) });
  if (!r.ok) throw r.error as Error;
  return r.body as Record<string, unknown>;
}
const refresh = (target: string): Promise<Record<string, unknown>> => json('POST', `/${target}/_refresh`);
async function count(target: string): Promise<number> {
  await refresh(target);
  return (await json('GET', `/${target}/_count`)).count as number;
}

function makeSink(
  transport: Transport<string>,
  options: { formatter?: Formatter; core?: Partial<SinkCoreOptions>; dlq?: string } = {},
): { sink: Sink; stats: SinkStats; deadLetter: DeadLetterQueue } {
  const stats = createSinkStats('es', 'elasticsearch');
  const formatter: Formatter = options.formatter ?? {
    name: 'ecs',
    contentType: 'application/json',
    format: (e) => formatEcs(e),
  };
  const deadLetter = createDeadLetterQueue({
    path: options.dlq,
    maxBytes: 64 << 20,
    logger: quiet,
    stats: { written: 0, bytes: 0, failed: 0 },
  });
  const sink = createSink(
    { name: 'es', type: 'elasticsearch', transport, formatter, stats, logger: quiet, deadLetter },
    {
      ...DEFAULT_CORE_OPTIONS,
      batch: { maxEvents: 5000, maxBytes: 5 << 20, timeoutMillis: 50 },
      request: { concurrency: 2, timeoutMillis: 60_000 },
      retry: { ...DEFAULT_CORE_OPTIONS.retry, initialBackoffMillis: 50, maxBackoffMillis: 1000 },
      ...options.core,
    },
  );
  return { sink, stats, deadLetter };
}

async function acceptAll(sink: Sink, events: readonly AegisEvent[], chunk = 1000): Promise<void> {
  for (let i = 0; i < events.length; i += chunk) await sink.accept(events.slice(i, i + chunk));
}

// ---- the shared transport contract, through a proxy that can take the receiver away --------------------------

runTransportContract({
  name: 'elasticsearch',
  encode: (e) => formatEcs(e),
  create: async () => {
    if (fx.es === undefined) return { skip: fx.skipReason };
    const proxy = await startRecorder({ upstream: fx.es.url });
    const prefix = unique('aegisbpf-contract');
    const real = createElasticsearchTransport(
      parseElasticsearchConfig({ url: proxy.url, index: `${prefix}-%{+yyyy.MM.dd}` }),
      { logger: quiet, version: 'test' },
    );
    const sent = new Map<string, { event: AegisEvent; data: string }>();
    const transport: Transport<string> = {
      send: (b, s) => {
        for (const r of b.records) sent.set(documentId(r.event), { event: r.event, data: r.data });
        return real.send(b, s);
      },
      healthcheck: (s) => real.healthcheck(s),
      close: () => real.close(),
      abandon: () => real.abandon(),
    };
    return {
      transport,
      // What the node has, in event order, each document checked against what was sent for it.
      received: async () => {
        const exists = await rawRequest(fx.client, { method: 'GET', path: `/_resolve/index/${prefix}-*` });
        if (!exists.ok || ((exists.body as { indices?: unknown[] }).indices ?? []).length === 0) return [];
        await refresh(`${prefix}-*`);
        const res = await json('POST', `/${prefix}-*/_search`, {
          size: 10_000,
          sort: [{ '@timestamp': 'asc' }, { 'aegisbpf.start_time': 'asc' }],
        });
        const hits = (res.hits as { hits: { _id: string; _source: unknown }[] }).hits;
        return hits.map((h) => {
          const s = sent.get(h._id);
          assert.ok(s !== undefined, `unexpected document ${h._id}`);
          assert.deepEqual(h._source, JSON.parse(s.data), 'the stored document is exactly what was sent');
          return s.event;
        });
      },
      breakReceiver: () => proxy.pause(),
      restoreReceiver: () => proxy.resume(),
      cleanup: () => proxy.close(),
    };
  },
});

// ---- the tests ----------------------------------------------------------------------------------------

test(
  '100 000 events shipped: _count is 100 000 and a sample matches what was sent, field by field',
  { timeout: 600_000 },
  async (t) => {
    if (fx.es === undefined) return t.skip(fx.skipReason);
    const prefix = unique('aegisbpf-bulk100k');
    const transport = createElasticsearchTransport(
      parseElasticsearchConfig({ url: fx.es.url, index: `${prefix}-%{+yyyy.MM.dd}` }),
      { logger: quiet, version: 'test' },
    );
    const { sink, stats } = makeSink(transport);
    const events = generateEvents(100_000, { seed: 11, adversarial: true });
    const started = Date.now();
    await acceptAll(sink, events);
    const report = await sink.close(300_000);
    t.diagnostic(
      `100 000 events in ${Date.now() - started} ms, ${stats.batches} batches, ${stats.retriedEvents} retried`,
    );
    // report.delivered counts what the close() flush delivered; the stats count everything.
    assert.equal(report.undelivered, 0);
    assert.equal(report.lost, 0);
    assert.equal(stats.delivered, 100_000);
    assert.equal(stats.deadLettered, 0);
    assert.equal(await count(`${prefix}-*`), 100_000);
    for (let i = 0; i < events.length; i += 331) {
      const e = events[i]!;
      const doc = await json('GET', `/${prefix}-2026.11.21/_doc/${documentId(e)}`);
      assert.equal(doc.found, true, `event ${i}`);
      assert.deepEqual(doc._source, JSON.parse(formatEcs(e)), `event ${i} field by field`);
    }
  },
);

test('a resend of the same batch (crash after send, before the acknowledgement) changes nothing: 409s counted as duplicates', async (t) => {
  if (fx.es === undefined) return t.skip(fx.skipReason);
  const prefix = unique('aegisbpf-resend');
  const cfg = parseElasticsearchConfig({ url: fx.es.url, index: `${prefix}-%{+yyyy.MM.dd}` });
  const real = createElasticsearchTransport(cfg, { logger: quiet, version: 'test' });
  let attempts = 0;
  // The first attempt reaches Elasticsearch, then "the agent crashes" before it learns the answer.
  const crashing: Transport<string> = {
    send: async (b, s) => {
      attempts++;
      const r = await real.send(b, s);
      return attempts === 1 ? { kind: 'retryable', reason: `simulated crash after send (really: ${r.kind})` } : r;
    },
    healthcheck: (s) => real.healthcheck(s),
    close: () => real.close(),
    abandon: () => real.abandon(),
  };
  const { sink, stats } = makeSink(crashing);
  const events = generateEvents(2000, { seed: 21 });
  await acceptAll(sink, events, 2000);
  await sink.close(60_000);
  assert.equal(attempts, 2);
  assert.equal(stats.delivered, 2000);
  assert.equal(stats.duplicates, 2000, 'every document of the resend was already there');
  assert.equal(await count(`${prefix}-*`), 2000, 'count unchanged by the resend');
  // And after a restart (a new transport, e.g. replaying the dead-letter file): still no duplicates.
  const again = createElasticsearchTransport(cfg, { logger: quiet, version: 'test' });
  const records = events.map((event) => ({ event, data: formatEcs(event), bytes: 0 }));
  assert.deepEqual(await again.send({ id: 1, records, bytes: 0, attempt: 1 }, signal()), {
    kind: 'delivered',
    duplicates: 2000,
  });
  await again.close();
  assert.equal(await count(`${prefix}-*`), 2000);
});

test('a mapping conflict: that event goes to the dead-letter file with Elasticsearch’s reason, all others are indexed, no retry', async (t) => {
  if (fx.es === undefined) return t.skip(fx.skipReason);
  const prefix = unique('aegisbpf-conflict');
  const real = createElasticsearchTransport(
    parseElasticsearchConfig({ url: fx.es.url, index: `${prefix}-%{+yyyy.MM.dd}` }),
    { logger: quiet, version: 'test' },
  );
  const sends: Batch<string>[] = [];
  const counting: Transport<string> = {
    send: (b, s) => (sends.push(b), real.send(b, s)),
    healthcheck: (s) => real.healthcheck(s),
    close: () => real.close(),
    abandon: () => real.abandon(),
  };
  const events = generateEvents(500, { seed: 31 });
  const bad = events[137]!;
  // Test-only formatter override: one event's process.pid is sent as a string, which the long mapping refuses.
  const formatter: Formatter = {
    name: 'ecs-with-a-wrong-type',
    contentType: 'application/json',
    format: (e) => {
      if (e !== bad) return formatEcs(e);
      const doc = JSON.parse(formatEcs(e)) as { process: { pid: unknown } };
      doc.process.pid = 'not-a-pid';
      return JSON.stringify(doc);
    },
  };
  const { dir, cleanup } = makeTempDir();
  const dlqPath = path.join(dir, 'dead-letter.ndjson');
  const { sink, stats, deadLetter } = makeSink(counting, { formatter, dlq: dlqPath });
  await acceptAll(sink, events, 500);
  await sink.close(60_000);
  await deadLetter.close();
  const entries = fs
    .readFileSync(dlqPath, 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  assert.equal(entries.length, 1);
  assert.equal(entries[0]!.code, 'AEGIS_ERR_SINK_REJECTED');
  assert.match(
    entries[0]!.reason as string,
    /^elasticsearch 400 document_parsing_exception: .*failed to parse field \[process\.pid\] of type \[long\]/,
  );
  assert.equal(entries[0]!.attempts, 1);
  assert.deepEqual(entries[0]!.event, JSON.parse(JSON.stringify(bad)));
  assert.equal(await count(`${prefix}-*`), 499);
  assert.equal(sends.length, 1, 'one request: the rejected item is not retried');
  assert.equal(stats.retriedEvents, 0);
  assert.equal(stats.delivered, 499);
  assert.equal(stats.deadLettered, 1);
  cleanup();
});

test('data streams: create into logs-aegisbpf.events-<namespace> auto-creates the stream from the template; resends are 409s', async (t) => {
  if (fx.es === undefined) return t.skip(fx.skipReason);
  const namespace = `t${process.pid}x${++seq}`;
  const proxy = await startRecorder({ upstream: fx.es.url });
  const transport = createElasticsearchTransport(
    parseElasticsearchConfig({ url: proxy.url, data_stream: { namespace } }),
    { logger: quiet, version: 'test' },
  );
  const events = generateEvents(300, { seed: 41 });
  const records = events.map((event) => ({ event, data: formatEcs(event), bytes: 0 }));
  assert.deepEqual(await transport.send({ id: 1, records, bytes: 0, attempt: 1 }, signal()), { kind: 'delivered' });
  assert.deepEqual(await transport.send({ id: 2, records, bytes: 0, attempt: 1 }, signal()), {
    kind: 'delivered',
    duplicates: 300,
  });
  const stream = `logs-aegisbpf.events-${namespace}`;
  const resolved = await json('GET', `/_resolve/index/${stream}`);
  assert.deepEqual(
    (resolved.data_streams as { name: string }[]).map((d) => d.name),
    [stream],
  );
  assert.equal(await count(stream), 300);
  const bulk = proxy.requests.find((q) => q.url.startsWith('/_bulk'))!;
  assert.equal(
    new URL(bulk.url, 'http://x').searchParams.get('require_data_stream'),
    'true',
    'the node is 8.19: a missing template cannot turn the stream into an index',
  );
  assert.equal((bulkLines(bulk)[0] as { create: { _index: string } }).create._index, stream);
  await transport.close();
  await proxy.close();
});

test('healthcheck on the real node: healthy with the templates; unhealthy with the reason when no template matches', async (t) => {
  if (fx.es === undefined) return t.skip(fx.skipReason);
  const ok = createElasticsearchTransport(parseElasticsearchConfig({ url: fx.es.url }), {
    logger: quiet,
    version: 'test',
  });
  assert.deepEqual(await ok.healthcheck(signal()), { healthy: true });
  const ds = createElasticsearchTransport(parseElasticsearchConfig({ url: fx.es.url, data_stream: {} }), {
    logger: quiet,
    version: 'test',
  });
  assert.deepEqual(await ds.healthcheck(signal()), { healthy: true });
  const untemplated = createElasticsearchTransport(
    parseElasticsearchConfig({ url: fx.es.url, index: 'untemplated-%{+yyyy}' }),
    { logger: quiet, version: 'test' },
  );
  const h = await untemplated.healthcheck(signal());
  assert.ok(!h.healthy && /no index template matches untemplated-\d{4}/.test(h.reason), JSON.stringify(h));
  await Promise.all([ok.close(), ds.close(), untemplated.close()]);
});

function selfSignedCert(dir: string): { key: string; cert: string; caFile: string } | undefined {
  const keyFile = path.join(dir, 'key.pem');
  const certFile = path.join(dir, 'cert.pem');
  const r = spawnSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      keyFile,
      '-out',
      certFile,
      '-days',
      '2',
      '-subj',
      '/CN=127.0.0.1',
      '-addext',
      'subjectAltName=IP:127.0.0.1',
    ],
    { encoding: 'utf8' },
  );
  if (r.status !== 0) return undefined;
  return { key: fs.readFileSync(keyFile, 'utf8'), cert: fs.readFileSync(certFile, 'utf8'), caFile: certFile };
}

test('TLS: the certificate is verified against ca_file; an unknown CA is refused (unhealthy, retried); verify: false connects', async (t) => {
  if (fx.es === undefined) return t.skip(fx.skipReason);
  const { dir, cleanup } = makeTempDir();
  const tls = selfSignedCert(dir);
  if (tls === undefined) {
    cleanup();
    return t.skip('openssl is not available to make a certificate');
  }
  let proxy: Recorder | undefined;
  try {
    proxy = await startRecorder({ upstream: fx.es.url, tls: { key: tls.key, cert: tls.cert } });
    const prefix = unique('aegisbpf-tls');
    const mk = (tlsOpts: Record<string, unknown>): ElasticsearchTransport =>
      createElasticsearchTransport(
        parseElasticsearchConfig({ url: proxy!.url, index: `${prefix}-%{+yyyy.MM.dd}`, tls: tlsOpts }),
        { logger: quiet, version: 'test' },
      );
    const records = generateEvents(20, { seed: 51 }).map((event) => ({ event, data: formatEcs(event), bytes: 0 }));

    const verified = mk({ ca_file: tls.caFile });
    assert.deepEqual(await verified.healthcheck(signal()), { healthy: true });
    assert.deepEqual(await verified.send({ id: 1, records, bytes: 0, attempt: 1 }, signal()), { kind: 'delivered' });
    assert.equal(
      proxy.requests.find((q) => q.url.startsWith('/_bulk'))?.headers['content-encoding'],
      'gzip',
      'gzip over TLS, accepted by the node',
    );

    const unknownCa = mk({});
    const h = await unknownCa.healthcheck(signal());
    assert.ok(!h.healthy && /self.signed|certificate/i.test(h.reason), JSON.stringify(h));
    const refused: SendResult = await unknownCa.send({ id: 2, records, bytes: 0, attempt: 1 }, signal());
    assert.ok(
      refused.kind === 'retryable' && refused.unhealthy === true && /certificate/i.test(refused.reason),
      JSON.stringify(refused),
    );

    const unverified = mk({ verify: false });
    assert.deepEqual(await unverified.send({ id: 3, records, bytes: 0, attempt: 1 }, signal()), {
      kind: 'delivered',
      duplicates: 20,
    });
    await Promise.all([verified.close(), unknownCa.close(), unverified.close()]);
    assert.equal(await count(`${prefix}-*`), 20);
  } finally {
    await proxy?.close();
    cleanup();
  }
});

test('end to end through the binary: aegisbpf run with an elasticsearch sink that installs the content at start-up', async (t) => {
  if (fx.es === undefined) return t.skip(fx.skipReason);
  const { dir, cleanup } = makeTempDir();
  const prefix = unique('aegisbpf-e2e');
  const input = path.join(dir, 'in.ndjson');
  const events = generateEvents(3000, { seed: 61, adversarial: true });
  fs.writeFileSync(input, events.map((e) => JSON.stringify(e)).join('\n') + '\n');
  const cfg = path.join(dir, 'c.yml');
  fs.writeFileSync(
    cfg,
    [
      `data_dir: ${dir}`,
      `sources: { r: { type: replay, path: ${input} } }`,
      `sinks: { es: { type: elasticsearch, url: ${fx.es.url}, index: "${prefix}-%{+yyyy.MM.dd}", install_content: true } }`,
    ].join('\n'),
  );
  const run = await waitExit(spawnCli(['run', '--config', cfg]));
  assert.equal(run.code, 0, run.stderr);
  const stopped = run.stderr
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, unknown>)
    .find((l) => l.msg === 'aegisbpf stopped.')!;
  assert.equal((stopped.sinks as { es: { delivered: number } }).es.delivered, 3000);
  assert.ok(run.stderr.includes('Elastic content installed.'), 'installed (or found unchanged) before the first send');
  assert.equal(await count(`${prefix}-*`), 3000);
  cleanup();
});
