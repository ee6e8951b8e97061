/**
 * Kafka wire decoding for the relay's own fetch path (src/pipeline/sources/kafka-fetcher.ts), the mirror of
 * record-batch.ts: the FetchRequest v11 body, the FetchResponse v11 body, and the RecordBatch v2 (magic 2) records in
 * it, read straight into one string per record value. v11 is the newest non-flexible Fetch version (no tagged
 * fields, topics by name); Kafka 4.x accepts Fetch v4 and later. Layouts follow the Kafka protocol guide ("Fetch
 * API", "Record Batch").
 *
 * Why our own: the client library's consumer builds, per record, an object, a Buffer per key, value and header, a
 * headers array and Map, a message object and a bound commit function, about 15 µs of CPU per event with the
 * garbage collector behind them (docs/benchmarks.md#kafka-issue-16). The relay needs each record's offset and value
 * only: keys and headers are skipped over, never copied.
 */

import { crc32c } from './crc32c';
import { BATCH_HEADER_BYTES } from './record-batch';

/** read_committed: the broker returns records up to the last stable offset; aborted transactions are filtered. */
export const READ_COMMITTED = 1;

export interface FetchPartitionRequest {
  readonly partition: number;
  readonly fetchOffset: number;
  readonly partitionMaxBytes: number;
}

export interface FetchTopicRequest {
  readonly topic: string;
  readonly partitions: readonly FetchPartitionRequest[];
}

/**
 * The FetchRequest v11 body (after the request header): replica_id -1 (a consumer), no fetch session (session id 0,
 * epoch -1: every request is a full fetch, so the broker never answers for partitions not asked for), no leader
 * epoch check (-1), no rack.
 */
export function encodeFetchRequestV11(
  maxWaitMs: number,
  minBytes: number,
  maxBytes: number,
  isolationLevel: number,
  topics: readonly FetchTopicRequest[],
): Buffer {
  let size = 4 + 4 + 4 + 4 + 1 + 4 + 4 + 4 + 4 + 2;
  const names = topics.map((t) => Buffer.from(t.topic, 'utf8'));
  topics.forEach((t, i) => (size += 2 + (names[i] as Buffer).length + 4 + t.partitions.length * 28));
  const buf = Buffer.allocUnsafe(size);
  let off = buf.writeInt32BE(-1, 0); // replica_id
  off = buf.writeInt32BE(maxWaitMs, off);
  off = buf.writeInt32BE(minBytes, off);
  off = buf.writeInt32BE(maxBytes, off);
  off = buf.writeInt8(isolationLevel, off);
  off = buf.writeInt32BE(0, off); // session_id
  off = buf.writeInt32BE(-1, off); // session_epoch: no session
  off = buf.writeInt32BE(topics.length, off);
  topics.forEach((t, i) => {
    const name = names[i] as Buffer;
    off = buf.writeInt16BE(name.length, off);
    off += name.copy(buf, off);
    off = buf.writeInt32BE(t.partitions.length, off);
    for (const p of t.partitions) {
      off = buf.writeInt32BE(p.partition, off);
      off = buf.writeInt32BE(-1, off); // current_leader_epoch: not checked
      off = buf.writeBigInt64BE(BigInt(p.fetchOffset), off);
      off = buf.writeBigInt64BE(-1n, off); // log_start_offset: consumers send -1
      off = buf.writeInt32BE(p.partitionMaxBytes, off);
    }
  });
  off = buf.writeInt32BE(0, off); // forgotten_topics_data
  buf.writeInt16BE(0, off); // rack_id ""
  return buf;
}

export interface FetchedPartition {
  readonly topic: string;
  readonly partition: number;
  readonly errorCode: number;
  readonly highWatermark: number;
  readonly lastStableOffset: number;
  /** Aborted transactions in the returned range (read_committed): producer id and first offset. */
  readonly aborted: readonly { readonly producerId: bigint; readonly firstOffset: number }[];
  /** The record batches as the broker sent them (a view of the response; may end in a partial batch). */
  readonly records: Buffer | null;
}

export interface FetchResponse {
  readonly errorCode: number;
  readonly partitions: FetchedPartition[];
}

