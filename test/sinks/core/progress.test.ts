/**
 * watchProgress: how long a sink's events have waited with no send answered, on a transport whose sends the test
 * settles by hand and a clock it sets.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { watchProgress } from '../../../src/sinks/core/progress';
import type { Batch, SendResult, Transport } from '../../../src/sinks/core/types';
import { createSinkStats } from '../../../src/telemetry/stats';

function rig(retractionGraceMillis = 0) {
  const pending: ((r: SendResult) => void)[] = [];
  let reopened = 0;
  const inner: Transport<string> = {
    send: () => new Promise<SendResult>((resolve) => pending.push(resolve)),
    healthcheck: () => Promise.resolve({ healthy: true }),
    close: () => Promise.resolve(),
    abandon: () => undefined,
    reopen: () => {
      reopened++;
      return Promise.resolve();
    },
  };
  const stats = createSinkStats('s', 'test');
  let now = 1000;
  const watch = watchProgress(inner, stats, () => now, retractionGraceMillis);
  const batch: Batch<string> = { id: 1, records: [], bytes: 0, attempt: 1 };
  const signal = new AbortController().signal;
  return {
    stats,
    watch,
    advance: (ms: number) => (now += ms),
    send: () => watch.transport.send(batch, signal),
    settle: (r: SendResult) => (pending.shift() as (r: SendResult) => void)(r),
    reopened: () => reopened,
  };
}

test('no stall while nothing waits, however long the last send hangs', async () => {
  const r = rig();
  assert.equal(r.watch.stalledMillis(), 0);
  void r.send();
  r.advance(60_000);
  assert.equal(r.watch.stalledMillis(), 0, 'nothing buffered or in flight');
  r.stats.inflightBatches = 1;
  assert.equal(r.watch.stalledMillis(), 60_000);
  await r.watch.transport.reopen?.();
  assert.equal(r.reopened(), 1, 'the other methods reach the transport');
});

test('an answer ends the stall; a retryable result does not, and the retry keeps the clock running', async () => {
  const r = rig();
  r.stats.bufferEvents = 10;
  const first = r.send();
  r.advance(5000);
  r.settle({ kind: 'retryable', reason: 'timeout' });
  await first;
  r.advance(1000);
  const retry = r.send();
  r.advance(4000);
  assert.equal(r.watch.stalledMillis(), 10_000, 'from the first unanswered send');
  r.settle({ kind: 'delivered' });
  await retry;
  assert.equal(r.watch.stalledMillis(), 0);
});

test('with two sends in flight, an answer to one restarts the clock of the other', async () => {
  const r = rig();
  r.stats.inflightBatches = 2;
  const a = r.send();
  const b = r.send();
  r.advance(3000);
  r.settle({ kind: 'rejected', reason: 'bad' }); // answered: progress (its events go to the dead-letter file)
  await a;
  r.advance(2000);
  assert.equal(r.watch.stalledMillis(), 2000);
  r.settle({ kind: 'delivered' });
  await b;
  assert.equal(r.watch.stalledMillis(), 0);
});

test('events settled between sends (retry deadline, drops) start a new run', async () => {
  const r = rig();
  r.stats.bufferEvents = 1;
  const first = r.send();
  r.settle({ kind: 'retryable', reason: 'refused' });
  await first;
  r.stats.deadLettered += 5; // the retry deadline dead-lettered the batch; later, new events
  r.advance(3_600_000);
  void r.send();
  r.advance(100);
  assert.equal(r.watch.stalledMillis(), 100);
});

test('deliveries taken back (connection lost, counted unconfirmed) do not restart the clock within the grace', async () => {
  // A receiver that accepts every connection and never reads: each new connection's socket buffers take a batch
  // ("delivered"), the next write hangs to the timeout, the connection is dropped and its records are unconfirmed.
  const r = rig(2000);
  r.stats.bufferEvents = 100;
  const cycle = async (): Promise<void> => {
    const fill = r.send();
    r.stats.delivered += 50;
    r.settle({ kind: 'delivered' }); // into the new connection's buffers
    await fill;
    const stuck = r.send();
    r.advance(2000); // the write hangs to request.timeout_ms
    r.stats.delivered -= 50; // the connection is dropped: what it took is unconfirmed
    r.stats.unconfirmed += 50;
    r.settle({ kind: 'retryable', reason: 'timeout' });
    await stuck;
    r.advance(100); // backoff, reconnect
  };
  await cycle();
  const firstStall = r.watch.stalledMillis();
  assert.ok(firstStall >= 2000, `stalled ${firstStall} ms after the first timeout`);
  await cycle();
  await cycle();
  assert.ok(r.watch.stalledMillis() >= firstStall + 4000, 'the clock kept running through two more reconnects');
  // The receiver reads again: deliveries stay delivered; once the grace has passed, an answer ends the stall.
  const a = r.send();
  r.stats.delivered += 50;
  r.settle({ kind: 'delivered' });
  await a;
  assert.ok(r.watch.stalledMillis() > 0, 'within the grace of the last retraction');
  r.advance(2000);
  const b = r.send();
  r.stats.delivered += 50;
  r.settle({ kind: 'delivered' });
  await b;
  assert.equal(r.watch.stalledMillis(), 0);
});
