/**
 * Sink-core contract, driven by a scripted in-process transport: retryable then delivered, rejected goes to the
 * dead-letter file, partial retries only the failed items, Retry-After is honoured, too_large splits, backpressure
 * stops the source, shutdown flushes (and dead-letters what it cannot deliver), drop_newest counts its drops.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { ABANDON_GRACE_MILLIS, createSink } from '../../../src/sinks/core/sink';
import type { Sink } from '../../../src/sinks/core/sink-api';
import { createDeadLetterQueue } from '../../../src/sinks/core/dead-letter';
import { UNHEALTHY_AFTER_FAILURES } from '../../../src/sinks/core/outcomes';
import type { SinkCoreOptions } from '../../../src/sinks/core/types';
import { createSinkStats } from '../../../src/telemetry/stats';
import { formatJson } from '../../../src/formatters/json';
import { silentLogger } from '../../../src/util/logger';
import { generateEvents } from '../../helpers/events';
import { createScriptedTransport } from '../../helpers/scripted-transport';
import type { ScriptedTransport, Step } from '../../helpers/scripted-transport';
import { makeTempDir } from '../../helpers/tmp';

const FAST: SinkCoreOptions = {
  batch: { maxEvents: 10, maxBytes: 1_000_000, timeoutMillis: 5 },
  buffer: { maxEvents: 1000, maxBytes: 10_000_000, whenFull: 'block' },
  request: { concurrency: 1, timeoutMillis: 2000 },
  retry: { initialBackoffMillis: 1, maxBackoffMillis: 5, maxDurationMillis: 0, maxRetryAfterMillis: 5000 },
};

interface Harness {
  sink: Sink;
  transport: ScriptedTransport;
  dlqPath: string;
  dlqEntries(): Record<string, unknown>[];
  /** Close the dead-letter file (its FileHandle) and remove the directory. */
  cleanup(): Promise<void>;
}

function harness(
  script: Step[] = [],
  options: Partial<{ [K in keyof SinkCoreOptions]: Partial<SinkCoreOptions[K]> }> = {},
): Harness {
  const { dir, cleanup } = makeTempDir();
  const dlqPath = path.join(dir, 'dlq.ndjson');
  const transport = createScriptedTransport(script);
  const stats = createSinkStats('t', 'scripted');
  const deadLetter = createDeadLetterQueue({
    path: dlqPath,
    maxBytes: 1e9,
    logger: silentLogger,
    stats: { written: 0, bytes: 0, failed: 0 },
  });
  const merged: SinkCoreOptions = {
    batch: { ...FAST.batch, ...options.batch },
    buffer: { ...FAST.buffer, ...options.buffer },
    request: { ...FAST.request, ...options.request },
    retry: { ...FAST.retry, ...options.retry },
  };
  const sink = createSink(
    {
      name: 't',
      type: 'scripted',
      transport,
      formatter: { name: 'json', contentType: 'application/json', format: formatJson },
      stats,
      logger: silentLogger,
      deadLetter,
    },
    merged,
  );
  return {
    sink,
    transport,
    dlqPath,
    dlqEntries: () =>
      fs.existsSync(dlqPath)
        ? fs
            .readFileSync(dlqPath, 'utf8')
            .trim()
            .split('\n')
            .filter(Boolean)
            .map((l) => JSON.parse(l) as Record<string, unknown>)
        : [],
    cleanup: async () => {
      await deadLetter.close();
      cleanup();
    },
  };
}

const ids = (events: readonly { exec_id: string; ts: string }[]): string[] => events.map((e) => e.exec_id + '#' + e.ts);

test('retryable then delivered: every event delivered once, in order, retries counted', async () => {
  const h = harness([
    { kind: 'retryable', reason: 'busy' },
    { kind: 'retryable', reason: 'busy' },
  ]);
  const events = generateEvents(25);
  await h.sink.accept(events);
  const report = await h.sink.close(5000);
  assert.deepEqual(ids(h.transport.delivered), ids(events));
  assert.equal(h.sink.stats.delivered, 25);
  assert.equal(h.sink.stats.failedRequests, 2);
  assert.equal(h.sink.stats.retriedEvents, 20); // the first batch of 10, twice
  assert.deepEqual(
    h.transport.calls.slice(0, 3).map((c) => c.attempt),
    [1, 2, 3],
  );
  assert.equal(report.undelivered, 0);
  assert.equal(h.dlqEntries().length, 0);
  assert.ok(h.transport.closed, 'transport closed on shutdown');
  await h.cleanup();
});

