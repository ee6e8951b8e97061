/**
 * The disk buffer's speed path (src/sinks/core/disk-buffer.ts, disk-format.ts): while the transport keeps up, a
 * full in-memory read-ahead is backpressure (no record is read back from disk); a wait that no take() ends within
 * SPILL_AFTER_MILLIS spills to disk; drop_newest never waits. And the addon's one-call checksum of a write gives the
 * same bytes as the TypeScript CRC.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import type { BufferedRecord } from '../../../src/sinks/core/buffer';
import { SPILL_AFTER_MILLIS, createDiskBuffer } from '../../../src/sinks/core/disk-buffer';
import type { DiskBuffer } from '../../../src/sinks/core/disk-buffer';
import {
  RECORD_HEADER_BYTES,
  checksumRecords,
  readLedger,
  scanRecords,
  writeRecordFrame,
} from '../../../src/sinks/core/disk-format';
import { loadNative, nativeStatus } from '../../../src/native/binding';
import { formatJson } from '../../../src/formatters/json';
import { createSinkStats } from '../../../src/telemetry/stats';
import { silentLogger } from '../../../src/util/logger';
import type { WhenFull } from '../../../src/sinks/core/types';
import { generateEvents } from '../../helpers/events';
import { makeTempDir } from '../../helpers/tmp';

function records(n: number): BufferedRecord[] {
  return generateEvents(n).map((event) => {
    const data = formatJson(event);
    return { event, data, bytes: Buffer.byteLength(data), at: 0 };
  });
}

function openBuffer(dir: string, whenFull: WhenFull): DiskBuffer<string> {
  return createDiskBuffer<string>({
    name: 't',
    dir,
    maxBytes: 10 * 1024 * 1024,
    maxMemoryEvents: 10,
    whenFull,
    fsync: 'never',
    fsyncIntervalMillis: 1000,
    restore: (event, at, ack, payload, payloadBytes) => ({ event, data: payload, bytes: payloadBytes, at, ack }),
    payloadOf: (rec) => rec.data,
    stats: createSinkStats('t', 'scripted'),
    log: silentLogger,
  });
}

test('disk buffer, when_full block: a full read-ahead waits for a take (nothing read back from disk); a wait no take ends spills after SPILL_AFTER_MILLIS', async () => {
  const { dir, cleanup } = makeTempDir();
  const buffer = openBuffer(dir, 'block');
  const recs = records(40);
  assert.equal(buffer.offer(recs, 0), 10, 'the read-ahead (max_events 10) takes 10');
  assert.equal(buffer.hasRoomFor(recs[10]!.bytes), false, 'backpressure, not a spill');
  let woke = false;
  const waiting = buffer.waitForRoom().then(() => (woke = true));
  const first = buffer.take(5, 1e9);
  await waiting;
  assert.equal(woke, true, 'a take that made room wakes the offer');
  assert.equal(buffer.offer(recs, 10), 15);
  buffer.acknowledge(first);
  // The transport stops taking: the next wait times out and the rest goes to disk only.
  const t0 = Date.now();
  await buffer.waitForRoom();
  assert.ok(Date.now() - t0 >= SPILL_AFTER_MILLIS - 20, `woke after ${Date.now() - t0} ms`);
  assert.equal(buffer.hasRoomFor(recs[15]!.bytes), true);
  assert.equal(buffer.offer(recs, 15), 40, 'spilled to disk');
  const seen: string[] = [];
  for (let t = buffer.take(7, 1e9); t.records.length > 0; t = buffer.take(7, 1e9)) {
    seen.push(...t.records.map((r) => r.data));
    buffer.acknowledge(t);
  }
  assert.deepEqual(
    seen,
    recs.slice(5).map((r) => r.data),
    'every record once, in order',
  );
  assert.equal(buffer.diskStats.readBack, 25, 'only the spilled records were read back');
  // Caught up: a full read-ahead is backpressure again.
  assert.equal(buffer.offer(records(12), 0), 10);
  buffer.close();
  cleanup();
});

test('disk buffer, when_full drop_newest: a full read-ahead spills at once (never waits while the disk has room)', () => {
  const { dir, cleanup } = makeTempDir();
  const buffer = openBuffer(dir, 'drop_newest');
  const recs = records(30);
  assert.equal(buffer.offer(recs, 0), 30);
  assert.equal(buffer.hasRoomFor(100), true);
  let n = 0;
  for (let t = buffer.take(100, 1e9); t.records.length > 0; t = buffer.take(100, 1e9)) {
    n += t.records.length;
    buffer.acknowledge(t);
  }
  assert.equal(n, 30);
  assert.equal(buffer.diskStats.readBack, 20);
  buffer.close();
  cleanup();
});

test('checksumRecords: the addon’s one call per write gives the same CRC-32C bytes as the TypeScript loop, and the reader accepts them', (t) => {
  const payloads = Array.from({ length: 300 }, (_, i) => crypto.randomBytes(i % 7 === 0 ? 0 : (i * 37) % 2000));
  const total = payloads.reduce((sum, p) => sum + RECORD_HEADER_BYTES + p.length, 0);
  const frame = (): Buffer => {
    const buf = Buffer.alloc(total);
    let off = 0;
    payloads.forEach((p, i) => {
      p.copy(buf, off + RECORD_HEADER_BYTES);
      off = writeRecordFrame(buf, off, 2 ** 32 + i, p.length);
    });
    return buf;
  };
  const viaTs = frame();
  checksumRecords(viaTs, total, false);
  let valid = 0;
  scanRecords(
    viaTs,
    0,
    total,
    () => valid++,
    () => assert.fail('corrupt'),
    false,
  );
  assert.equal(valid, payloads.length);
  if (!nativeStatus().available) {
    t.skip('the native addon is not built here: only the TypeScript checksum runs');
    return;
  }
  const viaNative = frame();
  assert.equal(loadNative().crc32cRecords(viaNative, total), payloads.length);
  assert.ok(viaNative.equals(viaTs), 'identical bytes');
  assert.throws(() => loadNative().crc32cRecords(viaNative, total - 1), /runs past end/);
});

test('disk buffer: the first acknowledgement after a start reaches the ledger at once, not a tick later (regression: quick successive kills never saved progress, so duplicates compounded)', () => {
  const { dir, cleanup } = makeTempDir();
  const buffer = createDiskBuffer<string>({
    name: 't',
    dir,
    maxBytes: 10 * 1024 * 1024,
    maxMemoryEvents: 100,
    whenFull: 'block',
    fsync: 'interval',
    fsyncIntervalMillis: 60_000, // no tick during the test
    restore: (event, at, ack, payload, payloadBytes) => ({ event, data: payload, bytes: payloadBytes, at, ack }),
    payloadOf: (rec) => rec.data,
    stats: createSinkStats('t', 'scripted'),
    log: silentLogger,
  });
  assert.equal(buffer.offer(records(10), 0), 10);
  const first = buffer.take(4, 1e9);
  buffer.acknowledge(first);
  assert.equal(readLedger(dir)?.acked, 5, 'seqs 1-4 acknowledged, saved at once');
  const second = buffer.take(4, 1e9);
  buffer.acknowledge(second);
  assert.equal(readLedger(dir)?.acked, 5, 'at most one ledger write per interval: the next one waits for the tick');
  buffer.close();
  assert.equal(readLedger(dir)?.acked, 9, 'a clean stop saves the rest');
  cleanup();
});
