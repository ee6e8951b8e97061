/**
 * The relay's own fetch decoding (src/sinks/kafka/fetch-codec.ts): FetchRequest v11 and FetchResponse v11 byte for
 * byte, RecordBatch v2 read back for every codec the sink writes (none, gzip, snappy, lz4, zstd), records before the
 * fetch offset, a partial last batch, a CRC-32C mismatch, control batches and aborted transactions; then records the
 * kafka sink wrote with each codec read back from a real broker with a FetchRequest v11 on the library's connections.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { AegisEvent } from '../../../src/event/types';
import type { KafkaRecord } from '../../../src/formatters/kafka';
import { createFormatter } from '../../../src/formatters/registry';
import { kafkaLib } from '../../../src/sinks/kafka/client-lib';
import { crc32c } from '../../../src/sinks/kafka/crc32c';
import { COMPRESSIONS, parseKafkaConfig } from '../../../src/sinks/kafka/config';
import type { Decompress, FetchResponse } from '../../../src/sinks/kafka/fetch-codec';
import {
  READ_COMMITTED,
  decodeFetchResponseV11,
  decodeRecordBatches,
  encodeFetchRequestV11,
} from '../../../src/sinks/kafka/fetch-codec';
import type { CodecName, WireRecord } from '../../../src/sinks/kafka/record-batch';
import { CODEC_IDS, encodeBatch, encodeRecords } from '../../../src/sinks/kafka/record-batch';
import { createKafkaTransport } from '../../../src/sinks/kafka/transport';
import { createLogger } from '../../../src/util/logger';
import { generateEvents } from '../../helpers/events';
import type { KafkaCluster, KafkaUnavailable } from '../../helpers/kafka';
import { startKafka } from '../../helpers/kafka';

const decompress: Decompress = (codec, data) => {
  const a = kafkaLib.compressionsAlgorithmsByBitmask[codec];
  if (a === undefined) throw new Error(`codec ${codec}`);
  return a.decompressSync(data);
};

const NO_PRODUCER = { producerId: -1n, producerEpoch: -1, baseSequence: -1 };

/** A batch of `records` at `baseOffset` (the broker assigns offsets; here they are written in as it would). */
function batchAt(
  baseOffset: number,
  records: readonly WireRecord[],
  codec: CodecName = 'none',
  producer = NO_PRODUCER,
  extraAttributes = 0,
): Buffer {
  const section = Buffer.from(encodeRecords(records));
  const body = codec === 'none' ? section : kafkaLib.compressionsAlgorithms[codec].compressSync(section);
  const b = encodeBatch(body, records.length, codec, 1_700_000_000_000, producer);
  b.writeBigInt64BE(BigInt(baseOffset), 0);
  if (extraAttributes !== 0) {
    b.writeInt16BE(b.readInt16BE(21) | extraAttributes, 21);
    // The CRC covers the attributes: recompute it as a broker-written batch would have it.
    b.writeUInt32BE(crc32c(b, 21), 17);
  }
  return b;
}

const recs = (n: number, tag: string): WireRecord[] =>
  Array.from({ length: n }, (_, i) => ({
    key: `host-${i % 3}`,
    value: `{"n":${i},"t":"${tag}"}`,
    headers: { h: 'x' },
  }));

test('fetch request v11: golden bytes', () => {
  const body = encodeFetchRequestV11(500, 1, 8 << 20, READ_COMMITTED, [
    {
      topic: 'ab',
      partitions: [
        { partition: 3, fetchOffset: 0x0102030405, partitionMaxBytes: 1 << 20 },
        { partition: 0, fetchOffset: 0, partitionMaxBytes: 7 },
      ],
    },
  ]);
  const hex = [
    'ffffffff', // replica_id -1
    '000001f4', // max_wait_ms 500
    '00000001', // min_bytes
    '00800000', // max_bytes 8 MiB
    '01', // isolation_level read_committed
    '00000000', // session_id
    'ffffffff', // session_epoch -1
    '00000001', // 1 topic
    '0002' + '6162', // "ab"
    '00000002', // 2 partitions
    '00000003' + 'ffffffff' + '0000000102030405' + 'ffffffffffffffff' + '00100000',
    '00000000' + 'ffffffff' + '0000000000000000' + 'ffffffffffffffff' + '00000007',
    '00000000', // forgotten_topics_data
    '0000', // rack_id ""
  ].join('');
  assert.equal(body.toString('hex'), hex);
});

