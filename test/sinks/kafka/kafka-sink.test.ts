/**
 * The kafka sink against a real single-node Apache Kafka 4.x (scripts/services/kafka.sh): the transport contract,
 * the record layout on the topic, MESSAGE_TOO_LARGE dead-lettered, an unknown topic unhealthy with the events kept,
 * and the broker stopped for 10 s in the middle of a stream (nothing lost, the sink resumes by itself).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import type { AegisEvent } from '../../../src/event/types';
import type { KafkaRecord } from '../../../src/formatters/kafka';
import { createFormatter } from '../../../src/formatters/registry';
import type { Batch, Transport } from '../../../src/sinks/core/types';
import { kafkaLib } from '../../../src/sinks/kafka/client-lib';
import { parseKafkaConfig } from '../../../src/sinks/kafka/config';
import { createKafkaTransport } from '../../../src/sinks/kafka/transport';
import { createLogger } from '../../../src/util/logger';
import { runCli, spawnCli, waitExit } from '../../helpers/cli';
import { generateEvents, makeEventFactory } from '../../helpers/events';
import type { KafkaCluster, KafkaUnavailable } from '../../helpers/kafka';
import { startKafka } from '../../helpers/kafka';
import { makeTempDir } from '../../helpers/tmp';
import { runTransportContract } from '../transport-contract';

let cluster: KafkaCluster | KafkaUnavailable = { ok: false, reason: 'not started' };
let topicSeq = 0;
const logs: string[] = [];
const logger = createLogger({ level: 'DEBUG', write: (l: string) => logs.push(l) });

const SCRAM_PASSWORD = 'pw-7Hq2-never-logged';

before(async () => {
  cluster = await startKafka({ scramUser: `aegis:${SCRAM_PASSWORD}` });
});
after(async () => {
  if (cluster.ok) await cluster.stop();
});

const kafkaFormat = createFormatter<KafkaRecord>('kafka', { hostname: 'test', version: '0' });

function transportFor(c: KafkaCluster, topic: string, extra: Record<string, unknown> = {}): Transport<KafkaRecord> {
  return createKafkaTransport(parseKafkaConfig({ brokers: c.bootstrap, topic, ...extra }), {
    name: 'bus',
    logger,
    requestTimeoutMillis: 10_000,
  });
}

/** The contract speaks strings (JSON events); the sink carries kafka records whose value is that JSON. */
function asStringTransport(t: Transport<KafkaRecord>): Transport<string> {
  return {
    send: (batch: Batch<string>, signal) =>
      t.send(
        {
          ...batch,
          records: batch.records.map((r) => ({ ...r, data: { ...kafkaFormat.format(r.event), value: r.data } })),
        },
        signal,
      ),
    healthcheck: (signal) => t.healthcheck(signal),
    close: () => t.close(),
    abandon: () => t.abandon(),
  };
}

runTransportContract({
  name: 'kafka',
  create: async () => {
    if (!cluster.ok) return { skip: cluster.reason };
    const c = cluster;
    const topic = `contract-${++topicSeq}`;
    await c.createTopic(topic);
    const transport = asStringTransport(transportFor(c, topic));
    return {
      transport,
      received: async () => (await c.readTopic(topic)).map((r) => JSON.parse(r.value) as AegisEvent),
      // Broken path: the topic is gone (the broker answers UNKNOWN_TOPIC_OR_PARTITION); restored by creating it again.
      breakReceiver: async () => {
        await deleteTopic(c, topic);
      },
      restoreReceiver: async () => {
        await c.createTopic(topic);
      },
      cleanup: async () => Promise.resolve(),
    };
  },
});

async function deleteTopic(c: KafkaCluster, topic: string): Promise<void> {
  const admin = new kafkaLib.Admin({ clientId: 'test', bootstrapBrokers: [...c.bootstrap] });
  try {
    await admin.deleteTopics({ topics: [topic] });
    for (let i = 0; i < 100; i++) {
      const md = await admin.metadata({ topics: [], forceUpdate: true }).catch(() => undefined);
      if (md !== undefined && !md.topics.has(topic)) break;
      await new Promise((r) => setTimeout(r, 100));
    }
  } finally {
    await admin.close();
  }
}

