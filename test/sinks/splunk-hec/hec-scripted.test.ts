/**
 * The `splunk_hec` sink against a *scripted Splunk*: a local node:http server (scripted-hec.ts) that gives the
 * answers real Splunk gives and the test receiver (OpenTelemetry Collector) cannot — 413, code 9 + Retry-After,
 * 429/503, invalid-event-number, HEC-coded token errors (2/3/4), channel errors (10/11), ack disabled (14),
 * queue at capacity (24/25, UNVERIFIED codes), acks that turn true late or never, ackIds that start again after a
 * restart. See docs/test-services.md §3.4 for why. Every test name says "scripted Splunk".
 */
import { test } from 'node:test';
import fs from 'node:fs';
import assert from 'node:assert/strict';
import type { AegisEvent } from '../../../src/event/types';
import { createHecFormat } from '../../../src/formatters/hec';
import { parseHecConfig } from '../../../src/sinks/splunk-hec/config';
import { createHecTransport } from '../../../src/sinks/splunk-hec/transport';
import { createRedactor, redactingTransport } from '../../../src/sinks/core/redact';
import { createSinkStats } from '../../../src/telemetry/stats';
import { silentLogger } from '../../../src/util/logger';
import { packagePath } from '../../../src/util/paths';
import { generateEvents } from '../../helpers/events';
import { batchOf } from '../transport-contract';
import { buildHecSink, waitFor } from './harness';
import type { HecSinkHarness } from './harness';
import { envelopesOf, startScriptedHec } from './scripted-hec';
import type { HecRequest, ScriptedHec } from './scripted-hec';

const TOKEN = '5f2b1c3d-aaaa-4bbb-8ccc-0123456789ab';
const hec = createHecFormat();

const execIds = (envelopes: readonly unknown[]): string[] =>
  envelopes.map((e) => (e as { event: AegisEvent }).event.exec_id);
const posts = (s: ScriptedHec): HecRequest[] => s.requests.filter((r) => r.path === '/services/collector/event');
const ackPolls = (s: ScriptedHec): HecRequest[] => s.requests.filter((r) => r.path === '/services/collector/ack');

function sinkFor(s: ScriptedHec, more: Record<string, unknown> = {}): HecSinkHarness {
  return buildHecSink({
    endpoint: s.url,
    token: TOKEN,
    acknowledgements: { poll_interval_ms: 20, timeout_ms: 5000 },
    batch: { max_events: 10, timeout_ms: 5 },
    retry: { initial_backoff_ms: 10, max_backoff_ms: 50 },
    request: { concurrency: 1, timeout_ms: 20_000 },
    ...more,
  });
}

async function withScripted(body: (s: ScriptedHec) => Promise<void>): Promise<void> {
  const s = await startScriptedHec();
  try {
    await body(s);
  } finally {
    await s.close();
  }
}

