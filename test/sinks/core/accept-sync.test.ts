/**
 * accept() with room in the buffer settles synchronously: no promise is created per call (the sensor hands over a
 * chunk per ring drain, ~1 000 a second on a host at 2 000 events/s; bench/hostcost, docs/benchmarks.md "Cost on
 * a protected host"). Under when_full: block with a full buffer it still waits for room (the backpressure path).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHook } from 'node:async_hooks';
import path from 'node:path';
import { createSink } from '../../../src/sinks/core/sink';
import { createDeadLetterQueue } from '../../../src/sinks/core/dead-letter';
import type { SinkCoreOptions } from '../../../src/sinks/core/types';
import { createSinkStats } from '../../../src/telemetry/stats';
import { formatJson } from '../../../src/formatters/json';
import { silentLogger } from '../../../src/util/logger';
import { generateEvents } from '../../helpers/events';
import { createScriptedTransport } from '../../helpers/scripted-transport';
import { makeTempDir } from '../../helpers/tmp';

function makeSink(bufferMaxEvents: number) {
  const { dir, cleanup } = makeTempDir();
  const transport = createScriptedTransport();
  const deadLetter = createDeadLetterQueue({
    path: path.join(dir, 'dlq.ndjson'),
    maxBytes: 1e9,
    logger: silentLogger,
    stats: { written: 0, bytes: 0, failed: 0 },
  });
  const options: SinkCoreOptions = {
    // Batches of 1 000 or after 60 s: nothing is sent while the test counts, so only accept() itself runs.
    batch: { maxEvents: 1000, maxBytes: 100_000_000, timeoutMillis: 60_000 },
    buffer: { maxEvents: bufferMaxEvents, maxBytes: 100_000_000, whenFull: 'block' },
    request: { concurrency: 1, timeoutMillis: 2000 },
    retry: { initialBackoffMillis: 1, maxBackoffMillis: 5, maxDurationMillis: 0, maxRetryAfterMillis: 5000 },
  };
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
    options,
  );
  return {
    sink,
    transport,
    cleanup: async () => {
      await deadLetter.close();
      cleanup();
    },
  };
}

function promisesCreatedBy(fn: () => void): number {
  let created = 0;
  const hook = createHook({
    init(_id, type) {
      if (type === 'PROMISE') created++;
    },
  });
  hook.enable();
  try {
    fn();
  } finally {
    hook.disable();
  }
  return created;
}

test('accept with room in the buffer creates no promise per call (per-drain fixed cost, bench/hostcost)', async () => {
  const h = makeSink(10_000);
  const events = generateEvents(20);
  let results: Promise<void>[] = [];
  const created = promisesCreatedBy(() => {
    results = [0, 2, 4, 6, 8].map((i) => h.sink.accept(events.slice(i, i + 2)));
  });
  assert.equal(created, 0, 'promises created by five accept() calls');
  await Promise.all(results);
  assert.equal(h.sink.stats.received, 10);
  assert.equal(h.sink.stats.bufferEvents, 10, 'buffered, not sent yet (batch of 1 000)');
  await h.sink.close(5000);
  assert.equal(h.sink.stats.delivered, 10, 'close flushed them');
  await h.cleanup();
});

test('accept with a full buffer (when_full: block) still waits for room, then buffers in order', async () => {
  const h = makeSink(4);
  const events = generateEvents(8);
  h.transport.hold();
  await h.sink.accept(events.slice(0, 4)); // fills the buffer
  let done = false;
  const second = h.sink.accept(events.slice(4, 8)).then(() => {
    done = true;
  });
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(done, false, 'the second accept waits while the buffer is full');
  h.transport.release();
  await h.sink.close(5000);
  await second;
  assert.equal(done, true);
  assert.deepEqual(
    h.transport.delivered.map((e) => e.event_id),
    events.map((e) => e.event_id),
    'every event delivered once, in order',
  );
  await h.cleanup();
});
