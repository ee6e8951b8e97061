/**
 * /ready of the real `aegisbpf run` follows a sink's progress: a receiver that accepts and then stops reading
 * (test/helpers/stalled-receiver.py, with a small fixed receive buffer) turns /ready 503 within the sink's
 * request.timeout_ms of the last acknowledged batch, naming the sink, and back to 200 when it reads again.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import readline from 'node:readline';
import { packagePath } from '../../src/util/paths';
import { sampleValue, startDaemon, until } from '../helpers/daemon';
import type { TestDaemon } from '../helpers/daemon';
import { makeTempDir } from '../helpers/tmp';

const SAMPLES = packagePath('samples', 'events.ndjson');
const RECEIVER = packagePath('test', 'helpers', 'stalled-receiver.py');
const TIMEOUT_MS = 2000;

test('regression: /ready turns 503 within request.timeout_ms when a receiver stops reading (syslog tcp), and back to 200 when it reads again', async () => {
  const { dir, cleanup } = makeTempDir();
  // Reads nothing until told to: the first batches fill the (small) socket buffers, then writes stop completing.
  // A node:net server cannot do this quickly: it cannot set SO_RCVBUF, and autotuning lets the kernel buffer up to
  // net.ipv4.tcp_rmem's maximum (32 MB here), which took more than a minute to fill on a loaded machine.
  const receiver = spawn('python3', [RECEIVER], { stdio: ['pipe', 'pipe', 'inherit'] });
  const port = await new Promise<number>((resolve, reject) => {
    receiver.once('error', reject);
    receiver.once('exit', (code) => reject(new Error(`stalled-receiver.py exited with ${String(code)}`)));
    readline
      .createInterface({ input: receiver.stdout })
      .once('line', (l) => resolve(Number(/^port=(\d+)$/.exec(l)?.[1])));
  });
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
      30_000,
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
    receiver.stdin.write('read\n');
    const t0 = Date.now();
    await until('/ready 200', async () => ((await daemon.get('/ready')).status === 200 ? true : undefined), 20_000);
    assert.ok(Date.now() - t0 < 15_000);
    const { code, stderr } = await daemon.stop();
    assert.ok(code === 0 || code === 3, `exit ${String(code)}\n${stderr}`);
  } finally {
    if (d !== undefined && d.child.exitCode === null) d.child.kill('SIGKILL');
    receiver.stdin.end();
    receiver.kill();
    cleanup();
  }
});
