/**
 * The `splunk_hec` sink against the real HEC test receiver (OpenTelemetry Collector splunkhecreceiver + ackextension
 * + bearertokenauth, scripts/services/otelcol-hec.sh). What that receiver cannot do (413, code 9, invalid-event-number,
 * acks that stay false, HEC-coded token errors) is covered by hec-scripted.test.ts; see docs/test-services.md §3.4.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { AegisEvent } from '../../../src/event/types';
import { createHecFormat } from '../../../src/formatters/hec';
import { eventClassId, severityOf } from '../../../src/formatters/common';
import { parseHecConfig } from '../../../src/sinks/splunk-hec/config';
import { createHecTransport } from '../../../src/sinks/splunk-hec/transport';
import { createSinkStats } from '../../../src/telemetry/stats';
import { silentLogger } from '../../../src/util/logger';
import { generateEvents } from '../../helpers/events';
import { batchOf, runTransportContract } from '../transport-contract';
import type { ContractSubject } from '../transport-contract';
import { buildHecSink, startReceiver, waitFor } from './harness';

const hec = createHecFormat();
/**
 * The event as a UTF-8 receiver can hold it: JSON round trip, and lone UTF-16 surrogates (the adversarial generator
 * can split a pair; the json format escapes them as \udXXXX) decoded as U+FFFD, which is what Go's JSON decoder in
 * the receiver does. Everything else must arrive exactly.
 */
const plain = (v: unknown): unknown =>
  JSON.parse(JSON.stringify(v), (_k, x: unknown) =>
    typeof x === 'string'
      ? x.replace(/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g, '\ufffd')
      : x,
  );

runTransportContract({
  name: 'splunk_hec (real HEC receiver, gzip, indexer acknowledgement)',
  encode: hec,
  receiverNormalizes: (events) => plain(events) as AegisEvent[],
  create: async (): Promise<ContractSubject | { skip: string }> => {
    const r = await startReceiver();
    if ('skip' in r) return r;
    const transport = createHecTransport(
      parseHecConfig({ endpoint: r.url, token: r.tokens[0], acknowledgements: { poll_interval_ms: 50 } }),
      {
        logger: silentLogger,
        stats: createSinkStats('s', 'splunk_hec'),
        version: 'test',
      },
    );
    return {
      transport,
      received: () => r.events(),
      breakReceiver: () => r.kill(),
      restoreReceiver: () => r.restart(),
      cleanup: () => r.stopAll(),
    };
  },
});

test('real receiver: gzip + indexer ack; ackIds polled; metadata, time and indexed fields arrive intact', async (t) => {
  const r = await startReceiver();
  if ('skip' in r) return t.skip(r.skip);
  const stats = createSinkStats('s', 'splunk_hec');
  const format = createHecFormat({ index: 'edr', source: 'unit' });
  const transport = createHecTransport(
    parseHecConfig({ endpoint: r.url, token: r.tokens[0], acknowledgements: { poll_interval_ms: 20 } }),
    { logger: silentLogger, stats, version: 'test' },
  );
  try {
    const events = generateEvents(300, { adversarial: true }).map<AegisEvent>((e, i) =>
      i % 7 === 0 ? { ...e, labels: { env: 'prod', team: `t${i % 3}` } } : e,
    );
    for (let i = 0; i < 3; i++) {
      const res = await transport.send(
        batchOf(events.slice(i * 100, (i + 1) * 100), format),
        new AbortController().signal,
      );
      assert.deepEqual(res, { kind: 'delivered' });
    }
    assert.equal(stats.extra.acks_received_total, 3, 'one ackId per request, each confirmed by a poll');
    assert.ok((stats.extra.ack_polls_total ?? 0) >= 1);
    assert.equal(stats.extra.acks_pending, 0);
    assert.equal(stats.extra.ack_fallback, 0);
    const records = await r.records();
    assert.equal(records.length, 300);
    records.forEach((rec, i) => {
      const e = events[i]!;
      assert.deepEqual(rec.body, plain(e), `event ${i} body`);
      assert.equal(rec.resource['host.name'], e.host);
      assert.equal(rec.resource['com.splunk.sourcetype'], 'aegisbpf');
      assert.equal(rec.resource['com.splunk.source'], 'unit');
      assert.equal(rec.resource['com.splunk.index'], 'edr');
      // time: ms precision; the receiver converts through float64 (docs/test-services.md §3.3), so allow 1 µs.
      const expectedNanos = BigInt(Date.parse(e.ts.slice(0, 23) + 'Z')) * 1_000_000n;
      const gotNanos = BigInt(rec.timeUnixNano ?? '0');
      assert.ok(
        gotNanos - expectedNanos < 1000n && expectedNanos - gotNanos < 1000n,
        `time of event ${i}: ${gotNanos} vs ${expectedNanos}`,
      );
      const fields: Record<string, unknown> = { event_class: eventClassId(e), vendor_severity: severityOf(e) };
      for (const [k, v] of Object.entries(e.labels ?? {})) fields[`label_${k}`] = v;
      assert.deepEqual(rec.attributes, fields, `indexed fields of event ${i}`);
    });
  } finally {
    await transport.close();
    await r.stopAll();
  }
});

