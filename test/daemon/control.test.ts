import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import {
  controlGet,
  fetchDaemonMetrics,
  fetchDaemonStats,
  queryDaemonReadiness,
} from '../../src/daemon/control-client';
import { createControlServer } from '../../src/daemon/control-server';
import { createMetrics } from '../../src/telemetry/metrics';
import { createSinkStats, createStatsRegistry } from '../../src/telemetry/stats';
import { isAegisError } from '../../src/util/errors';
import { sampleValue } from '../helpers/daemon';
import { makeTempDir } from '../helpers/tmp';

const usage = () => ({ cpuPercent: 1, rssBytes: 2 });

function server(socketPath: string) {
  const stats = createStatsRegistry();
  const sink = createSinkStats('out', 'file', { maxEvents: 10, maxBytes: 100 });
  sink.delivered = 5;
  stats.sinks.set('out', sink);
  stats.readiness.register('sink.out', () => (sink.healthy ? { ready: true } : { ready: false, reason: 'disk full' }));
  const metrics = (detailed: boolean) => createMetrics({ stats, version: '9.9.9', detailed });
  return { stats, sink, control: createControlServer({ socketPath, stats, version: '9.9.9', metrics, usage }) };
}

test('the control socket is created 0600 and serves stats, metrics (plain or detailed), readiness and health', async () => {
  const { dir, cleanup } = makeTempDir();
  const socketPath = path.join(dir, 'run', 'aegisbpf', 'control.sock');
  const { sink, control } = server(socketPath);
  await control.listen();
  try {
    assert.equal(fs.statSync(socketPath).mode & 0o777, 0o600);
    assert.equal(fs.statSync(path.dirname(socketPath)).mode & 0o777, 0o700, 'a directory aegisbpf creates is 0700');
    const stats = await fetchDaemonStats(socketPath, false);
    assert.ok(stats.ok && stats.status === 200);
    assert.equal(stats.value.origin, 'daemon');
    assert.equal(stats.value.pid, process.pid);
    assert.equal(stats.value.sinks?.out?.delivered, 5);
    assert.equal(stats.value.sensor.blocks_total, 0);
    assert.equal(stats.value.sensor.attached, false);
    assert.equal(stats.value.sensor.top_blocked_paths, undefined);
    const detailedStats = await fetchDaemonStats(socketPath, true);
    assert.ok(detailedStats.ok);
    assert.deepEqual(detailedStats.value.sensor.top_blocked_paths, []);
    const plain = await fetchDaemonMetrics(socketPath, false);
    assert.ok(plain.ok);
    assert.equal(sampleValue(plain.value, 'aegisbpf_up', { version: '9.9.9' }), 1);
    assert.doesNotMatch(plain.value, /aegisbpf_blocks_by_path/);
    const detailed = await fetchDaemonMetrics(socketPath, true);
    assert.ok(detailed.ok);
    assert.match(detailed.value, /^# TYPE aegisbpf_blocks_by_path gauge$/m);
    let ready = await queryDaemonReadiness({ socketPath });
    assert.deepEqual(ready, { reachable: true, socketPath, ready: true, checks: [{ name: 'sink.out', ready: true }] });
    sink.healthy = false;
    ready = await queryDaemonReadiness({ socketPath });
    assert.ok(ready.reachable && !ready.ready);
    assert.deepEqual(ready.checks, [{ name: 'sink.out', ready: false, detail: 'disk full' }]);
    const health = await controlGet(socketPath, '/v1/health');
    assert.ok(health.ok);
    assert.deepEqual(JSON.parse(health.value), { status: 'ok', version: '9.9.9', pid: process.pid });
    const unknown = await controlGet(socketPath, '/v1/nope');
    assert.ok(unknown.ok && unknown.status === 404);
  } finally {
    await control.close();
  }
  assert.equal(fs.existsSync(socketPath), false, 'the socket is removed on close');
  const gone = await queryDaemonReadiness({ socketPath });
  assert.deepEqual(gone.reachable ? undefined : gone.failure, 'not-running');
  cleanup();
});

test('a stale socket is replaced; a live one is not taken over; a path that is not a socket is never removed', async () => {
  const { dir, cleanup } = makeTempDir();
  const socketPath = path.join(dir, 'control.sock');
  // A socket file left behind by a daemon that crashed: a process listening on it is SIGKILLed.
  spawnSync(process.execPath, [
    '-e',
    `require('net').createServer().listen(${JSON.stringify(socketPath)}, () => process.kill(process.pid, 'SIGKILL'))`,
  ]);
  assert.equal(fs.lstatSync(socketPath).isSocket(), true);
  const first = server(socketPath).control;
  await first.listen(); // replaced the stale file
  try {
    const second = server(socketPath).control;
    await assert.rejects(
      second.listen(),
      (err: unknown) =>
        isAegisError(err) &&
        err.code === 'AEGIS_ERR_CONTROL_SOCKET' &&
        /another aegisbpf daemon answers/.test(err.message),
    );
    assert.ok((await queryDaemonReadiness({ socketPath })).reachable, 'the first daemon still answers');
  } finally {
    await first.close();
  }
  const notSocket = path.join(dir, 'file.sock');
  fs.writeFileSync(notSocket, 'keep me');
  await assert.rejects(server(notSocket).control.listen(), /exists and is not a socket/);
  assert.equal(fs.readFileSync(notSocket, 'utf8'), 'keep me');
  cleanup();
});

test('clients report a missing socket and a refused connection as "not running"', async () => {
  const { dir, cleanup } = makeTempDir();
  const missing = await controlGet(path.join(dir, 'none.sock'), '/v1/health');
  assert.ok(!missing.ok && missing.failure === 'not-running');
  assert.match(missing.ok ? '' : missing.message, /no running daemon \(control socket .*none\.sock: not found\)/);
  const plainFile = path.join(dir, 'plain');
  fs.writeFileSync(plainFile, '');
  const refused = await controlGet(plainFile, '/v1/health');
  assert.ok(!refused.ok && refused.failure === 'not-running', JSON.stringify(refused));
  cleanup();
});