test('rejected batch goes to the dead-letter file with sink, code, reason, attempts and the event', async () => {
  const h = harness([{ kind: 'rejected', reason: 'HTTP 400: bad request' }]);
  const events = generateEvents(15);
  await h.sink.accept(events);
  await h.sink.close(5000);
  const dlq = h.dlqEntries();
  assert.equal(dlq.length, 10);
  assert.equal(dlq[0]!.sink, 't');
  assert.equal(dlq[0]!.code, 'AEGIS_ERR_SINK_REJECTED');
  assert.equal(dlq[0]!.reason, 'HTTP 400: bad request');
  assert.equal(dlq[0]!.attempts, 1);
  assert.deepEqual(
    dlq.map((d) => (d.event as { exec_id: string }).exec_id),
    events.slice(0, 10).map((e) => e.exec_id),
  );
  assert.equal(typeof dlq[0]!.ts, 'string');
  assert.deepEqual(ids(h.transport.delivered), ids(events.slice(10)));
  assert.equal(h.sink.stats.deadLettered, 10);
  assert.equal(h.sink.stats.delivered, 5);
  await h.cleanup();
});

test('partial: only the failed items are retried, rejected items are dead-lettered, the rest counted delivered', async () => {
  const h = harness([{ kind: 'partial', retry: [1, 3], rejected: [{ index: 5, reason: 'mapper_parsing_exception' }] }]);
  const events = generateEvents(10);
  await h.sink.accept(events);
  await h.sink.close(5000);
  assert.equal(h.transport.calls.length, 2);
  assert.deepEqual(h.transport.calls[1]!.ids, ids([events[1]!, events[3]!]));
  assert.equal(h.transport.calls[1]!.attempt, 2);
  const dlq = h.dlqEntries();
  assert.equal(dlq.length, 1);
  assert.equal((dlq[0]!.event as { exec_id: string }).exec_id, events[5]!.exec_id);
  assert.equal(dlq[0]!.reason, 'mapper_parsing_exception');
  assert.equal(h.sink.stats.delivered, 9);
  assert.equal(h.sink.stats.retriedEvents, 2);
  await h.cleanup();
});

test('Retry-After is honoured: the retry waits at least that long even with tiny backoff', async () => {
  const h = harness([{ kind: 'retryable', reason: '429', retryAfterMillis: 300 }]);
  await h.sink.accept(generateEvents(3));
  await h.sink.close(5000);
  assert.equal(h.transport.calls.length, 2);
  const waited = h.transport.calls[1]!.at - h.transport.calls[0]!.at;
  assert.ok(waited >= 290, `waited ${waited} ms, expected >= 300`);
  await h.cleanup();
});

test('too_large splits the batch in halves and keeps the order', async () => {
  const h = harness([{ kind: 'too_large', reason: '413' }]);
  const events = generateEvents(10);
  await h.sink.accept(events);
  await h.sink.close(5000);
  assert.deepEqual(
    h.transport.calls.map((c) => c.ids.length),
    [10, 5, 5],
  );
  assert.deepEqual(ids(h.transport.delivered), ids(events));
  await h.cleanup();
});

test('a single record that is still too large is dead-lettered, not retried forever', async () => {
  const h = harness(
    [
      { kind: 'too_large', reason: '413' },
      { kind: 'too_large', reason: '413' },
    ],
    { batch: { maxEvents: 2 } },
  );
  const events = generateEvents(2);
  await h.sink.accept(events);
  await h.sink.close(5000);
  // [a,b] too large → [a] too large → dead-letter a; [b] delivered
  assert.equal(h.dlqEntries().length, 1);
  assert.deepEqual(ids(h.transport.delivered), ids([events[1]!]));
  await h.cleanup();
});

