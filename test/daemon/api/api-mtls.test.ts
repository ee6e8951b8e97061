/**
 * The API's transport guards on a running daemon: with `tls.client_ca_file` a client without a certificate signed
 * by that CA is refused at the TLS handshake (no HTTP exchange happens); with one, the audit record names its
 * subject. Failed authentications are rate-limited per client address (429 + Retry-After) and audited. A
 * non-loopback listen without TLS is a configuration error.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { apiPortOf, apiRequest, createApiKey } from '../../helpers/api-client';
import type { TestPki } from '../../helpers/certs';
import { makeTestPki, opensslSkipReason } from '../../helpers/certs';
import { runCli } from '../../helpers/cli';
import type { TestDaemon } from '../../helpers/daemon';
import { startDaemon } from '../../helpers/daemon';
import { makeTempDir } from '../../helpers/tmp';
import { packagePath } from '../../../src/util/paths';

const skip = opensslSkipReason();
let tmp: { dir: string; cleanup: () => void };
let pki: TestPki;
let d: TestDaemon;
let port: number;
let key: string;

before(async () => {
  if (skip !== undefined) return;
  tmp = makeTempDir('aegis-api-mtls-');
  pki = makeTestPki(path.join(tmp.dir, 'pki'));
  key = createApiKey(tmp.dir, 'ci', 'admin');
  d = await startDaemon(
    tmp.dir,
    [
      `data_dir: ${tmp.dir}`,
      `sources: { sample: { type: replay, path: ${packagePath('samples', 'events.ndjson')}, rate: 50, loop: true } }`,
      `sinks: { out: { type: file, path: ${tmp.dir}/out.ndjson, fsync: never } }`,
      'metrics: { enabled: false }',
      'control: { enabled: false }',
      `api: { listen: 127.0.0.1:0, tls: { cert_file: ${pki.serverCert}, key_file: ${pki.serverKey}, client_ca_file: ${pki.caCert} }, auth_failures_per_minute: 3 }`,
    ].join('\n'),
  );
  port = apiPortOf(d);
});

after(async () => {
  if (skip !== undefined) return;
  await d.stop();
  tmp.cleanup();
});

void test(
  'mTLS: no client certificate, or one from another CA, is refused at the handshake; a good one gets through and is audited by subject',
  { skip },
  async () => {
    await assert.rejects(apiRequest(port, pki.caCert, '/api/v1/health'), (err: NodeJS.ErrnoException) => {
      assert.match(`${err.code ?? ''} ${err.message}`, /certificate required|ECONNRESET|socket hang up|alert/i);
      return true;
    });
    // A client certificate the server's CA did not sign: the wrong-host server certificate of another chain.
    const other = makeTestPki(path.join(tmp.dir, 'other-pki'));
    await assert.rejects(
      apiRequest(port, pki.caCert, '/api/v1/health', { cert: other.clientCert, certKey: other.clientKey }),
      (err: NodeJS.ErrnoException) => {
        assert.match(`${err.code ?? ''} ${err.message}`, /unknown ca|ECONNRESET|socket hang up|alert|certificate/i);
        return true;
      },
    );
    const ok = await apiRequest(port, pki.caCert, '/api/v1/blocklist', {
      key,
      cert: pki.clientCert,
      certKey: pki.clientKey,
    });
    assert.equal(ok.status, 200, ok.body);
    const add = await apiRequest(port, pki.caCert, '/api/v1/blocklist', {
      method: 'POST',
      key,
      cert: pki.clientCert,
      certKey: pki.clientKey,
      body: { port: 4444, protocol: 'tcp', action: 'AUDIT' },
    });
    assert.equal(add.status, 201, add.body);
    const records = (
      await apiRequest(port, pki.caCert, '/api/v1/audit?action=blocklist.add', {
        key,
        cert: pki.clientCert,
        certKey: pki.clientKey,
      })
    ).json().records as { actor: string }[];
    assert.match(records.at(-1)?.actor ?? '', /^ci \(cert CN=.+\)$/);
  },
);

void test(
  'failed authentications from one address: 401 up to the limit, then 429 with Retry-After even for a good key; each failure audited',
  { skip },
  async () => {
    const opts = { cert: pki.clientCert, certKey: pki.clientKey };
    for (let i = 0; i < 3; i++)
      assert.equal(
        (
          await apiRequest(port, pki.caCert, '/api/v1/stats', {
            ...opts,
            key: `aegis_ak_${'0'.repeat(16)}_${'B'.repeat(43)}`,
          })
        ).status,
        401,
      );
    const limited = await apiRequest(port, pki.caCert, '/api/v1/stats', { ...opts, key });
    assert.equal(limited.status, 429);
    assert.ok(Number(limited.headers['retry-after']) >= 1);
    assert.equal((limited.json().error as { code: string }).code, 'AEGIS_ERR_API_RATE_LIMITED');
    assert.equal(
      (await apiRequest(port, pki.caCert, '/api/v1/health', opts)).status,
      200,
      'public routes are not limited',
    );
    const list = runCli([
      'audit',
      'search',
      '--action',
      'auth.failure',
      '--json',
      '--audit-file',
      `${tmp.dir}/audit.log`,
    ]);
    const failures = list.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { actor: string; detail: string; source: string });
    assert.equal(failures.length, 3);
    assert.ok(
      failures.every(
        (f) => f.actor === `key id ${'0'.repeat(16)}` && f.detail === 'unknown' && f.source === '127.0.0.1',
      ),
    );
  },
);

void test('config: a non-loopback api.listen without tls is refused naming the key; with tls it validates', () => {
  const t = makeTempDir('aegis-api-cfg-');
  try {
    const base = 'sources: { s: { type: stdin } }\nsinks: { o: { type: stdout } }\n';
    const plain = path.join(t.dir, 'plain.yml');
    fs.writeFileSync(plain, base + 'api: { listen: 0.0.0.0:9443 }\n');
    const r = runCli(['validate', plain]);
    assert.equal(r.code, 2);
    assert.match(
      r.stdout + r.stderr,
      /api\.listen: '0\.0\.0\.0:9443' is not a loopback address and api\.tls is not set/,
    );
    const tls = path.join(t.dir, 'tls.yml');
    fs.writeFileSync(tls, base + 'api: { listen: 0.0.0.0:9443, tls: { cert_file: /c.pem, key_file: /k.pem } }\n');
    assert.equal(runCli(['validate', tls]).code, 0);
    const bad = path.join(t.dir, 'bad.yml');
    fs.writeFileSync(bad, base + 'api: { listen: nonsense, keys: 1 }\n');
    const b = runCli(['validate', bad]);
    assert.equal(b.code, 2);
    assert.match(b.stdout + b.stderr, /api/);
  } finally {
    t.cleanup();
  }
});
