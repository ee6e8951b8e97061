/**
 * The kafka relay end to end against a real Apache Kafka 4.x: file → kafka sink (`aegisbpf run`) → broker → kafka
 * source (`aegisbpf run`, consumer group) → file sink, every event exactly once by identity; poison records on the
 * topic dead-lettered with their topic, partition and offset while the rest is delivered. Also the offset tracker's
 * in-order commits with chunks settling out of order, and backpressure from a sink that never answers.
 *
 * AEGIS_KAFKA_E2E_EVENTS sets the end-to-end size (default 100 000, the number).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import type { AegisEvent } from '../../../src/event/types';
import { createOffsetTracker } from '../../../src/pipeline/sources/kafka-offsets';
import { kafkaLib } from '../../../src/sinks/kafka/client-lib';
import { runCli, spawnCli, waitExit } from '../../helpers/cli';
import { sampleValue, startDaemon, until } from '../../helpers/daemon';
import { generateEvents } from '../../helpers/events';
import type { KafkaCluster, KafkaUnavailable } from '../../helpers/kafka';
import { startKafka } from '../../helpers/kafka';
import { silentPeer } from '../../helpers/silent-peer';
import { makeTempDir } from '../../helpers/tmp';

let cluster: KafkaCluster | KafkaUnavailable = { ok: false, reason: 'not started' };
before(async () => {
  cluster = await startKafka();
});
after(async () => {
  if (cluster.ok) await cluster.stop();
});

test('offset tracker: a partition commits only up to the last record before which everything settled', () => {
  const t = createOffsetTracker();
  const tp = { topic: 't', partition: 0 };
  const a = t.track(tp, 0n, 9n, 1);
  const b = t.track(tp, 10n, 19n, 1);
  const c = t.track({ topic: 't', partition: 1 }, 5n, 7n, 1);
  t.settle(b);
  assert.deepEqual(t.due(), [], 'b settled before a: nothing committable on partition 0');
  assert.equal(t.unsettled(), 10 + 3);
  t.settle(a);
  assert.deepEqual(t.due(), [{ topic: 't', partition: 0, offset: 20n, leaderEpoch: 1 }]);
  t.markCommitted(t.due());
  assert.deepEqual(t.due(), []);
  t.settle(c);
  assert.deepEqual(t.due(), [{ topic: 't', partition: 1, offset: 8n, leaderEpoch: 1 }]);
  t.forget((x) => x.partition !== 1);
  assert.deepEqual(t.due(), [], 'a revoked partition is not committed by its former owner');
});

function relayConfig(
  dir: string,
  c: KafkaCluster,
  topic: string,
  group: string,
  extra: readonly string[] = [],
): string {
  const file = path.join(dir, `relay-${group}.yaml`);
  fs.writeFileSync(
    file,
    [
      `data_dir: ${dir}`,
      `dead_letter: { path: ${dir}/relay-dlq.ndjson }`,
      `sources: { bus: { type: kafka, brokers: [${c.bootstrap.join(', ')}], topics: [${topic}], group_id: ${group}, from_beginning: true } }`,
      `sinks: { out: { type: file, path: ${dir}/out.ndjson } }`,
      ...extra,
    ].join('\n'),
  );
  return file;
}

async function waitForLines(file: string, count: number, timeoutMillis: number): Promise<void> {
  const deadline = Date.now() + timeoutMillis;
  for (;;) {
    let n = 0;
    if (fs.existsSync(file)) {
      const text = fs.readFileSync(file, 'utf8');
      for (let i = text.indexOf('\n'); i >= 0; i = text.indexOf('\n', i + 1)) n += 1;
    }
    if (n >= count) return;
    if (Date.now() > deadline) throw new Error(`${file}: ${n} of ${count} lines after ${timeoutMillis} ms`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

test('relay: file → kafka sink → Kafka → kafka source → file, every event exactly once', async (t) => {
  if (!cluster.ok) return t.skip(cluster.reason);
  const c = cluster;
  const count = Number(process.env.AEGIS_KAFKA_E2E_EVENTS ?? 100_000);
  await c.createTopic('e2e', { partitions: 3 });
  const { dir, cleanup } = makeTempDir('aegis-relay-');
  try {
    const events = generateEvents(count);
    fs.writeFileSync(path.join(dir, 'in.ndjson'), events.map((e) => JSON.stringify(e)).join('\n') + '\n');
    fs.writeFileSync(
      path.join(dir, 'agent.yaml'),
      [
        `data_dir: ${dir}`,
        `dead_letter: { path: ${dir}/agent-dlq.ndjson }`,
        `sources: { r: { type: replay, path: ${dir}/in.ndjson } }`,
        `sinks: { bus: { type: kafka, brokers: [${c.bootstrap.join(', ')}], topic: e2e, compression: lz4 } }`,
      ].join('\n'),
    );
    const relay = spawnCli(['run', '--config', relayConfig(dir, c, 'e2e', 'relay-e2e')], { AEGIS_METRICS_PORT: 'off' });
    const relayDone = waitExit(relay);
    t.after(() => relay.kill('SIGKILL'));
    const agent = runCli(['run', '--config', path.join(dir, 'agent.yaml')], { env: { AEGIS_METRICS_PORT: 'off' } });
    assert.equal(agent.code, 0, agent.stderr.slice(-2000));
    await waitForLines(path.join(dir, 'out.ndjson'), count, 120_000);
    relay.kill('SIGTERM');
    const r = await relayDone;
    assert.equal(r.code, 0, r.stderr.slice(-2000));
    const got = fs
      .readFileSync(path.join(dir, 'out.ndjson'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => (JSON.parse(l) as AegisEvent).exec_id);
    const seen = new Map<string, number>();
    for (const id of got) seen.set(id, (seen.get(id) ?? 0) + 1);
    const missing = events.filter((e) => !seen.has(e.exec_id)).length;
    const duplicated = [...seen.values()].filter((n) => n > 1).length;
    assert.equal(missing, 0, `${missing} events missing`);
    assert.equal(duplicated, 0, `${duplicated} events duplicated`);
    assert.equal(got.length, count);
    assert.ok(!fs.existsSync(path.join(dir, 'relay-dlq.ndjson')), 'nothing dead-lettered by the relay');
  } finally {
    cleanup();
  }
});

test('relay: poison records are dead-lettered with topic, partition and offset; the rest is delivered; /ready and metrics', async (t) => {
  if (!cluster.ok) return t.skip(cluster.reason);
  const c = cluster;
  await c.createTopic('poison');
  const events = generateEvents(20);
  const producer = new kafkaLib.Producer({
    clientId: 'test',
    bootstrapBrokers: [...c.bootstrap],
    serializers: kafkaLib.stringSerializers,
  });
  const values = events.map((e) => JSON.stringify(e));
  values.splice(5, 0, 'not json at all');
  values.splice(12, 0, JSON.stringify({ type: 'exec', host: 'h' }));
  await producer.send({ messages: values.map((value) => ({ topic: 'poison', value })) });
  await producer.close();
  const { dir, cleanup } = makeTempDir('aegis-relay-');
  try {
    const daemon = await startDaemon(dir, fs.readFileSync(relayConfig(dir, c, 'poison', 'relay-poison'), 'utf8'));
    t.after(() => daemon.child.kill('SIGKILL'));
    await waitForLines(path.join(dir, 'out.ndjson'), events.length, 60_000);
    await waitForLines(path.join(dir, 'relay-dlq.ndjson'), 2, 10_000);
    const ready = await daemon.get('/ready');
    assert.equal(ready.status, 200, ready.body);
    // Commits happen every second; lag is sampled every 5 s.
    const metrics = await until('the relay committed and reported its lag', async () => {
      const m = (await daemon.get('/metrics')).body;
      const commits = sampleValue(m, 'aegisbpf_source_protocol_total', {
        source: 'bus',
        type: 'kafka',
        counter: 'commits',
      });
      const lag = sampleValue(m, 'aegisbpf_kafka_consumer_lag', { source: 'bus', topic: 'poison', partition: '0' });
      return (commits ?? 0) > 0 && lag !== undefined ? m : undefined;
    });
    const v = (labels: Record<string, string>): number | undefined =>
      sampleValue(metrics, 'aegisbpf_source_protocol_total', { source: 'bus', type: 'kafka', ...labels });
    assert.equal(v({ counter: 'records_in' }), values.length);
    assert.equal(v({ counter: 'poison' }), 2);
    assert.equal(v({ counter: 'rebalances' }), 1);
    assert.equal(
      sampleValue(metrics, 'aegisbpf_source_protocol_value', {
        source: 'bus',
        type: 'kafka',
        gauge: 'partitions_assigned',
      }),
      1,
    );
    assert.equal(
      sampleValue(metrics, 'aegisbpf_kafka_consumer_lag', { source: 'bus', topic: 'poison', partition: '0' }),
      0,
    );
    assert.equal(sampleValue(metrics, 'aegisbpf_source_events_invalid_total', { source: 'bus', type: 'kafka' }), 2);
    const stopped = await daemon.stop();
    assert.equal(stopped.code, 3, 'exit code 3: some input was not valid events');
    const dlq = fs
      .readFileSync(path.join(dir, 'relay-dlq.ndjson'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { reason: string; raw?: string });
    assert.equal(dlq.length, 2);
    assert.match(dlq[0]?.reason ?? '', /kafka topic poison partition 0 offset 5: not JSON/);
    assert.equal(dlq[0]?.raw, 'not json at all');
    assert.match(dlq[1]?.reason ?? '', /kafka topic poison partition 0 offset 12: not a valid event/);
    const got = fs
      .readFileSync(path.join(dir, 'out.ndjson'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => (JSON.parse(l) as AegisEvent).exec_id);
    assert.deepEqual(
      got,
      events.map((e) => e.exec_id),
    );
  } finally {
    cleanup();
  }
});

test('relay: /ready is false while the consumer group has assigned no partitions', async (t) => {
  if (!cluster.ok) return t.skip(cluster.reason);
  const { dir, cleanup } = makeTempDir('aegis-relay-');
  try {
    // A topic that does not exist: the group assigns nothing, so the relay never becomes ready.
    const daemon = await startDaemon(
      dir,
      fs.readFileSync(relayConfig(dir, cluster, 'absent-topic', 'relay-absent'), 'utf8'),
    );
    t.after(() => daemon.child.kill('SIGKILL'));
    await new Promise((r) => setTimeout(r, 3000));
    const ready = await daemon.get('/ready');
    assert.equal(ready.status, 503, ready.body);
    assert.match(ready.body, /consumer group 'relay-absent' has not assigned partitions yet/);
    await daemon.stop();
  } finally {
    cleanup();
  }
});

function idsOf(file: string): string[] {
  if (!fs.existsSync(file)) return [];
  return fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.endsWith('}'))
    .map((l) => (JSON.parse(l) as AegisEvent).exec_id);
}

test('relay: two relays in one group on 6 partitions, one SIGKILLed mid-stream: zero lost, duplicates within its uncommitted window', async (t) => {
  if (!cluster.ok) return t.skip(cluster.reason);
  const c = cluster;
  const count = 30_000;
  await c.createTopic('failover', { partitions: 6 });
  const { dir, cleanup } = makeTempDir('aegis-relay-');
  try {
    const events = generateEvents(count);
    fs.writeFileSync(path.join(dir, 'in.ndjson'), events.map((e) => JSON.stringify(e)).join('\n') + '\n');
    fs.writeFileSync(
      path.join(dir, 'agent.yaml'),
      [
        `data_dir: ${dir}`,
        `dead_letter: { path: ${dir}/agent-dlq.ndjson }`,
        // 5000 events/s for 6 s: the relays are mid-stream when one is killed.
        `sources: { r: { type: replay, path: ${dir}/in.ndjson, rate: 5000 } }`,
        `sinks: { bus: { type: kafka, brokers: [${c.bootstrap.join(', ')}], topic: failover, key: exec_id } }`,
      ].join('\n'),
    );
    const relay = (name: string): ReturnType<typeof spawnCli> => {
      const file = path.join(dir, `${name}.yaml`);
      fs.writeFileSync(
        file,
        [
          `data_dir: ${dir}/${name}`,
          `dead_letter: { path: ${dir}/${name}-dlq.ndjson }`,
          `sources: { bus: { type: kafka, brokers: [${c.bootstrap.join(', ')}], topics: [failover], group_id: relay-failover, from_beginning: true } }`,
          `sinks: { out: { type: file, path: ${dir}/${name}.ndjson } }`,
        ].join('\n'),
      );
      const child = spawnCli(['run', '--config', file], { AEGIS_METRICS_PORT: 'off' });
      t.after(() => child.kill('SIGKILL'));
      return child;
    };
    const a = relay('a');
    const aDone = waitExit(a);
    const b = relay('b');
    const bDone = waitExit(b);
    const agent = spawnCli(['run', '--config', path.join(dir, 'agent.yaml')], { AEGIS_METRICS_PORT: 'off' });
    const agentDone = waitExit(agent);
    // Mid-stream: both relays have written some events.
    const deadline = Date.now() + 60_000;
    while (idsOf(path.join(dir, 'a.ndjson')).length < 2000 || idsOf(path.join(dir, 'b.ndjson')).length < 2000) {
      if (Date.now() > deadline) throw new Error('the relays did not both receive events within 60 s');
      await new Promise((r) => setTimeout(r, 100));
    }
    a.kill('SIGKILL');
    await aDone;
    const agentResult = await agentDone;
    assert.equal(agentResult.code, 0, agentResult.stderr.slice(-2000));
    const union = (): Set<string> =>
      new Set([...idsOf(path.join(dir, 'a.ndjson')), ...idsOf(path.join(dir, 'b.ndjson'))]);
    const until = Date.now() + 90_000;
    while (union().size < count && Date.now() < until) await new Promise((r) => setTimeout(r, 250));
    b.kill('SIGTERM');
    assert.equal((await bDone).code, 0);
    const ida = idsOf(path.join(dir, 'a.ndjson'));
    const idb = idsOf(path.join(dir, 'b.ndjson'));
    const all = new Set([...ida, ...idb]);
    const missing = events.filter((e) => !all.has(e.exec_id)).length;
    assert.equal(missing, 0, `${missing} events lost`);
    const inA = new Set(ida);
    const duplicates = ida.length + idb.length - all.size;
    // A duplicate is an event relay a wrote (or had read) after its last commit, which b read again.
    const dupInB = idb.filter((id) => inA.has(id)).length;
    t.diagnostic(`relay a wrote ${ida.length}, relay b ${idb.length}, duplicates ${duplicates}`);
    assert.ok(dupInB <= duplicates);
    // The uncommitted window: at most one commit interval (1 s, 5000 events here) plus the read-ahead bound.
    assert.ok(duplicates <= 5000 + 10_000, `${duplicates} duplicates`);
  } finally {
    cleanup();
  }
});

test('relay: a sink that never answers stops the reading; the lag keeps growing in Kafka while fetching waits', async (t) => {
  if (!cluster.ok) return t.skip(cluster.reason);
  const c = cluster;
  await c.createTopic('stalled');
  const producer = new kafkaLib.Producer({
    clientId: 'test',
    bootstrapBrokers: [...c.bootstrap],
    serializers: kafkaLib.stringSerializers,
  });
  const produce = async (n: number): Promise<void> => {
    const values = generateEvents(n).map((e) => JSON.stringify(e));
    for (let i = 0; i < values.length; i += 1000)
      await producer.send({ messages: values.slice(i, i + 1000).map((value) => ({ topic: 'stalled', value })) });
  };
  const peer = await silentPeer();
  const { dir, cleanup } = makeTempDir('aegis-relay-');
  try {
    await produce(40_000);
    const daemon = await startDaemon(
      dir,
      [
        `data_dir: ${dir}`,
        `dead_letter: { path: ${dir}/relay-dlq.ndjson }`,
        `sources: { bus: { type: kafka, brokers: [${c.bootstrap.join(', ')}], topics: [stalled], group_id: relay-stalled, from_beginning: true } }`,
        // HTTP requests accepted and never answered: nothing settles, the sink's buffer fills, the engine blocks.
        `sinks: { out: { type: splunk_hec, endpoint: "http://127.0.0.1:${peer.port}", token: t0k3n, batch: { max_events: 1000 }, buffer: { max_events: 2000 } } }`,
      ].join('\n'),
    );
    t.after(() => daemon.child.kill('SIGKILL'));
    const metric = async (): Promise<{ records: number; lag: number | undefined }> => {
      const m = (await daemon.get('/metrics')).body;
      return {
        records:
          sampleValue(m, 'aegisbpf_source_protocol_total', { source: 'bus', type: 'kafka', counter: 'records_in' }) ??
          0,
        lag: sampleValue(m, 'aegisbpf_kafka_consumer_lag', { source: 'bus', topic: 'stalled', partition: '0' }),
      };
    };
    // Nothing is committed (nothing settles): the lag is every record of the partition.
    await until('the lag of all 40 000 records', async () => ((await metric()).lag === 40_000 ? true : undefined));
    // The pipeline fills (sink buffer, a batch in flight, the engine's chunks), then the reading stops.
    let first = await metric();
    for (const deadline = Date.now() + 30_000; ;) {
      await new Promise((r) => setTimeout(r, 2000));
      const now = await metric();
      t.diagnostic(`records handed to the pipeline: ${now.records}`);
      if (now.records === first.records) break;
      assert.ok(Date.now() < deadline, `still reading after 30 s: ${now.records} records`);
      first = now;
    }
    // Bounded: that, plus the read-ahead (10 000 records and one fetch), never the whole topic.
    assert.ok(first.records < 30_000, `${first.records} records read into a pipeline that delivers nothing`);
    // Regression: with fetching stopped, the lag came only from fetch responses and froze at its last value.
    await produce(5000);
    await until('the lag to grow with the new records while the relay waits', async () =>
      (await metric()).lag === 45_000 ? true : undefined,
    );
    assert.equal((await metric()).records, first.records, 'still nothing more read');
  } finally {
    await producer.close();
    await peer.close();
    cleanup();
  }
});

test('relay with pipeline.workers: 2: every event once, poison records dead-lettered with their offsets, offsets committed', async (t) => {
  if (!cluster.ok) return t.skip(cluster.reason);
  const c = cluster;
  await c.createTopic('workers');
  const events = generateEvents(5000);
  const values = events.map((e) => JSON.stringify(e));
  values.splice(5, 0, 'not json at all');
  // A valid event pretty-printed: its LFs are whitespace, not line ends, for the workers' line framing.
  const pretty = generateEvents(1, { seed: 7 })[0] as AegisEvent;
  values.splice(12, 0, JSON.stringify(pretty, null, 2));
  values.splice(20, 0, '');
  const producer = new kafkaLib.Producer({
    clientId: 'test',
    bootstrapBrokers: [...c.bootstrap],
    serializers: kafkaLib.stringSerializers,
  });
  for (let i = 0; i < values.length; i += 1000)
    await producer.send({ messages: values.slice(i, i + 1000).map((value) => ({ topic: 'workers', value })) });
  await producer.close();
  const { dir, cleanup } = makeTempDir('aegis-relay-');
  try {
    const cfg = relayConfig(dir, c, 'workers', 'relay-workers', ['pipeline: { workers: 2 }']);
    const relay = spawnCli(['run', '--config', cfg], { AEGIS_METRICS_PORT: 'off' });
    const relayDone = waitExit(relay);
    t.after(() => relay.kill('SIGKILL'));
    await waitForLines(path.join(dir, 'out.ndjson'), events.length + 1, 60_000);
    await waitForLines(path.join(dir, 'relay-dlq.ndjson'), 2, 10_000);
    relay.kill('SIGTERM');
    const r = await relayDone;
    assert.equal(r.code, 3, `exit code 3: some input was not valid events\n${r.stderr.slice(-2000)}`);
    const got = idsOf(path.join(dir, 'out.ndjson'));
    assert.deepEqual([...got].sort(), [...events.map((e) => e.exec_id), pretty.exec_id].sort());
    const dlq = fs
      .readFileSync(path.join(dir, 'relay-dlq.ndjson'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { reason: string; raw?: string });
    assert.equal(dlq.length, 2);
    const at5 = dlq.find((d) => d.reason.includes('offset 5:'));
    assert.match(at5?.reason ?? '', /^kafka topic workers partition 0 offset 5: invalid JSON: /);
    assert.equal(at5?.raw, 'not json at all');
    // Written by the worker path's item builder (the one-thread path says "Unexpected end of JSON input").
    assert.ok(
      dlq.some((d) => d.reason === 'kafka topic workers partition 0 offset 20: not JSON: empty value'),
      JSON.stringify(dlq),
    );
    // The offsets were committed through the workers' settling: the same group reads nothing again.
    const again = spawnCli(['run', '--config', cfg], { AEGIS_METRICS_PORT: 'off' });
    const againDone = waitExit(again);
    t.after(() => again.kill('SIGKILL'));
    await new Promise((res) => setTimeout(res, 5000));
    again.kill('SIGTERM');
    assert.equal((await againDone).code, 0);
    assert.equal(idsOf(path.join(dir, 'out.ndjson')).length, events.length + 1, 'nothing delivered twice');
  } finally {
    cleanup();
  }
});
