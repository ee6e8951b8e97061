/**
 * TLS failures against a real rsyslog (ossl driver, mutual TLS): an untrusted CA, a certificate for another host,
 * an expired certificate, a missing client certificate. Each time: the connection is refused with an error that
 * names the cause, nothing reaches the receiver (no fallback to plaintext), the events stay in the sink's buffer,
 * and they are delivered — every field intact — once the configuration or the certificate is fixed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { createSyslogTransport } from '../../../src/sinks/syslog/transport';
import { parseSyslogConfig } from '../../../src/sinks/syslog/config';
import { createLogger } from '../../../src/util/logger';
import { formatJson } from '../../../src/formatters/json';
import { waitUntil } from '../../helpers/cli';
import { waitForLines, countLines } from '../../helpers/rsyslog';
import { withReceiver } from '../../helpers/syslog-receiver';
import type { Receiver } from '../../helpers/syslog-receiver';
import { generateEvents } from '../../helpers/events';
import { batchOf } from '../transport-contract';
import { adversarialEvents, buildSyslogSink, checkReceived, feed } from './harness';
import type { SinkUnderTest } from './harness';

const FAST_RETRY = { initial_backoff_ms: 100, max_backoff_ms: 500 };

/** Replace the receiver's certificate and key with another pair and restart it. */
async function serveCertificate(r: Receiver, cert: string, key: string): Promise<void> {
  await r.rsyslog.stop();
  fs.copyFileSync(cert, r.pki.serverCert);
  fs.copyFileSync(key, r.pki.serverKey);
  await r.rsyslog.start();
}

/** Wait until the sink is unhealthy; return its last error. */
async function unhealthyReason(s: SinkUnderTest): Promise<string> {
  await waitUntil(() => !s.stats.healthy, 'the sink to report itself unhealthy', 20_000);
  return s.stats.lastError ?? '';
}

function tlsLogReasons(s: SinkUnderTest): string[] {
  return s.logs.filter((l) => l.code === 'AEGIS_ERR_SYSLOG_TLS').map((l) => String(l.reason));
}

test(
  'syslog tls: an untrusted CA is refused with a clear error; events stay buffered and are delivered once tls.ca_file is fixed',
  { timeout: 90_000 },
  async (t) => {
    await withReceiver(t, async (r) => {
      const caFile = path.join(r.dir, 'client-ca.pem');
      fs.copyFileSync(r.pki.otherCaCert, caFile);
      const s = buildSyslogSink(
        r.sinkConfig('tls', {
          tls: { ca_file: caFile, cert_file: r.pki.clientCert, key_file: r.pki.clientKey },
          retry: FAST_RETRY,
        }),
        r.dir,
      );
      const events = adversarialEvents(300, 'untrusted');
      await feed(s.sink, events, 100);
      const reason = await unhealthyReason(s);
      assert.match(reason, /not trusted/);
      assert.match(reason, /UNABLE_TO_VERIFY_LEAF_SIGNATURE|SELF_SIGNED|ISSUER/);
      assert.ok(reason.includes(caFile), 'the reason names the CA file to fix');
      assert.ok(
        tlsLogReasons(s).some((l) => /not trusted/.test(l)),
        'logged with AEGIS_ERR_SYSLOG_TLS',
      );
      assert.equal(s.stats.delivered, 0);
      assert.equal(
        s.stats.received - s.stats.delivered - s.stats.deadLettered,
        events.length,
        'every event is still held by the sink',
      );
      assert.equal(s.stats.deadLettered, 0, 'nothing dead-lettered: the events wait');
      await new Promise((res) => setTimeout(res, 1000));
      assert.equal(countLines(r.eventsFile), 0, 'nothing reached the receiver (no plaintext fallback)');
      // Fix the configuration: the CA file now holds the CA that signed the receiver's certificate.
      fs.copyFileSync(r.pki.caCert, caFile);
      await waitUntil(() => s.stats.delivered === events.length, 'delivery after the CA file was fixed', 30_000);
      assert.equal(s.stats.healthy, true);
      await s.sink.close(10_000);
      await s.deadLetter.close();
      await waitForLines(r.eventsFile, events.length, 'the buffered events at the receiver');
      const check = checkReceived(r.lines(), events);
      assert.deepEqual(
        [check.missing.length, check.extra.length, check.duplicates, check.unique],
        [0, 0, 0, events.length],
      );
    });
  },
);

test(
  'syslog tls: a certificate for another host name is refused naming the mismatch; delivered once the receiver has the right certificate',
  { timeout: 90_000 },
  async (t) => {
    await withReceiver(t, async (r) => {
      const good = { cert: path.join(r.dir, 'good.pem'), key: path.join(r.dir, 'good.key') };
      fs.copyFileSync(r.pki.serverCert, good.cert);
      fs.copyFileSync(r.pki.serverKey, good.key);
      await serveCertificate(r, r.pki.wrongHostCert, r.pki.wrongHostKey);
      const s = buildSyslogSink(
        r.sinkConfig('tls', {
          tls: {
            ca_file: r.pki.caCert,
            cert_file: r.pki.clientCert,
            key_file: r.pki.clientKey,
            server_name: 'localhost',
          },
          retry: FAST_RETRY,
        }),
        r.dir,
      );
      const events = adversarialEvents(200, 'hostname');
      await feed(s.sink, events, 100);
      const reason = await unhealthyReason(s);
      assert.match(reason, /host name mismatch/);
      assert.match(reason, /localhost/);
      assert.match(reason, /wrong\.example/);
      assert.match(reason, /ERR_TLS_CERT_ALTNAME_INVALID/);
      assert.equal(countLines(r.eventsFile), 0, 'nothing reached the receiver');
      await serveCertificate(r, good.cert, good.key);
      await waitUntil(
        () => s.stats.delivered === events.length,
        'delivery after the receiver certificate was fixed',
        30_000,
      );
      await s.sink.close(10_000);
      await s.deadLetter.close();
      await waitForLines(r.eventsFile, events.length, 'the buffered events at the receiver');
      const check = checkReceived(r.lines(), events);
      assert.deepEqual([check.missing.length, check.extra.length, check.duplicates], [0, 0, 0]);
    });
  },
);

