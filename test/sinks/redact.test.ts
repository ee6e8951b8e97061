/**
 * Secrets a receiver echoes back never leave the sink: the redactor (src/sinks/core/redact.ts) in every encoding,
 * and, for every sink, a real receiver that puts the credentials into its answers, through the real daemon (log,
 * /ready, `stats --json`, dead-letter file) or the real sink built by buildSink.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import tls from 'node:tls';
import { formatJson } from '../../src/formatters/json';
import { buildSink, sinkRedactor } from '../../src/sinks/build';
import { createDeadLetterQueue } from '../../src/sinks/core/dead-letter';
import { createRedactor, REDACTED } from '../../src/sinks/core/redact';
import { createSink } from '../../src/sinks/core/sink';
import { getSinkDefinition } from '../../src/sinks/registry';
import { createSinkStats, createStatsRegistry } from '../../src/telemetry/stats';
import { createLogger } from '../../src/util/logger';
import { packagePath } from '../../src/util/paths';
import { runCli } from '../helpers/cli';
import { startDaemon, until } from '../helpers/daemon';
import { generateEvents } from '../helpers/events';
import { createScriptedTransport } from '../helpers/scripted-transport';
import { makeTestPki, opensslSkipReason } from '../helpers/certs';
import { makeTempDir } from '../helpers/tmp';

const SAMPLES = packagePath('samples', 'events.ndjson');
const PASSWORD = 'S3cr3t-p@ss/word+x=';
const TOKEN = '4f1c2a9e-77d1-4a3b-9e0f-token-value';

test('the redactor removes a secret in every encoding a server can echo, and ignores secrets shorter than 4 characters', () => {
  const apiKey = Buffer.from('VuaCfGcBCdbkQm-e5aOx:ui2lp2axTNmsyakw9tvNnw').toString('base64');
  const r = createRedactor({ values: [PASSWORD, apiKey, TOKEN, 'abc'], pairs: [['elastic', PASSWORD]] });
  const basic = Buffer.from(`elastic:${PASSWORD}`).toString('base64');
  const echoes = [
    PASSWORD,
    `Basic ${basic}`,
    `Basic ${Buffer.from(`elastic:${PASSWORD}`).toString('base64url')}`,
    encodeURIComponent(`Basic ${basic}`),
    encodeURIComponent(PASSWORD).replace(/%[0-9A-F]{2}/g, (m) => m.toLowerCase()),
    JSON.stringify({ auth: `Basic ${basic}`, pw: PASSWORD }),
    JSON.stringify(PASSWORD).replace(/\//g, '\\/'),
    `ApiKey ${apiKey}`,
    'ApiKey VuaCfGcBCdbkQm-e5aOx:ui2lp2axTNmsyakw9tvNnw',
    'the key ui2lp2axTNmsyakw9tvNnw is unknown',
    `Splunk ${TOKEN}`,
    `Bearer ${TOKEN}`,
    Buffer.from(TOKEN).toString('base64'),
  ];
  for (const e of echoes) {
    const out = r(`401: ${e} (end)`);
    assert.ok(out.includes(REDACTED), `${e} → ${out}`);
    for (const leak of [PASSWORD, basic.slice(0, 20), 'ui2lp2axTNmsyakw9tvNnw', TOKEN, apiKey.slice(0, 20)])
      assert.ok(!out.includes(leak), `${leak} in ${out}`);
  }
  assert.equal(r('Basic realm="security"'), 'Basic realm="security"', 'the scheme word stays');
  assert.equal(r('abc def abc'), 'abc def abc', 'a 3-character secret is not redacted');
  assert.equal(createRedactor({ values: [] })('anything'), 'anything');
});

/** An HTTP receiver that echoes the request's Authorization header into every error answer and WWW-Authenticate. */
async function startEchoServer(
  answer: (req: http.IncomingMessage, auth: string) => { status: number; body: string },
): Promise<{ url: string; requests: () => number; close: () => Promise<void> }> {
  let requests = 0;
  const server = http.createServer((req, res) => {
    requests++;
    req.resume();
    req.on('end', () => {
      const auth = req.headers.authorization ?? '';
      const a = answer(req, auth);
      res.writeHead(a.status, {
        'content-type': 'application/json',
        'www-authenticate': `Basic realm="echo", error="${auth}"`,
        'x-echo-auth': encodeURIComponent(auth),
      });
      res.end(a.body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests: () => requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** Every place the daemon shows a reason: its log, /ready, `stats --json`, the dead-letter file. */
async function assertNoLeakThroughDaemon(
  dir: string,
  sinkYaml: string,
  secrets: readonly string[],
  server: { requests: () => number },
): Promise<void> {
  const dlq = path.join(dir, 'dlq.ndjson');
  const d = await startDaemon(
    dir,
    [
      `data_dir: ${dir}`,
      `dead_letter: { path: ${dlq} }`,
      `sources: { sample: { type: replay, path: ${SAMPLES}, rate: 200, loop: true } }`,
      `sinks: { out: ${sinkYaml} }`,
      'metrics: { listen: 127.0.0.1 }',
      'shutdown_timeout_ms: 2000',
    ].join('\n'),
  );
  try {
    // The sink's last error alternates between the receiver's echo and the core's own words ("N events need a
    // retry", when a batch is split): wait for an echo, and check every answer /ready gave on the way.
    const readyBodies: string[] = [];
    const ready = await until("/ready to show the receiver's (redacted) answer", async () => {
      const r = await d.get('/ready');
      readyBodies.push(r.body);
      return r.status === 503 && /unhealthy/.test(r.body) && /<redacted>/.test(r.body) ? r : undefined;
    });
    await until('dead-letter entries', () =>
      Promise.resolve(fs.existsSync(dlq) && fs.readFileSync(dlq, 'utf8').split('\n').length > 3 ? true : undefined),
    );
    assert.ok(server.requests() > 2, 'the receiver was asked several times');
    const stats = runCli(['stats', '--json'], { env: { AEGIS_CONTROL_SOCKET: d.socket } });
    assert.equal(stats.code, 0, stats.stderr);
    const { stderr } = await d.stop();
    const dead = fs.readFileSync(dlq, 'utf8');
    const shown = { log: stderr, ready: readyBodies.join('\n'), stats: stats.stdout, deadLetter: dead };
    for (const [where, text] of Object.entries(shown)) {
      for (const s of secrets)
        assert.ok(!text.includes(s), `the secret ${s} is in the ${where}:\n${text.slice(0, 3000)}`);
    }
    // The echoes were there, and were redacted (not merely absent).
    assert.match(ready.body, /<redacted>/);
    assert.match(dead, /<redacted>/);
    assert.match(stderr, /<redacted>/);
  } finally {
    if (d.child.exitCode === null) await d.stop();
  }
}

test('regression: the Elasticsearch sink does not leak credentials a receiver echoes back (log, /ready, stats, dead-letter)', async () => {
  const { dir, cleanup } = makeTempDir();
  let n = 0;
  const server = await startEchoServer((req, auth) => {
    const reason = `unable to authenticate with ${auth} (${encodeURIComponent(auth)}) user:pass=${Buffer.from(
      auth.replace(/^Basic /, ''),
      'base64',
    ).toString('utf8')}`;
    if (req.method === 'GET')
      return { status: 401, body: JSON.stringify({ error: { type: 'security_exception', reason } }) };
    // _bulk: alternately refused for the credentials (retried, unhealthy) and as a bad request (dead-lettered).
    n++;
    return n % 2 === 1
      ? { status: 401, body: JSON.stringify({ error: { type: 'security_exception', reason } }) }
      : { status: 400, body: JSON.stringify({ error: { type: 'illegal_argument_exception', reason } }) };
  });
  try {
    const pwFile = path.join(dir, 'es-password');
    fs.writeFileSync(pwFile, PASSWORD, { mode: 0o600 });
    await assertNoLeakThroughDaemon(
      dir,
      `{ type: elasticsearch, url: "${server.url}", username: elastic, password_file: ${pwFile}, compression: none, batch: { timeout_ms: 20, max_events: 5 }, retry: { initial_backoff_ms: 10, max_backoff_ms: 50 } }`,
      [PASSWORD, Buffer.from(`elastic:${PASSWORD}`).toString('base64').slice(0, 24), encodeURIComponent(PASSWORD)],
      server,
    );
  } finally {
    await server.close();
    cleanup();
  }
});

test('regression: the Splunk HEC sink does not leak a token a receiver echoes back (log, /ready, stats, dead-letter)', async () => {
  const { dir, cleanup } = makeTempDir();
  let n = 0;
  const server = await startEchoServer((req, auth) => {
    if (req.method === 'GET') return { status: 403, body: JSON.stringify({ text: `Invalid token ${auth}`, code: 4 }) };
    n++;
    return n % 2 === 1
      ? { status: 403, body: JSON.stringify({ text: `Invalid token ${auth}`, code: 4 }) }
      : { status: 400, body: JSON.stringify({ text: `Invalid data format (${encodeURIComponent(auth)})`, code: 6 }) };
  });
  try {
    await assertNoLeakThroughDaemon(
      dir,
      `{ type: splunk_hec, endpoint: "${server.url}", token: "${TOKEN}", acknowledgements: { enabled: false }, compression: none, batch: { timeout_ms: 20, max_events: 2 }, retry: { initial_backoff_ms: 10, max_backoff_ms: 50 } }`,
      [TOKEN, Buffer.from(TOKEN).toString('base64').slice(0, 24)],
      server,
    );
  } finally {
    await server.close();
    cleanup();
  }
});

/** A RELP-over-TLS receiver that opens sessions and refuses every event with `500`, quoting `secret` in its answer. */
async function startRefusingRelp(
  pki: { serverCert: string; serverKey: string },
  secret: string,
): Promise<{ port: number; close: () => Promise<void> }> {
  const server = tls.createServer(
    { cert: fs.readFileSync(pki.serverCert), key: fs.readFileSync(pki.serverKey) },
    (socket) => {
      let buf = '';
      socket.setEncoding('utf8');
      socket.on('error', () => undefined);
      socket.on('data', (chunk: string) => {
        buf += chunk;
        for (;;) {
          const m = /^(\d+) (\S+) (\d+)[ \n]?/.exec(buf);
          if (m === null) return;
          const len = Number(m[3]);
          const end = m[0].length + len + (len > 0 ? 1 : 0);
          if (buf.length < end) return;
          buf = buf.slice(end);
          const data =
            m[2] === 'open'
              ? '200 OK\nrelp_version=0\nrelp_software=echo\ncommands=syslog'
              : m[2] === 'close'
                ? ''
                : `500 refused: passphrase ${secret} is wrong`;
          socket.write(`${m[1]} rsp ${Buffer.byteLength(data)}${data === '' ? '' : ` ${data}`}\n`);
          if (m[2] === 'close') socket.end();
        }
      });
    },
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

test("regression: the syslog sink (relp over tls) redacts its configured secret from a receiver's answer", async (t) => {
  const skip = opensslSkipReason();
  if (skip !== undefined) return t.skip(skip);
  const { dir, cleanup } = makeTempDir();
  const pki = makeTestPki(path.join(dir, 'pki'));
  const passphrase = 'key-passphrase-9f8e7d';
  const encKey = path.join(dir, 'client-enc.key');
  const r = spawnSync('openssl', [
    'pkey',
    '-in',
    pki.clientKey,
    '-aes256',
    '-passout',
    `pass:${passphrase}`,
    '-out',
    encKey,
  ]);
  assert.equal(r.status, 0, String(r.stderr));
  const relp = await startRefusingRelp(pki, passphrase);
  let logText = '';
  const logger = createLogger({ level: 'DEBUG', write: (l) => (logText += l) });
  const stats = createStatsRegistry();
  const dlq = path.join(dir, 'dlq.ndjson');
  const deadLetter = createDeadLetterQueue({ path: dlq, maxBytes: 1e9, logger, stats: stats.deadLetter });
  try {
    const { sink } = buildSink(
      {
        name: 'relp',
        type: 'syslog',
        raw: {
          type: 'syslog',
          host: '127.0.0.1',
          port: relp.port,
          transport: 'relp',
          relp: { tls: true },
          tls: { ca_file: pki.caCert, cert_file: pki.clientCert, key_file: encKey },
          tls_key_passphrase: passphrase,
          batch: { timeout_ms: 10 },
        },
      },
      { logger, hostname: 'h', version: 'test', dataDir: dir, stats, deadLetter },
    );
    await sink.accept(generateEvents(5));
    await until('dead-lettered', () => Promise.resolve(sink.stats.deadLettered === 5 ? true : undefined));
    await sink.close(2000);
    await deadLetter.close();
    const dead = fs.readFileSync(dlq, 'utf8');
    assert.match(dead, /refused: passphrase <redacted> is wrong/);
    assert.ok(!dead.includes(passphrase), dead);
    assert.ok(!logText.includes(passphrase), logText);
    assert.ok(!(sink.stats.lastError ?? '').includes(passphrase));
  } finally {
    await relp.close();
    cleanup();
  }
});

test('the sink core redacts what any transport reports (file sink: a failure reason carrying a configured secret)', async () => {
  // The file sink has no secret of its own; what matters is that the core applies the sink's redactor to every
  // reason, whatever the transport: a scripted transport (in the file sink's place) fails with the secret inside.
  const { dir, cleanup } = makeTempDir();
  const secret = 'file-secret-1234';
  const def = getSinkDefinition('file');
  assert.ok(def !== undefined);
  const redact = sinkRedactor({ ...def, secrets: ['password'] }, { password: secret });
  let logText = '';
  const logger = createLogger({ level: 'DEBUG', write: (l) => (logText += l) });
  const dlq = path.join(dir, 'dlq.ndjson');
  const deadLetter = createDeadLetterQueue({
    path: dlq,
    maxBytes: 1e9,
    logger,
    stats: { written: 0, bytes: 0, failed: 0 },
  });
  const transport = createScriptedTransport([
    { kind: 'retryable', reason: `EACCES: open /var/log/${secret}/x`, unhealthy: true },
    { kind: 'rejected', reason: `disk quota of ${encodeURIComponent(secret)} exceeded` },
  ]);
  transport.health = { healthy: false, reason: `cannot open ${secret}` };
  const stats = createSinkStats('out', 'file', { maxEvents: 100, maxBytes: 1e6 });
  const sink = createSink(
    {
      name: 'out',
      type: 'file',
      transport,
      formatter: { name: 'json', contentType: 'application/json', format: formatJson },
      stats,
      logger,
      deadLetter,
      redact,
    },
    {
      batch: { maxEvents: 10, maxBytes: 1e6, timeoutMillis: 5 },
      buffer: { maxEvents: 100, maxBytes: 1e6, whenFull: 'block' },
      request: { concurrency: 1, timeoutMillis: 1000 },
      retry: { initialBackoffMillis: 1, maxBackoffMillis: 5, maxDurationMillis: 0, maxRetryAfterMillis: 1000 },
    },
  );
  try {
    const health = await sink.healthcheck();
    assert.ok(!health.healthy && health.reason === 'cannot open <redacted>', JSON.stringify(health));
    await sink.accept(generateEvents(3));
    await until('dead-lettered', () => Promise.resolve(stats.deadLettered === 3 ? true : undefined));
    await sink.close(1000);
    await deadLetter.close();
    const dead = fs.readFileSync(dlq, 'utf8');
    for (const text of [dead, logText, stats.lastError ?? ''])
      assert.ok(!text.includes(secret) && !text.includes(encodeURIComponent(secret)), text);
    assert.match(dead, /disk quota of <redacted> exceeded/);
    assert.match(logText, /EACCES: open \/var\/log\/<redacted>\/x/);
  } finally {
    cleanup();
  }
});
