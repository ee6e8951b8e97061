/**
 * The real daemon (`aegisbpf run`) stopping in front of receivers that accept and never read or answer: plain
 * node:net / node:tls / node:dgram servers that pause every connection (a real peer behaviour: a hung SIEM, a full
 * disk behind a relay). For every transport: after SIGTERM the process is gone within shutdown_timeout_ms plus a
 * bounded slack, its last log line is the summary, and every event read is accounted for (delivered, dead-lettered,
 * or dropped, each counted). A second SIGTERM exits at once with 130, the true count, and the dead-letter file written.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import dgram from 'node:dgram';
import fs from 'node:fs';
import path from 'node:path';
import { formatJson } from '../../src/formatters/json';
import { ABANDON_GRACE_MILLIS } from '../../src/sinks/core/sink';
import { EXIT_GRACE_MILLIS } from '../../src/daemon/run';
import { makeTestPki, opensslSkipReason } from '../helpers/certs';
import { parseLogs, spawnCli, waitExit } from '../helpers/cli';
import { httpGet, sampleValue } from '../helpers/daemon';
import { generateEvents } from '../helpers/events';
import { silentPeer } from '../helpers/silent-peer';
import { makeTempDir } from '../helpers/tmp';

const SHUTDOWN_TIMEOUT_MILLIS = 1500;
/**
 * What the daemon may take past shutdown_timeout_ms: the abandon grace for sends and for close (sink core), the
 * exit grace when something in the kernel still holds the process (daemon/run.ts), dead-letter writes, start-up of
 * a Node process being stopped on a busy 2-core machine.
 */
const SLACK_MILLIS = 2 * ABANDON_GRACE_MILLIS + EXIT_GRACE_MILLIS + 2500;

interface Run {
  readonly code: number | null;
  /** From the (first) SIGTERM to the process's end. */
  readonly stopMillis: number;
  readonly logs: Record<string, unknown>[];
  readonly deadLetter: Record<string, unknown>[];
}

function eventsFile(dir: string, count: number): string {
  const file = path.join(dir, 'events.ndjson');
  fs.writeFileSync(
    file,
    generateEvents(count, { seed: 24 })
      .map((e) => formatJson(e) + '\n')
      .join(''),
  );
  return file;
}

/**
 * Start the daemon with one sink named `out`, let events flow into it for `runMillis`, send SIGTERM (and a second
 * one after `secondSignalAfterMillis`, if given), and collect what it logged and dead-lettered.
 */