test('backpressure: with when_full=block, accept() waits until the buffer has room', async () => {
  const h = harness([], { buffer: { maxEvents: 20, whenFull: 'block' }, batch: { maxEvents: 10 } });
  h.transport.hold();
  const events = generateEvents(100);
  let settled = false;
  const accepting = h.sink.accept(events).then(() => (settled = true));
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(settled, false, 'accept must wait while the transport is held and the buffer is full');
  assert.ok(h.sink.stats.bufferEvents <= 20, `buffer holds ${h.sink.stats.bufferEvents} > bound 20`);
  h.transport.release();
  await accepting;
  await h.sink.close(5000);
  assert.deepEqual(ids(h.transport.delivered), ids(events));
  assert.equal(
    Object.values(h.sink.stats.dropped).reduce((a, b) => a + b, 0),
    0,
  );
  await h.cleanup();
});

test('drop_newest: what does not fit is dropped and counted, never blocks', async () => {
  const h = harness([], { buffer: { maxEvents: 20, whenFull: 'drop_newest' }, batch: { maxEvents: 10 } });
  h.transport.hold();
  await h.sink.accept(generateEvents(100)); // must not block
  // 10 went into a batch in flight (held), 20 fit in the buffer, 70 dropped.
  h.transport.release();
  await h.sink.close(5000);
  assert.equal(h.sink.stats.dropped.buffer_full, 70);
  assert.equal(h.sink.stats.delivered, 30);
  await h.cleanup();
});

test('shutdown flushes a partial batch without waiting for the batch timeout', async () => {
  const h = harness([], { batch: { maxEvents: 1000, timeoutMillis: 60_000 } });
  await h.sink.accept(generateEvents(7));
  const t0 = Date.now();
  const report = await h.sink.close(5000);
  assert.ok(Date.now() - t0 < 1000, 'close must not wait for the 60 s batch timeout');
  assert.equal(report.delivered, 7);
  assert.equal(h.transport.delivered.length, 7);
  await h.cleanup();
});

test('shutdown deadline: undelivered events go to the dead-letter file, counted in the report', async () => {
  const h = harness([{ hang: true }], { batch: { maxEvents: 5 } });
  const events = generateEvents(12);
  await h.sink.accept(events);
  const report = await h.sink.close(200);
  assert.equal(report.undelivered, 12);
  assert.equal(report.lost, 0);
  const dlq = h.dlqEntries();
  assert.equal(dlq.length, 12);
  assert.ok(dlq.every((d) => d.code === 'AEGIS_ERR_SHUTDOWN_UNDELIVERED'));
  assert.deepEqual(
    dlq.map((d) => (d.event as { exec_id: string }).exec_id).sort(),
    events.map((e) => e.exec_id).sort(),
  );
  await h.cleanup();
});

test('shutdown releases a source blocked on a full buffer and dead-letters its remaining events', async () => {
  const h = harness([{ hang: true }], { buffer: { maxEvents: 10 }, batch: { maxEvents: 5 } });
  const events = generateEvents(40);
  const accepting = h.sink.accept(events);
  await new Promise((r) => setTimeout(r, 50));
  await h.sink.close(100);
  await accepting;
  const dlq = h.dlqEntries();
  // Nothing was delivered (the transport hung); every accepted event is in the dead-letter file exactly once.
  assert.equal(h.sink.stats.delivered, 0);
  assert.deepEqual(
    dlq.map((d) => (d.event as { exec_id: string }).exec_id).sort(),
    events.map((e) => e.exec_id).sort(),
  );
  await h.cleanup();
});

