/**
 * The sink's own Kafka wire encoding (src/sinks/kafka/record-batch.ts, crc32c.ts) against golden values: the
 * CRC-32C check values of RFC 3720 (B.4), a RecordBatch v2 laid out by hand from the protocol guide, a ProduceResponse
 * v8 built by hand, and Kafka's murmur2 partitioner, cross-checked with the client library's implementation.
 * The real broker accepting and returning these bytes is tested in kafka-idempotence.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { crc32c, crc32cImplementation, crc32cTable } from '../../../src/sinks/kafka/crc32c';
import { kafkaLib } from '../../../src/sinks/kafka/client-lib';
import type { WireRecord } from '../../../src/sinks/kafka/record-batch';
import {
  BATCH_HEADER_BYTES,
  decodeProduceResponseV8,
  encodeBatch,
  encodeProduceRequestV8,
  encodeRecords,
  murmur2,
  partitionForKey,
} from '../../../src/sinks/kafka/record-batch';

test('crc32c: the RFC 3720 check values, table and native implementations agree', () => {
  const ascending = Buffer.from(Array.from({ length: 32 }, (_, i) => i));
  const vectors: [Buffer, number][] = [
    [Buffer.from('123456789'), 0xe3069283],
    [Buffer.alloc(32, 0), 0x8a9136aa],
    [Buffer.alloc(32, 0xff), 0x62a8ab43],
    [ascending, 0x46dd794e],
    [Buffer.from(ascending).reverse(), 0x113fdb5c],
    [Buffer.alloc(0), 0],
  ];
  for (const [bytes, want] of vectors) {
    assert.equal(crc32cTable(bytes), want, `table crc32c of ${bytes.toString('hex')}`);
    assert.equal(crc32c(bytes), want, `${crc32cImplementation} crc32c of ${bytes.toString('hex')}`);
  }
  // A range in the middle of a buffer, and lengths that are not a multiple of the 8-byte step.
  const big = Buffer.from(Array.from({ length: 1031 }, (_, i) => (i * 31 + 7) & 0xff));
  for (const [s, e] of [
    [0, 1031],
    [3, 1000],
    [21, 29],
    [5, 6],
  ] as const)
    assert.equal(crc32c(big, s, e), crc32cTable(Buffer.from(big.subarray(s, e))), `range ${s}..${e}`);
});

/** Reads a zigzag varint at `off`: [value, next offset]. */
function varint(buf: Buffer, off: number): [number, number] {
  let u = 0;
  let shift = 0;
  for (;;) {
    const b = buf[off++] as number;
    u += (b & 0x7f) * 2 ** shift;
    shift += 7;
    if ((b & 0x80) === 0) break;
  }
  return [u % 2 === 0 ? u / 2 : -(u + 1) / 2, off];
}

/** Decodes a records section back to records (what a consumer does), to check the encoder round-trips. */
function decodeRecords(buf: Buffer, count: number): WireRecord[] {
  const out: WireRecord[] = [];
  let off = 0;
  const str = (): string | null => {
    const [n, next] = varint(buf, off);
    off = next;
    if (n < 0) return null;
    const s = buf.toString('utf8', off, off + n);
    off += n;
    return s;
  };
  for (let i = 0; i < count; i++) {
    const [len, start] = varint(buf, off);
    off = start;
    assert.equal(buf[off++], 0, 'record attributes');
    const [tsDelta, a] = varint(buf, off);
    const [offsetDelta, b] = varint(buf, a);
    off = b;
    assert.equal(tsDelta, 0);
    assert.equal(offsetDelta, i);
    const key = str();
    const value = str() as string;
    const [nh, c] = varint(buf, off);
    off = c;
    const headers: Record<string, string> = {};
    for (let h = 0; h < nh; h++) {
      const k = str() as string;
      headers[k] = str() as string;
    }
    assert.equal(off - start, len, `record ${i} length prefix`);
    out.push({ key, value, headers });
  }
  assert.equal(off, buf.length, 'no bytes after the last record');
  return out;
}