async function runAndStop(
  dir: string,
  sinkYaml: string,
  options: {
    runMillis?: number;
    shutdownTimeoutMillis?: number;
    secondSignalAfterMillis?: number;
    /** Leave the daemon's stdout unread (the stdout sink's peer that never reads). */
    readStdout?: boolean;
    /**
     * Stop only once this many events wait in the sink's buffer (and at least runMillis passed): a stream peer that
     * never reads still takes what fits in the socket buffers (a few MB on loopback), which a loaded machine may not
     * have produced within runMillis; the stop would then find nothing to do and prove nothing.
     */
    backlog?: number;
  } = {},
): Promise<Run> {
  const dlq = path.join(dir, 'dead-letter.ndjson');
  const cfg = path.join(dir, 'aegisbpf.yml');
  fs.writeFileSync(
    cfg,
    [
      `data_dir: ${dir}`,
      `shutdown_timeout_ms: ${options.shutdownTimeoutMillis ?? SHUTDOWN_TIMEOUT_MILLIS}`,
      `dead_letter: { path: ${dlq} }`,
      'metrics: { listen: 127.0.0.1, healthcheck_interval_ms: 0 }',
      `sources: { replay: { type: replay, path: ${eventsFile(dir, 2000)}, rate: 5000, loop: true } }`,
      `sinks: { out: ${sinkYaml} }`,
    ].join('\n'),
  );
  const child: ChildProcessWithoutNullStreams = spawnCli(['run', '--config', cfg]);
  if (options.readStdout !== false) child.stdout.resume();
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
  const closed = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  const startedWithin = Date.now() + 20_000;
  while (!stderr.includes('"aegisbpf started."')) {
    if (child.exitCode !== null || Date.now() > startedWithin) {
      child.kill('SIGKILL');
      throw new Error(`the daemon did not start; stderr:\n${stderr}`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  await new Promise((r) => setTimeout(r, options.runMillis ?? 1500));
  if (options.backlog !== undefined) {
    const started = parseLogs(stderr.slice(0, stderr.lastIndexOf('\n') + 1)).find((l) => l.msg === 'aegisbpf started.');
    const port = started?.metricsPort as number;
    const until = Date.now() + 60_000;
    for (;;) {
      const m = await httpGet(port, '/metrics');
      if ((sampleValue(m.body, 'aegisbpf_sink_buffer_events', { sink: 'out' }) ?? 0) >= options.backlog) break;
      if (Date.now() > until) {
        child.kill('SIGKILL');
        throw new Error(`no backlog of ${options.backlog} events in the sink within 60 s: the peer reads after all?`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  const stopAt = Date.now();
  child.kill('SIGTERM');
  if (options.secondSignalAfterMillis !== undefined) {
    await new Promise((r) => setTimeout(r, options.secondSignalAfterMillis));
    if (child.exitCode === null) child.kill('SIGTERM');
  }
  // The bound is the assertion; past it, end the process so that the test reports instead of hanging.
  const killer = setTimeout(() => child.kill('SIGKILL'), 60_000);
  const code = await closed;
  clearTimeout(killer);
  const stopMillis = Date.now() - stopAt;
  const deadLetter = fs.existsSync(dlq)
    ? fs
        .readFileSync(dlq, 'utf8')
        .split('\n')
        .filter((l) => l !== '')
        .map((l) => JSON.parse(l) as Record<string, unknown>)
    : [];
  return { code, stopMillis, logs: parseLogs(stderr), deadLetter };
}

interface SinkSummary {
  received: number;
  delivered: number;
  dead_lettered: number;
  dropped: Record<string, number>;
}

/** The summary line (the last line), and every event accounted for in it and in the dead-letter file. */
function assertAccounted(run: Run): { summary: Record<string, unknown>; sink: SinkSummary } {
  // The summary is the last line, but for the one that says what still held the process (a pipe nobody reads).
  const lines = run.logs.filter((l) => l.msg !== 'Something still held the process after shutdown; exiting anyway.');
  const last = lines[lines.length - 1];
  assert.equal(last?.msg, 'aegisbpf stopped.', `the last line is the summary; logs:\n${JSON.stringify(run.logs)}`);
  const summary = last;
  const sink = (summary.sinks as Record<string, SinkSummary>).out as SinkSummary;
  const dropped = Object.values(sink.dropped).reduce((n, x) => n + x, 0);
  assert.ok((summary.events_in as number) > 0);
  assert.equal(sink.received, summary.events_in, 'every event read reached the sink');
  assert.equal(
    sink.delivered + sink.dead_lettered + dropped,
    sink.received,
    `delivered ${sink.delivered} + dead-lettered ${sink.dead_lettered} + dropped ${dropped} = received ${sink.received}`,
  );
  assert.equal(run.deadLetter.length, sink.dead_lettered, 'the dead-letter file holds every dead-lettered event');
  assert.equal(summary.dead_letter_written, sink.dead_lettered);
  return { summary, sink };
}

function assertStoppedInTime(run: Run, timeoutMillis = SHUTDOWN_TIMEOUT_MILLIS): void {
  assert.ok(
    run.stopMillis < timeoutMillis + SLACK_MILLIS,
    `stopped ${run.stopMillis} ms after SIGTERM (shutdown_timeout_ms ${timeoutMillis}, slack ${SLACK_MILLIS})`,
  );
  assert.ok(
    run.logs.some(
      (l) => l.msg === 'Shutdown timeout reached with undelivered events; they went to the dead-letter file.',
    ),
    'the deadline was reached (the peer never read)',
  );
  assert.equal(run.code, 3, 'exit code 3: incomplete (events were dead-lettered)');
}

const SINK_OPTIONS = 'healthcheck: { enabled: false }, batch: { max_events: 500, timeout_ms: 20 }';

for (const kind of ['tcp', 'tls', 'relp'] as const) {
  // tcp and tls hung before the fix (the RELP transport already ended its sessions on abort): the same test for all.
  const title =
    kind === 'relp'
      ? 'shutdown ends in time behind a receiver that answers the RELP open and then never reads (syslog relp)'
      : `regression: shutdown does not hang behind a receiver that never reads (syslog ${kind})`;
  test(title, async (t) => {
    if (kind === 'tls' && opensslSkipReason() !== undefined) {
      t.skip(opensslSkipReason());
      return;
    }
    const { dir, cleanup } = makeTempDir();
    const pki = kind === 'tls' ? makeTestPki(path.join(dir, 'pki')) : undefined;
    const peer = await silentPeer(kind, pki === undefined ? undefined : { cert: pki.serverCert, key: pki.serverKey });
    try {
      const tlsYaml = pki === undefined ? '' : `, tls: { ca_file: ${pki.caCert}, server_name: localhost }`;
      const run = await runAndStop(
        dir,
        `{ type: syslog, transport: ${kind}, host: 127.0.0.1, port: ${peer.port}${tlsYaml}, ${SINK_OPTIONS} }`,
        { backlog: 1000 },
      );
      assert.ok(peer.accepted() >= 1, 'the daemon connected to the peer');
      assertStoppedInTime(run);
      const { sink } = assertAccounted(run);
      assert.ok(sink.dead_lettered > 0);
    } finally {
      await peer.close();
      cleanup();
    }
  });
}

const HTTP_SINKS: Record<string, (port: number) => string> = {
  splunk_hec: (port) => `{ type: splunk_hec, endpoint: "http://127.0.0.1:${port}", token: t0k3n, ${SINK_OPTIONS} }`,
  elasticsearch: (port) => `{ type: elasticsearch, url: "http://127.0.0.1:${port}", ${SINK_OPTIONS} }`,
};

for (const [kind, sinkConfig] of Object.entries(HTTP_SINKS)) {
  test(`shutdown ends in time behind a receiver that accepts and never answers (${kind})`, async () => {
    const { dir, cleanup } = makeTempDir();
    const peer = await silentPeer('tcp');
    try {
      const run = await runAndStop(dir, sinkConfig(peer.port));
      assert.ok(peer.accepted() >= 1);
      assertStoppedInTime(run);
      const { sink } = assertAccounted(run);
      assert.equal(sink.delivered, 0, 'nothing answered, nothing delivered');
    } finally {
      await peer.close();
      cleanup();
    }
  });
}

test('shutdown with a udp receiver that never reads: datagrams are handed to the kernel, the daemon stops at once', async () => {
  const { dir, cleanup } = makeTempDir();
  const peer = dgram.createSocket('udp4');
  await new Promise<void>((resolve) => peer.bind(0, '127.0.0.1', resolve));
  peer.on('message', () => undefined);
  try {
    const run = await runAndStop(
      dir,
      `{ type: syslog, transport: udp, host: 127.0.0.1, port: ${peer.address().port}, ${SINK_OPTIONS} }`,
    );
    assert.ok(run.stopMillis < SHUTDOWN_TIMEOUT_MILLIS + SLACK_MILLIS, `stopped after ${run.stopMillis} ms`);
    assertAccounted(run);
  } finally {
    peer.close();
    cleanup();
  }
});

test('regression: shutdown does not hang behind a stdout nobody reads', async () => {
  const { dir, cleanup } = makeTempDir();
  try {
    const run = await runAndStop(dir, `{ type: stdout, ${SINK_OPTIONS} }`, { readStdout: false });
    assertStoppedInTime(run);
    assertAccounted(run);
  } finally {
    cleanup();
  }
});

test('regression: shutdown does not hang behind a file path that blocks (a FIFO nobody reads)', async (t) => {
  // A FIFO without a reader is the stuck path that can be made here: open(2) for writing blocks until a reader
  // comes, in a libuv thread that even process.exit() waits for. (A hung NFS hard mount blocks the same way in
  // write(2); that cannot be simulated without root and a server.)
  const { dir, cleanup } = makeTempDir();
  const fifo = path.join(dir, 'stuck.ndjson');
  if (spawnSync('mkfifo', [fifo]).status !== 0) {
    t.skip('mkfifo is not available');
    cleanup();
    return;
  }
  try {
    const run = await runAndStop(dir, `{ type: file, path: ${fifo}, ${SINK_OPTIONS} }`);
    assertStoppedInTime(run);
    const { sink } = assertAccounted(run);
    assert.equal(sink.delivered, 0);
  } finally {
    cleanup();
  }
});

test('regression: a second SIGTERM reports the true undelivered count, dead-letters them and writes the summary (syslog tcp, receiver never reads)', async () => {
  const { dir, cleanup } = makeTempDir();
  const peer = await silentPeer('tcp');
  try {
    const run = await runAndStop(
      dir,
      `{ type: syslog, transport: tcp, host: 127.0.0.1, port: ${peer.port}, ${SINK_OPTIONS}, request: { concurrency: 4 } }`,
      { shutdownTimeoutMillis: 60_000, runMillis: 3000, secondSignalAfterMillis: 1000 },
    );
    assert.equal(run.code, 130);
    assert.ok(run.stopMillis < 1000 + 5000, `exited ${run.stopMillis} ms after the first SIGTERM`);
    const fatal = run.logs.find((l) => l.level === 'FATAL');
    assert.ok(fatal !== undefined, 'a FATAL line');
    const { sink } = assertAccounted(run);
    // The true count: every event without an outcome, buffered or in flight, is in it and in the dead-letter file.
    const undelivered = fatal.undeliveredEvents as number;
    assert.equal(undelivered, sink.received - sink.delivered, 'the FATAL line counts every undelivered event');
    assert.ok(undelivered > 0);
    assert.equal(fatal.notWritten, 0);
    assert.equal(run.deadLetter.length, undelivered);
    assert.ok(run.deadLetter.every((e) => e.code === 'AEGIS_ERR_SHUTDOWN_UNDELIVERED' && e.sink === 'out'));
    assert.equal(run.logs.find((l) => l.msg === 'aegisbpf stopped.')?.forced, true);
  } finally {
    await peer.close();
    cleanup();
  }
});

test('regression: a stdin source whose pipe stays open does not hold SIGTERM (the wait for more input ends with the stop)', async () => {
  const { dir, cleanup } = makeTempDir();
  try {
    const out = path.join(dir, 'out.ndjson');
    const cfg = path.join(dir, 'aegisbpf.yml');
    fs.writeFileSync(
      cfg,
      [
        `data_dir: ${dir}`,
        `shutdown_timeout_ms: ${SHUTDOWN_TIMEOUT_MILLIS}`,
        'metrics: { enabled: false }',
        'sources: { in: { type: stdin } }',
        `sinks: { out: { type: file, path: ${out}, batch: { timeout_ms: 20 } } }`,
      ].join('\n'),
    );
    const child = spawnCli(['run', '--config', cfg]);
    const exited = waitExit(child);
    const events = generateEvents(20);
    child.stdin.write(events.map((e) => JSON.stringify(e)).join('\n') + '\n'); // and the pipe stays open
    const until = Date.now() + 30_000;
    while (!fs.existsSync(out) || fs.readFileSync(out, 'utf8').split('\n').length <= events.length) {
      assert.ok(Date.now() < until, 'the events were written');
      await new Promise((r) => setTimeout(r, 50));
    }
    const stopAt = Date.now();
    child.kill('SIGTERM');
    const killer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    const { code, stderr } = await exited;
    clearTimeout(killer);
    const stopMillis = Date.now() - stopAt;
    assert.ok(stopMillis < SHUTDOWN_TIMEOUT_MILLIS + SLACK_MILLIS, `stopped ${stopMillis} ms after SIGTERM`);
    assert.equal(code, 0, stderr);
    const summary = parseLogs(stderr).find((l) => l.msg === 'aegisbpf stopped.') as
      { sinks: { out: { delivered: number } } } | undefined;
    assert.equal(summary?.sinks.out.delivered, events.length);
  } finally {
    cleanup();
  }
});
