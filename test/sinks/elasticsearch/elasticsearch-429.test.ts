/**
 * Real HTTP 429s from a real Elasticsearch: a node started with a write thread pool of one thread and a queue of
 * one (`thread_pool.write.size=1`, `thread_pool.write.queue_size=1`, docs/test-services.md §2.4). A `_bulk` that
 * touches many indices gets item-level 429s inside a 200; many concurrent `_bulk`s get whole-request 429s.
 * Neither comes with Retry-After here (the core's Retry-After handling is tested against a scripted server).
 * Every event must still arrive, and the retries must be counted.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rawRequest } from '../../../src/sinks/elasticsearch/client';
import { parseElasticsearchConfig } from '../../../src/sinks/elasticsearch/config';
import { installElasticContent } from '../../../src/sinks/elasticsearch/install';
import { createElasticsearchTransport } from '../../../src/sinks/elasticsearch/transport';
import { createSink } from '../../../src/sinks/core/sink';
import { createDeadLetterQueue } from '../../../src/sinks/core/dead-letter';
import type { SendResult, Transport } from '../../../src/sinks/core/types';
import { DEFAULT_CORE_OPTIONS } from '../../../src/sinks/core/types';
import { createSinkStats } from '../../../src/telemetry/stats';
import { createLogger } from '../../../src/util/logger';
import { formatEcs } from '../../../src/formatters/ecs';
import type { AegisEvent } from '../../../src/event/types';
import { generateEvents } from '../../helpers/events';
import { useElasticsearch } from '../../helpers/elasticsearch';

const quiet = createLogger({ level: 'FATAL', write: () => undefined });
const fx = useElasticsearch(
  {
    settings: { 'thread_pool.write.size': 1, 'thread_pool.write.queue_size': 1 },
  },
  (c) => installElasticContent(c, { version: 'test' }),
);

async function count(target: string): Promise<number> {
  await rawRequest(fx.client, { method: 'POST', path: `/${target}/_refresh` });
  const r = await rawRequest(fx.client, { method: 'GET', path: `/${target}/_count` });
  return r.ok ? ((r.body as { count: number }).count ?? -1) : -1;
}

/** Events spread over `days` days, so every batch writes to that many daily indices. */
function spreadOverDays(events: readonly AegisEvent[], days: number): AegisEvent[] {
  return events.map((e, i) => ({ ...e, ts: `2026-11-${String(1 + (i % days)).padStart(2, '0')}${e.ts.slice(10)}` }));
}

interface Outcomes {
  itemLevel429: number;
  wholeRequest429: number;
  results: SendResult[];
}

function recording(real: Transport<string>, out: Outcomes): Transport<string> {
  return {
    send: async (b, s) => {
      const r = await real.send(b, s);
      out.results.push(r);
      if (r.kind === 'partial' && r.retry.length > 0) out.itemLevel429++;
      if (r.kind === 'retryable' && /every item failed: elasticsearch 429/.test(r.reason)) out.itemLevel429++;
      if (r.kind === 'retryable' && /HTTP 429/.test(r.reason)) out.wholeRequest429++;
      return r;
    },
    healthcheck: (s) => real.healthcheck(s),
    close: () => real.close(),
    abandon: () => real.abandon(),
  };
}

async function ship(
  prefix: string,
  events: readonly AegisEvent[],
  concurrency: number,
  batchEvents: number,
): Promise<{ stats: ReturnType<typeof createSinkStats>; outcomes: Outcomes }> {
  const outcomes: Outcomes = { itemLevel429: 0, wholeRequest429: 0, results: [] };
  const real = createElasticsearchTransport(
    parseElasticsearchConfig({ url: fx.es!.url, index: `${prefix}-%{+yyyy.MM.dd}`, compression: 'none' }),
    { logger: quiet, version: 'test' },
  );
  const stats = createSinkStats('es', 'elasticsearch');
  const sink = createSink(
    {
      name: 'es',
      type: 'elasticsearch',
      transport: recording(real, outcomes),
      stats,
      logger: quiet,
      formatter: { name: 'ecs', contentType: 'application/json', format: (e) => formatEcs(e) },
      deadLetter: createDeadLetterQueue({
        path: undefined,
        maxBytes: 1,
        logger: quiet,
        stats: { written: 0, bytes: 0, failed: 0 },
      }),
    },
    {
      ...DEFAULT_CORE_OPTIONS,
      batch: { maxEvents: batchEvents, maxBytes: 8 << 20, timeoutMillis: 20 },
      request: { concurrency, timeoutMillis: 60_000 },
      retry: { ...DEFAULT_CORE_OPTIONS.retry, initialBackoffMillis: 20, maxBackoffMillis: 500 },
    },
  );
  for (let i = 0; i < events.length; i += 500) await sink.accept(events.slice(i, i + 500));
  const report = await sink.close(300_000);
  assert.equal(report.undelivered, 0);
  assert.equal(report.lost, 0);
  assert.equal(stats.delivered, events.length, 'every event delivered');
  return { stats, outcomes };
}

test(
  'item-level 429s (a 200 with es_rejected_execution_exception items): only those items are retried, every event arrives',
  { timeout: 600_000 },
  async (t) => {
    if (fx.es === undefined) return t.skip(fx.skipReason);
    const prefix = `aegisbpf-429-items-${process.pid}`;
    const events = spreadOverDays(generateEvents(20_000, { seed: 71 }), 10);
    const { stats, outcomes } = await ship(prefix, events, 1, 1000);
    t.diagnostic(
      `item-level 429 answers: ${outcomes.itemLevel429}, events retried: ${stats.retriedEvents}, requests: ${outcomes.results.length}`,
    );
    assert.ok(outcomes.itemLevel429 > 0, 'the tiny write queue produced item-level 429s');
    assert.ok(stats.retriedEvents > 0, 'retries are counted');
    assert.ok(
      stats.retriedEvents < outcomes.itemLevel429 * 1000,
      'only the rejected items were resent, not whole batches',
    );
    assert.equal(stats.deadLettered, 0);
    assert.equal(await count(`${prefix}-*`), 20_000);
  },
);

test(
  'hammered with concurrent requests: whole-request and item-level 429s are retried with backoff, every event arrives',
  { timeout: 600_000 },
  async (t) => {
    if (fx.es === undefined) return t.skip(fx.skipReason);
    const prefix = `aegisbpf-429-hammer-${process.pid}`;
    const events = spreadOverDays(generateEvents(30_000, { seed: 72 }), 3);
    const { stats, outcomes } = await ship(prefix, events, 16, 300);
    t.diagnostic(
      `whole-request 429s: ${outcomes.wholeRequest429}, item-level 429 answers: ${outcomes.itemLevel429}, events retried: ${stats.retriedEvents}, failed requests: ${stats.failedRequests}`,
    );
    assert.ok(outcomes.wholeRequest429 + outcomes.itemLevel429 > 0, 'the node refused work');
    assert.ok(stats.retriedEvents > 0 && stats.failedRequests > 0, 'retries are counted');
    assert.equal(stats.deadLettered, 0);
    assert.equal(await count(`${prefix}-*`), 30_000);
  },
);
