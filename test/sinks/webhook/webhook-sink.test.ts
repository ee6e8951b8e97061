/**
 * The `webhook` sink against a real local HTTPS receiver (test/helpers/webhook-receiver.ts) that verifies the HMAC
 * signature and timestamp the way docs/sinks.md tells receivers to: the transport contract, signing (tampered body and
 * replayed request refused), outage and 429 + Retry-After recovered with zero loss through the real sink core, and a
 * 400 that dead-letters only its own batch.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import type { AegisEvent } from '../../../src/event/types';
import { formatJson } from '../../../src/formatters/json';
import { createDeadLetterQueue } from '../../../src/sinks/core/dead-letter';
import { createSink } from '../../../src/sinks/core/sink';
import type { SinkCoreOptions } from '../../../src/sinks/core/types';
import { DEFAULT_CORE_OPTIONS } from '../../../src/sinks/core/types';
import { checkWebhookConfig, parseWebhookConfig } from '../../../src/sinks/webhook/config';
import { createWebhookTransport } from '../../../src/sinks/webhook/transport';
import { createSinkStats } from '../../../src/telemetry/stats';
import { createLogger } from '../../../src/util/logger';
import type { TestPki } from '../../helpers/certs';
import { makeTestPki, opensslSkipReason } from '../../helpers/certs';
import { generateEvents } from '../../helpers/events';
import { makeTempDir } from '../../helpers/tmp';
import type { WebhookReceiver } from '../../helpers/webhook-receiver';
import { startWebhookReceiver } from '../../helpers/webhook-receiver';
import { batchOf, runTransportContract } from '../transport-contract';

const quiet = createLogger({ level: 'FATAL', write: () => undefined });
const HMAC_KEY = 'k3y-for-the-webhook-tests-\u00e9-0123456789';
const SIG = 'X-Aegis-Signature';
const TS = 'X-Aegis-Timestamp';

let tmp: { dir: string; cleanup: () => void };
let pki: TestPki | undefined;
let keyFile = '';
const skip = opensslSkipReason();

before(() => {
  tmp = makeTempDir('aegis-webhook-');
  if (skip === undefined) pki = makeTestPki(path.join(tmp.dir, 'pki'));
  keyFile = path.join(tmp.dir, 'hook.key');
  fs.writeFileSync(keyFile, `${HMAC_KEY}\n`, { mode: 0o600 });
});
after(() => tmp.cleanup());

async function receiver(extra: { toleranceSeconds?: number } = {}): Promise<WebhookReceiver> {
  return startWebhookReceiver({
    tls: { cert: pki!.serverCert, key: pki!.serverKey },
    hmac: {
      key: Buffer.from(HMAC_KEY, 'utf8'),
      header: SIG,
      timestampHeader: TS,
      toleranceSeconds: extra.toleranceSeconds ?? 300,
    },
  });
}

function transportFor(r: WebhookReceiver, raw: Record<string, unknown> = {}, now?: () => number) {
  const entry = { url: r.url, hmac: { secret_file: keyFile }, tls: { ca_file: pki!.caCert }, ...raw };
  assert.deepEqual(checkWebhookConfig(entry), []);
  return createWebhookTransport(parseWebhookConfig(entry), {
    contentType: 'application/json',
    userAgent: 'aegisbpf/test',
    ...(now === undefined ? {} : { now }),
  });
}

runTransportContract({
  name: 'webhook (real node:https receiver verifying HMAC, JSON array bodies)',
  create: async () => {
    if (pki === undefined) return { skip: skip ?? 'no PKI' };
    const r = await receiver();
    return {
      transport: transportFor(r),
      received: () => Promise.resolve(r.acceptedJson() as AegisEvent[]),
      breakReceiver: () => r.pause(),
      restoreReceiver: () => r.resume(),
      cleanup: () => r.close(),
    };
  },
});

test('signing: the receiver verifies the HMAC; a tampered body, a replayed old request and a wrong key are refused', async (t) => {
  if (pki === undefined) return t.skip(skip);
  const r = await receiver();
  try {
    const events = generateEvents(10, { adversarial: true, seed: 5 });
    const ok = await transportFor(r).send(batchOf(events), new AbortController().signal);
    assert.deepEqual(ok, { kind: 'delivered' });
    assert.equal(r.accepted.length, 1);
    const signed = r.accepted[0]!;
    assert.match(String(signed.headers[SIG.toLowerCase()]), /^sha256=[0-9a-f]{64}$/);

    // Tampered: the same headers with one byte of the body changed.
    const tampered = Buffer.from(signed.body);
    tampered[5] = tampered[5] === 0x41 ? 0x42 : 0x41;
    const status = await new Promise<number>((resolve, reject) => {
      const req = https.request(
        r.url,
        {
          method: 'POST',
          ca: fs.readFileSync(pki!.caCert),
          headers: {
            'content-type': 'application/json',
            [TS]: String(signed.headers[TS.toLowerCase()]),
            [SIG]: String(signed.headers[SIG.toLowerCase()]),
          },
        },
        (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
        },
      );
      req.on('error', reject);
      req.end(tampered);
    });
    assert.equal(status, 401);
    assert.equal(r.refused.at(-1)?.why, 'signature mismatch');

    // A request signed ten minutes ago (a captured request replayed): refused for its timestamp, dead-lettered.
    const old = await transportFor(r, {}, () => Date.now() - 600_000).send(
      batchOf(events),
      new AbortController().signal,
    );
    assert.equal(old.kind, 'rejected');
    assert.match(old.kind === 'rejected' ? old.reason : '', /HTTP 401: refused: timestamp outside the tolerance/);

    const otherKey = path.join(tmp.dir, 'other.key');
    fs.writeFileSync(otherKey, 'not-the-receivers-key');
    const wrong = await transportFor(r, { hmac: { secret_file: otherKey } }).send(
      batchOf(events),
      new AbortController().signal,
    );
    assert.equal(wrong.kind, 'rejected');
    assert.equal(r.accepted.length, 1, 'nothing refused was kept');
  } finally {
    await r.close();
  }
});

test('tls: verification is on by default; a receiver certificate from an unknown CA is not delivered to', async (t) => {
  if (pki === undefined) return t.skip(skip);
  const r = await receiver();
  try {
    const res = await transportFor(r, { tls: {} }).send(batchOf(generateEvents(2)), new AbortController().signal);
    assert.equal(res.kind, 'retryable');
    assert.match(res.kind === 'retryable' ? res.reason : '', /certificate/i);
    assert.equal(r.all.length, 0);
    const h = await transportFor(r, { tls: {} }).healthcheck(new AbortController().signal);
    assert.equal(h.healthy, false);
  } finally {
    await r.close();
  }
});

const fastCore = (over: Partial<SinkCoreOptions> = {}): SinkCoreOptions => ({
  ...DEFAULT_CORE_OPTIONS,
  batch: { maxEvents: 100, maxBytes: 1 << 20, timeoutMillis: 10 },
  retry: { ...DEFAULT_CORE_OPTIONS.retry, initialBackoffMillis: 20, maxBackoffMillis: 200 },
  ...over,
});

function sinkFor(r: WebhookReceiver, deadLetterPath: string | undefined, core: SinkCoreOptions) {
  const stats = createSinkStats('hook', 'webhook');
  const sink = createSink(
    {
      name: 'hook',
      type: 'webhook',
      transport: transportFor(r),
      stats,
      logger: quiet,
      formatter: { name: 'json', contentType: 'application/json', format: formatJson },
      deadLetter: createDeadLetterQueue({
        path: deadLetterPath,
        maxBytes: 64 << 20,
        logger: quiet,
        stats: { written: 0, bytes: 0, failed: 0 },
      }),
    },
    core,
  );
  return { sink, stats };
}

test('outage and 429 with Retry-After: recovered with zero loss, Retry-After honoured', async (t) => {
  if (pki === undefined) return t.skip(skip);
  const r = await receiver();
  try {
    const events = generateEvents(3000, { seed: 9 });
    let throttled = 0;
    let throttledAt = 0;
    let nextAfterThrottle = 0;
    r.answer = () => {
      if (throttled > 0 && nextAfterThrottle === 0 && throttled >= 2) nextAfterThrottle = Date.now();
      if (r.all.length === 5 || r.all.length === 6) {
        throttled++;
        throttledAt = Date.now();
        return { status: 429, headers: { 'Retry-After': '1' }, body: 'slow down' };
      }
      return undefined;
    };
    const { sink, stats } = sinkFor(r, undefined, fastCore());
    await sink.accept(events.slice(0, 1000));
    // Outage: the receiver goes away for a while with events still coming.
    await until(() => r.accepted.length >= 8);
    await r.pause();
    await sink.accept(events.slice(1000, 2000));
    await new Promise((res) => setTimeout(res, 400));
    await r.resume();
    await sink.accept(events.slice(2000));
    const report = await sink.close(60_000);
    assert.equal(report.undelivered, 0);
    assert.equal(report.lost, 0);
    assert.equal(throttled, 2, 'two 429s were answered');
    assert.ok(nextAfterThrottle - throttledAt >= 950, `retry came ${nextAfterThrottle - throttledAt} ms after the 429`);
    assert.ok(stats.failedRequests >= 3, 'the 429s and the outage were failed attempts');
    const got = r.acceptedJson() as AegisEvent[];
    assert.equal(got.length, events.length, 'zero loss, no duplicates');
    assert.deepEqual(new Set(got.map((e) => e.exec_id)).size, new Set(events.map((e) => e.exec_id)).size);
    assert.equal(stats.delivered, events.length);
    assert.equal(stats.deadLettered, 0);
  } finally {
    await r.close();
  }
});

test('a 400 dead-letters only that batch, with the status and the start of the answer', async (t) => {
  if (pki === undefined) return t.skip(skip);
  const r = await receiver();
  const dl = path.join(tmp.dir, 'dead-letter.ndjson');
  try {
    const events = generateEvents(500, { seed: 11 }).map((e, i) =>
      i >= 200 && i < 300 ? { ...e, comm: 'poison' } : e,
    );
    r.answer = (req) =>
      req.body.includes('"comm":"poison"')
        ? { status: 400, body: `{"error":"field comm is not allowed: poison"}\n${'x'.repeat(5000)}` }
        : undefined;
    const { sink, stats } = sinkFor(
      r,
      dl,
      fastCore({ batch: { maxEvents: 100, maxBytes: 1 << 20, timeoutMillis: 5 } }),
    );
    for (let i = 0; i < events.length; i += 100) await sink.accept(events.slice(i, i + 100));
    const report = await sink.close(30_000);
    assert.equal(report.lost, 0);
    assert.equal(stats.deadLettered, 100);
    assert.equal(stats.delivered, 400);
    const entries = fs
      .readFileSync(dl, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { reason: string; event: AegisEvent; sink: string });
    assert.equal(entries.length, 100);
    assert.ok(entries.every((e) => e.event.comm === 'poison' && e.sink === 'hook'));
    assert.match(entries[0]!.reason, /HTTP 400: \{"error":"field comm is not allowed: poison"\}/);
    assert.ok(entries[0]!.reason.length < 400, 'only the first bytes of the answer are quoted');
    const got = r.acceptedJson() as AegisEvent[];
    assert.equal(got.length, 400);
    assert.ok(got.every((e) => e.comm !== 'poison'));
  } finally {
    await r.close();
  }
});

async function until(cond: () => boolean, timeoutMillis = 20_000): Promise<void> {
  const end = Date.now() + timeoutMillis;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((res) => setTimeout(res, 5));
  }
}

test('body: single: one request per event with the format content type; a 400 rejects that event, a 429 retries the rest in order', async (t) => {
  if (pki === undefined) return t.skip(skip);
  const r = await receiver();
  try {
    const events = generateEvents(6, { seed: 12 });
    const transport = createWebhookTransport(
      parseWebhookConfig({ url: r.url, body: 'single', hmac: { secret_file: keyFile }, tls: { ca_file: pki.caCert } }),
      { contentType: 'text/plain; charset=utf-8', userAgent: 'aegisbpf/test' },
    );
    const lines = events.map((e) => `line ${e.exec_id}`);
    const batch = {
      id: 1,
      attempt: 1,
      bytes: 0,
      records: events.map((event, i) => ({ event, data: lines[i]!, bytes: lines[i]!.length })),
    };
    r.answer = (req) => {
      const body = req.body.toString('utf8');
      if (body === lines[1]) return { status: 400, body: 'bad line' };
      if (body === lines[3] && r.all.filter((x) => x.body.toString('utf8') === lines[3]).length === 1)
        return { status: 429, headers: { 'Retry-After': '2' }, body: 'later' };
      return undefined;
    };
    const first = await transport.send(batch, new AbortController().signal);
    assert.deepEqual(first, {
      kind: 'partial',
      retry: [3, 4, 5],
      rejected: [{ index: 1, reason: 'webhook refused the request: HTTP 400: bad line' }],
      retryAfterMillis: 2000,
    });
    assert.deepEqual(
      r.accepted.map((a) => a.body.toString('utf8')),
      [lines[0], lines[2]],
    );
    assert.equal(r.accepted[0]!.headers['content-type'], 'text/plain; charset=utf-8');
    const rest = await transport.send(
      { ...batch, records: [3, 4, 5].map((i) => batch.records[i]!), attempt: 2 },
      new AbortController().signal,
    );
    assert.deepEqual(rest, { kind: 'delivered' });
    assert.deepEqual(
      r.accepted.map((a) => a.body.toString('utf8')),
      [lines[0], lines[2], lines[3], lines[4], lines[5]],
    );
    await transport.close();
  } finally {
    await r.close();
  }
});

test('tls: mutual TLS with cert_file/key_file; without the client certificate the receiver refuses the connection', async (t) => {
  if (pki === undefined) return t.skip(skip);
  const r = await startWebhookReceiver({
    tls: { cert: pki.serverCert, key: pki.serverKey, clientCa: pki.caCert },
  });
  try {
    const withCert = transportFor(r, {
      tls: { ca_file: pki.caCert, cert_file: pki.clientCert, key_file: pki.clientKey },
    });
    assert.deepEqual(await withCert.healthcheck(new AbortController().signal), { healthy: true });
    assert.deepEqual(await withCert.send(batchOf(generateEvents(3)), new AbortController().signal), {
      kind: 'delivered',
    });
    await withCert.close();
    const without = transportFor(r);
    const res = await without.send(batchOf(generateEvents(3)), new AbortController().signal);
    assert.equal(res.kind, 'retryable');
    await without.close();
    assert.equal(r.accepted.length, 1);
  } finally {
    await r.close();
  }
});