/** A 64-bit offset as a number; offsets past 2^53 (never reached: 9 · 10^15 records) are refused, not rounded. */
function offsetNumber(v: bigint): number {
  const n = Number(v);
  if (!Number.isSafeInteger(n)) throw new Error(`Kafka offset ${v} is beyond 2^53`);
  return n;
}

/** Parses a FetchResponse v11 body (after the correlation id). */
export function decodeFetchResponseV11(buf: Buffer): FetchResponse {
  let off = 0;
  const i32 = (): number => {
    const v = buf.readInt32BE(off);
    off += 4;
    return v;
  };
  const i16 = (): number => {
    const v = buf.readInt16BE(off);
    off += 2;
    return v;
  };
  const i64 = (): number => {
    const v = offsetNumber(buf.readBigInt64BE(off));
    off += 8;
    return v;
  };
  i32(); // throttle_time_ms
  const errorCode = i16();
  i32(); // session_id
  const partitions: FetchedPartition[] = [];
  for (let t = i32(); t > 0; t--) {
    const nameLen = i16();
    const topic = buf.toString('utf8', off, off + nameLen);
    off += nameLen;
    for (let p = i32(); p > 0; p--) {
      const partition = i32();
      const code = i16();
      const highWatermark = i64();
      const lastStableOffset = i64();
      i64(); // log_start_offset
      const aborted: { producerId: bigint; firstOffset: number }[] = [];
      for (let a = i32(); a > 0; a--) {
        const producerId = buf.readBigInt64BE(off);
        off += 8;
        aborted.push({ producerId, firstOffset: i64() });
      }
      i32(); // preferred_read_replica
      const size = i32();
      if (size > buf.length - off) throw new RangeError('Fetch response shorter than its records');
      const records = size < 0 ? null : buf.subarray(off, off + size);
      if (size > 0) off += size;
      partitions.push({ topic, partition, errorCode: code, highWatermark, lastStableOffset, aborted, records });
    }
  }
  return { errorCode, partitions };
}

/** Records of one partition read from a fetch response: offsets and values (null for a null value), parallel. */
export interface DecodedRecords {
  readonly offsets: number[];
  readonly values: (string | null)[];
  /** The offset to fetch next: past the last complete batch (control and aborted batches included). */
  nextOffset: number;
  /** Batches whose CRC-32C did not match, or that could not be read: skipped, reported with their offsets. */
  readonly corrupt: { readonly firstOffset: number; readonly lastOffset: number; readonly reason: string }[];
}

export type Decompress = (codec: number, data: Buffer) => Buffer;

const ATTR_CODEC = 0x07;
const ATTR_TRANSACTIONAL = 0x10;
const ATTR_CONTROL = 0x20;

/** Reads a zigzag varint (32-bit) at `pos.o`, advancing it. */
function varint(buf: Buffer, pos: { o: number }): number {
  let u = 0;
  let shift = 0;
  let o = pos.o;
  for (;;) {
    if (o >= buf.length) throw new RangeError('varint past the end of the records');
    const b = buf[o++] as number;
    u |= (b & 0x7f) << shift;
    if (b < 0x80) break;
    shift += 7;
    if (shift > 28) throw new RangeError('varint longer than 5 bytes');
  }
  pos.o = o;
  return (u >>> 1) ^ -(u & 1);
}

/** Skips a varint of up to 10 bytes (a varlong). */
function skipVarlong(buf: Buffer, pos: { o: number }): void {
  let o = pos.o;
  for (let i = 0; ; i++) {
    if (o >= buf.length || i >= 10) throw new RangeError('bad varlong in the records');
    if ((buf[o++] as number) < 0x80) break;
  }
  pos.o = o;
}

