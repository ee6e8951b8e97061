/**
 * The `nats` sink against a real nats-server with JetStream (Debian's package, scripts/services/nats.sh), one server
 * shared by the tests of this file, one stream per test. Readers are real JetStream consumers and core
 * subscriptions. The full-size exactly-once run (50 000 events, the number) is the default; set
 * AEGIS_NATS_EVENTS to change it.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { connect } from '@nats-io/transport-node';
import type { NatsConnection } from '@nats-io/transport-node';
import { DiscardPolicy, jetstream, jetstreamManager } from '@nats-io/jetstream';
import type { AegisEvent } from '../../../src/event/types';
import { formatJson } from '../../../src/formatters/json';
import { validateConfigText } from '../../../src/config/load';
import { createDeadLetterQueue } from '../../../src/sinks/core/dead-letter';
import { createSink } from '../../../src/sinks/core/sink';
import type { SinkCoreOptions } from '../../../src/sinks/core/types';
import { DEFAULT_CORE_OPTIONS } from '../../../src/sinks/core/types';
import { checkNatsConfig, parseNatsConfig } from '../../../src/sinks/nats/config';
import { createNatsTransport } from '../../../src/sinks/nats/transport';
import { compileSubject } from '../../../src/sinks/nats/subject';
import { createSinkStats } from '../../../src/telemetry/stats';
import type { SinkStats } from '../../../src/telemetry/stats';
import { createLogger } from '../../../src/util/logger';
import type { NatsService } from '../../helpers/services';
import { startNats } from '../../helpers/services';
import { generateEvents } from '../../helpers/events';
import { makeTestPki, opensslSkipReason } from '../../helpers/certs';
import { makeTempDir } from '../../helpers/tmp';
import { batchOf, runTransportContract } from '../transport-contract';

const quiet = createLogger({ level: 'FATAL', write: () => undefined });
const BIG = Number(process.env.AEGIS_NATS_EVENTS ?? 50_000);

let server: NatsService | undefined;
let skipReason = '';
let streamNo = 0;

before(async () => {
  const s = await startNats();
  if (!s.ok) {
    skipReason = s.reason;
    return;
  }
  server = s;
});

after(async () => {
  await server?.stop();
});

/** A connection of its own (one that lived through a server restart may still be reconnecting). */
async function withConnection<T>(fn: (nc: NatsConnection) => Promise<T>): Promise<T> {
  const nc = await connect({ servers: server!.url });
  try {
    return await fn(nc);
  } finally {
    await nc.close();
  }
}

/** A fresh stream capturing `<prefix>.>`; returns the prefix. */
async function freshStream(): Promise<{ prefix: string; stream: string }> {
  streamNo++;
  const prefix = `t${process.pid}_${streamNo}`;
  await withConnection(async (nc) =>
    (await jetstreamManager(nc)).streams.add({ name: prefix, subjects: [`${prefix}.>`] }),
  );
  return { prefix, stream: prefix };
}

/** Every message of the stream, in stream order, read by an ordered JetStream consumer. */
function readStream(stream: string): Promise<{ events: AegisEvent[]; msgIds: string[] }> {
  return withConnection(async (nc) => {
    const total = (await (await jetstreamManager(nc)).streams.info(stream)).state.messages;
    const events: AegisEvent[] = [];
    const msgIds: string[] = [];
    if (total === 0) return { events, msgIds };
    const consumer = await jetstream(nc).consumers.get(stream);
    const messages = await consumer.consume();
    for await (const m of messages) {
      events.push(m.json<AegisEvent>());
      msgIds.push(m.headers?.get('Nats-Msg-Id') ?? '');
      if (m.info.pending === 0) break;
    }
    return { events, msgIds };
  });
}

