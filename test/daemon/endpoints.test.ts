/**
 * The real binary's endpoints: scrape `aegisbpf run` over HTTP, read it with `aegisbpf stats` / `aegisbpf metrics`,
 * break and heal a sink and watch /ready, and check the span logs.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { queryDaemonReadiness } from '../../src/daemon/control-client';
import { packagePath } from '../../src/util/paths';
import { BIN, runCli } from '../helpers/cli';
import { httpGet, samples, sampleValue, startDaemon, until } from '../helpers/daemon';
import { checkMetricsText, promtoolMissing } from '../helpers/promtool';
import { makeTempDir } from '../helpers/tmp';

const SAMPLES = packagePath('samples', 'events.ndjson');

test('GET /metrics on the running daemon: aegisbpf_up is 1, counters move as events flow, latency quantiles are measured', async () => {
  const { dir, cleanup } = makeTempDir();
  const d = await startDaemon(
    dir,
    [
      `data_dir: ${dir}`,
      `sources: { sample: { type: replay, path: ${SAMPLES}, rate: 2000, loop: true } }`,
      `sinks: { out: { type: file, path: ${dir}/out.ndjson, fsync: never, batch: { timeout_ms: 10 } } }`,
      'metrics: { listen: 127.0.0.1 }',
    ].join('\n'),
  );
  try {
    const first = await d.get('/metrics');
    assert.equal(first.status, 200);
    assert.equal(first.headers['content-type'], 'text/plain; version=0.0.4; charset=utf-8');
    assert.equal(
      sampleValue(first.body, 'aegisbpf_up', {
        version: JSON.parse(fs.readFileSync(packagePath('package.json'), 'utf8')).version as string,
      }),
      1,
    );
    const delivered = (text: string): number =>
      sampleValue(text, 'aegisbpf_sink_events_delivered_total', { sink: 'out', type: 'file' }) ?? -1;
    const read = (text: string): number =>
      sampleValue(text, 'aegisbpf_source_events_total', { source: 'sample', type: 'replay' }) ?? -1;
    const later = await until('events to flow', async () => {
      const r = await d.get('/metrics');
      return delivered(r.body) > delivered(first.body) + 200 ? r.body : undefined;
    });
    assert.ok(read(later) > read(first.body), 'events read moved');
    assert.ok(sampleValue(later, 'aegisbpf_sink_batches_delivered_total', { sink: 'out' })! > 0);
    assert.ok(
      sampleValue(later, 'aegisbpf_daemon_uptime_seconds')! >
        sampleValue(first.body, 'aegisbpf_daemon_uptime_seconds')!,
    );
    assert.ok(sampleValue(later, 'aegisbpf_memory_rss_bytes')! > 1 << 20);
    const q = (x: string): number =>
      sampleValue(later, 'aegisbpf_event_processing_latency_microseconds', { quantile: x })!;
    assert.ok(
      q('0.5') > 0 && q('0.5') <= q('0.95') && q('0.95') <= q('0.99') && Number.isFinite(q('0.99')),
      `${q('0.5')} ${q('0.95')} ${q('0.99')}`,
    );
    const count = sampleValue(later, 'aegisbpf_event_processing_latency_microseconds_count')!;
    // Every event read is counted once its chunk reached every sink buffer: at most one chunk is still in flight.
    assert.ok(count <= read(later) && count >= read(later) - 1024, `count ${count}, read ${read(later)}`);
    // Bounded labels: the configuration's file paths are nowhere in a label without --detailed.
    const labelValues = [...later.matchAll(/="((?:[^"\\]|\\.)*)"/g)].map((m) => m[1] as string);
    assert.ok(labelValues.length > 50);
    assert.deepEqual(
      labelValues.filter((v) => v.includes('/')),
      [],
    );
    // Real zeros from the kernel side: no sensor source in this configuration, nothing blocked, nothing dropped.
    assert.deepEqual(
      samples(later, 'aegisbpf_blocks_total').map((s) => s.value),
      [0, 0, 0, 0],
    );
    assert.deepEqual(samples(later, 'aegisbpf_map_capacity'), []);
    if (promtoolMissing() === false) {
      const check = checkMetricsText(later);
      assert.ok(check.parsed, check.output);
      assert.deepEqual(check.unexpected, []);
    }
    assert.deepEqual([(await d.get('/health')).status, (await d.get('/health')).body], [200, 'ok\n']);
    assert.equal((await d.get('/nope')).status, 404);
    assert.equal((await httpGet(d.port, '/metrics', 'POST')).status, 405);
  } finally {
    const { code } = await d.stop();
    assert.equal(code, 0);
    cleanup();
  }
});

test(
  'aegisbpf stats and aegisbpf metrics --out read the running daemon; without one they say so and exit 1',
  { skip: promtoolMissing() },
  async () => {
    const { dir, cleanup } = makeTempDir();
    fs.chmodSync(dir, 0o755); // so that only the socket's own 0600 mode keeps other users out
    const d = await startDaemon(
      dir,
      [
        `data_dir: ${dir}`,
        `sources: { sample: { type: replay, path: ${SAMPLES}, rate: 500, loop: true } }`,
        `sinks: { out: { type: file, path: ${dir}/out.ndjson, fsync: never, batch: { timeout_ms: 10 } } }`,
      ].join('\n'),
    );
    const env = { AEGIS_CONTROL_SOCKET: d.socket };
    const prom = path.join(dir, 'textfile', 'aegisbpf.prom');
    fs.mkdirSync(path.dirname(prom));
    try {
      await until('events', async () =>
        (await d.get('/metrics')).body.match(/^aegisbpf_source_events_total\{.*\} ([1-9]\d*)$/m) ? true : undefined,
      );
      const stats = runCli(['stats'], { env });
      assert.equal(stats.code, 0, stats.stderr);
      assert.match(stats.stdout, /^ {2}Total blocks: 0$/m, 'the guide greps for "Total blocks"');
      assert.match(stats.stdout, /^ {2}Events in: [1-9]\d* \(invalid input 0\)$/m);
      assert.match(stats.stdout, /^ {2}out \(file\): healthy; received \d+, delivered \d+/m);
      assert.match(stats.stdout, /^Sensor: not attached \(no sensor source is configured\)$/m);
      const json = runCli(['stats', '--json', '--detailed'], { env });
      const snap = JSON.parse(json.stdout) as {
        origin: string;
        sensor: { blocks_total: number; top_blocked_paths: unknown[] };
        ready: { ready: boolean };
      };
      assert.deepEqual(
        [snap.origin, snap.sensor.blocks_total, snap.sensor.top_blocked_paths, snap.ready.ready],
        ['daemon', 0, [], true],
      );

      const m1 = runCli(['metrics', '--out', prom], { env });
      assert.equal(m1.code, 0, m1.stderr);
      const text1 = fs.readFileSync(prom, 'utf8');
      assert.equal(sampleValue(text1, 'aegisbpf_up', {}), 1);
      assert.equal(fs.statSync(prom).mode & 0o777, 0o644, 'node-exporter must be able to read it');
      const check = checkMetricsText(text1);
      assert.ok(check.parsed, check.output);
      assert.deepEqual(check.unexpected, []);
      const ino = fs.statSync(prom).ino;
      assert.equal(runCli(['metrics', '--out', prom], { env }).code, 0);
      assert.notEqual(fs.statSync(prom).ino, ino, 'replaced by rename, never rewritten in place');
      assert.deepEqual(fs.readdirSync(path.dirname(prom)), ['aegisbpf.prom'], 'no temporary file left');
      const detailed = runCli(['metrics', '--detailed'], { env });
      assert.match(detailed.stdout, /^# TYPE aegisbpf_blocks_by_path gauge$/m);
      assert.doesNotMatch(text1, /aegisbpf_blocks_by_path/);

      // Least privilege: another user cannot use the 0600 socket. The CLI (and the stats command, which is loaded
      // when it runs) is loaded as root and the process then drops to nobody before it runs: the checkout may sit in a
      // directory nobody cannot read (a mktemp -d clone is 0700).
      if (process.getuid?.() === 0) {
        const cliDir = path.join(path.dirname(BIN), '..', 'dist', 'src', 'cli');
        const asNobody = [
          `const cli = require(${JSON.stringify(path.join(cliDir, 'main.js'))});`,
          `require(${JSON.stringify(path.join(cliDir, 'registry.js'))}).findCommand('stats');`,
          'process.setgroups([]); process.setgid(65534); process.setuid(65534);',
          'cli.main(process.argv.slice(1)).then((code) => { process.exitCode = code; });',
        ].join('\n');
        const r = spawnSync(process.execPath, ['-e', asNobody, 'stats', '--socket', d.socket], { encoding: 'utf8' });
        assert.equal(r.status, 1, r.stderr);
        assert.match(r.stderr, /permission denied on the control socket/);
      }
    } finally {
      assert.equal((await d.stop()).code, 0);
    }
    // An empty pin directory of its own: the default one may hold a real sensor's maps.
    const gone = runCli(['stats', '--pin-dir', path.join(dir, 'no-pins')], { env });
    assert.equal(gone.code, 1);
    assert.match(
      gone.stderr,
      /no running daemon \(control socket .*: not found\) and no pinned maps in .*no-pins \(no sensor runs, or it stopped cleanly and removed them\) \(AEGIS_ERR_DAEMON_UNREACHABLE\)/,
    );
    const down = runCli(['metrics', '--out', prom, '--pin-dir', path.join(dir, 'no-pins')], { env });
    assert.equal(down.code, 1);
    const text2 = fs.readFileSync(prom, 'utf8');
    assert.deepEqual(
      samples(text2, 'aegisbpf_up').map((s) => s.value),
      [0],
      'the textfile says the daemon is down instead of going stale',
    );
    assert.ok(checkMetricsText(text2).parsed);
    cleanup();
  },
);

test('/ready turns 503 naming the sink when it goes unhealthy, and back to 200 when it recovers', async () => {
  const { dir, cleanup } = makeTempDir();
  const outDir = path.join(dir, 'out');
  const d = await startDaemon(
    dir,
    [
      `data_dir: ${dir}`,
      `sources: { sample: { type: replay, path: ${SAMPLES}, rate: 500, loop: true } }`,
      `sinks: { archive: { type: file, path: ${outDir}/events.ndjson, fsync: never, batch: { timeout_ms: 10 }, retry: { initial_backoff_ms: 20, max_backoff_ms: 100 } } }`,
      'metrics: { listen: 127.0.0.1, healthcheck_interval_ms: 100 }',
    ].join('\n'),
  );
  try {
    // Ready once the sink's start-up healthcheck (run in the background: sources do not wait for it) has passed.
    const ready = await until('/ready 200', async () => {
      const r = await d.get('/ready');
      return r.status === 200 ? r : undefined;
    });
    assert.equal(ready.body, 'daemon: ok\nsink.archive: ok\nready\n');
    // Break the receiver: its directory becomes a regular file, and SIGHUP makes the sink reopen its file.
    // The sink's healthcheck (every 100 ms) re-creates the directory when it can: repeat until the swap sticks.
    for (let attempt = 1; ; attempt++) {
      fs.rmSync(outDir, { recursive: true, force: true });
      try {
        fs.writeFileSync(outDir, 'not a directory', { flag: 'wx' });
        break;
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (attempt >= 50 || (code !== 'EEXIST' && code !== 'EISDIR')) throw err;
      }
    }
    d.child.kill('SIGHUP');
    const notReady = await until('/ready 503', async () => {
      const r = await d.get('/ready');
      return r.status === 503 ? r : undefined;
    });
    assert.match(notReady.body, /^sink\.archive: not ready: sink 'archive' is unhealthy: .+$/m);
    assert.match(notReady.body, /^not ready: sink\.archive$/m);
    assert.match(notReady.body, /^daemon: ok$/m);
    const metrics = (await d.get('/metrics')).body;
    assert.equal(sampleValue(metrics, 'aegisbpf_sink_healthy', { sink: 'archive' }), 0);
    const viaSocket = await queryDaemonReadiness({ socketPath: d.socket });
    assert.ok(viaSocket.reachable && !viaSocket.ready, 'aegisbpf health sees the same through the control socket');
    const health = runCli(['health', '--ready', '--socket', d.socket]);
    assert.equal(health.code, 1, 'a readiness probe fails while a sink is unhealthy');
    assert.match(
      health.stdout,
      /^daemon: NOT READY \(control socket .*\)\n {2}daemon: ok\n {2}sink\.archive: not ready: sink 'archive' is unhealthy/,
    );
    // Heal it: the next retry or healthcheck succeeds.
    fs.rmSync(outDir);
    const back = await until('/ready 200', async () => {
      const r = await d.get('/ready');
      return r.status === 200 ? r : undefined;
    });
    assert.equal(back.body, 'daemon: ok\nsink.archive: ok\nready\n');
    assert.equal(sampleValue((await d.get('/metrics')).body, 'aegisbpf_sink_healthy', { sink: 'archive' }), 1);
    // Recovery may come from the periodic healthcheck before the next retry: the buffered events follow.
    await until('the buffered events to be delivered', () =>
      Promise.resolve(fs.statSync(path.join(outDir, 'events.ndjson')).size > 0 ? true : undefined),
    );
  } finally {
    const { code, stderr } = await d.stop();
    assert.equal(code, 0, stderr);
    cleanup();
  }
});

test('AEGIS_OTEL_SPANS=1 logs the start-up stages as spans of one trace', async () => {
  const { dir, cleanup } = makeTempDir();
  const d = await startDaemon(
    dir,
    [
      `data_dir: ${dir}`,
      `sources: { sample: { type: replay, path: ${SAMPLES}, rate: 1000, loop: true } }`,
      `sinks: { out: { type: file, path: ${dir}/out.ndjson, fsync: never } }`,
    ].join('\n'),
    { AEGIS_OTEL_SPANS: '1' },
  );
  const { code, stderr } = await d.stop();
  assert.equal(code, 0, stderr);
  const lines = stderr
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  const ends = lines.filter((l) => l.msg === 'otel_span_end');
  assert.deepEqual(
    ends.map((l) => l.span_name),
    [
      'daemon.build_pipeline',
      'daemon.start_endpoints',
      'daemon.healthcheck_sinks',
      'daemon.event_loop',
      'daemon.shutdown',
      'daemon.run',
    ],
  );
  const root = ends.at(-1)!;
  for (const e of ends) {
    assert.equal(e.trace_id, root.trace_id);
    assert.equal(e.status, 'ok');
    assert.equal(e.message, 'otel_span_end');
    assert.ok(typeof e.duration_ms === 'number');
    if (e !== root) assert.equal(e.parent_span_id, root.span_id);
  }
  const starts = lines.filter((l) => l.msg === 'otel_span_start').map((l) => l.span_id);
  assert.deepEqual(new Set(starts), new Set(ends.map((l) => l.span_id)), 'every span that started ended');
  cleanup();
});

test('a metrics port already in use never stops the daemon: it logs AEGIS_ERR_METRICS_LISTEN and keeps delivering', async () => {
  const { dir, cleanup } = makeTempDir();
  const holder = net.createServer();
  await new Promise<void>((r) => holder.listen(0, '127.0.0.1', r));
  const busy = (holder.address() as net.AddressInfo).port;
  try {
    const d = await startDaemon(
      dir,
      [
        `data_dir: ${dir}`,
        `sources: { sample: { type: replay, path: ${SAMPLES} } }`,
        `sinks: { out: { type: file, path: ${dir}/out.ndjson } }`,
        'metrics: { listen: 127.0.0.1 }',
      ].join('\n'),
      {},
      [`--metrics-port=${busy}`],
    ); // the flag wins over AEGIS_METRICS_PORT=0 from the test helpers
    const { code, stderr } = await d.exited(); // the replay ends: the daemon ran its course without the endpoint
    assert.equal(code, 0, stderr);
    const logs = stderr
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    const err = logs.find((l) => l.code === 'AEGIS_ERR_METRICS_LISTEN');
    assert.ok(err !== undefined, stderr);
    assert.equal(err.port, busy);
    assert.equal(err.level, 'ERROR');
    const stopped = logs.find((l) => l.msg === 'aegisbpf stopped.')!;
    assert.equal(stopped.events_in, fs.readFileSync(SAMPLES, 'utf8').trim().split('\n').length);
  } finally {
    holder.close();
    cleanup();
  }
});

test('a second daemon on the same control socket runs without one and says why; --metrics-port=off disables HTTP', async () => {
  const { dir, cleanup } = makeTempDir();
  const socket = path.join(dir, 'shared.sock');
  const cfg = [
    `data_dir: ${dir}`,
    `sources: { sample: { type: replay, path: ${SAMPLES}, rate: 200, loop: true } }`,
    `sinks: { out: { type: file, path: ${dir}/out.ndjson } }`,
  ].join('\n');
  const first = await startDaemon(dir, cfg, { AEGIS_CONTROL_SOCKET: socket });
  const second = await startDaemon(dir, cfg, { AEGIS_CONTROL_SOCKET: socket }, ['--metrics-port=off']);
  try {
    assert.equal(second.port, 0, 'no metricsPort in the started line');
    const err = second.logs().find((l) => l.code === 'AEGIS_ERR_CONTROL_SOCKET');
    assert.ok(
      err !== undefined && /another aegisbpf daemon answers on it/.test(String(err.error)),
      JSON.stringify(second.logs()),
    );
    const stats = runCli(['stats', '--json'], { env: { AEGIS_CONTROL_SOCKET: socket } });
    assert.equal(
      (JSON.parse(stats.stdout) as { pid: number }).pid,
      first.child.pid,
      'the socket still belongs to the first daemon',
    );
  } finally {
    assert.equal((await second.stop()).code, 0);
    assert.equal((await first.stop()).code, 0);
    cleanup();
  }
});

test('--metrics-port and AEGIS_METRICS_PORT are checked before anything starts', () => {
  for (const bad of ['--metrics-port=70000', '--metrics-port=http']) {
    const r = runCli(['run', bad, '--config', packagePath('examples', 'minimal.yml')]);
    assert.equal(r.code, 2, bad);
    assert.match(r.stderr, /--metrics-port must be a port number 0-65535 \(0: any free port\) or 'off'/);
  }
  const env = runCli(['run', '--config', packagePath('examples', 'minimal.yml')], { env: { AEGIS_METRICS_PORT: 'x' } });
  assert.equal(env.code, 2);
  assert.match(env.stderr, /AEGIS_METRICS_PORT must be a port number/);
});