/** Reads the records section `data` (already decompressed): offsets and values of those at `from` or later. */
function readRecords(data: Buffer, count: number, baseOffset: number, from: number, out: DecodedRecords): void {
  const pos = { o: 0 };
  for (let i = 0; i < count; i++) {
    const length = varint(data, pos);
    const end = pos.o + length;
    if (length < 0 || end > data.length) throw new RangeError(`record ${i} runs past the end of its batch`);
    pos.o += 1; // attributes
    skipVarlong(data, pos); // timestampDelta
    const offset = baseOffset + varint(data, pos);
    const keyLen = varint(data, pos);
    if (keyLen > 0) pos.o += keyLen;
    const valueLen = varint(data, pos);
    if (pos.o + Math.max(valueLen, 0) > end) throw new RangeError(`record ${i}: value runs past the record`);
    if (offset >= from) {
      out.offsets.push(offset);
      out.values.push(valueLen < 0 ? null : data.toString('utf8', pos.o, pos.o + valueLen));
    }
    pos.o = end; // headers: not needed by the relay
  }
}

/**
 * Decodes the record batches of one partition's fetch response. Records before `from` (the fetch offset: the broker
 * returns whole batches) are left out, and so are control batches and, with `aborted` (read_committed), the batches
 * of aborted transactions. A partial batch at the end (cut by the size limits) is left for the next fetch. A batch
 * whose CRC-32C does not match is reported in `corrupt` and skipped.
 */
export function decodeRecordBatches(
  records: Buffer,
  from: number,
  aborted: readonly { readonly producerId: bigint; readonly firstOffset: number }[],
  decompress: Decompress,
): DecodedRecords {
  const out: DecodedRecords = { offsets: [], values: [], nextOffset: from, corrupt: [] };
  // read_committed: a producer's batches are aborted from its aborted transaction's first offset to the abort marker.
  const pending = [...aborted].sort((a, b) => a.firstOffset - b.firstOffset);
  const abortedProducers = new Set<bigint>();
  let off = 0;
  while (records.length - off >= BATCH_HEADER_BYTES) {
    const batchLength = records.readInt32BE(off + 8);
    const size = 12 + batchLength;
    if (batchLength < BATCH_HEADER_BYTES - 12 || records.length - off < size) break; // partial batch
    const baseOffset = offsetNumber(records.readBigInt64BE(off));
    const lastOffset = baseOffset + records.readInt32BE(off + 23);
    const magic = records.readInt8(off + 16);
    const batchEnd = off + size;
    if (magic !== 2) {
      out.corrupt.push({ firstOffset: baseOffset, lastOffset, reason: `record batch magic ${magic} (only 2 is read)` });
    } else if (records.readUInt32BE(off + 17) !== crc32c(records, off + 21, batchEnd)) {
      out.corrupt.push({ firstOffset: baseOffset, lastOffset, reason: 'record batch CRC-32C mismatch' });
    } else {
      const attributes = records.readInt16BE(off + 21);
      const producerId = records.readBigInt64BE(off + 43);
      while (pending.length > 0 && (pending[0] as { firstOffset: number }).firstOffset <= lastOffset)
        abortedProducers.add((pending.shift() as { producerId: bigint }).producerId);
      if ((attributes & ATTR_CONTROL) !== 0) {
        // A commit or abort marker ends that producer's transaction.
        if ((attributes & ATTR_TRANSACTIONAL) !== 0) abortedProducers.delete(producerId);
      } else if ((attributes & ATTR_TRANSACTIONAL) !== 0 && abortedProducers.has(producerId)) {
        // an aborted transaction's records: never delivered to read_committed consumers
      } else if (lastOffset >= from) {
        const count = records.readInt32BE(off + 57);
        const codec = attributes & ATTR_CODEC;
        const section = records.subarray(off + BATCH_HEADER_BYTES, batchEnd);
        const kept = out.offsets.length;
        try {
          readRecords(codec === 0 ? section : decompress(codec, section), count, baseOffset, from, out);
        } catch (err) {
          // All of the batch or none of it: what was read before the fault is reported with the rest.
          out.offsets.length = kept;
          out.values.length = kept;
          out.corrupt.push({
            firstOffset: baseOffset,
            lastOffset,
            reason: `record batch unreadable: ${(err as Error).message}`,
          });
        }
      }
    }
    out.nextOffset = Math.max(out.nextOffset, lastOffset + 1);
    off = batchEnd;
  }
  return out;
}