test('kafka sink: records carry the kafka format (key = host, headers, JSON value); a {{type}} topic per event type', async (t) => {
  if (!cluster.ok) return t.skip(cluster.reason);
  const c = cluster;
  await c.createTopic('typed.exec');
  await c.createTopic('typed.connect');
  const tr = transportFor(c, 'typed.{{type}}');
  const make = makeEventFactory({ seed: 3 });
  const events = Array.from({ length: 40 }, (_, i) => make(i)).filter((e) => e.type === 'exec' || e.type === 'connect');
  const records = events.map((event) => {
    const data = kafkaFormat.format(event);
    return { event, data, bytes: data.value.length };
  });
  const r = await tr.send({ id: 1, records, bytes: 0, attempt: 1 }, new AbortController().signal);
  assert.deepEqual(r, { kind: 'delivered' });
  await tr.close();
  const exec = await c.readTopic('typed.exec');
  const connect = await c.readTopic('typed.connect');
  assert.equal(exec.length, events.filter((e) => e.type === 'exec').length);
  assert.equal(connect.length, events.filter((e) => e.type === 'connect').length);
  const first = exec[0];
  assert.ok(first !== undefined);
  const ev = JSON.parse(first.value) as AegisEvent;
  assert.equal(ev.type, 'exec');
  assert.equal(first.key, ev.host);
  assert.equal(first.headers['event-type'], 'exec');
  assert.equal(first.headers['content-type'], 'application/json');
  assert.equal(first.headers.schema, 'aegisbpf');
});

test('kafka sink: an unknown topic makes the send retryable and the sink unhealthy, naming the topic', async (t) => {
  if (!cluster.ok) return t.skip(cluster.reason);
  const tr = transportFor(cluster, 'no-such-topic');
  const h = await tr.healthcheck(new AbortController().signal);
  assert.equal(h.healthy, false);
  assert.match(!h.healthy ? h.reason : '', /no-such-topic/);
  const events = generateEvents(3);
  const records = events.map((event) => ({ event, data: kafkaFormat.format(event), bytes: 100 }));
  const r = await tr.send({ id: 1, records, bytes: 300, attempt: 1 }, new AbortController().signal);
  assert.equal(r.kind, 'retryable');
  assert.ok(r.kind === 'retryable' && r.unhealthy === true, JSON.stringify(r));
  assert.match(r.kind === 'retryable' ? r.reason : '', /'no-such-topic' does not exist/);
  await tr.close();
});

function writeEvents(file: string, events: readonly AegisEvent[]): void {
  fs.writeFileSync(file, events.map((e) => JSON.stringify(e)).join('\n') + '\n');
}

