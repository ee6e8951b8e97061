import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { parseLogs, runCli, spawnCli, waitExit, waitForLog, waitUntil } from '../helpers/cli';
import { formatJson } from '../../src/formatters/json';
import type { AegisEvent } from '../../src/event/types';
import { generateEvents } from '../helpers/events';
import { makeTempDir } from '../helpers/tmp';
import { packagePath } from '../../src/util/paths';
import { fetchDaemonStats } from '../../src/daemon/control-client';

const pkgVersion = (JSON.parse(fs.readFileSync(packagePath('package.json'), 'utf8')) as { version: string }).version;

test('--help lists the commands and exits 0; no arguments prints help and exits 2; --version', () => {
  const help = runCli(['--help']);
  assert.equal(help.code, 0);
  for (const c of ['run', 'validate', 'replay', 'schema']) assert.match(help.stdout, new RegExp(`^  ${c} `, 'm'));
  assert.equal(runCli([]).code, 2);
  const v = runCli(['--version']);
  assert.equal(v.stdout, `aegisbpf ${pkgVersion}\n`);
  const unknown = runCli(['frobnicate']);
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /unknown command 'frobnicate'/);
  const badFlag = runCli(['run', '--bogus']);
  assert.equal(badFlag.code, 2);
  assert.match(badFlag.stderr, /run: Unknown option '--bogus'/);
});

test('validate: exit 2 with every problem and its key path; exit 0 with a one-line summary', () => {
  const { dir, cleanup } = makeTempDir();
  const bad = path.join(dir, 'bad.yml');
  fs.writeFileSync(
    bad,
    'sources: { s: { type: replay } }\nsinks:\n  hec: { type: file, path: /tmp/x, batch: { max_events: 0 } }\n',
  );
  const r = runCli(['validate', bad]);
  assert.equal(r.code, 2);
  assert.match(r.stdout, /2 problems/);
  assert.match(r.stdout, /^sinks\.hec\.batch\.max_events: must be >= 1$/m);
  assert.match(r.stdout, /^sources\.s\.path: is required$/m);
  const ok = runCli(['validate', packagePath('examples', 'minimal.yml')]);
  assert.equal(ok.code, 0);
  assert.match(ok.stdout, /valid: 1 source \(replay\), 0 processors, 0 routes, 1 sink \(stdout\)\n$/);
  cleanup();
});

test('replay without --config previews the file on stdout; logs are JSON on stderr, never on stdout', () => {
  const r = runCli(['replay', 'samples/events.ndjson', '--log-format=json']);
  assert.equal(r.code, 0, r.stderr);
  const input = fs
    .readFileSync(packagePath('samples', 'events.ndjson'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as AegisEvent);
  const output = r.stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as AegisEvent);
  assert.deepEqual(output, input);
  const logs = r.logs;
  assert.ok(
    logs.length >= 2 &&
      logs.every((l) => typeof l.level === 'string' && typeof l.msg === 'string' && typeof l.ts === 'string'),
  );
  const summary = logs.find((l) => l.msg === 'aegisbpf stopped.')!;
  assert.equal(summary.events_in, input.length);
  assert.equal(runCli(['replay', 'samples/events.ndjson', '--log-format=xml']).code, 2);
});

test('replay: invalid lines are reported, the rest flows, exit code 3', () => {
  const { dir, cleanup } = makeTempDir();
  const f = path.join(dir, 'in.ndjson');
  const events = generateEvents(5);
  fs.writeFileSync(f, [formatJson(events[0]!), 'garbage', formatJson(events[1]!)].join('\n') + '\n');
  const r = runCli(['replay', f]);
  assert.equal(r.code, 3);
  assert.equal(r.stdout.trim().split('\n').length, 2);
  const warn = r.logs.find((l) => l.code === 'AEGIS_ERR_EVENT_INVALID');
  assert.ok(warn !== undefined, r.stderr);
  assert.match(String(warn.first), /^line 2: invalid JSON/);
  cleanup();
});