test('fetch response v11: golden bytes decoded (errors, high watermark, aborted transactions, null and empty records)', () => {
  const batch = batchAt(40, recs(2, 'r'));
  const parts: Buffer[] = [];
  const i16 = (v: number): Buffer => Buffer.from([(v >> 8) & 0xff, v & 0xff]);
  const i32 = (v: number): Buffer => {
    const b = Buffer.alloc(4);
    b.writeInt32BE(v);
    return b;
  };
  const i64 = (v: bigint): Buffer => {
    const b = Buffer.alloc(8);
    b.writeBigInt64BE(v);
    return b;
  };
  parts.push(i32(0), i16(0), i32(0), i32(1), i16(5), Buffer.from('topic'), i32(3));
  // partition 0: records, one aborted transaction
  parts.push(
    i32(0),
    i16(0),
    i64(42n),
    i64(41n),
    i64(0n),
    i32(1),
    i64(77n),
    i64(40n),
    i32(-1),
    i32(batch.length),
    batch,
  );
  // partition 1: NOT_LEADER_OR_FOLLOWER, null records, null aborted list
  parts.push(i32(1), i16(6), i64(-1n), i64(-1n), i64(-1n), i32(-1), i32(-1), i32(-1));
  // partition 2: nothing new (empty records)
  parts.push(i32(2), i16(0), i64(9n), i64(9n), i64(0n), i32(0), i32(-1), i32(0));
  const r: FetchResponse = decodeFetchResponseV11(Buffer.concat(parts));
  assert.equal(r.errorCode, 0);
  assert.equal(r.partitions.length, 3);
  const [p0, p1, p2] = r.partitions;
  assert.deepEqual(
    { ...p0, records: p0?.records?.toString('hex') },
    {
      topic: 'topic',
      partition: 0,
      errorCode: 0,
      highWatermark: 42,
      lastStableOffset: 41,
      aborted: [{ producerId: 77n, firstOffset: 40 }],
      records: batch.toString('hex'),
    },
  );
  assert.equal(p1?.errorCode, 6);
  assert.equal(p1?.records, null);
  assert.deepEqual(p1?.aborted, []);
  assert.equal(p2?.highWatermark, 9);
  assert.equal(p2?.records?.length, 0);
  // A response cut inside its records is refused, not read past its end.
  assert.throws(() => decodeFetchResponseV11(Buffer.concat(parts).subarray(0, 80)), RangeError);
});

test('record batches: every codec the sink writes reads back (offsets, values, null value, multi-byte UTF-8)', () => {
  const records: WireRecord[] = [
    { key: null, value: '{"a":1}', headers: {} },
    { key: 'hôte', value: 'ünïcødé ✓ 𝄞 '.repeat(40), headers: { 'event-type': 'exec' } },
    { key: 'k', value: 'v'.repeat(70_000), headers: { format: 'json' } },
  ];
  for (const codec of COMPRESSIONS) {
    const buf = Buffer.concat([batchAt(100, records, codec), batchAt(103, recs(2, codec), codec)]);
    assert.equal(buf.readInt16BE(21) & 7, CODEC_IDS[codec], codec);
    const d = decodeRecordBatches(buf, 100, [], decompress);
    assert.deepEqual(d.offsets, [100, 101, 102, 103, 104], codec);
    assert.deepEqual(d.values, [...records.map((r) => r.value), ...recs(2, codec).map((r) => r.value)], codec);
    assert.equal(d.nextOffset, 105, codec);
    assert.deepEqual(d.corrupt, [], codec);
  }
  // A null value (a tombstone) is told apart from an empty one.
  const section = Buffer.from(encodeRecords([{ key: 'k', value: '', headers: {} }]));
  section[section.length - 2] = 1; // value length zigzag(0)=0 → zigzag(-1)=1: null
  const b = encodeBatch(section, 1, 'none', 0, NO_PRODUCER);
  assert.deepEqual(decodeRecordBatches(b, 0, [], decompress).values, [null]);
});

test('record batches: records before the fetch offset are left out; a partial last batch waits for the next fetch', () => {
  const first = batchAt(10, recs(5, 'a'));
  const second = batchAt(15, recs(5, 'b'));
  const d = decodeRecordBatches(Buffer.concat([first, second.subarray(0, second.length - 1)]), 12, [], decompress);
  assert.deepEqual(d.offsets, [12, 13, 14]);
  assert.equal(d.nextOffset, 15, 'the cut batch is fetched again from its first offset');
  // Only a header's worth, or less: nothing read, position unchanged.
  assert.equal(decodeRecordBatches(first.subarray(0, 30), 10, [], decompress).nextOffset, 10);
});

test('record batches: a CRC-32C mismatch is reported with its offsets and skipped; the next batch still reads', () => {
  const bad = batchAt(0, recs(3, 'bad'));
  bad.writeUInt8(bad.readUInt8(bad.length - 2) ^ 0x20, bad.length - 2); // one bit of a value flipped on the way
  const d = decodeRecordBatches(Buffer.concat([bad, batchAt(3, recs(2, 'ok'))]), 0, [], decompress);
  assert.deepEqual(d.corrupt, [{ firstOffset: 0, lastOffset: 2, reason: 'record batch CRC-32C mismatch' }]);
  assert.deepEqual(d.offsets, [3, 4]);
  assert.equal(d.nextOffset, 5);
});

