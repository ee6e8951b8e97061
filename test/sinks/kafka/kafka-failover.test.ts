/**
 * Three-node Apache Kafka 4.x (KRaft, replication 3, min.insync.replicas 2): the leader of the partition the kafka
 * sink writes to is SIGKILLed in the middle of a stream. With acks=all, every event the sink counted as delivered is
 * in the log afterwards (zero acknowledged loss), and the sink carries on with the new leader.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import type { AegisEvent } from '../../../src/event/types';
import { parseLogs, spawnCli, waitExit } from '../../helpers/cli';
import { generateEvents } from '../../helpers/events';
import type { KafkaCluster, KafkaUnavailable } from '../../helpers/kafka';
import { startKafka } from '../../helpers/kafka';
import { makeTempDir } from '../../helpers/tmp';

let cluster: KafkaCluster | KafkaUnavailable = { ok: false, reason: 'not started' };
before(async () => {
  cluster = await startKafka({ nodes: 3 });
});
after(async () => {
  if (cluster.ok) await cluster.stop();
});

test('three nodes, acks=all: the partition leader SIGKILLed mid-stream loses no acknowledged event', async (t) => {
  if (!cluster.ok) return t.skip(cluster.reason);
  const c = cluster;
  await c.createTopic('ha', { partitions: 1, replicas: 3 });
  const { dir, cleanup } = makeTempDir('aegis-kafka-ha-');
  try {
    const count = 15_000;
    const events = generateEvents(count);
    fs.writeFileSync(path.join(dir, 'in.ndjson'), events.map((e) => JSON.stringify(e)).join('\n') + '\n');
    fs.writeFileSync(
      path.join(dir, 'agent.yaml'),
      [
        `data_dir: ${dir}`,
        `dead_letter: { path: ${dir}/dlq.ndjson }`,
        'shutdown_timeout_ms: 60000',
        // 3000 events/s for 5 s: the leader dies about 1.5 s in.
        `sources: { r: { type: replay, path: ${dir}/in.ndjson, rate: 3000 } }`,
        `sinks: { bus: { type: kafka, brokers: [${c.bootstrap.join(', ')}], topic: ha, acks: all, retry: { max_backoff_ms: 1000 } } }`,
      ].join('\n'),
    );
    const agent = spawnCli(['run', '--config', path.join(dir, 'agent.yaml')], { AEGIS_METRICS_PORT: 'off' });
    t.after(() => agent.kill('SIGKILL'));
    const done = waitExit(agent);
    await new Promise((r) => setTimeout(r, 1500));
    const leader = await c.leaderOf('ha', 0);
    await c.stopNode(leader, true);
    const r = await done;
    const summary = parseLogs(r.stderr).find((l) => l.msg === 'aegisbpf stopped.') as
      { sinks: Record<string, { delivered: number; dead_lettered: number }> } | undefined;
    assert.ok(summary !== undefined, r.stderr.slice(-2000));
    const delivered = summary.sinks.bus?.delivered ?? 0;
    t.diagnostic(`leader ${leader} killed; delivered ${delivered}, dead-lettered ${summary.sinks.bus?.dead_lettered}`);
    assert.equal(r.code, 0, r.stderr.slice(-2000));
    assert.equal(delivered, count, 'every event delivered by the surviving replicas');
    const inLog = new Set((await c.readTopic('ha', 120_000)).map((x) => (JSON.parse(x.value) as AegisEvent).exec_id));
    const lost = events.filter((e) => !inLog.has(e.exec_id)).length;
    assert.equal(lost, 0, `${lost} acknowledged events are not in the log`);
    assert.notEqual(await c.leaderOf('ha', 0), leader, 'a new leader took over');
  } finally {
    cleanup();
  }
});
