/**
 * The batcher: a full batch (events or bytes) is due at once, a partial one when its oldest record has waited
 * batch.timeout_ms (one timer, never pushed later), and everything at once when flushing.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createBatcher } from '../../../src/sinks/core/batcher';
import { createMemoryBuffer } from '../../../src/sinks/core/buffer';
import type { BufferedRecord } from '../../../src/sinks/core/buffer';
import { generateEvents } from '../../helpers/events';

const records = (n: number, bytes: number, at: number): BufferedRecord<string>[] =>
  generateEvents(n).map((event, i) => ({ event, data: `r${i}`, bytes, at }));

function setup(batch: { maxEvents: number; maxBytes: number; timeoutMillis: number }) {
  let clock = 1000;
  let due = 0;
  const buffer = createMemoryBuffer<string>({ maxEvents: 1000, maxBytes: 1_000_000, whenFull: 'block' });
  const batcher = createBatcher({ buffer, batch, now: () => clock, onDue: () => due++ });
  return { buffer, batcher, advance: (ms: number) => (clock += ms), now: () => clock, dueCount: () => due };
}

test('a full batch is due at once, by events or by bytes', () => {
  const s = setup({ maxEvents: 3, maxBytes: 100, timeoutMillis: 60_000 });
  s.buffer.offer(records(4, 1, s.now()), 0);
  assert.equal(s.batcher.next(false)?.records.length, 3);
  assert.equal(s.batcher.next(false), undefined, 'one record left: not full, not old');
  s.batcher.stop();
  const b = setup({ maxEvents: 100, maxBytes: 10, timeoutMillis: 60_000 });
  b.buffer.offer(records(3, 5, b.now()), 0);
  assert.equal(b.batcher.next(false)?.records.length, 2, 'bytes bound');
  b.batcher.stop();
});

test('a partial batch is due when its oldest record has waited the timeout; flush takes it at once', () => {
  const s = setup({ maxEvents: 10, maxBytes: 1000, timeoutMillis: 50 });
  s.buffer.offer(records(2, 1, s.now()), 0);
  assert.equal(s.batcher.next(false), undefined);
  s.advance(50);
  assert.equal(s.batcher.next(false)?.records.length, 2);
  s.buffer.offer(records(1, 1, s.now()), 0);
  assert.equal(s.batcher.next(true)?.records.length, 1, 'flush');
  assert.equal(s.batcher.next(true), undefined, 'nothing held');
  s.batcher.stop();
});

test('the timer fires onDue once for the earliest due batch; stop() clears it', async () => {
  const s = setup({ maxEvents: 10, maxBytes: 1000, timeoutMillis: 20 });
  s.buffer.offer(records(1, 1, s.now()), 0);
  assert.equal(s.batcher.next(false), undefined);
  s.advance(5);
  assert.equal(s.batcher.next(false), undefined, 're-arming for a later moment keeps the earlier timer');
  await new Promise((r) => setTimeout(r, 60));
  assert.equal(s.dueCount(), 1);
  assert.equal(s.batcher.next(false), undefined);
  s.batcher.stop();
  await new Promise((r) => setTimeout(r, 60));
  assert.equal(s.dueCount(), 1, 'stopped: no further call');
});
