/**
 * A host-name mismatch for an IP address names the certificate's names (docs/sinks.md): Node's own message for an
 * IP lists only IP SANs, so a certificate for `localhost` reached at 127.0.0.1 said "not in the cert's list: ".
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import tls from 'node:tls';
import { buildSink } from '../../src/sinks/build';
import { createDeadLetterQueue } from '../../src/sinks/core/dead-letter';
import { createStatsRegistry } from '../../src/telemetry/stats';
import { silentLogger } from '../../src/util/logger';
import { makeTestPki, opensslSkipReason } from '../helpers/certs';
import { makeTempDir } from '../helpers/tmp';

async function reasonOf(type: string, raw: Record<string, unknown>, dir: string): Promise<string> {
  const stats = createStatsRegistry();
  const deadLetter = createDeadLetterQueue({
    path: path.join(dir, `${type}-dlq.ndjson`),
    maxBytes: 1e6,
    logger: silentLogger,
    stats: stats.deadLetter,
  });
  const { sink } = buildSink(
    { name: type, type, raw: { type, ...raw } },
    { logger: silentLogger, hostname: 'h', version: 'test', dataDir: dir, stats, deadLetter },
  );
  const result = await sink.healthcheck(5000);
  await sink.close(1000);
  await deadLetter.close();
  assert.ok(!result.healthy, 'the mismatch is refused');
  return result.reason;
}

test("regression: a host-name mismatch for an IP address names the certificate's names (syslog tls, splunk_hec, elasticsearch)", async (t) => {
  const skip = opensslSkipReason();
  if (skip !== undefined) return t.skip(skip);
  const { dir, cleanup } = makeTempDir();
  const pki = makeTestPki(path.join(dir, 'pki'));
  const creds = { cert: fs.readFileSync(pki.localhostOnlyCert), key: fs.readFileSync(pki.localhostOnlyKey) };
  const tlsServer = tls.createServer(creds, (s) => s.on('error', () => undefined).resume());
  const httpsServer = https.createServer(creds, (_req, res) => res.end('{"text":"HEC is healthy","code":17}'));
  await new Promise<void>((resolve) => tlsServer.listen(0, '127.0.0.1', resolve));
  await new Promise<void>((resolve) => httpsServer.listen(0, '127.0.0.1', resolve));
  try {
    const syslog = await reasonOf(
      'syslog',
      {
        host: '127.0.0.1',
        port: (tlsServer.address() as AddressInfo).port,
        transport: 'tls',
        tls: { ca_file: pki.caCert },
      },
      dir,
    );
    assert.match(syslog, /host name mismatch/);
    assert.match(syslog, /DNS:localhost/, syslog);
    assert.match(syslog, /127\.0\.0\.1/);
    const hec = await reasonOf(
      'splunk_hec',
      {
        endpoint: `https://127.0.0.1:${(httpsServer.address() as AddressInfo).port}`,
        token: 'hec-token-0000',
        tls: { ca_file: pki.caCert },
      },
      dir,
    );
    assert.match(hec, /DNS:localhost/, hec);
    assert.match(hec, /127\.0\.0\.1/);
    const es = await reasonOf(
      'elasticsearch',
      { url: `https://127.0.0.1:${(httpsServer.address() as AddressInfo).port}`, tls: { ca_file: pki.caCert } },
      dir,
    );
    assert.match(es, /host name mismatch/, es);
    assert.match(es, /DNS:localhost/, es);
    assert.match(es, /127\.0\.0\.1/);
  } finally {
    httpsServer.closeAllConnections();
    await new Promise<void>((resolve) => httpsServer.close(() => resolve()));
    await new Promise<void>((resolve) => tlsServer.close(() => resolve()));
    cleanup();
  }
});
