/**
 * The disk buffer's speed path (src/sinks/core/disk-buffer.ts, disk-format.ts): while the transport keeps up, a
 * full in-memory read-ahead is backpressure (no record is read back from disk); a wait that no take() ends within
 * SPILL_AFTER_MILLIS spills to disk; drop_newest never waits. And the addon's one-call checksum of a write gives the
 * same bytes as the TypeScript CRC.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
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
  const waitedFrom = Date.now();
  const waiting = buffer.waitForRoom().then(() => (woke = true));
  const first = buffer.take(5, 1e9);
  await waiting;
  assert.equal(woke, true, 'a take that made room wakes the offer');
  // Regression: the wake-up waits for half the read-ahead to be free (one write per wake-up, not per batch); a take
  // that frees exactly half must still wake at once, not after the SPILL_AFTER_MILLIS timer.
  assert.ok(Date.now() - waitedFrom < SPILL_AFTER_MILLIS / 2, 'at once: half the read-ahead is free');
  assert.equal(buffer.offer(recs, 10), 15);
  buffer.acknowledge(first);
  // The transport stops taking: the next wait times out and the rest goes to disk only.
  const t0 = Date.now();
  await buffer.waitForRoom();
  assert.ok(Date.now() - t0 >= SPILL_AFTER_MILLIS - 20, `woke after ${Date.now() - t0} ms`);
  assert.equal(buffer.hasRoomFor(recs[15]!.bytes), true);
  assert.equal(buffer.offer(recs, 15), 40, 'spilled to disk');
  assert.equal(buffer.diskStats.readBack, 0, 'nothing read back yet');
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

/** Poll `done` every few ms until it holds (ledger writes run in the thread pool). */
async function until(done: () => boolean, timeoutMillis: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMillis;
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting: ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

function openForLedger(dir: string, fsyncIntervalMillis: number): DiskBuffer<string> {
  return createDiskBuffer<string>({
    name: 't',
    dir,
    maxBytes: 10 * 1024 * 1024,
    maxMemoryEvents: 100,
    whenFull: 'block',
    fsync: 'interval',
    fsyncIntervalMillis,
    restore: (event, at, ack, payload, payloadBytes) => ({ event, data: payload, bytes: payloadBytes, at, ack }),
    payloadOf: (rec) => rec.data,
    stats: createSinkStats('t', 'scripted'),
    log: silentLogger,
  });
}

test('disk buffer: the first acknowledgement after a start reaches the ledger at once, not a tick later (regression: quick successive kills never saved progress, so duplicates compounded)', async () => {
  const { dir, cleanup } = makeTempDir();
  const buffer = openForLedger(dir, 60_000); // no tick during the test
  assert.equal(buffer.offer(records(10), 0), 10);
  const first = buffer.take(4, 1e9);
  buffer.acknowledge(first);
  // Written in the thread pool: not replaced yet when acknowledge() returns, replaced without any tick.
  assert.equal(readLedger(dir)?.acked, 0, 'the event loop does not wait for the ledger write');
  await until(() => readLedger(dir)?.acked === 5, 5000, 'seqs 1-4 acknowledged, saved at once');
  const second = buffer.take(4, 1e9);
  buffer.acknowledge(second);
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(readLedger(dir)?.acked, 5, 'at most one ledger write per interval: the next one waits for the tick');
  buffer.close();
  assert.equal(readLedger(dir)?.acked, 9, 'a clean stop saves the rest');
  cleanup();
});

test('disk buffer: a ledger write still in the thread pool at close never replaces the final ledger with its older frontier', async () => {
  const { dir, cleanup } = makeTempDir();
  for (let round = 0; round < 20; round++) {
    // Each round a fresh buffer on the same directory (a reload): its first acknowledgement starts a pool write,
    // then more is acknowledged and the buffer closes at once, mid-write.
    const buffer = openForLedger(dir, 60_000);
    assert.equal(buffer.offer(records(10), 0), 10);
    buffer.acknowledge(buffer.take(3, 1e9));
    buffer.acknowledge(buffer.take(7, 1e9));
    buffer.close();
    const final = readLedger(dir)?.acked;
    assert.equal(final, 10 * (round + 1) + 1, `round ${round}: the close saved the whole frontier`);
    // Give the abandoned pool write every chance to land (it must not).
    await new Promise((r) => setTimeout(r, round % 4 === 0 ? 50 : 2));
    assert.equal(readLedger(dir)?.acked, final, `round ${round}: still the final frontier after the pool write ended`);
  }
  await new Promise((r) => setTimeout(r, 100));
  assert.deepEqual(
    fs.readdirSync(dir).filter((n) => n.endsWith('.tmp')),
    [],
    'no temporary ledger file left behind',
  );
  cleanup();
});

test('disk buffer: ledger writes serialise: a frontier moved during a write is saved when it ends, never two at once', async () => {
  const { dir, cleanup } = makeTempDir();
  const buffer = openForLedger(dir, 10); // a tick every 10 ms: writes are asked for while one runs
  const n = 2000;
  let offered = 0;
  const seen = new Set<number>();
  while (offered < n) {
    offered += buffer.offer(records(50), 0);
    buffer.acknowledge(buffer.take(50, 1e9));
    const tmps = fs.readdirSync(dir).filter((f) => /^ledger\.json\.\d+-\d+\.tmp$/.test(f));
    assert.ok(tmps.length <= 1, `at most one ledger write in flight, found ${tmps.join(', ')}`);
    const acked = readLedger(dir)?.acked;
    if (acked !== undefined) seen.add(acked);
    await new Promise((r) => setImmediate(r));
  }
  await until(() => readLedger(dir)?.acked === n + 1, 5000, 'the last frontier reaches the ledger without a close');
  assert.ok(seen.size > 2, `the ledger moved while running (${seen.size} values seen)`);
  buffer.close();
  cleanup();
});

test('disk buffer, when_full block: offers waiting for the read-ahead are woken once half of it is free, so that each wake-up writes many records at once', async () => {
  const { dir, cleanup } = makeTempDir();
  const buffer = openBuffer(dir, 'block'); // max_events 10
  const recs = records(20);
  assert.equal(buffer.offer(recs, 0), 10);
  let woke = false;
  const waiting = buffer.waitForRoom().then(() => (woke = true));
  const taken = [buffer.take(2, 1e9), buffer.take(2, 1e9)];
  for (const t of taken) buffer.acknowledge(t);
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(woke, false, '6 of 10 still in the read-ahead: no wake-up yet');
  buffer.acknowledge(buffer.take(1, 1e9));
  await waiting;
  assert.equal(buffer.offer(recs, 10), 15, 'the wake-up admits 5 records in one offer');
  assert.equal(buffer.diskStats.readBack, 0, 'nothing spilled');
  buffer.close();
  cleanup();
});