function transportFor(prefix: string, raw: Record<string, unknown> = {}, stats?: SinkStats) {
  const entry = { servers: [server!.url], subject: `${prefix}.{{type}}`, ack_timeout_ms: 1500, ...raw };
  assert.deepEqual(checkNatsConfig(entry), []);
  return createNatsTransport(parseNatsConfig(entry), { logger: quiet, stats: stats ?? createSinkStats('n', 'nats') });
}

runTransportContract({
  name: 'nats (real nats-server, JetStream acks)',
  create: async () => {
    if (server === undefined) return { skip: skipReason };
    const { prefix, stream } = await freshStream();
    return {
      transport: transportFor(prefix),
      received: async () => (await readStream(stream)).events,
      breakReceiver: () => server!.halt(),
      restoreReceiver: () => server!.resume(),
      cleanup: () => Promise.resolve(),
    };
  },
});

const core = (over: Partial<SinkCoreOptions> = {}): SinkCoreOptions => ({
  ...DEFAULT_CORE_OPTIONS,
  batch: { maxEvents: 1000, maxBytes: 1 << 20, timeoutMillis: 20 },
  request: { concurrency: 4, timeoutMillis: 20_000 },
  retry: { ...DEFAULT_CORE_OPTIONS.retry, initialBackoffMillis: 50, maxBackoffMillis: 500 },
  buffer: { maxEvents: 20_000, maxBytes: 64 << 20, whenFull: 'block' },
  ...over,
});

function sinkFor(prefix: string, raw: Record<string, unknown> = {}) {
  const stats = createSinkStats('n', 'nats');
  const sink = createSink(
    {
      name: 'n',
      type: 'nats',
      transport: transportFor(prefix, raw, stats),
      stats,
      logger: quiet,
      formatter: { name: 'json', contentType: 'application/json', format: formatJson },
      deadLetter: createDeadLetterQueue({
        path: undefined,
        maxBytes: 1,
        logger: quiet,
        stats: { written: 0, bytes: 0, failed: 0 },
      }),
    },
    core(),
  );
  return { sink, stats };
}

function assertExactlyOnce(got: readonly AegisEvent[], msgIds: readonly string[], events: readonly AegisEvent[]) {
  assert.equal(got.length, events.length, 'every event stored once');
  assert.equal(new Set(msgIds).size, events.length, 'no message id twice');
  const want = new Set(events.map((e) => `${e.exec_id}/${e.type}/${e.ts}`));
  const have = new Set(got.map((e) => `${e.exec_id}/${e.type}/${e.ts}`));
  assert.equal(have.size, want.size);
  for (const k of want) assert.ok(have.has(k), `missing ${k}`);
}

test(`JetStream: ${BIG} events received by a consumer exactly once`, { timeout: 300_000 }, async (t) => {
  if (server === undefined) return t.skip(skipReason);
  const { prefix, stream } = await freshStream();
  const events = generateEvents(BIG, { seed: 21 });
  // The default ack timeout (5 s): on a loaded machine a shorter one resends batches that were only slow.
  const { sink, stats } = sinkFor(prefix, { ack_timeout_ms: 5000 });
  const t0 = Date.now();
  for (let i = 0; i < events.length; i += 1000) await sink.accept(events.slice(i, i + 1000));
  const report = await sink.close(120_000);
  t.diagnostic(`${BIG} events delivered in ${Date.now() - t0} ms; failed attempts ${stats.failedRequests}`);
  assert.equal(report.undelivered, 0);
  assert.equal(stats.delivered, BIG);
  // Duplicates come only from resends; with no failed attempt there is none to report.
  if (stats.failedRequests === 0) assert.equal(stats.duplicates, 0);
  const { events: got, msgIds } = await readStream(stream);
  assertExactlyOnce(got, msgIds, events);
  // Stream order is acceptance order when nothing failed (one connection; concurrent batches may interleave).
  assert.equal(got[0]!.exec_id, events[0]!.exec_id);
});