test('scripted Splunk: the request is what HEC expects (Authorization: Splunk, stable channel GUID, gzip, envelopes back to back, one keep-alive connection)', () =>
  withScripted(async (s) => {
    const h = sinkFor(s, { request: { concurrency: 1, timeout_ms: 20_000 } });
    const events = generateEvents(50, { adversarial: true });
    await h.sink.accept(events);
    await h.sink.close(10_000);
    const p = posts(s);
    assert.equal(p.length, 5);
    const channel = h.transport.channel();
    assert.match(channel, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    for (const r of p) {
      assert.equal(r.headers.authorization, `Splunk ${TOKEN}`);
      assert.equal(r.headers['x-splunk-request-channel'], channel, 'one channel per sink instance');
      assert.equal(r.headers['content-encoding'], 'gzip');
      assert.equal(r.headers['content-type'], 'application/json');
      assert.ok(!r.body.includes('\n'), 'envelopes back to back, no framing');
    }
    assert.deepEqual(
      execIds(s.indexed),
      events.map((e) => e.exec_id),
    );
    assert.equal(
      new Set(s.requests.map((r) => r.socketPort)).size,
      1,
      'every request (sends and ack polls) reused one connection',
    );
    assert.equal(h.stats.delivered, 50);
    assert.equal(h.stats.extra.acks_received_total, 5);
    await h.cleanup();
  }));

test('scripted Splunk: 413 → the core splits the batch and the halves are delivered in order', () =>
  withScripted(async (s) => {
    s.script = (r) =>
      r.path === '/services/collector/event' && envelopesOf(r).length > 3
        ? { status: 413, body: { text: 'Content too large', code: 413 } }
        : undefined;
    const h = sinkFor(s);
    const events = generateEvents(40);
    await h.sink.accept(events);
    await h.sink.close(10_000);
    assert.ok(posts(s).filter((r) => envelopesOf(r).length > 3).length >= 4, 'batches of 10 were refused');
    assert.deepEqual(
      execIds(s.indexed),
      events.map((e) => e.exec_id),
      'all delivered, once, in order',
    );
    assert.equal(h.stats.delivered, 40);
    assert.equal(h.stats.deadLettered, 0);
    await h.cleanup();
  }));

test('scripted Splunk: code 9 (503 Server is busy) with Retry-After: 1 → retried no sooner than 1 s, delivered once', () =>
  withScripted(async (s) => {
    let busy = 2;
    s.script = (r) =>
      r.path === '/services/collector/event' && busy-- > 0
        ? { status: 503, body: { text: 'Server is busy', code: 9 }, headers: { 'Retry-After': '1' } }
        : undefined;
    const h = sinkFor(s);
    const events = generateEvents(10);
    await h.sink.accept(events);
    await h.sink.close(20_000);
    const p = posts(s);
    assert.equal(p.length, 3);
    assert.ok(
      p[1]!.at - p[0]!.at >= 990 && p[2]!.at - p[1]!.at >= 990,
      `Retry-After honoured: gaps ${p[1]!.at - p[0]!.at}, ${p[2]!.at - p[1]!.at} ms`,
    );
    assert.deepEqual(
      execIds(s.indexed),
      events.map((e) => e.exec_id),
    );
    assert.equal(h.stats.failedRequests, 2);
    assert.match(h.stats.lastError ?? '', /HEC code 9: Server is busy/);
    await h.cleanup();
  }));

test('scripted Splunk: 429 and 503 without an HEC body are retried with backoff', () =>
  withScripted(async (s) => {
    const answers = [
      { status: 429, body: 'Too Many Requests' },
      { status: 503, body: '' },
    ];
    s.script = (r) => (r.path === '/services/collector/event' ? answers.shift() : undefined);
    const h = sinkFor(s);
    await h.sink.accept(generateEvents(10));
    await h.sink.close(10_000);
    assert.equal(posts(s).length, 3);
    assert.equal(h.stats.delivered, 10);
    assert.equal(s.indexed.length, 10);
    await h.cleanup();
  }));

test('scripted Splunk: 400 invalid-event-number → the bad event is dead-lettered, those before it are not resent, those after it are resent once', () =>
  withScripted(async (s) => {
    // Like Splunk: index the envelopes before the first bad one, refuse it and everything after it.
    s.script = (r) => {
      if (r.path !== '/services/collector/event') return undefined;
      const envs = envelopesOf(r);
      const bad = envs.findIndex((e) => (e as { event: AegisEvent }).event.comm === 'BAD');
      if (bad < 0) return undefined;
      s.indexed.push(...envs.slice(0, bad));
      return { status: 400, body: { text: 'Invalid data format', code: 6, 'invalid-event-number': bad } };
    };
    const h = sinkFor(s, { batch: { max_events: 20, timeout_ms: 5 } });
    const events = generateEvents(20).map((e, i) => (i === 7 || i === 15 ? { ...e, comm: 'BAD' } : e));
    await h.sink.accept(events);
    await h.sink.close(10_000);
    const good = events.filter((e) => e.comm !== 'BAD');
    assert.deepEqual(
      execIds(s.indexed).sort(),
      good.map((e) => e.exec_id).sort(),
      'every good event indexed exactly once',
    );
    assert.equal(h.stats.delivered, 18);
    const dlq = h.dlqEntries();
    assert.deepEqual(
      dlq.map((d) => (d.event as AegisEvent).exec_id),
      [events[7]!.exec_id, events[15]!.exec_id],
    );
    assert.match(String(dlq[0]!.reason), /HTTP 400, HEC code 6: Invalid data format \(invalid-event-number 7\)/);
    assert.equal(dlq[0]!.code, 'AEGIS_ERR_SINK_REJECTED');
    assert.equal(posts(s).length, 3, 'the batch, the rest after event 7, the rest after event 15');
    await h.cleanup();
  }));

for (const [status, code, text] of [
  [401, 2, 'Token is required'],
  [401, 3, 'Invalid authorization'],
  [403, 4, 'Invalid token'],
] as const) {
  test(`scripted Splunk: HEC code ${code} (${text}) → unhealthy with a clear message, events retained, token never logged; delivered once accepted`, () =>
    withScripted(async (s) => {
      let refuse = true;
      s.script = (r) =>
        refuse && r.path !== '/services/collector/health' ? { status, body: { text, code } } : undefined;
      const h = sinkFor(s);
      const health = await h.sink.healthcheck(5000);
      assert.ok(!health.healthy && health.reason.includes(`HEC code ${code}: ${text}`), JSON.stringify(health));
      await h.sink.accept(generateEvents(30));
      await waitFor('unhealthy', () => !h.stats.healthy);
      assert.match(
        h.stats.lastError ?? '',
        new RegExp(`HEC refused the token \\(HTTP ${status}, HEC code ${code}: ${text}\\)`),
      );
      assert.equal(h.stats.deadLettered, 0);
      assert.equal(h.stats.delivered, 0);
      refuse = false;
      await waitFor('delivery once the token is accepted', () => h.stats.delivered === 30, 20_000);
      await h.sink.close(5000);
      assert.equal(s.indexed.length, 30);
      assert.ok(h.stats.healthy);
      assert.ok(!h.logText().includes(TOKEN), 'the token is in no log line');
      assert.ok(!JSON.stringify(h.dlqEntries()).includes(TOKEN));
      await h.cleanup();
    }));
}

test('scripted Splunk: an answer that echoes the token never puts it in a log line or reason', () =>
  withScripted(async (s) => {
    s.script = (r) =>
      r.path === '/services/collector/event' ? { status: 403, body: `no such token: Splunk ${TOKEN}` } : undefined;
    const stats = createSinkStats('s', 'splunk_hec');
    // The redaction is the sink core's (src/sinks/core/redact.ts), as build.ts applies it around every transport.
    const t = redactingTransport(
      createHecTransport(parseHecConfig({ endpoint: s.url, token: TOKEN }), {
        logger: silentLogger,
        stats,
        version: 'test',
      }),
      createRedactor({ values: [TOKEN] }),
    );
    const res = await t.send(batchOf(generateEvents(2), hec), new AbortController().signal);
    await t.close();
    assert.equal(res.kind, 'retryable');
    assert.ok(res.kind === 'retryable' && res.unhealthy === true);
    assert.ok(!JSON.stringify(res).includes(TOKEN), JSON.stringify(res));
    assert.match(JSON.stringify(res), /<redacted>/);
  }));

test('scripted Splunk: acks false for a while → a batch is delivered only when acked; one shared poll carries every pending ackId', () =>
  withScripted(async (s) => {
    let indexed = false; // the indexers "finish" when the test says so
    s.ackPolicy = () => indexed;
    const h = sinkFor(s, {
      request: { concurrency: 4, timeout_ms: 20_000 },
      acknowledgements: { poll_interval_ms: 50, timeout_ms: 15_000 },
    });
    const started = Date.now();
    await h.sink.accept(generateEvents(40));
    await waitFor('4 batches posted', () => posts(s).length === 4);
    await waitFor(
      'polls after all four were posted',
      () => ackPolls(s).filter((r) => (JSON.parse(r.body) as { acks: number[] }).acks.length === 4).length >= 2,
    );
    assert.equal(h.stats.delivered, 0, 'HTTP 200 alone does not deliver');
    assert.equal(h.stats.extra.acks_pending, 4);
    indexed = true;
    await h.sink.close(10_000);
    const elapsed = Date.now() - started;
    assert.equal(h.stats.delivered, 40);
    assert.equal(posts(s).length, 4, 'nothing resent');
    // Shared: at most one poll per interval for all pending batches (not one poll loop per batch).
    assert.ok(
      ackPolls(s).length <= elapsed / 50 + 2,
      `${ackPolls(s).length} polls in ${elapsed} ms at a 50 ms interval`,
    );
    for (const r of ackPolls(s)) {
      assert.equal(r.query.get('channel'), h.transport.channel());
      assert.equal(r.headers.authorization, `Splunk ${TOKEN}`);
    }
    assert.equal(h.stats.extra.acks_pending, 0);
    await h.cleanup();
  }));

test('scripted Splunk: a batch never acknowledged is resent after acknowledgements.timeout_ms and counted as possible duplicates', () =>
  withScripted(async (s) => {
    const firstChannelIds = new Set<number>([0]);
    s.ackPolicy = (_c, id) => !firstChannelIds.has(id);
    const h = sinkFor(s, { acknowledgements: { poll_interval_ms: 20, timeout_ms: 300 } });
    const events = generateEvents(10);
    await h.sink.accept(events);
    await h.sink.close(10_000);
    assert.equal(posts(s).length, 2, 'sent, not acked in time, resent');
    assert.deepEqual(
      execIds(s.indexed),
      [...events, ...events].map((e) => e.exec_id),
      'Splunk got it twice',
    );
    assert.equal(h.stats.delivered, 10);
    assert.equal(h.stats.duplicates, 10, 'the resend is counted as 10 possible duplicates');
    assert.equal(h.stats.extra.ack_timeouts_total, 1);
    assert.ok(h.logs().some((l) => l.code === 'AEGIS_ERR_HEC_ACK_LOST'));
    await h.cleanup();
  }));

test('scripted Splunk: ack query answered with code 14 (ACK is disabled) → says so once, falls back to 200-means-delivered, visible in ack_fallback', () =>
  withScripted(async (s) => {
    s.script = (r) =>
      r.path === '/services/collector/ack' ? { status: 400, body: { text: 'ACK is disabled', code: 14 } } : undefined;
    const h = sinkFor(s, { request: { concurrency: 2, timeout_ms: 20_000 } });
    await h.sink.accept(generateEvents(60));
    await h.sink.close(10_000);
    assert.equal(h.stats.delivered, 60);
    assert.equal(h.stats.extra.ack_fallback, 1);
    assert.equal(h.logs().filter((l) => l.code === 'AEGIS_ERR_HEC_ACK_DISABLED').length, 1);
    assert.ok(ackPolls(s).length <= 2, 'no more polling after the fallback');
    await h.cleanup();
  }));

test('scripted Splunk: HTTP 200 without an ackId on a channel (token has useACK off) → fallback, said once', () =>
  withScripted(async (s) => {
    s.script = (r) =>
      r.path === '/services/collector/event' ? { status: 200, body: { text: 'Success', code: 0 } } : undefined;
    const h = sinkFor(s);
    await h.sink.accept(generateEvents(30));
    await h.sink.close(10_000);
    assert.equal(h.stats.delivered, 30);
    assert.equal(h.stats.extra.ack_fallback, 1);
    assert.equal(ackPolls(s).length, 0);
    assert.equal(h.logs().filter((l) => l.code === 'AEGIS_ERR_HEC_ACK_DISABLED').length, 1);
    await h.cleanup();
  }));

for (const [code, text] of [
  [10, 'Data channel is missing'],
  [11, 'Invalid data channel'],
] as const) {
  test(`scripted Splunk: code ${code} (${text}) → a new channel GUID, counted, and the batch delivered on it`, () =>
    withScripted(async (s) => {
      let refusedChannel: string | undefined;
      s.script = (r) => {
        if (r.path !== '/services/collector/event') return undefined;
        const ch = r.headers['x-splunk-request-channel'];
        if (refusedChannel === undefined) refusedChannel = String(ch);
        return ch === refusedChannel ? { status: 400, body: { text, code } } : undefined;
      };
      const h = sinkFor(s, { channel: '11111111-2222-4333-8444-555555555555' });
      await h.sink.accept(generateEvents(10));
      await h.sink.close(10_000);
      assert.equal(refusedChannel, '11111111-2222-4333-8444-555555555555');
      const p = posts(s);
      assert.equal(p.length, 2);
      assert.notEqual(p[1]!.headers['x-splunk-request-channel'], refusedChannel);
      assert.equal(h.stats.extra.channel_resets_total, 1);
      assert.equal(h.stats.delivered, 10);
      assert.equal(h.stats.deadLettered, 0);
      assert.ok(h.logs().some((l) => l.code === 'AEGIS_ERR_HEC_CHANNEL_RESET'));
      await h.cleanup();
    }));
}

for (const code of [24, 25]) {
  test(`scripted Splunk: code ${code} (queue at capacity; code UNVERIFIED in Splunk's tables) → slows down (>= 2 s) and delivers`, () =>
    withScripted(async (s) => {
      let once = true;
      s.script = (r) => {
        if (r.path !== '/services/collector/event' || !once) return undefined;
        once = false;
        return { status: 503, body: { text: 'Queue at capacity', code } };
      };
      const h = sinkFor(s);
      await h.sink.accept(generateEvents(10));
      await h.sink.close(20_000);
      const p = posts(s);
      assert.equal(p.length, 2);
      assert.ok(p[1]!.at - p[0]!.at >= 1990, `slowed down: ${p[1]!.at - p[0]!.at} ms`);
      assert.equal(h.stats.delivered, 10);
      await h.cleanup();
    }));
}

test('scripted Splunk: the receiver restarts and its ackIds start again → batches still waiting are resent at once, counted', () =>
  withScripted(async (s) => {
    // Before the restart, nothing is ever acknowledged; the restart (new ackIds from 0) is what frees the waiters.
    let restarted = false;
    s.ackPolicy = () => restarted;
    // Concurrency 4: three sends wait for their acks, the fourth slot carries the request that reveals the restart.
    const h = sinkFor(s, {
      request: { concurrency: 4, timeout_ms: 20_000 },
      acknowledgements: { poll_interval_ms: 20, timeout_ms: 15_000 },
    });
    const events = generateEvents(30);
    await h.sink.accept(events);
    await waitFor('3 batches waiting for acks', () => h.stats.extra.acks_pending === 3);
    s.restart();
    restarted = true;
    await h.sink.accept(generateEvents(10, { seed: 9 }));
    await h.sink.close(10_000);
    assert.equal(h.stats.delivered, 40);
    assert.equal(h.stats.extra.receiver_restarts_total, 1);
    assert.equal(h.stats.duplicates, 30, 'the three waiting batches were resent: 30 possible duplicates');
    assert.equal(h.stats.extra.ack_timeouts_total, 0, 'resent on detection, not after the 15 s deadline');
    // Every key the sink keeps in SinkStats.extra is a fixed, documented one (bounded; never derived from data).
    const doc = fs.readFileSync(packagePath('docs', 'sinks.md'), 'utf8');
    const section = doc.slice(doc.indexOf('## `splunk_hec`'));
    const documented = new Set([...section.matchAll(/^\| `([a-z_]+)` \| (?:gauge|counter) \|/gm)].map((m) => m[1]));
    assert.deepEqual(
      Object.keys(h.stats.extra).filter((k) => !documented.has(k)),
      [],
    );
    assert.ok(documented.size >= 7);
    await h.cleanup();
  }));

test('scripted Splunk: raw endpoint — channel in query and header, metadata as query parameters, one record per line', () =>
  withScripted(async (s) => {
    const h = buildHecSink({
      endpoint: s.url,
      token: TOKEN,
      endpoint_target: 'raw',
      format: 'json',
      sourcetype: 'aegisbpf',
      index: 'edr',
      source: 'agent',
      host: 'h1',
      acknowledgements: { poll_interval_ms: 20 },
      batch: { max_events: 10, timeout_ms: 5 },
      request: { concurrency: 1 },
    });
    const events = generateEvents(25, { adversarial: true });
    await h.sink.accept(events);
    await h.sink.close(10_000);
    const p = s.requests.filter((r) => r.path === '/services/collector/raw');
    assert.equal(p.length, 3);
    for (const r of p) {
      assert.equal(r.query.get('channel'), h.transport.channel());
      assert.equal(r.headers['x-splunk-request-channel'], h.transport.channel());
      assert.equal(r.query.get('sourcetype'), 'aegisbpf');
      assert.equal(r.query.get('index'), 'edr');
      assert.equal(r.query.get('source'), 'agent');
      assert.equal(r.query.get('host'), 'h1');
      assert.ok(r.body.endsWith('\n'));
    }
    assert.deepEqual(
      s.indexed.map((l) => (JSON.parse(l as string) as AegisEvent).exec_id),
      events.map((e) => e.exec_id),
    );
    assert.equal(h.stats.extra.acks_received_total, 3);
    await h.cleanup();
  }));

test('scripted Splunk: healthcheck — healthy; HEC unhealthy (503 code 18); unreachable', async () => {
  await withScripted(async (s) => {
    const t = createHecTransport(parseHecConfig({ endpoint: s.url, token: TOKEN }), {
      logger: silentLogger,
      stats: createSinkStats('s', 'splunk_hec'),
      version: 'test',
    });
    assert.deepEqual(await t.healthcheck(AbortSignal.timeout(5000)), { healthy: true });
    const probe = s.requests.at(-1)!;
    assert.equal(probe.body, '', 'the token check sends no data');
    assert.equal(s.indexed.length, 0);
    s.script = (r) =>
      r.path === '/services/collector/health'
        ? { status: 503, body: { text: 'HEC is unhealthy, queues are full', code: 18 } }
        : undefined;
    const h = await t.healthcheck(AbortSignal.timeout(5000));
    assert.ok(!h.healthy && /HEC code 18: HEC is unhealthy, queues are full/.test(h.reason), JSON.stringify(h));
    await t.close();
  });
  const gone = createHecTransport(parseHecConfig({ endpoint: 'http://127.0.0.1:9', token: TOKEN }), {
    logger: silentLogger,
    stats: createSinkStats('s', 'splunk_hec'),
    version: 'test',
  });
  const h = await gone.healthcheck(AbortSignal.timeout(5000));
  assert.ok(!h.healthy && /cannot reach HEC/.test(h.reason));
  await gone.close();
});

test('scripted Splunk on an IPv6 literal endpoint (http://[::1]:port) delivers', async (t) => {
  let s: ScriptedHec;
  try {
    s = await startScriptedHec(undefined, '::1');
  } catch (err) {
    return t.skip(`no IPv6 loopback here: ${String(err)}`);
  }
  try {
    const h = sinkFor(s);
    await h.sink.accept(generateEvents(5));
    await h.sink.close(5000);
    assert.equal(h.stats.delivered, 5);
    assert.equal(s.indexed.length, 5);
    await h.cleanup();
  } finally {
    await s.close();
  }
});

test('regression: 16 sends in flight (the splunk_hec default) raise no MaxListenersExceededWarning on the shutdown signal', () =>
  withScripted(async (s) => {
    const warnings: string[] = [];
    const onWarning = (w: Error): void => {
      warnings.push(`${w.name}: ${w.message}`);
    };
    process.on('warning', onWarning);
    try {
      s.ackPolicy = () => s.requests.filter((r) => r.path === '/services/collector/event').length >= 16;
      const h = sinkFor(s, { request: { concurrency: 16, timeout_ms: 20_000 } });
      await h.sink.accept(generateEvents(400));
      await h.sink.close(20_000);
      await h.cleanup();
      assert.equal(h.stats.delivered, 400);
      await new Promise((r) => setImmediate(r)); // warnings are emitted on the next tick
      assert.deepEqual(
        warnings.filter((w) => /MaxListeners/.test(w)),
        [],
      );
    } finally {
      process.off('warning', onWarning);
    }
  }));