test('record batches: control batches are skipped; an aborted transaction is filtered, a committed one delivered', () => {
  const TRANSACTIONAL = 0x10;
  const CONTROL = 0x20;
  const p7 = { producerId: 7n, producerEpoch: 0, baseSequence: 0 };
  const p8 = { producerId: 8n, producerEpoch: 0, baseSequence: 0 };
  const buf = Buffer.concat([
    batchAt(0, recs(2, 'plain')),
    batchAt(2, recs(2, 'aborted'), 'none', p7, TRANSACTIONAL),
    batchAt(4, recs(2, 'committed'), 'none', p8, TRANSACTIONAL),
    batchAt(6, [{ key: '\u0000\u0000', value: 'abort marker', headers: {} }], 'none', p7, TRANSACTIONAL | CONTROL),
    batchAt(7, [{ key: '\u0000\u0001', value: 'commit marker', headers: {} }], 'none', p8, TRANSACTIONAL | CONTROL),
    batchAt(8, recs(1, 'after')),
  ]);
  const d = decodeRecordBatches(buf, 0, [{ producerId: 7n, firstOffset: 2 }], decompress);
  assert.deepEqual(d.offsets, [0, 1, 4, 5, 8]);
  assert.equal(d.nextOffset, 9);
});

let cluster: KafkaCluster | KafkaUnavailable = { ok: false, reason: 'not started' };
before(async () => {
  cluster = await startKafka();
});
after(async () => {
  if (cluster.ok) await cluster.stop();
});

test('fetch v11 against a real broker: what the kafka sink wrote with each codec reads back record for record', async (t) => {
  if (!cluster.ok) return t.skip(cluster.reason);
  const c = cluster;
  const logger = createLogger({ level: 'ERROR', write: () => undefined });
  const format = createFormatter<KafkaRecord>('kafka', { hostname: 'test', version: '0' });
  const pool = new kafkaLib.ConnectionPool('aegis-test', {});
  const admin = new kafkaLib.Admin({ clientId: 'aegis-test', bootstrapBrokers: [...c.bootstrap] });
  try {
    for (const codec of COMPRESSIONS) {
      const topic = `fetch-${codec}`;
      await c.createTopic(topic);
      const transport = createKafkaTransport(
        parseKafkaConfig({ brokers: c.bootstrap, topic, compression: codec, key: 'none' }),
        { name: 'bus', logger, requestTimeoutMillis: 10_000 },
      );
      const events = generateEvents(300);
      const records = events.map((e) => format.format(e));
      try {
        const result = await transport.send(
          {
            id: 1,
            attempt: 1,
            bytes: records.reduce((n, r) => n + r.value.length, 0),
            records: records.map((data, i) => ({ event: events[i] as AegisEvent, data, bytes: data.value.length })),
          },
          AbortSignal.timeout(30_000),
        );
        assert.equal(result.kind, 'delivered', codec);
      } finally {
        await transport.close();
      }
      const md = await admin.metadata({ topics: [topic] });
      const leader = md.topics.get(topic)?.partitions[0]?.leader ?? -1;
      const broker = md.brokers.get(leader);
      assert.ok(broker !== undefined, `leader of ${topic}`);
      const got: string[] = [];
      const offsets: number[] = [];
      for (let from = 0; got.length < records.length;) {
        const response = await new Promise<FetchResponse>((resolve, reject) => {
          pool.get(broker, (err, conn) => {
            if (err || conn === undefined) return reject(err ?? new Error('no connection'));
            conn.send(
              1,
              11,
              () =>
                kafkaLib.Writer.create().append(
                  // A small partition limit: several fetches, each ending in a partial batch.
                  encodeFetchRequestV11(200, 1, 1 << 20, READ_COMMITTED, [
                    { topic, partitions: [{ partition: 0, fetchOffset: from, partitionMaxBytes: 20_000 }] },
                  ]),
                ),
              (_c, _k, _v, reader) => decodeFetchResponseV11(reader.buffer.buffer),
              false,
              false,
              (e: Error | null, r: FetchResponse | undefined) => (e ? reject(e) : resolve(r as FetchResponse)),
            );
          });
        });
        const p = response.partitions[0];
        assert.equal(p?.errorCode, 0, codec);
        assert.equal(p?.highWatermark, records.length, codec);
        const d = decodeRecordBatches(p?.records ?? Buffer.alloc(0), from, p?.aborted ?? [], decompress);
        assert.deepEqual(d.corrupt, [], codec);
        assert.ok(d.nextOffset > from, `${codec}: progress from ${from}`);
        got.push(...d.values.map((v) => v ?? '<null>'));
        offsets.push(...d.offsets);
        from = d.nextOffset;
      }
      assert.deepEqual(
        offsets,
        records.map((_, i) => i),
        codec,
      );
      assert.deepEqual(
        got,
        records.map((r) => r.value),
        codec,
      );
    }
  } finally {
    await admin.close();
    await pool.close();
  }
});