test(
  'JetStream: server restarted mid-stream: zero lost, stored once, duplicates counted',
  { timeout: 300_000 },
  async (t) => {
    if (server === undefined) return t.skip(skipReason);
    const { prefix, stream } = await freshStream();
    const n = Math.min(BIG, 20_000);
    const events = generateEvents(n, { seed: 22 });
    const { sink, stats } = sinkFor(prefix);
    const half = n / 2;
    for (let i = 0; i < half; i += 500) await sink.accept(events.slice(i, i + 500));
    while (stats.delivered < half / 2) await new Promise((r) => setTimeout(r, 5));
    await server.halt();
    // The second half arrives while the server is down (accept may wait for buffer room: not awaited yet).
    const rest = (async () => {
      for (let i = half; i < n; i += 500) await sink.accept(events.slice(i, i + 500));
    })();
    await new Promise((r) => setTimeout(r, 1000));
    await server.resume();
    await rest;
    const report = await sink.close(120_000);
    assert.equal(report.undelivered, 0);
    assert.equal(report.lost, 0);
    t.diagnostic(
      `failed attempts ${stats.failedRequests}, retried events ${stats.retriedEvents}, duplicates reported by the stream ${stats.duplicates}, reconnects ${stats.extra.reconnects_total}`,
    );
    assert.ok(stats.failedRequests > 0, 'the restart failed some attempts');
    assert.ok((stats.extra.reconnects_total ?? 0) >= 1, 'the client reconnected');
    assert.equal(stats.delivered, n);
    const { events: got, msgIds } = await readStream(stream);
    assertExactlyOnce(got, msgIds, events);

    // A resend of acknowledged records within the duplicate window: acknowledged as duplicates, stored once.
    const transport = transportFor(prefix);
    const again = await transport.send(batchOf(events.slice(0, 50)), new AbortController().signal);
    assert.deepEqual(again, { kind: 'delivered', duplicates: 50 });
    await transport.close();
    const stored = await withConnection(async (nc) => (await (await jetstreamManager(nc)).streams.info(stream)).state);
    assert.equal(stored.messages, n);
  },
);

test('JetStream: no stream for the subject is retryable and unhealthy (events wait), with the subject named', async (t) => {
  if (server === undefined) return t.skip(skipReason);
  const transport = transportFor(`nostream${process.pid}`);
  try {
    const r = await transport.send(batchOf(generateEvents(3)), new AbortController().signal);
    assert.equal(r.kind, 'retryable');
    assert.ok(r.kind === 'retryable' && r.unhealthy === true);
    assert.match(
      r.kind === 'retryable' ? r.reason : '',
      new RegExp(`no JetStream stream captures subject nostream${process.pid}\\.`),
    );
    const h = await transport.healthcheck(new AbortController().signal);
    assert.equal(h.healthy, false);
  } finally {
    await transport.close();
  }
});

test('core NATS (jetstream: false): a subscriber gets the batch in order; the subject takes each event type', async (t) => {
  if (server === undefined) return t.skip(skipReason);
  const prefix = `core${process.pid}`;
  const nc = await connect({ servers: server.url });
  const sub = nc.subscribe(`${prefix}.>`);
  const got: { subject: string; event: AegisEvent }[] = [];
  const events = generateEvents(300, { seed: 23, adversarial: true });
  const done = (async () => {
    for await (const m of sub) {
      got.push({ subject: m.subject, event: m.json<AegisEvent>() });
      if (got.length === events.length) break;
    }
  })();
  await nc.flush();
  const transport = transportFor(prefix, { jetstream: false });
  try {
    assert.deepEqual(await transport.healthcheck(new AbortController().signal), { healthy: true });
    assert.deepEqual(await transport.send(batchOf(events), new AbortController().signal), { kind: 'delivered' });
    await done;
    assert.deepEqual(
      got.map((g) => g.event.exec_id),
      events.map((e) => e.exec_id),
    );
    assert.deepEqual(
      got.map((g) => g.subject),
      events.map((e) => `${prefix}.${e.type}`),
    );
  } finally {
    sub.unsubscribe();
    await transport.close();
    await nc.close();
  }
});