test('kafka sink: a record larger than the topic allows is dead-lettered with MESSAGE_TOO_LARGE; the rest is delivered', async (t) => {
  if (!cluster.ok) return t.skip(cluster.reason);
  const c = cluster;
  await c.createTopic('small', { config: { 'max.message.bytes': '3000' } });
  const { dir, cleanup } = makeTempDir('aegis-kafka-');
  try {
    const events = generateEvents(30);
    const big = { ...events[7], path: `/tmp/${'x'.repeat(6000)}` } as AegisEvent;
    const all = events.map((e, i) => (i === 7 ? big : e));
    writeEvents(path.join(dir, 'in.ndjson'), all);
    fs.writeFileSync(
      path.join(dir, 'cfg.yaml'),
      [
        `data_dir: ${dir}`,
        `dead_letter: { path: ${dir}/dlq.ndjson }`,
        `sources: { r: { type: replay, path: ${dir}/in.ndjson } }`,
        `sinks: { bus: { type: kafka, brokers: [${c.bootstrap.join(', ')}], topic: small, batch: { max_events: 10 } } }`,
      ].join('\n'),
    );
    const r = runCli(['run', '--config', path.join(dir, 'cfg.yaml')], { env: { AEGIS_METRICS_PORT: 'off' } });
    const dlq = fs
      .readFileSync(path.join(dir, 'dlq.ndjson'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.equal(dlq.length, 1, r.stderr);
    assert.match(JSON.stringify(dlq[0]), /MESSAGE_TOO_LARGE/);
    assert.match(JSON.stringify(dlq[0]), new RegExp(big.exec_id));
    const got = (await c.readTopic('small')).map((x) => (JSON.parse(x.value) as AegisEvent).exec_id);
    const expected = all.filter((_, i) => i !== 7).map((e) => e.exec_id);
    assert.deepEqual(new Set(got), new Set(expected), 'every other event delivered');
  } finally {
    cleanup();
  }
});

test('kafka sink: the broker stopped for 10 s mid-stream: nothing lost, the sink resumes by itself', async (t) => {
  if (!cluster.ok) return t.skip(cluster.reason);
  const c = cluster;
  await c.createTopic('outage', { partitions: 3 });
  const { dir, cleanup } = makeTempDir('aegis-kafka-');
  try {
    const events = generateEvents(20_000);
    writeEvents(path.join(dir, 'in.ndjson'), events);
    fs.writeFileSync(
      path.join(dir, 'cfg.yaml'),
      [
        `data_dir: ${dir}`,
        `dead_letter: { path: ${dir}/dlq.ndjson }`,
        // Room to deliver what waited for the broker after the file ends (the sink resumes by itself meanwhile).
        'shutdown_timeout_ms: 90000',
        // 2000 events/s: the stream lasts ~10 s, so the outage falls in its middle.
        `sources: { r: { type: replay, path: ${dir}/in.ndjson, rate: 2000 } }`,
        `sinks: { bus: { type: kafka, brokers: [${c.bootstrap.join(', ')}], topic: outage, retry: { max_backoff_ms: 1000 } } }`,
      ].join('\n'),
    );
    const child = spawnCli(['run', '--config', path.join(dir, 'cfg.yaml')], { AEGIS_METRICS_PORT: 'off' });
    const done = waitExit(child);
    await new Promise((r) => setTimeout(r, 2500));
    await c.stopNode(1);
    await new Promise((r) => setTimeout(r, 10_000));
    await c.startNode(1);
    const r = await done;
    assert.equal(r.code, 0, r.stderr.slice(-3000));
    assert.ok(!fs.existsSync(path.join(dir, 'dlq.ndjson')), 'nothing dead-lettered');
    const got = new Set((await c.readTopic('outage', 120_000)).map((x) => (JSON.parse(x.value) as AegisEvent).exec_id));
    const missing = events.filter((e) => !got.has(e.exec_id)).length;
    assert.equal(missing, 0, `${missing} events lost`);
  } finally {
    cleanup();
  }
});

test('kafka sink: SASL SCRAM-SHA-512 with password_file delivers; a wrong password is unhealthy, events kept, the password never logged', async (t) => {
  if (!cluster.ok) return t.skip(cluster.reason);
  const c = cluster;
  await c.createTopic('sasl');
  const { dir, cleanup } = makeTempDir('aegis-kafka-');
  try {
    const events = generateEvents(50);
    writeEvents(path.join(dir, 'in.ndjson'), events);
    const config = (name: string, passwordFile: string, shutdownMillis: number): string => {
      const file = path.join(dir, `${name}.yaml`);
      fs.writeFileSync(
        file,
        [
          `data_dir: ${dir}`,
          `dead_letter: { path: ${dir}/${name}-dlq.ndjson }`,
          `shutdown_timeout_ms: ${shutdownMillis}`,
          `sources: { r: { type: replay, path: ${dir}/in.ndjson } }`,
          `sinks: { bus: { type: kafka, brokers: [${c.saslBootstrap.join(', ')}], topic: sasl, sasl: { mechanism: scram-sha-512, username: aegis, password_file: ${passwordFile} } } }`,
        ].join('\n'),
      );
      return file;
    };
    fs.writeFileSync(path.join(dir, 'good.pw'), `${SCRAM_PASSWORD}\n`, { mode: 0o600 });
    const wrong = 'wrong-Zx81-never-logged';
    fs.writeFileSync(path.join(dir, 'bad.pw'), `${wrong}\n`, { mode: 0o600 });
    const ok = runCli(['run', '--config', config('good', path.join(dir, 'good.pw'), 30_000)], {
      env: { AEGIS_METRICS_PORT: 'off' },
    });
    assert.equal(ok.code, 0, ok.stderr.slice(-2000));
    assert.equal((await c.readTopic('sasl')).length, events.length);
    const bad = runCli(['run', '--config', config('bad', path.join(dir, 'bad.pw'), 8000)], {
      env: { AEGIS_METRICS_PORT: 'off' },
    });
    assert.match(bad.stderr, /refused the SASL credentials/);
    assert.ok(!bad.stderr.includes(wrong) && !ok.stderr.includes(SCRAM_PASSWORD), 'no password in the logs');
    // Kept until the shutdown deadline, then in the dead-letter file (not lost).
    const dlq = fs.readFileSync(path.join(dir, 'bad-dlq.ndjson'), 'utf8').trim().split('\n');
    assert.equal(dlq.length, events.length);
    assert.ok(!dlq.join('').includes(wrong));
  } finally {
    cleanup();
  }
});