test('syslog tls: an expired receiver certificate is refused as expired', { timeout: 60_000 }, async (t) => {
  await withReceiver(t, async (r) => {
    await serveCertificate(r, r.pki.expiredCert, r.pki.expiredKey);
    const s = buildSyslogSink(r.sinkConfig('tls', { retry: FAST_RETRY }), r.dir);
    await feed(s.sink, adversarialEvents(10, 'expired'), 10);
    const reason = await unhealthyReason(s);
    assert.match(reason, /has expired/);
    assert.match(reason, /CERT_HAS_EXPIRED/);
    const h = await s.transport.healthcheck(new AbortController().signal);
    assert.ok(!h.healthy && /has expired/.test(h.reason), 'the healthcheck says the same');
    assert.equal(countLines(r.eventsFile), 0);
    const report = await s.sink.close(500);
    await s.deadLetter.close();
    assert.equal(report.undelivered, 10, 'still undelivered at shutdown: dead-lettered, never dropped');
    assert.equal(fs.readFileSync(s.deadLetterPath, 'utf8').trim().split('\n').length, 10);
  });
});

test(
  'syslog tls: a receiver that requires a client certificate refuses us without one, and the error says so',
  { timeout: 60_000 },
  async (t) => {
    await withReceiver(t, async (r) => {
      const s = buildSyslogSink(r.sinkConfig('tls', { tls: { ca_file: r.pki.caCert }, retry: FAST_RETRY }), r.dir);
      await feed(s.sink, adversarialEvents(10, 'nocert'), 10);
      const reason = await unhealthyReason(s);
      assert.match(reason, /client certificate/);
      await new Promise((res) => setTimeout(res, 500));
      assert.equal(
        s.stats.delivered,
        0,
        'not counted as delivered: TLS 1.3 refusals come after the handshake and are waited for',
      );
      assert.equal(countLines(r.eventsFile), 0);
      await s.sink.close(200);
      await s.deadLetter.close();
    });
  },
);

test(
  'syslog tls: pointed at a plain-TCP port, the transport fails with "did not answer with TLS" and sends nothing in the clear',
  { timeout: 60_000 },
  async (t) => {
    await withReceiver(t, async (r) => {
      const raw = r.sinkConfig('tls', { port: r.ports.tcp, connect_timeout_ms: 3000 });
      const transport = createSyslogTransport(parseSyslogConfig(raw), {
        logger: createLogger({ level: 'ERROR', write: () => undefined }),
        counters: {},
      });
      const events = generateEvents(3);
      const result = await transport.send(
        batchOf(events, (e) => `<134>1 - h a - - - ${formatJson(e)}`),
        new AbortController().signal,
      );
      assert.equal(result.kind, 'retryable');
      assert.ok(
        result.kind === 'retryable' && /TLS|ETIMEDOUT|closed the connection/.test(result.reason),
        result.kind === 'retryable' ? result.reason : '',
      );
      await transport.close();
      await new Promise((res) => setTimeout(res, 500));
      const leaked = r.lines().filter((l) => JSON.stringify(l).includes(events[0]!.exec_id));
      assert.deepEqual(leaked, [], 'no event in the clear at the receiver');
    });
  },
);

test(
  'regression: a write issued from the TLS 1.3 "session" event corrupted the stream (rsyslog ossl: "bad record mac" after ~100 KB)',
  { timeout: 60_000 },
  async (t) => {
    await withReceiver(t, async (r) => {
      const encode = (e: ReturnType<typeof generateEvents>[number]): string =>
        `<134>1 ${e.ts} h aegisbpf ${e.pid} x - ${formatJson(e)}`;
      let sent = 0;
      for (let k = 0; k < 3; k++) {
        const transport = createSyslogTransport(parseSyslogConfig(r.sinkConfig('tls')), {
          logger: createLogger({ level: 'ERROR', write: () => undefined }),
          counters: {},
        });
        const events = generateEvents(400, { seed: k + 1 });
        for (const slice of [events.slice(0, 250), events.slice(250)])
          assert.equal((await transport.send(batchOf(slice, encode), new AbortController().signal)).kind, 'delivered');
        sent += events.length;
        await transport.close();
      }
      await waitForLines(r.eventsFile, sent, 'every event of every connection');
      assert.equal(countLines(r.eventsFile), sent);
      assert.doesNotMatch(r.rsyslog.output(), /bad record mac/);
    });
  },
);
