/**
 * The retrying send on its own (no buffer, no batcher): halveBatch; too_large halves in order with new batch ids;
 * partial results; Retry-After over jitter; the retry deadline; shutdown returning the unresolved records; a
 * bounded healthcheck. The HEC transport's bisection uses the same halveBatch (test/sinks/splunk-hec/).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { createDeadLetterQueue } from '../../../src/sinks/core/dead-letter';
import { createSinkOutcomes } from '../../../src/sinks/core/outcomes';
import { createRetryingSend, halveBatch, healthcheckOnce } from '../../../src/sinks/core/retrying-send';
import type { EncodedRecord, RetryOptions } from '../../../src/sinks/core/types';
import { createSinkStats } from '../../../src/telemetry/stats';
import { silentLogger } from '../../../src/util/logger';
import { generateEvents } from '../../helpers/events';
import { createScriptedTransport } from '../../helpers/scripted-transport';
import type { Step } from '../../helpers/scripted-transport';
import { makeTempDir } from '../../helpers/tmp';

const RETRY: RetryOptions = {
  initialBackoffMillis: 1,
  maxBackoffMillis: 5,
  maxDurationMillis: 0,
  maxRetryAfterMillis: 5000,
};

function setup(script: Step[], retry: Partial<RetryOptions> = {}) {
  const { dir, cleanup } = makeTempDir();
  const stats = createSinkStats('t', 'scripted');
  const deadLetter = createDeadLetterQueue({
    path: path.join(dir, 'dlq'),
    maxBytes: 1e9,
    logger: silentLogger,
    stats: { written: 0, bytes: 0, failed: 0 },
  });
  const outcomes = createSinkOutcomes<string>({ name: 't', stats, logger: silentLogger, deadLetter });
  const transport = createScriptedTransport(script);
  const shutdown = new AbortController();
  let id = 100;
  const sender = createRetryingSend({
    name: 't',
    transport,
    request: { concurrency: 1, timeoutMillis: 2000 },
    retry: { ...RETRY, ...retry },
    shutdown: shutdown.signal,
    abandoned: shutdown.signal,
    stats,
    logger: silentLogger,
    outcomes,
    nextBatchId: () => id++,
    now: Date.now,
    random: () => 1,
  });
  const records: EncodedRecord<string>[] = generateEvents(6).map((event, i) => ({ event, data: `r${i}`, bytes: 2 }));
  const ids = (rs: readonly EncodedRecord<string>[]): string[] => rs.map((r) => r.event.exec_id + '#' + r.event.ts);
  return {
    sender,
    transport,
    stats,
    shutdown,
    records,
    ids,
    done: async () => {
      await deadLetter.close();
      cleanup();
    },
  };
}

test('halveBatch: the first half is the larger; nothing to split below two records', () => {
  assert.deepEqual(halveBatch([1, 2, 3, 4, 5]), [
    [1, 2, 3],
    [4, 5],
  ]);
  assert.deepEqual(halveBatch([1, 2]), [[1], [2]]);
  assert.equal(halveBatch([1]), undefined);
  assert.equal(halveBatch([]), undefined);
});

test('too_large: halves are sent left then right under new batch ids, each retried on its own', async () => {
  const s = setup([
    { kind: 'too_large', reason: '413' },
    { kind: 'retryable', reason: 'busy' },
  ]);
  const undelivered = await s.sender.deliver(s.records, 7);
  assert.deepEqual(undelivered, []);
  assert.deepEqual(
    s.transport.calls.map((c) => [c.ids.length, c.attempt]),
    [
      [6, 1],
      [3, 1],
      [3, 2],
      [3, 1],
    ],
  );
  assert.deepEqual(s.ids(s.transport.delivered.map((event) => ({ event, data: '', bytes: 0 }))), s.ids(s.records));
  assert.equal(s.stats.delivered, 6);
  assert.equal(s.stats.failedRequests, 2);
  await s.done();
});

test('partial: delivered items counted, rejected dead-lettered, only the retry set is sent again', async () => {
  const s = setup([{ kind: 'partial', retry: [4], rejected: [{ index: 0, reason: 'bad' }] }]);
  await s.sender.deliver(s.records, 1);
  assert.deepEqual(s.transport.calls[1]?.ids, s.ids([s.records[4]!]));
  assert.equal(s.stats.delivered, 5);
  assert.equal(s.stats.deadLettered, 1);
  assert.equal(s.stats.retriedEvents, 1);
  await s.done();
});

test('Retry-After overrides the jitter; the retry deadline dead-letters with the last error', async () => {
  const s = setup([{ kind: 'retryable', reason: '429', retryAfterMillis: 120 }]);
  await s.sender.deliver(s.records, 1);
  assert.ok(s.transport.calls[1]!.at - s.transport.calls[0]!.at >= 110);
  await s.done();
  const d = setup(
    Array.from({ length: 100 }, () => ({ kind: 'retryable' as const, reason: 'refused' })),
    { maxDurationMillis: 300, initialBackoffMillis: 10, maxBackoffMillis: 10 },
  );
  await d.sender.deliver(d.records, 1);
  assert.equal(d.stats.deadLettered, 6);
  assert.equal(d.stats.delivered, 0);
  assert.equal(d.stats.healthy, false, 'three consecutive failures mark the sink unhealthy');
  await d.done();
});

test('shutdown during backoff returns the unresolved records, never drops them', async () => {
  const s = setup([{ kind: 'partial', retry: [1, 2], rejected: [] }], {
    initialBackoffMillis: 10_000,
    maxBackoffMillis: 10_000,
  });
  const delivering = s.sender.deliver(s.records, 1);
  await new Promise((r) => setTimeout(r, 20));
  s.shutdown.abort();
  const undelivered = await delivering;
  assert.deepEqual(s.ids(undelivered), s.ids([s.records[1]!, s.records[2]!]));
  assert.equal(s.stats.delivered, 4);
  await s.done();
});

test('healthcheckOnce: bounded by its timeout, and a throwing healthcheck is an unhealthy result', async () => {
  const t = createScriptedTransport();
  const shutdown = new AbortController();
  t.healthcheck = () => new Promise(() => undefined);
  assert.deepEqual(await healthcheckOnce(t, shutdown.signal, 30), { healthy: false, reason: 'no answer within 30 ms' });
  t.healthcheck = () => Promise.reject(new Error('boom'));
  const r = await healthcheckOnce(t, shutdown.signal, 1000);
  assert.equal(r.healthy, false);
  assert.match(r.healthy ? '' : r.reason, /boom/);
});