test('run --config: replay → filter → file; dead-letter file for invalid input; run rejects --log with --config', () => {
  const { dir, cleanup } = makeTempDir();
  const input = path.join(dir, 'in.ndjson');
  const events = generateEvents(300);
  fs.writeFileSync(input, events.map((e) => formatJson(e)).join('\n') + '\n{"broken":\n');
  const out = path.join(dir, 'out', 'events.ndjson');
  const cfg = path.join(dir, 'c.yml');
  fs.writeFileSync(
    cfg,
    `data_dir: ${dir}\nsources: { r: { type: replay, path: ${input} } }\nprocessors: [{ type: filter, condition: 'type == "block"' }]\nsinks: { f: { type: file, path: ${out} } }\n`,
  );
  const r = runCli(['run', '--config', cfg]);
  assert.equal(r.code, 3, r.stderr); // one invalid line
  const got = fs
    .readFileSync(out, 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as AegisEvent);
  assert.deepEqual(
    got.map((e) => e.exec_id),
    events.filter((e) => e.type === 'block').map((e) => e.exec_id),
  );
  const dlq = fs
    .readFileSync(path.join(dir, 'dead-letter.ndjson'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { line: number });
  assert.deepEqual(
    dlq.map((d) => d.line),
    [301],
  );
  const both = runCli(['run', '--config', cfg, '--log=stdout']);
  assert.equal(both.code, 2);
  assert.match(both.stderr, /with --config, configure sinks in the file/);
  cleanup();
});

test('run with an invalid config exits 2 before starting anything', () => {
  const { dir, cleanup } = makeTempDir();
  const cfg = path.join(dir, 'c.yml');
  const out = path.join(dir, 'never.ndjson');
  fs.writeFileSync(
    cfg,
    `sources: { r: { type: replay, path: samples/events.ndjson } }\nsinks: { f: { type: file, path: ${out}, fsync: sometimes } }\n`,
  );
  const r = runCli(['run', '--config', cfg]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /sinks\.f\.fsync: must be one of never, batch, always/);
  assert.equal(fs.existsSync(out), false);
  cleanup();
});

test('SIGTERM flushes: every event read is in the output file, and the process exits 0', async () => {
  const { dir, cleanup } = makeTempDir();
  const input = path.join(dir, 'in.ndjson');
  fs.writeFileSync(
    input,
    generateEvents(100)
      .map((e) => formatJson(e))
      .join('\n') + '\n',
  );
  const out = path.join(dir, 'out.ndjson');
  const cfg = path.join(dir, 'c.yml');
  // A long batch timeout: without a flush on shutdown, the events would still be in the buffer.
  fs.writeFileSync(
    cfg,
    `data_dir: ${dir}\nsources: { r: { type: replay, path: ${input}, rate: 500, loop: true } }\nsinks: { f: { type: file, path: ${out}, batch: { max_events: 10000, timeout_ms: 600000, max_bytes: 10000000 } } }\n`,
  );
  const socket = path.join(dir, 'control.sock');
  const child = spawnCli(['run', '--config', cfg], { AEGIS_CONTROL_SOCKET: socket });
  const exited = waitExit(child);
  await waitForLog(child, (l) => l.msg === 'aegisbpf started.');
  await new Promise((r) => setTimeout(r, 700));
  // Past the first pass of the file (a loaded machine may need longer than 700 ms): ask the daemon.
  const deadline = Date.now() + 15_000;
  for (;;) {
    const r = await fetchDaemonStats(socket, false);
    if (r.ok && (r.value.pipeline?.events_in ?? 0) > 100) break;
    assert.ok(Date.now() < deadline, 'the replay did not get past its first pass within 15 s');
    await new Promise((res) => setTimeout(res, 50));
  }
  assert.equal(fs.existsSync(out) ? fs.statSync(out).size : 0, 0, 'nothing written before the flush');
  child.kill('SIGTERM');
  const { code, stderr } = await exited;
  assert.equal(code, 0, stderr);
  const summary = parseLogs(stderr).find((l) => l.msg === 'aegisbpf stopped.')!;
  const lines = fs.readFileSync(out, 'utf8').trim().split('\n');
  assert.ok(lines.length > 0, `${lines.length} events`); // about 500 on a quiet machine; fewer under load
  assert.equal(summary.events_in, lines.length);
  assert.equal((summary.sinks as Record<string, { delivered: number }>).f!.delivered, lines.length);
  cleanup();
});

test('SIGTERM while the source waits for room in a sink that cannot deliver: exits by shutdown_timeout_ms, the rest dead-lettered', async () => {
  const { dir, cleanup } = makeTempDir();
  try {
    const input = path.join(dir, 'in.ndjson');
    fs.writeFileSync(
      input,
      generateEvents(5000)
        .map((e) => formatJson(e))
        .join('\n') + '\n',
    );
    const cfg = path.join(dir, 'c.yml');
    // Port 9 on loopback: nothing listens, every connect is refused. A 200-event buffer fills at once, and the
    // replay then waits in the sink for room that never comes.
    fs.writeFileSync(
      cfg,
      [
        `data_dir: ${dir}`,
        'shutdown_timeout_ms: 1000',
        `sources: { r: { type: replay, path: ${input} } }`,
        'sinks: { s: { type: syslog, transport: tcp, host: 127.0.0.1, port: 9, healthcheck: { enabled: false }, buffer: { max_events: 200 }, batch: { max_events: 100 } } }',
      ].join('\n') + '\n',
    );
    const child = spawnCli(['run', '--config', cfg]);
    const exited = waitExit(child);
    await waitForLog(child, (l) => l.msg === 'Sink is unhealthy; events wait in its buffer and are retried.');
    const t0 = Date.now();
    child.kill('SIGTERM');
    // Never hang the suite: a daemon still running 10 s after SIGTERM is killed and the test fails.
    const killer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    const { code, stderr } = await exited;
    clearTimeout(killer);
    const took = Date.now() - t0;
    assert.ok(took < 6000, `exited ${took} ms after SIGTERM (shutdown_timeout_ms 1000)`);
    assert.equal(code, 3, stderr); // incomplete: events went to the dead-letter file
    const summary = parseLogs(stderr).find((l) => l.msg === 'aegisbpf stopped.')!;
    assert.equal(summary.lost, 0, 'nothing accepted is lost: what could not be delivered is in the dead-letter file');
    const sink = (summary.sinks as Record<string, { received: number; dead_lettered: number; delivered: number }>).s!;
    assert.equal(sink.delivered, 0);
    assert.ok(sink.received >= 200, `received ${sink.received}`);
    const dead = fs.readFileSync(path.join(dir, 'dead-letter.ndjson'), 'utf8').trim().split('\n');
    assert.equal(dead.length, sink.dead_lettered);
    assert.equal(sink.dead_lettered, sink.received, 'every event the sink accepted is in the dead-letter file');
  } finally {
    cleanup();
  }
});

test('SIGHUP reopens the output file (logrotate)', async () => {
  const { dir, cleanup } = makeTempDir();
  const input = path.join(dir, 'in.ndjson');
  fs.writeFileSync(
    input,
    generateEvents(20)
      .map((e) => formatJson(e))
      .join('\n') + '\n',
  );
  const out = path.join(dir, 'out.ndjson');
  const cfg = path.join(dir, 'c.yml');
  fs.writeFileSync(
    cfg,
    `data_dir: ${dir}\nsources: { r: { type: replay, path: ${input}, rate: 200, loop: true } }\nsinks: { f: { type: file, path: ${out}, batch: { timeout_ms: 20 } } }\n`,
  );
  const child = spawnCli(['run', '--config', cfg]);
  const exited = waitExit(child);
  await waitForLog(child, (l) => l.msg === 'aegisbpf started.');
  await waitUntil(() => fs.existsSync(out) && fs.statSync(out).size > 0, 'the first events in the output file');
  fs.renameSync(out, `${out}.1`);
  child.kill('SIGHUP');
  await waitUntil(() => fs.existsSync(out) && fs.statSync(out).size > 0, 'events in the reopened file');
  child.kill('SIGTERM');
  const { code, stderr } = await exited;
  assert.equal(code, 0, stderr);
  const before = fs.readFileSync(`${out}.1`, 'utf8').trim().split('\n').length;
  const after = fs.readFileSync(out, 'utf8').trim().split('\n').length;
  assert.ok(before > 0 && after > 0, `rotated ${before}, new ${after}`);
  const summary = parseLogs(stderr).find((l) => l.msg === 'aegisbpf stopped.')!;
  assert.equal(summary.events_in, before + after, 'nothing lost across the reopen');
  cleanup();
});

test('schema prints the event and config schemas', () => {
  const ev = JSON.parse(runCli(['schema', 'event']).stdout) as { $id: string };
  assert.match(ev.$id, /schema\/event\//);
  const cfg = JSON.parse(runCli(['schema', 'config']).stdout) as { title: string };
  assert.equal(cfg.title, 'aegisbpf configuration');
});

test('health: no running daemon leaves the probe’s exit code as it is; --ready asks only the daemon and exits 1', () => {
  const { dir, cleanup } = makeTempDir();
  try {
    const socket = path.join(dir, 'none.sock');
    const ready = runCli(['health', '--ready', '--socket', socket]);
    assert.equal(ready.code, 1);
    assert.equal(ready.stdout, `daemon: not running (no control socket answers at ${socket})\n`);
    const json = runCli(['health', '--ready', '--json', '--socket', socket]);
    assert.deepEqual(JSON.parse(json.stdout), {
      reachable: false,
      socketPath: socket,
      failure: 'not-running',
      reason: JSON.parse(json.stdout).reason,
    });
    // The kernel probe's code (0/1/2 by what this machine allows) is unchanged by the absent daemon.
    const full = runCli(['health', '--json', '--socket', socket]);
    const report = JSON.parse(full.stdout) as { status: string; daemon: { reachable: boolean } };
    assert.equal(full.code, { healthy: 0, degraded: 1, cannot_run: 2 }[report.status]);
    assert.equal(report.daemon.reachable, false);
    const text = runCli(['health', '--socket', socket]);
    assert.match(text.stdout, /^status: \S+\n(?: {2}- .*\n)*daemon: not running /m);
  } finally {
    cleanup();
  }
});