test('retry deadline: a batch retried past max_duration_ms is dead-lettered with the last error', async () => {
  const h = harness(
    Array.from({ length: 1000 }, () => ({ kind: 'retryable' as const, reason: 'connection refused' })),
    { retry: { maxDurationMillis: 100, initialBackoffMillis: 10, maxBackoffMillis: 20 } },
  );
  await h.sink.accept(generateEvents(3));
  await h.sink.close(5000);
  const dlq = h.dlqEntries();
  assert.equal(dlq.length, 3);
  assert.equal(dlq[0]!.code, 'AEGIS_ERR_RETRY_DEADLINE');
  assert.match(
    String(dlq[0]!.reason),
    /retry deadline of 100 ms exceeded after \d+ attempts; last error: connection refused/,
  );
  // Attempts within 100 ms depend on the machine's load (one event-loop stall can leave a single attempt): the sink
  // is unhealthy exactly when UNHEALTHY_AFTER_FAILURES of them failed.
  const attempts = h.transport.calls.length;
  assert.equal(
    h.sink.stats.healthy,
    attempts < UNHEALTHY_AFTER_FAILURES,
    `${attempts} failed attempts; unhealthy from ${UNHEALTHY_AFTER_FAILURES}`,
  );
  await h.cleanup();
});

test('unhealthy result marks the sink unhealthy; a later delivery recovers it', async () => {
  const h = harness([{ kind: 'retryable', reason: 'HEC code 4: invalid token', unhealthy: true }]);
  await h.sink.accept(generateEvents(2));
  await new Promise((r) => setTimeout(r, 1));
  await h.sink.close(5000);
  assert.equal(h.sink.stats.healthy, true);
  assert.equal(h.sink.stats.delivered, 2);
  assert.equal(h.sink.stats.lastError, 'HEC code 4: invalid token');
  await h.cleanup();
});

test('regression: an attempt past its request timeout is not retried while it still runs, and its late answer is the outcome counted (file sink duplicates)', async () => {
  // The transport finishes 300 ms after a 50 ms request timeout (a file write already in the kernel). Retrying at
  // the timeout wrote the same events twice and counted neither write.
  const h = harness([() => new Promise((resolve) => setTimeout(() => resolve({ kind: 'delivered' }), 300))], {
    request: { timeoutMillis: 50 },
  });
  const events = generateEvents(3);
  await h.sink.accept(events);
  const report = await h.sink.close(5000);
  assert.equal(h.transport.calls.length, 1, 'no second attempt while the first one ran');
  assert.deepEqual(ids(h.transport.delivered), ids(events));
  assert.equal(h.sink.stats.delivered, 3);
  assert.equal(h.sink.stats.duplicates, 0);
  assert.equal(report.undelivered, 0);
  assert.deepEqual(h.dlqEntries(), []);
  await h.cleanup();
});

test('regression: a transport that ignores its abort signal cannot hold close() past the deadline: it is abandoned and its events dead-lettered', async () => {
  const h = harness([() => new Promise(() => undefined)], { request: { timeoutMillis: 100 } });
  const events = generateEvents(3);
  await h.sink.accept(events);
  const started = Date.now();
  const report = await h.sink.close(500);
  const took = Date.now() - started;
  assert.ok(took < 500 + 2 * ABANDON_GRACE_MILLIS + 500, `close took ${took} ms`);
  assert.equal(h.transport.calls.length, 1, 'no second attempt while the first one ran');
  assert.equal(h.transport.abandoned, true, 'the transport was abandoned at the deadline');
  assert.equal(report.undelivered, 3);
  assert.deepEqual(
    h.dlqEntries().map((e) => (e.event as { exec_id: string }).exec_id),
    events.map((e) => e.exec_id),
  );
  assert.equal(h.sink.stats.delivered + h.sink.stats.deadLettered, 3);
  await h.cleanup();
});

test('close() ends in time when a send never settles while an accept waits for buffer room', async () => {
  const h = harness([() => new Promise(() => undefined)], {
    request: { timeoutMillis: 60_000 },
    buffer: { maxEvents: 5 },
    batch: { maxEvents: 5 },
  });
  const events = generateEvents(20);
  await h.sink.accept(events.slice(0, 5)); // the first batch: its send never settles
  await new Promise((r) => setTimeout(r, 50));
  const waiting = h.sink.accept(events.slice(5)); // fills the buffer, then waits for room that never comes
  await new Promise((r) => setTimeout(r, 50));
  const started = Date.now();
  const report = await h.sink.close(300);
  const took = Date.now() - started;
  assert.ok(took < 300 + 3 * ABANDON_GRACE_MILLIS + 500, `close took ${took} ms`);
  assert.equal(h.transport.abandoned, true);
  await waiting; // the waiting accept dead-letters what it still held once the sink shut down
  assert.ok(report.undelivered >= 5, `undelivered ${report.undelivered}`);
  assert.equal(h.sink.stats.delivered + h.sink.stats.deadLettered, 20);
  await h.cleanup();
});