test('real receiver with acknowledgement off: the sink says so once, falls back to 200-means-delivered, visibly in a metric', async (t) => {
  const r = await startReceiver({ ack: false });
  if ('skip' in r) return t.skip(r.skip);
  const h = buildHecSink({
    endpoint: r.url,
    token: r.tokens[0],
    acknowledgements: { poll_interval_ms: 20 },
    batch: { max_events: 50, timeout_ms: 10 },
  });
  try {
    const events = generateEvents(500);
    await h.sink.accept(events);
    await h.sink.close(30_000);
    assert.equal(h.stats.delivered, 500);
    assert.equal(h.stats.extra.ack_fallback, 1);
    const warnings = h.logs().filter((l) => l.code === 'AEGIS_ERR_HEC_ACK_DISABLED');
    assert.equal(warnings.length, 1, 'said once, not per batch');
    assert.equal((await r.events()).length, 500);
  } finally {
    await h.cleanup();
    await r.stopAll();
  }
});

test('real receiver rejects a whole request for one bad envelope (no invalid-event-number): the sink bisects, dead-letters only the bad event, delivers the rest in order', async (t) => {
  const r = await startReceiver();
  if ('skip' in r) return t.skip(r.skip);
  const stats = createSinkStats('s', 'splunk_hec');
  const transport = createHecTransport(
    parseHecConfig({ endpoint: r.url, token: r.tokens[0], acknowledgements: { poll_interval_ms: 20 } }),
    { logger: silentLogger, stats, version: 'test' },
  );
  try {
    const events = generateEvents(16);
    const batch = batchOf(events, hec);
    const records = batch.records.map((rec, i) => (i === 5 ? { ...rec, data: '{"evnt":"broken envelope"}' } : rec));
    const res = await transport.send({ ...batch, records }, new AbortController().signal);
    assert.equal(res.kind, 'partial');
    assert.ok(res.kind === 'partial');
    assert.deepEqual(res.retry, []);
    assert.deepEqual(
      res.rejected.map((x) => x.index),
      [5],
    );
    assert.match(res.rejected[0]!.reason, /HTTP 400, HEC code 12/);
    const got = await r.events();
    assert.deepEqual(
      got.map((e) => e.exec_id),
      events.filter((_, i) => i !== 5).map((e) => e.exec_id),
    );
  } finally {
    await transport.close();
    await r.stopAll();
  }
});

