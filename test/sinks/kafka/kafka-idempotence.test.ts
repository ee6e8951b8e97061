/**
 * Idempotence against a real Apache Kafka 4.x: the broker advertises a proxy's port (test/helpers/kafka-proxy.ts),
 * the proxy loses the acknowledgement of one produce, the client retries it, and the topic read back holds every
 * record once; the same with idempotence off holds duplicates (so the scenario does lose an acknowledgement).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import type { AegisEvent } from '../../../src/event/types';
import type { KafkaRecord } from '../../../src/formatters/kafka';
import { createFormatter } from '../../../src/formatters/registry';
import type { Batch, Transport } from '../../../src/sinks/core/types';
import { parseKafkaConfig } from '../../../src/sinks/kafka/config';
import { createKafkaTransport } from '../../../src/sinks/kafka/transport';
import { createLogger } from '../../../src/util/logger';
import { generateEvents } from '../../helpers/events';
import type { KafkaCluster, KafkaUnavailable } from '../../helpers/kafka';
import { startKafka } from '../../helpers/kafka';
import type { KafkaProxy } from '../../helpers/kafka-proxy';
import { startKafkaProxy } from '../../helpers/kafka-proxy';
import type { TestPki } from '../../helpers/certs';
import { makeTestPki, opensslSkipReason } from '../../helpers/certs';
import { freeLoopbackPort } from '../../helpers/services';
import { makeTempDir } from '../../helpers/tmp';

let cluster: KafkaCluster | KafkaUnavailable = { ok: false, reason: 'not started' };
let proxy: KafkaProxy | undefined;
const logger = createLogger({ level: 'ERROR', write: () => undefined });
const kafkaFormat = createFormatter<KafkaRecord>('kafka', { hostname: 'test', version: '0' });

let pki: TestPki | undefined;
const tmp = makeTempDir('aegis-kafka-tls-');

before(async () => {
  const proxyPort = await freeLoopbackPort();
  // The proxy also answers TLS (the broker has no TLS listener): the sink's TLS path is tested through it.
  if (opensslSkipReason() === undefined) pki = makeTestPki(path.join(tmp.dir, 'pki'));
  proxy = await startKafkaProxy(
    proxyPort,
    pki === undefined
      ? undefined
      : { cert: fs.readFileSync(pki.serverCert, 'utf8'), key: fs.readFileSync(pki.serverKey, 'utf8') },
  );
  cluster = await startKafka({ settings: { 'advertised.listeners': `PLAINTEXT://127.0.0.1:${proxyPort}` } });
  if (cluster.ok) proxy.target = Number(cluster.bootstrap[0]?.split(':')[1]);
});
after(async () => {
  if (cluster.ok) await cluster.stop();
  await proxy?.close();
  tmp.cleanup();
});

function transportFor(c: KafkaCluster, topic: string, extra: Record<string, unknown> = {}): Transport<KafkaRecord> {
  return createKafkaTransport(parseKafkaConfig({ brokers: c.bootstrap, topic, ...extra }), {
    name: 'bus',
    logger,
    requestTimeoutMillis: 10_000,
  });
}

test('kafka sink: a produce whose acknowledgement was lost is retried without a duplicate in the log (idempotence); without idempotence it duplicates', async (t) => {
  if (!cluster.ok || proxy === undefined) return t.skip(cluster.ok ? 'no proxy' : cluster.reason);
  const c = cluster;
  const p = proxy;
  const run = async (topic: string, idempotent: boolean): Promise<{ total: number; unique: number }> => {
    await c.createTopic(topic);
    const tr = transportFor(c, topic, { idempotent });
    const events = generateEvents(150);
    const batch = (from: number, to: number): Batch<KafkaRecord> => ({
      id: from,
      records: events.slice(from, to).map((event) => ({ event, data: kafkaFormat.format(event), bytes: 100 })),
      bytes: 0,
      attempt: 1,
    });
    assert.deepEqual(await tr.send(batch(0, 50), new AbortController().signal), { kind: 'delivered' });
    const before = p.dropped;
    p.dropNextProduceResponse();
    const r = await tr.send(batch(50, 150), new AbortController().signal);
    assert.deepEqual(r, { kind: 'delivered' }, 'the client retried the produce by itself');
    assert.equal(p.dropped, before + 1, 'one acknowledgement was lost');
    await tr.close();
    const ids = (await c.readTopic(topic)).map((x) => (JSON.parse(x.value) as AegisEvent).exec_id);
    assert.deepEqual(new Set(ids), new Set(events.map((e) => e.exec_id)), 'every event is in the log');
    return { total: ids.length, unique: new Set(ids).size };
  };
  const idem = await run('idem-on', true);
  assert.equal(idem.total, 150, `${idem.total - idem.unique} duplicates in the log with idempotence`);
  // The same lost acknowledgement without idempotence: the broker writes the retried records again.
  const plain = await run('idem-off', false);
  assert.ok(plain.total > plain.unique, 'without idempotence the retry duplicates (the scenario does lose an ack)');
});

test('kafka produce path: records read back byte-exact with every codec, from 3 partitions, null keys and non-ASCII included', async (t) => {
  if (!cluster.ok) return t.skip(cluster.reason);
  const c = cluster;
  const events = generateEvents(60);
  for (const compression of ['none', 'gzip', 'zstd', 'lz4', 'snappy'] as const) {
    const topic = `codec-${compression}`;
    await c.createTopic(topic, { partitions: 3 });
    const tr = transportFor(c, topic, { compression });
    const records = events.map((event, i) => {
      const data = kafkaFormat.format(event);
      // Every third record without a key (round-robin partition), every other one with multi-byte UTF-8.
      const value = i % 2 === 0 ? data.value : data.value.replace('{', `{"note":"hôte ✓ 🛡️ ${i}",`);
      return { event, data: { ...data, key: i % 3 === 0 ? null : `host-${i % 7}`, value }, bytes: 100 };
    });
    const r = await tr.send({ id: 1, records, bytes: 0, attempt: 1 }, new AbortController().signal);
    assert.deepEqual(r, { kind: 'delivered' }, compression);
    await tr.close();
    const got = await c.readTopic(topic);
    const want = records.map((x) => ({ key: x.data.key, headers: x.data.headers, value: x.data.value }));
    const byValue = (a: { value: string }, b: { value: string }): number => (a.value < b.value ? -1 : 1);
    assert.deepEqual(
      got.map((x) => ({ key: x.key, headers: x.headers, value: x.value })).sort(byValue),
      want.sort(byValue),
      `${compression}: the records read back are the records sent`,
    );
    assert.ok(new Set(got.map((x) => x.partition)).size > 1, `${compression}: records spread over partitions`);
  }
});

test('kafka produce path: sends larger than one batch (message.max.bytes), four at once, arrive once and in order (regressions: 5000 records refused; OUT_OF_ORDER_SEQUENCE_NUMBER with sends in flight)', async (t) => {
  if (!cluster.ok) return t.skip(cluster.reason);
  const c = cluster;
  const topic = 'big-sends';
  await c.createTopic(topic, { partitions: 1 });
  const tr = transportFor(c, topic);
  const events = generateEvents(10_000);
  const records = events.map((event) => ({ event, data: kafkaFormat.format(event), bytes: 100 }));
  const bytes = records.slice(0, 2500).reduce((n, x) => n + x.data.value.length, 0);
  assert.ok(bytes > 1024 * 1024, `one send is ${bytes} bytes: over message.max.bytes (1 MiB)`);
  const signal = new AbortController().signal;
  // Sequence numbers are taken in this order; each send needs two batches, so two requests for the partition.
  const results = await Promise.all(
    [0, 1, 2, 3].map((i) =>
      tr.send({ id: i, records: records.slice(i * 2500, (i + 1) * 2500), bytes: 0, attempt: 1 }, signal),
    ),
  );
  assert.deepEqual(
    results,
    Array.from({ length: 4 }, () => ({ kind: 'delivered' })),
  );
  await tr.close();
  const got = await c.readTopic(topic);
  assert.deepEqual(
    got.map((x) => (JSON.parse(x.value) as AegisEvent).exec_id),
    events.map((e) => e.exec_id),
    'every record once, in send order (one partition)',
  );
});

test('kafka produce path over TLS: verified against the CA, records read back; an untrusted CA is refused, unhealthy, and nothing is written', async (t) => {
  if (!cluster.ok) return t.skip(cluster.reason);
  if (pki === undefined || proxy === undefined) return t.skip(opensslSkipReason() ?? 'no test PKI or proxy');
  const c = cluster;
  // Bootstrap through the proxy too (the broker's own port speaks plain text only).
  const brokers = [`127.0.0.1:${proxy.port}`];
  const topic = 'over-tls';
  await c.createTopic(topic, { partitions: 2 });
  const events = generateEvents(200);
  const batch: Batch<KafkaRecord> = {
    id: 1,
    records: events.map((event) => ({ event, data: kafkaFormat.format(event), bytes: 100 })),
    bytes: 0,
    attempt: 1,
  };
  const untrusted = transportFor(c, topic, { brokers, tls: { ca_file: pki.otherCaCert } });
  const refused = await untrusted.send(batch, new AbortController().signal);
  assert.equal(refused.kind, 'retryable', JSON.stringify(refused));
  const health = await untrusted.healthcheck(new AbortController().signal);
  assert.equal(health.healthy, false);
  await untrusted.close();
  assert.deepEqual(await c.endOffsets(topic), [0, 0], 'nothing written through an unverified connection');
  const tr = transportFor(c, topic, { brokers, tls: { ca_file: pki.caCert } });
  const before = proxy.connections;
  assert.deepEqual(await tr.send(batch, new AbortController().signal), { kind: 'delivered' });
  await tr.close();
  // The client's metadata connection and the produce path's own connection: both TLS, none in plain text.
  assert.equal(proxy.connections.plain, before.plain, 'no plain-text connection from the TLS transport');
  assert.ok(proxy.connections.tls >= before.tls + 2, `TLS connections: ${proxy.connections.tls - before.tls}`);
  const got = await c.readTopic(topic);
  assert.deepEqual(
    got.map((x) => (JSON.parse(x.value) as AegisEvent).exec_id).sort(),
    events.map((e) => e.exec_id).sort(),
  );
});
