/**
 * A receiver outage at a fixed input rate with the disk buffer: memory stays bounded (the read-ahead), the disk holds
 * the backlog, and once the receiver is back the backlog drains at least twice as fast as events keep coming.
 * Full size (issue 17: 2 minutes at 10 000 events/s): AEGIS_OUTAGE_SECONDS=120 AEGIS_OUTAGE_RATE=10000.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import v8 from 'node:v8';
import vm from 'node:vm';
import { createSink } from '../../../src/sinks/core/sink';
import { createDeadLetterQueue } from '../../../src/sinks/core/dead-letter';
import { createSinkStats } from '../../../src/telemetry/stats';
import { formatJson } from '../../../src/formatters/json';
import { silentLogger } from '../../../src/util/logger';
import { generateEvents } from '../../helpers/events';
import { createScriptedTransport } from '../../helpers/scripted-transport';
import { makeTempDir } from '../../helpers/tmp';

const OUTAGE_SECONDS = Number(process.env.AEGIS_OUTAGE_SECONDS ?? 4);
const RATE = Number(process.env.AEGIS_OUTAGE_RATE ?? 2000);
const TICK_MILLIS = 20;

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;
const heapMiB = (): number => {
  gc();
  return process.memoryUsage().heapUsed / 1024 / 1024;
};

test(`receiver down ${OUTAGE_SECONDS} s at ${RATE} events/s: memory bounded, backlog on disk, catch-up >= 2x the input rate`, async () => {
  const { dir, cleanup } = makeTempDir();
  let down = true;
  const transport = createScriptedTransport();
  transport.script = new Proxy([], {
    get: (target, prop) =>
      prop === 'shift'
        ? () => (down ? { kind: 'retryable', reason: 'receiver down' } : undefined)
        : (Reflect.get(target, prop) as unknown),
  });
  const stats = createSinkStats('o', 'scripted');
  const deadLetter = createDeadLetterQueue({
    path: path.join(dir, 'dlq.ndjson'),
    maxBytes: 1e9,
    logger: silentLogger,
    stats: { written: 0, bytes: 0, failed: 0 },
  });
  const readAhead = 2000;
  const sink = createSink(
    {
      name: 'o',
      type: 'scripted',
      transport,
      formatter: { name: 'json', contentType: 'application/json', format: formatJson },
      stats,
      logger: silentLogger,
      deadLetter,
      bufferDir: path.join(dir, 'buf'),
    },
    {
      batch: { maxEvents: 500, maxBytes: 4 << 20, timeoutMillis: 20 },
      buffer: { type: 'disk', maxEvents: readAhead, maxBytes: 1 << 30, whenFull: 'block', fsync: 'interval' },
      request: { concurrency: 2, timeoutMillis: 5000 },
      retry: { initialBackoffMillis: 20, maxBackoffMillis: 100, maxDurationMillis: 0, maxRetryAfterMillis: 1000 },
    },
  );
  const template = generateEvents(1000);
  const perTick = Math.max(1, Math.round((RATE * TICK_MILLIS) / 1000));
  let fed = 0;
  let stop = false;
  // Input at a fixed rate (paced against the clock, so a slow tick does not lower the rate), until told to stop.
  const feeder = (async () => {
    const started = Date.now();
    while (!stop) {
      const due = Math.floor(((Date.now() - started) / 1000) * RATE);
      while (fed < due) {
        const n = Math.min(perTick, due - fed);
        const chunk = Array.from({ length: n }, (_, i) => template[(fed + i) % template.length]!);
        await sink.accept(chunk);
        fed += n;
      }
      // The scripted transport records every attempt's event ids; during a long outage that record (not the sink)
      // grew the heap by ~70 bytes per buffered event. The test needs none of it.
      transport.calls.length = 0;
      await new Promise((r) => setTimeout(r, TICK_MILLIS));
    }
  })();
  try {
    const heapBefore = heapMiB();
    await new Promise((r) => setTimeout(r, OUTAGE_SECONDS * 1000));
    const backlog = fed;
    const heapGrowth = heapMiB() - heapBefore;
    assert.equal(stats.delivered, 0);
    assert.ok(backlog >= RATE * OUTAGE_SECONDS * 0.8, `fed only ${backlog} events: the input rate was not kept`);
    // Memory holds the read-ahead only (about 2.5 KB per event in memory); the rest of the backlog is on disk.
    const inMemoryBound = (readAhead * 2.5) / 1024 + 8;
    assert.ok(heapGrowth < inMemoryBound, `heap grew ${heapGrowth.toFixed(1)} MiB with ${backlog} events buffered`);
    assert.ok(stats.bufferDiskBytes > backlog * 100, `only ${stats.bufferDiskBytes} bytes on disk`);
    // The receiver comes back: the backlog (and what keeps arriving) drains.
    down = false;
    const upAt = Date.now();
    while (stats.delivered < backlog) await new Promise((r) => setTimeout(r, 10));
    const catchUpSeconds = (Date.now() - upAt) / 1000;
    stop = true;
    await feeder;
    const catchUpRate = backlog / catchUpSeconds;
    console.log(
      `disk-outage ${JSON.stringify({ outageSeconds: OUTAGE_SECONDS, rate: RATE, backlog, heapGrowthMiB: +heapGrowth.toFixed(1), diskBytes: stats.bufferDiskBytes, catchUpSeconds, catchUpRate: Math.round(catchUpRate) })}`,
    );
    // The backlog drained while new events kept arriving at RATE: the drain rate beyond the input is >= 2x RATE.
    assert.ok(catchUpRate >= 2 * RATE, `caught up at ${Math.round(catchUpRate)} events/s, less than 2 × ${RATE}`);
    await sink.close(10_000);
    assert.equal(stats.delivered, fed);
  } finally {
    // A failed assertion must not leave the feeder and the sink's timers running (the test file would never end).
    stop = true;
    down = false;
    await feeder;
    await sink.close(10_000); // once: a second call returns the first one's report
    await deadLetter.close();
    cleanup();
  }
});