test('real receiver, wrong token: sink unhealthy with a clear error, events retained (not dropped), the token never logged; delivered once the receiver accepts the token', async (t) => {
  const r = await startReceiver();
  if ('skip' in r) return t.skip(r.skip);
  const wrong = 'b1946ac9-2492-4d6b-8e3a-0f1e2d3c4b5a';
  const h = buildHecSink({
    endpoint: r.url,
    token: wrong,
    acknowledgements: { poll_interval_ms: 20 },
    batch: { max_events: 100, timeout_ms: 10 },
    retry: { initial_backoff_ms: 50, max_backoff_ms: 300 },
  });
  try {
    const health = await h.sink.healthcheck(5000);
    assert.equal(health.healthy, false);
    assert.ok(!health.healthy && /refused the token/.test(health.reason), !health.healthy ? health.reason : '');
    const events = generateEvents(1000);
    await h.sink.accept(events);
    await waitFor(
      'the sink to be unhealthy after token refusals',
      () => !h.stats.healthy && h.stats.failedRequests >= 3,
    );
    assert.match(h.stats.lastError ?? '', /HEC refused the token \(HTTP 401/);
    assert.equal(h.stats.deadLettered, 0, 'nothing dead-lettered');
    assert.equal(h.stats.delivered, 0);
    assert.deepEqual(h.stats.dropped, {});
    assert.ok(
      h.logs().some((l) => l.code === 'AEGIS_ERR_HEC_REFUSED'),
      'a log line with the HEC code',
    );
    // The fix: the receiver now accepts this token (an admin re-enabled it). Events still buffered go through.
    await r.restart({ tokens: [r.tokens[0]!, wrong] });
    await waitFor('delivery after the fix', () => h.stats.delivered === 1000, 60_000);
    await h.sink.close(10_000);
    assert.ok(h.stats.healthy, 'healthy again');
    assert.equal(h.stats.deadLettered, 0);
    const got = await r.events();
    assert.equal(got.length, 1000);
    assert.equal(new Set(got.map((e) => e.exec_id)).size, 1000);
    assert.ok(!h.logText().includes(wrong), 'the token appears in no log line');
    assert.ok(!JSON.stringify(h.stats).includes(wrong), 'nor in the stats');
  } finally {
    await h.cleanup();
    await r.stopAll();
  }
});

test('real receiver over TLS: verification on by default (self-signed refused, with a reason); tls.ca_file trusts it', async (t) => {
  const r = await startReceiver({ tls: true });
  if ('skip' in r) return t.skip(r.skip);
  const caFile = r.current()?.caFile;
  assert.ok(caFile !== undefined);
  const stats = createSinkStats('s', 'splunk_hec');
  const untrusted = createHecTransport(parseHecConfig({ endpoint: r.url, token: r.tokens[0] }), {
    logger: silentLogger,
    stats,
    version: 'test',
  });
  const trusted = createHecTransport(
    parseHecConfig({
      endpoint: r.url,
      token: r.tokens[0],
      tls: { ca_file: caFile },
      acknowledgements: { poll_interval_ms: 20 },
    }),
    { logger: silentLogger, stats, version: 'test' },
  );
  try {
    const h = await untrusted.healthcheck(AbortSignal.timeout(10_000));
    assert.equal(h.healthy, false);
    assert.ok(!h.healthy && /certificate/i.test(h.reason), !h.healthy ? h.reason : '');
    assert.equal(
      (await untrusted.send(batchOf(generateEvents(2), hec), new AbortController().signal)).kind,
      'retryable',
    );
    assert.deepEqual(await trusted.healthcheck(AbortSignal.timeout(10_000)), { healthy: true });
    assert.deepEqual(await trusted.send(batchOf(generateEvents(20), hec), new AbortController().signal), {
      kind: 'delivered',
    });
    assert.equal((await r.events()).length, 20);
  } finally {
    await untrusted.close();
    await trusted.close();
    await r.stopAll();
  }
});

test('real receiver stopped mid-stream for 10 s: zero lost; duplicates counted and bounded by the unacked window', async (t) => {
  const r = await startReceiver();
  if ('skip' in r) return t.skip(r.skip);
  const concurrency = 4;
  const maxEvents = 250;
  const h = buildHecSink({
    endpoint: r.url,
    token: r.tokens[0],
    acknowledgements: { poll_interval_ms: 1000, timeout_ms: 5000 },
    batch: { max_events: maxEvents, timeout_ms: 20 },
    buffer: { max_events: 2000 },
    request: { concurrency, timeout_ms: 10_000 },
    retry: { initial_backoff_ms: 100, max_backoff_ms: 1000 },
  });
  try {
    const total = 20_000;
    const events = generateEvents(total, { adversarial: true });
    let stopped = false;
    const feeding = (async () => {
      for (let i = 0; i < total; i += 200) {
        await h.sink.accept(events.slice(i, i + 200));
        if (!stopped && h.stats.delivered >= 4000) {
          stopped = true;
          // Stop it while batches it accepted still wait for their (1 s) ack poll: those are the possible duplicates.
          await waitFor('batches waiting for acknowledgement', () => (h.stats.extra.acks_pending ?? 0) > 0, 10_000);
          await r.kill();
          await new Promise((res) => setTimeout(res, 10_000));
          await r.restart();
        }
      }
    })();
    await feeding;
    const report = await h.sink.close(120_000);
    assert.ok(stopped, 'the receiver was stopped mid-stream');
    assert.equal(report.undelivered, 0);
    assert.equal(h.stats.delivered, total);
    assert.equal(h.stats.deadLettered, 0);
    const got = await r.events();
    const counts = new Map<string, number>();
    for (const e of got) counts.set(e.exec_id, (counts.get(e.exec_id) ?? 0) + 1);
    const lost = events.filter((e) => !counts.has(e.exec_id)).length;
    const duplicates = got.length - counts.size;
    assert.equal(lost, 0, 'zero lost');
    assert.equal(counts.size, total);
    const window = concurrency * maxEvents;
    assert.ok(duplicates <= window, `duplicates ${duplicates} within the unacked window ${window}`);
    assert.ok(
      h.stats.duplicates >= duplicates,
      `every real duplicate was counted as a possible one (${h.stats.duplicates} >= ${duplicates})`,
    );
    t.diagnostic(
      `receiver down 10 s: ${got.length} records for ${total} events, ${duplicates} duplicates (counted possible: ${h.stats.duplicates}; window ${window}); restarts seen ${h.stats.extra.receiver_restarts_total ?? 0}, ack timeouts ${h.stats.extra.ack_timeouts_total ?? 0}`,
    );
  } finally {
    await h.cleanup();
    await r.stopAll();
  }
});
