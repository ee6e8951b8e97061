/**
 * The memory EventBuffer: bounds by events and bytes (an oversized record only into an empty buffer), offer order
 * kept by take(), taken records owned until acknowledged or handed back, waiters woken when a take makes room.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createMemoryBuffer } from '../../../src/sinks/core/buffer';
import type { BufferedRecord } from '../../../src/sinks/core/buffer';
import { generateEvents } from '../../helpers/events';

const records = (sizes: readonly number[]): BufferedRecord<string>[] =>
  generateEvents(sizes.length).map((event, i) => ({ event, data: `r${i}`, bytes: sizes[i] as number, at: i }));

test('offer admits records while they fit and returns the first one refused; bounds by events and bytes', () => {
  const byEvents = createMemoryBuffer<string>({ maxEvents: 3, maxBytes: 1000, whenFull: 'block' });
  assert.equal(byEvents.offer(records([1, 1, 1, 1, 1]), 0), 3);
  assert.equal(byEvents.events, 3);
  assert.equal(byEvents.hasRoomFor(1), false);
  const byBytes = createMemoryBuffer<string>({ maxEvents: 100, maxBytes: 10, whenFull: 'block' });
  assert.equal(byBytes.offer(records([4, 4, 4]), 0), 2);
  assert.equal(byBytes.bytes, 8);
  assert.equal(byBytes.hasRoomFor(2), true);
  assert.equal(byBytes.hasRoomFor(3), false);
});

test('a record larger than maxBytes is admitted into an empty buffer only (no deadlock)', () => {
  const b = createMemoryBuffer<string>({ maxEvents: 10, maxBytes: 10, whenFull: 'block' });
  const recs = records([50, 50]);
  assert.equal(b.offer(recs, 0), 1, 'the first oversized record goes into the empty buffer');
  assert.equal(b.offer(recs, 1), 1, 'the second waits until the buffer is empty');
  b.take(10, 10);
  assert.equal(b.offer(recs, 1), 2);
});

test('take hands out records in offer order, bounded by events and bytes but at least one record', () => {
  const b = createMemoryBuffer<string>({ maxEvents: 100, maxBytes: 1000, whenFull: 'block' });
  b.offer(records([5, 5, 5, 20, 5]), 0);
  assert.deepEqual(
    b.take(2, 1000).records.map((r) => r.data),
    ['r0', 'r1'],
  );
  const t = b.take(100, 12);
  assert.deepEqual(
    t.records.map((r) => r.data),
    ['r2'],
    'the next one (20 bytes) would pass maxBytes',
  );
  assert.equal(t.bytes, 5);
  assert.deepEqual(
    b.take(100, 12).records.map((r) => r.data),
    ['r3'],
    'a record larger than maxBytes is taken alone',
  );
  assert.equal(b.oldestAt(), 4);
  assert.equal(b.events, 1);
  assert.equal(b.bytes, 5);
});

test('taken records stay owned until acknowledged; handed-back ones come back from drain() before the untaken ones', () => {
  const b = createMemoryBuffer<string>({ maxEvents: 100, maxBytes: 1000, whenFull: 'block' });
  b.offer(records([1, 1, 1, 1, 1, 1]), 0);
  const first = b.take(2, 1000);
  const second = b.take(2, 1000);
  assert.equal(b.takenEvents, 4);
  assert.equal(b.events, 2, 'taken records no longer count against the buffer bound');
  b.acknowledge(first);
  assert.equal(b.takenEvents, 2);
  b.handBack(second, second.records.slice(1));
  assert.equal(b.takenEvents, 0);
  assert.deepEqual(
    b.drain().map((r) => r.data),
    ['r3', 'r4', 'r5'],
  );
  assert.equal(b.events, 0);
  assert.equal(b.bytes, 0);
  assert.deepEqual(b.drain(), []);
});

test('waitForRoom resolves after a take leaves the buffer below its bounds, or on release()', async () => {
  const b = createMemoryBuffer<string>({ maxEvents: 2, maxBytes: 1000, whenFull: 'block' });
  b.offer(records([1, 1]), 0);
  let woke = 0;
  void b.waitForRoom().then(() => woke++);
  await Promise.resolve();
  assert.equal(woke, 0);
  b.take(1, 1000);
  await new Promise((r) => setImmediate(r));
  assert.equal(woke, 1);
  void b.waitForRoom().then(() => woke++);
  b.release();
  await new Promise((r) => setImmediate(r));
  assert.equal(woke, 2);
  assert.equal(b.whenFull, 'block');
});
