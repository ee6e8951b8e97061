/**
 * The Blixard monitoring guide's CLI forms, against a real daemon: `dashboard generate --format grafana --type …`,
 * `metrics export --format prometheus --endpoint URL` (a local Pushgateway-compatible receiver that parses what it
 * gets with promtool), `debug bundle --include-logs --include-metrics --output FILE.tar.gz` (unpacked with tar;
 * no secret of the configuration anywhere in it), `debug profile --duration … --output FILE.cpuprofile`.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { packagePath } from '../../src/util/paths';
import { runCli, spawnCli } from '../helpers/cli';
import type { TestDaemon } from '../helpers/daemon';
import { startDaemon } from '../helpers/daemon';
import { promtool, promtoolMissing } from '../helpers/promtool';
import { makeTempDir } from '../helpers/tmp';

const SECRET = 'Sup3r-s3cret-ES-passw0rd';
const INLINE_SECRET = 'inline-api-key-0123456789';
let tmp: { dir: string; cleanup: () => void };
let daemon: TestDaemon;

before(async () => {
  tmp = makeTempDir('aegis-guide-cli-');
  daemon = await startDaemon(
    tmp.dir,
    [
      `data_dir: ${tmp.dir}`,
      `sources: { sample: { type: replay, path: ${packagePath('samples', 'events.ndjson')}, rate: 200, loop: true } }`,
      'sinks:',
      `  out: { type: file, path: ${tmp.dir}/out.ndjson, fsync: never }`,
      // Never reachable (port 9 on loopback): its secrets are what the bundle must not contain.
      '  es: { type: elasticsearch, url: "http://127.0.0.1:9", username: aegis, password: "${ES_PASSWORD}" }',
      `  es2: { type: elasticsearch, url: "http://127.0.0.1:9", api_key: ${INLINE_SECRET} }`,
      'metrics: { listen: 127.0.0.1 }',
    ].join('\n'),
    { ES_PASSWORD: SECRET },
  );
});

after(async () => {
  await daemon?.stop();
  tmp?.cleanup();
});

const env = (): NodeJS.ProcessEnv => ({ AEGIS_CONTROL_SOCKET: daemon.socket });

void test('dashboard generate --format grafana --type T prints the same dashboard as --type T; another format is a usage error', () => {
  for (const type of ['overview', 'enforcement', 'performance']) {
    const withFormat = runCli(['dashboard', 'generate', '--format', 'grafana', '--type', type]);
    assert.equal(withFormat.code, 0, withFormat.stderr);
    assert.equal(withFormat.stdout, fs.readFileSync(packagePath('rules', 'grafana', `${type}.json`), 'utf8'));
  }
  const bad = runCli(['dashboard', 'generate', '--format', 'kibana', '--type', 'overview']);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--format must be one of grafana/);
});

void test('metrics export --format prometheus --endpoint URL: PUT to the Pushgateway group, an exposition promtool parses', async (t) => {
  const got: { method: string; url: string; type: string; auth: string; body: string }[] = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => {
      got.push({
        method: req.method ?? '',
        url: req.url ?? '',
        type: String(req.headers['content-type']),
        auth: String(req.headers.authorization ?? ''),
        body,
      });
      res.writeHead(req.url?.includes('/refuse') ? 400 : 200).end(req.url?.includes('/refuse') ? 'bad exposition' : '');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  try {
    const push = spawnCli(
      ['metrics', 'export', '--format', 'prometheus', '--endpoint', `http://pusher:pw@127.0.0.1:${port}/`],
      env(),
    );
    let stderr = '';
    push.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const code = await new Promise<number | null>((r) => push.on('close', r));
    assert.equal(code, 0, stderr);
    assert.doesNotMatch(stderr, /pw@/, 'credentials are not printed');
    assert.equal(got.length, 1);
    const [req] = got;
    assert.equal(req!.method, 'PUT');
    assert.match(req!.url, /^\/metrics\/job\/aegisbpf\/instance\/[^/]+$/);
    assert.match(req!.type, /^text\/plain; version=0\.0\.4/);
    assert.equal(req!.auth, `Basic ${Buffer.from('pusher:pw').toString('base64')}`);
    assert.match(req!.body, /^aegisbpf_up(\{[^}]*\})? 1$/m, 'the running daemon’s metrics');
    const missing = promtoolMissing();
    if (missing) t.diagnostic(`exposition not parsed: ${missing}`);
    else {
      const parsed = promtool(['check', 'metrics'], req!.body);
      assert.doesNotMatch(
        parsed.stdout + parsed.stderr,
        /error while linting|text format parsing error/,
        parsed.stderr,
      );
    }
    // A refusal is exit 1 with the receiver's answer.
    // spawnSync would block this process, and with it the receiver.
    const refusing = spawnCli(
      ['metrics', 'export', '--endpoint', `http://127.0.0.1:${port}/refuse/metrics/job/x`],
      env(),
    );
    let refusedErr = '';
    refusing.stderr.on('data', (d: Buffer) => (refusedErr += d.toString()));
    const refused = { status: await new Promise<number | null>((r) => refusing.on('close', r)), stderr: '' };
    refused.stderr = refusedErr;
    assert.equal(refused.status, 1);
    assert.match(refused.stderr, /HTTP 400: bad exposition \(AEGIS_ERR_METRICS_PUSH\)/);
    assert.equal(got.at(-1)!.url, '/refuse/metrics/job/x', 'an endpoint naming a group is used as it is');
  } finally {
    server.close();
  }
});

void test('debug bundle --include-logs --include-metrics --output FILE.tar.gz: every part, and no secret anywhere in it', () => {
  const out = path.join(tmp.dir, 'bundle.tar.gz');
  const r = runCli(['debug', 'bundle', '--include-logs', '--include-metrics', '--output', out], {
    env: { ...env(), ES_PASSWORD: SECRET },
  });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(fs.statSync(out).mode & 0o777, 0o600);
  const x = path.join(tmp.dir, 'unpacked');
  fs.mkdirSync(x);
  const tar = spawnSync('tar', ['-xzf', out, '-C', x], { encoding: 'utf8' });
  assert.equal(tar.status, 0, tar.stderr);
  const [top] = fs.readdirSync(x);
  const files = fs.readdirSync(path.join(x, top!)).sort();
  assert.deepEqual(files, [
    'config.json',
    'health.json',
    'kernel-features.json',
    'logs.ndjson',
    'manifest.json',
    'metrics.prom',
    'policy.json',
    'stats.json',
  ]);
  const read = (f: string): string => fs.readFileSync(path.join(x, top!, f), 'utf8');
  assert.deepEqual((JSON.parse(read('manifest.json')) as { missing: object }).missing, {});
  const config = JSON.parse(read('config.json')) as { sinks: Record<string, Record<string, unknown>> };
  assert.equal(config.sinks.es!.password, '[REDACTED]');
  assert.equal(config.sinks.es!.username, 'aegis');
  assert.equal(config.sinks.es2!.api_key, '[REDACTED]');
  assert.match(read('logs.ndjson'), /"msg":"aegisbpf started\."/, 'the daemon’s recent log lines');
  assert.match(read('metrics.prom'), /^aegisbpf_up/m);
  assert.ok('sinks' in (JSON.parse(read('stats.json')) as object));
  // No secret in any file, in any common encoding.
  const raw = fs.readFileSync(out);
  for (const f of files) {
    const text = read(f);
    for (const s of [SECRET, INLINE_SECRET]) {
      assert.ok(!text.includes(s), `${f} holds a secret`);
      assert.ok(!text.includes(Buffer.from(s).toString('base64')), `${f} holds a secret (base64)`);
      assert.ok(!text.includes(Buffer.from(`aegis:${s}`).toString('base64')), `${f} holds Basic credentials`);
    }
  }
  assert.ok(raw.length > 0);
});

void test('debug profile --duration 1s --output FILE.cpuprofile: a V8 CPU profile of the running daemon', () => {
  const out = path.join(tmp.dir, 'daemon.cpuprofile');
  const r = runCli(['debug', 'profile', '--duration', '1s', '--output', out], { env: env() });
  assert.equal(r.code, 0, r.stderr);
  const profile = JSON.parse(fs.readFileSync(out, 'utf8')) as {
    nodes: { callFrame: { functionName: string; url: string } }[];
    startTime: number;
    endTime: number;
    samples: number[];
  };
  assert.ok(profile.nodes.length > 1);
  assert.ok(profile.endTime - profile.startTime >= 900_000, 'about 1 s, in microseconds');
  assert.ok(profile.samples.length > 0);
  assert.ok(
    profile.nodes.some((n) => n.callFrame.url.includes('dist/src/')),
    'the daemon’s own code is in it (it is the daemon that was profiled)',
  );
  const bad = runCli(['debug', 'profile', '--duration', 'forever', '--output', out], { env: env() });
  assert.equal(bad.code, 2);
  const none = runCli(['debug', 'profile', '--duration', '1s', '--output', out], {
    env: { AEGIS_CONTROL_SOCKET: path.join(tmp.dir, 'nobody.sock') },
  });
  assert.equal(none.code, 1);
  assert.match(none.stderr, /no running daemon .*AEGIS_ERR_DEBUG/);
});