test('record batch: one record laid out byte for byte as the protocol guide says', () => {
  const section = Buffer.from(encodeRecords([{ key: 'k', value: 'v', headers: { h: 'x' } }]));
  // length 12 (zigzag 24), attributes, timestampDelta, offsetDelta, key "k", value "v", 1 header "h" = "x"
  assert.equal(section.toString('hex'), '18' + '00' + '00' + '00' + '026b' + '0276' + '02' + '0268' + '0278');
  const batch = encodeBatch(section, 1, 'none', 1_700_000_000_123, {
    producerId: 4242n,
    producerEpoch: 3,
    baseSequence: 17,
  });
  assert.equal(batch.length, BATCH_HEADER_BYTES + section.length);
  assert.equal(batch.readBigInt64BE(0), 0n, 'baseOffset');
  assert.equal(batch.readInt32BE(8), batch.length - 12, 'batchLength counts from partitionLeaderEpoch');
  assert.equal(batch.readInt32BE(12), -1, 'partitionLeaderEpoch');
  assert.equal(batch.readInt8(16), 2, 'magic');
  assert.equal(batch.readUInt32BE(17), crc32cTable(batch.subarray(21)), 'CRC-32C from attributes to the end');
  assert.equal(batch.readInt16BE(21), 0, 'attributes: no compression, CreateTime');
  assert.equal(batch.readInt32BE(23), 0, 'lastOffsetDelta');
  assert.equal(batch.readBigInt64BE(27), 1_700_000_000_123n, 'baseTimestamp');
  assert.equal(batch.readBigInt64BE(35), 1_700_000_000_123n, 'maxTimestamp');
  assert.equal(batch.readBigInt64BE(43), 4242n, 'producerId');
  assert.equal(batch.readInt16BE(51), 3, 'producerEpoch');
  assert.equal(batch.readInt32BE(53), 17, 'baseSequence');
  assert.equal(batch.readInt32BE(57), 1, 'records count');
  assert.deepEqual(batch.subarray(BATCH_HEADER_BYTES), section);
  // The codec id goes into the attributes (and is covered by the CRC).
  const zstd = encodeBatch(section, 1, 'zstd', 0, { producerId: -1n, producerEpoch: -1, baseSequence: -1 });
  assert.equal(zstd.readInt16BE(21), 4);
  assert.equal(zstd.readUInt32BE(17), crc32cTable(zstd.subarray(21)));
});

test('record batch: null keys, multi-byte UTF-8, long and empty strings round-trip (varint lengths of 1 to 3 bytes)', () => {
  const records: WireRecord[] = [
    { key: null, value: '{"a":1}', headers: {} },
    { key: 'hôte-é', value: 'ünïcødé ✓ 𝄞 '.repeat(20), headers: { 'event-type': 'exec', emoji: '🛡️' } },
    { key: '', value: '', headers: { empty: '' } },
    // 30 ASCII characters: room for 90 bytes was left, the prefix is shorter, the bytes move back.
    { key: 'x'.repeat(30), value: 'y'.repeat(63), headers: { z: 'z'.repeat(64) } },
    { key: 'host', value: 'v'.repeat(70_000), headers: { format: 'json' } },
  ];
  const section = Buffer.from(encodeRecords(records));
  assert.deepEqual(decodeRecords(section, records.length), records);
  // length (1 byte), attributes, timestampDelta, offsetDelta, then the key: zigzag varint of -1.
  assert.equal(section[4], 1, 'a null key is the zigzag varint of -1');
});

test('produce request v8 and response v8: golden bytes', () => {
  const batch = Buffer.from('0102', 'hex');
  const request = Buffer.concat(
    encodeProduceRequestV8(-1, 30_000, [{ topic: 'ab', partitions: [{ partition: 5, batch }] }]),
  );
  // transactional_id null, acks -1, timeout 30000, 1 topic "ab", 1 partition 5, records 2 bytes
  assert.equal(
    request.toString('hex'),
    'ffff' + 'ffff' + '00007530' + '00000001' + '00026162' + '00000001' + '00000005' + '00000002' + '0102',
  );
  const response = Buffer.from(
    '00000001' + // 1 topic
      '00026162' + // "ab"
      '00000002' + // 2 partitions
      '00000005' +
      '0000' +
      '000000000000002a' +
      'ffffffffffffffff' +
      '0000000000000000' +
      '00000000' +
      'ffff' +
      '00000006' +
      '000a' +
      'ffffffffffffffff' +
      'ffffffffffffffff' +
      '0000000000000000' +
      '00000001' +
      '00000003' +
      '0003626164' + // record error: index 3, "bad"
      '0009746f6f206c61726765' + // error_message "too large"
      '00000000', // throttle_time_ms
    'hex',
  );
  assert.deepEqual(decodeProduceResponseV8(response), [
    { topic: 'ab', partition: 5, errorCode: 0, baseOffset: 42n, message: '' },
    { topic: 'ab', partition: 6, errorCode: 10, baseOffset: -1n, message: 'too large; record 3: bad' },
  ]);
});

test('partitioner: murmur2 gives the Java client partitions (known vectors and the client library agree)', () => {
  // Kafka's own murmur2 test vectors (org.apache.kafka.common.utils.UtilsTest).
  const known: [string, number][] = [
    ['21', -973932308],
    ['foobar', -790332482],
    ['a-little-bit-long-string', -985981536],
    ['a-little-bit-longer-string', -1486304829],
    ['lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8', -58897971],
    ['abc', 479470107],
  ];
  for (const [key, want] of known) assert.equal(murmur2(Buffer.from(key)), want, key);
  for (const key of ['test-host', 'exec-1234-5678', 'ü', '']) {
    assert.equal(murmur2(Buffer.from(key)), kafkaLib.murmur2(Buffer.from(key)) | 0, key);
    assert.equal(partitionForKey(key, 6), (murmur2(Buffer.from(key)) & 0x7fffffff) % 6);
  }
});