test('a formatter that throws dead-letters that event only', async () => {
  const { dir, cleanup } = makeTempDir();
  const transport = createScriptedTransport();
  const stats = createSinkStats('t', 'scripted');
  const deadLetter = createDeadLetterQueue({
    path: path.join(dir, 'dlq'),
    maxBytes: 1e9,
    logger: silentLogger,
    stats: { written: 0, bytes: 0, failed: 0 },
  });
  const events = generateEvents(4);
  const sink = createSink(
    {
      name: 't',
      type: 'scripted',
      transport,
      stats,
      logger: silentLogger,
      deadLetter,
      formatter: {
        name: 'picky',
        contentType: 'text/plain',
        format: (e) => {
          if (e === events[2]) throw new Error('cannot encode');
          return formatJson(e);
        },
      },
    },
    FAST,
  );
  await sink.accept(events);
  await sink.close(5000);
  await deadLetter.close();
  const dlq = fs
    .readFileSync(path.join(dir, 'dlq'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { code: string; reason: string });
  assert.equal(dlq.length, 1);
  assert.equal(dlq[0]!.code, 'AEGIS_ERR_FORMAT');
  assert.match(dlq[0]!.reason, /cannot encode/);
  assert.equal(transport.delivered.length, 3);
  cleanup();
});

test('batches respect max_events and max_bytes; the batch timeout sends a partial batch', async () => {
  const h = harness([], { batch: { maxEvents: 4, maxBytes: 1_000_000, timeoutMillis: 30 } });
  await h.sink.accept(generateEvents(10));
  await new Promise((r) => setTimeout(r, 120));
  assert.deepEqual(
    h.transport.calls.map((c) => c.ids.length),
    [4, 4, 2],
    'two full batches, then the remainder after the timeout',
  );
  await h.sink.close(1000);
  const one = formatJson(generateEvents(1)[0]!).length;
  const h2 = harness([], { batch: { maxEvents: 100, maxBytes: one * 3 + 10, timeoutMillis: 1 } });
  await h2.sink.accept(generateEvents(9));
  await h2.sink.close(1000);
  assert.ok(
    h2.transport.calls.every((c) => c.ids.length <= 3),
    `byte bound: ${h2.transport.calls.map((c) => c.ids.length).join(',')}`,
  );
  await h.cleanup();
  await h2.cleanup();
});

test('concurrency bounds the batches in flight', async () => {
  let inflight = 0;
  let peak = 0;
  const slow = (): Promise<{ kind: 'delivered' }> => {
    inflight++;
    peak = Math.max(peak, inflight);
    return new Promise((r) =>
      setTimeout(() => {
        inflight--;
        r({ kind: 'delivered' });
      }, 20),
    );
  };
  const h = harness(
    Array.from({ length: 20 }, () => slow),
    { request: { concurrency: 3 }, batch: { maxEvents: 5 } },
  );
  await h.sink.accept(generateEvents(100));
  await h.sink.close(5000);
  assert.equal(peak, 3);
  assert.equal(h.sink.stats.delivered, 100);
  await h.cleanup();
});

test('healthcheck: a transport that never answers is reported unhealthy after the timeout', async () => {
  const h = harness();
  h.transport.healthcheck = () => new Promise(() => undefined);
  const r = await h.sink.healthcheck(50);
  assert.deepEqual(r, { healthy: false, reason: 'no answer within 50 ms' });
  assert.equal(h.sink.stats.healthy, false);
  await h.sink.close(1000);
  await h.cleanup();
});