test('subject template: event values cannot add tokens or wildcards; validate refuses an unknown field', () => {
  const c = compileSubject('aegisbpf.{{host}}.{{comm}}');
  assert.ok('subject' in c);
  const e = { ...generateEvents(1)[0]!, host: 'web.1', comm: 'a*b> c\u0000' } as AegisEvent;
  assert.equal(c.subject(e), 'aegisbpf.web_1.a_b__c_');
  assert.deepEqual(compileSubject('a.{{nope}}'), { error: 'placeholder {{nope}}: no event field nope' });
  assert.deepEqual(compileSubject('a.>'), { error: 'must not contain wildcards (* >) or whitespace' });
  const problems = validateConfigText(
    'sources:\n  r: { type: stdin }\nsinks:\n  s: { type: nats, servers: ["nats://127.0.0.1:4222"], subject: "x.{{ typ }}" }\n',
    {},
  ).problems;
  assert.ok(
    problems.some((p) => p.includes('sinks.s.subject: placeholder {{typ}}: no event field typ')),
    problems.join('\n'),
  );
});

test('tls: verified against the configured CA; an unknown CA is refused (retryable, certificate named)', async (t) => {
  const reason = opensslSkipReason();
  if (reason !== undefined) return t.skip(reason);
  if (server === undefined) return t.skip(skipReason);
  const tmp = makeTempDir('aegis-nats-tls-');
  const pki = makeTestPki(path.join(tmp.dir, 'pki'));
  const s = await startNats({ tls: { cert: pki.serverCert, key: pki.serverKey } });
  if (!s.ok) return t.skip(s.reason);
  const conn = await connect({ servers: s.url, tls: { caFile: pki.caCert } });
  const prefix = `tls${process.pid}`;
  try {
    await (await jetstreamManager(conn)).streams.add({ name: prefix, subjects: [`${prefix}.>`] });
    const raw = { servers: [s.url], subject: `${prefix}.{{type}}` };
    const good = createNatsTransport(parseNatsConfig({ ...raw, tls: { ca_file: pki.caCert } }), {
      logger: quiet,
      stats: createSinkStats('n', 'nats'),
    });
    assert.deepEqual(await good.send(batchOf(generateEvents(5)), new AbortController().signal), {
      kind: 'delivered',
    });
    await good.close();
    const bad = createNatsTransport(parseNatsConfig(raw), { logger: quiet, stats: createSinkStats('n', 'nats') });
    const r = await bad.send(batchOf(generateEvents(5)), new AbortController().signal);
    assert.equal(r.kind, 'retryable');
    assert.match(r.kind === 'retryable' ? r.reason : '', /certificate/i);
    await bad.close();
  } finally {
    await conn.close();
    await s.stop();
    tmp.cleanup();
  }
});

test('JetStream: a stream that refuses part of a batch (max_msgs, discard new): the stored part delivered, the rest retried', async (t) => {
  if (server === undefined) return t.skip(skipReason);
  streamNo++;
  const prefix = `full${process.pid}_${streamNo}`;
  await withConnection(async (nc) =>
    (await jetstreamManager(nc)).streams.add({
      name: prefix,
      subjects: [`${prefix}.>`],
      max_msgs: 10,
      discard: DiscardPolicy.New,
    }),
  );
  const transport = transportFor(prefix);
  try {
    const r = await transport.send(batchOf(generateEvents(25, { seed: 41 })), new AbortController().signal);
    assert.equal(r.kind, 'partial');
    if (r.kind !== 'partial') return;
    assert.equal(r.retry.length, 15);
    assert.deepEqual(r.rejected, []);
    const stored = await withConnection(async (nc) => (await (await jetstreamManager(nc)).streams.info(prefix)).state);
    assert.equal(stored.messages, 10);
  } finally {
    await transport.close();
  }
});
