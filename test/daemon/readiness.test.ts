/**
 * /ready of the real `aegisbpf run` follows a sink's progress: a receiver that accepts and then stops reading (a
 * node:net server that pauses its socket) turns /ready 503 within the sink's request.timeout_ms of the last
 * acknowledged batch, naming the sink, and back to 200 when it reads again.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { packagePath } from '../../src/util/paths';
import { sampleValue, startDaemon, until } from '../helpers/daemon';
import type { TestDaemon } from '../helpers/daemon';
import { makeTempDir } from '../helpers/tmp';

const SAMPLES = packagePath('samples', 'events.ndjson');
const TIMEOUT_MS = 2000;

test('regression: /ready turns 503 within request.timeout_ms when a receiver stops reading (syslog tcp), and back to 200 when it reads again', async () => {
  const { dir, cleanup } = makeTempDir();
  const sockets = new Set<net.Socket>();
  // Reads nothing from the start: the first batches fill the kernel's socket buffers, then writes stop completing.
  const server = net.createServer({ pauseOnConnect: true }, (s) => {
    s.on('error', () => undefined);
    sockets.add(s);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  let d: TestDaemon | undefined;
  try {
    d = await startDaemon(
      dir,
      [
        `data_dir: ${dir}`,
        'shutdown_timeout_ms: 5000',
        `sources: { sample: { type: replay, path: ${SAMPLES}, loop: true } }`,
        `sinks: { out: { type: syslog, transport: tcp, host: 127.0.0.1, port: ${port}, request: { timeout_ms: ${TIMEOUT_MS} }, retry: { initial_backoff_ms: 100, max_backoff_ms: 500 } } }`,
        'metrics: { listen: 127.0.0.1, healthcheck_interval_ms: 0 }',
      ].join('\n'),
    );
    const daemon = d;
    // Watch the delivered counter and /ready together: the stall begins with the last batch acknowledged.
    let delivered = -1;
    let lastChangeAt = Date.now();
    const notReady = await until(
      '/ready 503',
      async () => {
        const m = await daemon.get('/metrics');
        const n = sampleValue(m.body, 'aegisbpf_sink_events_delivered_total', { sink: 'out' }) ?? 0;
        if (n !== delivered) {
          delivered = n;
          lastChangeAt = Date.now();
        }
        const r = await daemon.get('/ready');
        return r.status === 503 ? { body: r.body, after: Date.now() - lastChangeAt } : undefined;
      },
      60_000, // a paused node:net peer lets the kernel buffer tens of MB first (autotuned windows): ~20 s when idle
    );
    assert.ok(delivered > 0, 'some batches went into the socket buffers before the receiver stalled');
    assert.match(
      notReady.body,
      /^sink\.out: not ready: sink 'out' made no progress for \d+ s \(more than request\.timeout_ms 2000 ms\): \d+ events buffered, \d+ batches in flight, none acknowledged$/m,
    );
    assert.ok(
      notReady.after <= TIMEOUT_MS + 1500,
      `503 came ${notReady.after} ms after the last acknowledged batch (bound ${TIMEOUT_MS} ms + polling)`,
    );
    // The receiver reads again: progress, and /ready follows.
    for (const s of sockets) s.resume();
    server.on('connection', (s) => s.resume());
    const t0 = Date.now();
    await until('/ready 200', async () => ((await daemon.get('/ready')).status === 200 ? true : undefined), 20_000);
    assert.ok(Date.now() - t0 < 15_000);
    const { code, stderr } = await daemon.stop();
    assert.ok(code === 0 || code === 3, `exit ${String(code)}\n${stderr}`);
  } finally {
    if (d !== undefined && d.child.exitCode === null) d.child.kill('SIGKILL');
    for (const s of sockets) s.destroy();
    await new Promise<void>((r) => server.close(() => r()));
    cleanup();
  }
});
