/**
 * End-to-end acknowledgement in the sink core (src/sinks/core/ack.ts): a tracked accept settles only when each of
 * its events has a final outcome (delivered, dead-lettered, dropped), exactly once, never while one is buffered.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { createAcknowledgement, settleRecords } from '../../../src/sinks/core/ack';
import { createSink } from '../../../src/sinks/core/sink';
import type { Sink } from '../../../src/sinks/core/sink-api';
import { createDeadLetterQueue } from '../../../src/sinks/core/dead-letter';
import type { DeadLetterQueue } from '../../../src/sinks/core/dead-letter';
import type { SinkCoreOptions } from '../../../src/sinks/core/types';
import { createSinkStats } from '../../../src/telemetry/stats';
import { formatJson } from '../../../src/formatters/json';
import { silentLogger } from '../../../src/util/logger';
import { generateEvents } from '../../helpers/events';
import { createScriptedTransport } from '../../helpers/scripted-transport';
import type { ScriptedTransport, Step } from '../../helpers/scripted-transport';
import { makeTempDir } from '../../helpers/tmp';

const FAST: SinkCoreOptions = {
  batch: { maxEvents: 4, maxBytes: 1_000_000, timeoutMillis: 5 },
  buffer: { maxEvents: 1000, maxBytes: 10_000_000, whenFull: 'block' },
  request: { concurrency: 1, timeoutMillis: 2000 },
  retry: { initialBackoffMillis: 1, maxBackoffMillis: 5, maxDurationMillis: 0, maxRetryAfterMillis: 5000 },
};

interface Harness {
  sink: Sink;
  transport: ScriptedTransport;
  deadLetter: DeadLetterQueue;
  dlqLines(): number;
  cleanup(): Promise<void>;
}

function harness(script: Step[], buffer: Partial<SinkCoreOptions['buffer']> = {}): Harness {
  const { dir, cleanup } = makeTempDir();
  const dlqPath = path.join(dir, 'dlq.ndjson');
  const transport = createScriptedTransport(script);
  const deadLetter = createDeadLetterQueue({
    path: dlqPath,
    maxBytes: 1e9,
    logger: silentLogger,
    stats: { written: 0, bytes: 0, failed: 0 },
  });
  const sink = createSink(
    {
      name: 't',
      type: 'scripted',
      transport,
      formatter: { name: 'json', contentType: 'application/json', format: formatJson },
      stats: createSinkStats('t', 'scripted'),
      logger: silentLogger,
      deadLetter,
    },
    { ...FAST, buffer: { ...FAST.buffer, ...buffer } },
  );
  return {
    sink,
    transport,
    deadLetter,
    dlqLines: () => (fs.existsSync(dlqPath) ? fs.readFileSync(dlqPath, 'utf8').split('\n').filter(Boolean).length : 0),
    cleanup: async () => {
      await deadLetter.close();
      cleanup();
    },
  };
}

const tick = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function until(cond: () => boolean, what: string, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) assert.fail(`timed out waiting for ${what}`);
    await tick(2);
  }
}

test('acknowledgement: fires once at zero, never twice, counts excess settles', () => {
  let fired = 0;
  const ack = createAcknowledgement(3, () => fired++);
  ack.settle(2);
  assert.equal(fired, 0);
  assert.equal(ack.pending, 1);
  ack.settle(1);
  assert.equal(fired, 1);
  ack.settle(1);
  assert.equal(fired, 1);
  assert.equal(ack.excess, 1);
  // settleRecords groups adjacent records of one acknowledgement and skips untracked ones.
  let a = 0;
  let b = 0;
  const ackA = createAcknowledgement(2, () => a++);
  const ackB = createAcknowledgement(1, () => b++);
  settleRecords([{ ack: ackA }, { ack: undefined }, { ack: ackA }, { ack: ackB }]);
  assert.deepEqual([a, b, ackA.excess, ackB.excess], [1, 1, 0, 0]);
});

test('settled fires only after a failing-then-recovering receiver delivered every event, exactly once', async () => {
  const failing: Step = { kind: 'retryable', reason: 'receiver down' };
  const h = harness([failing, failing, failing, failing, failing]);
  h.transport.hold();
  let fired = 0;
  const ack = createAcknowledgement(10, () => fired++);
  await h.sink.accept(generateEvents(10), ack);
  // Accepted (buffered) is not settled.
  assert.equal(fired, 0);
  assert.equal(ack.pending, 10);
  h.transport.release();
  await until(() => h.transport.calls.length >= 3, 'three failed attempts');
  assert.equal(fired, 0, 'settled while the receiver was still refusing');
  await until(() => fired > 0, 'settled');
  assert.equal(h.transport.delivered.length, 10, 'settled before every event was delivered');
  await h.sink.close(2000);
  assert.equal(fired, 1);
  assert.equal(ack.excess, 0);
  await h.cleanup();
});

test('a batch rejected by the receiver settles once its events are in the dead-letter file', async () => {
  const h = harness([{ kind: 'rejected', reason: 'mapping error' }]);
  let dlqAtSettle = -1;
  const ack = createAcknowledgement(4, () => (dlqAtSettle = h.dlqLines()));
  await h.sink.accept(generateEvents(4), ack);
  await until(() => dlqAtSettle >= 0, 'settled');
  assert.equal(dlqAtSettle, 4, 'settled before the dead-letter write completed');
  await h.sink.close(2000);
  assert.equal(ack.excess, 0);
  await h.cleanup();
});

test('drop_newest settles the dropped events at once and the buffered ones only when delivered', async () => {
  const h = harness([], { maxEvents: 5, whenFull: 'drop_newest' });
  h.transport.hold();
  let fired = 0;
  const first = createAcknowledgement(5, () => fired++);
  await h.sink.accept(generateEvents(5), first);
  // The first batch (4) is in flight, 1 buffered: 4 more fit, the rest (6) of this chunk is dropped.
  const second = createAcknowledgement(10, () => fired++);
  await h.sink.accept(generateEvents(10), second);
  assert.equal(h.sink.stats.dropped.buffer_full, 6);
  assert.equal(second.pending, 4, 'the dropped events settle at once; the buffered ones wait');
  assert.equal(fired, 0);
  h.transport.release();
  await until(() => fired === 2, 'both settled');
  assert.equal(h.transport.delivered.length, 9);
  await h.sink.close(2000);
  assert.equal(first.excess + second.excess, 0);
  await h.cleanup();
});

test('close at its deadline dead-letters what is left and only then settles it', async () => {
  const h = harness([{ hang: true }]);
  let dlqAtSettle = -1;
  const ack = createAcknowledgement(6, () => (dlqAtSettle = h.dlqLines()));
  await h.sink.accept(generateEvents(6), ack);
  await tick(30);
  assert.equal(dlqAtSettle, -1);
  const report = await h.sink.close(100);
  assert.equal(report.undelivered, 6);
  assert.equal(dlqAtSettle, 6);
  assert.equal(ack.excess, 0);
  await h.cleanup();
});

test('stopNow settles every event it dead-letters, and a send completing afterwards settles nothing again', async () => {
  const h = harness([]);
  h.transport.hold();
  let fired = 0;
  const ack = createAcknowledgement(8, () => fired++);
  await h.sink.accept(generateEvents(8), ack);
  await until(() => h.transport.calls.length === 1, 'a send in flight');
  assert.equal(fired, 0);
  const report = h.sink.stopNow(Date.now() + 2000);
  assert.equal(report.undelivered, 8);
  assert.equal(fired, 1);
  assert.equal(h.dlqLines(), 8);
  // The held send completes after the stop: counted as delivered, but the acknowledgement was already settled.
  h.transport.release();
  await tick(30);
  assert.equal(fired, 1);
  assert.equal(ack.excess, 0);
  await h.cleanup();
});

test('untracked and tracked chunks interleave: only the tracked one settles, once', async () => {
  const h = harness([{ kind: 'retryable', reason: 'down' }]);
  let fired = 0;
  const ack = createAcknowledgement(3, () => fired++);
  await h.sink.accept(generateEvents(2));
  await h.sink.accept(generateEvents(3), ack);
  await h.sink.accept(generateEvents(2));
  await h.sink.close(2000);
  assert.equal(h.transport.delivered.length, 7);
  assert.equal(fired, 1);
  assert.equal(ack.excess, 0);
  await h.cleanup();
});
