/**
 * `aegisbpf buffer stats|verify|repair` on a real disk buffer and `aegisbpf dlq list|show|replay` on a real
 * dead-letter file, through the binary: output, exit codes (docs/cli.md), and that replay removes only delivered
 * entries.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { createSink } from '../../src/sinks/core/sink';
import { createDeadLetterQueue, encodeDeadLetterEntry } from '../../src/sinks/core/dead-letter';
import { listSegments } from '../../src/sinks/core/disk-format';
import { createSinkStats } from '../../src/telemetry/stats';
import { formatJson } from '../../src/formatters/json';
import { silentLogger } from '../../src/util/logger';
import { generateEvents } from '../helpers/events';
import { createScriptedTransport } from '../helpers/scripted-transport';
import { runCli } from '../helpers/cli';
import { makeTempDir } from '../helpers/tmp';

test('buffer stats|verify|repair: pending records counted, a flipped byte found (exit 3), moved aside, then clean', async () => {
  const { dir, cleanup } = makeTempDir();
  const bufDir = path.join(dir, 'buf');
  const deadLetter = createDeadLetterQueue({
    path: undefined,
    maxBytes: 0,
    logger: silentLogger,
    stats: { written: 0, bytes: 0, failed: 0 },
  });
  const sink = createSink(
    {
      name: 'd',
      type: 'scripted',
      transport: createScriptedTransport(new Array<{ hang: true }>(100).fill({ hang: true })),
      formatter: { name: 'json', contentType: 'application/json', format: formatJson },
      stats: createSinkStats('d', 'scripted'),
      logger: silentLogger,
      deadLetter,
      bufferDir: bufDir,
    },
    {
      batch: { maxEvents: 10, maxBytes: 1_000_000, timeoutMillis: 5 },
      buffer: { type: 'disk', maxEvents: 10, maxBytes: 1 << 20, whenFull: 'block', fsync: 'never' },
      request: { concurrency: 1, timeoutMillis: 1000 },
      retry: { initialBackoffMillis: 1, maxBackoffMillis: 5, maxDurationMillis: 0, maxRetryAfterMillis: 1000 },
    },
  );
  await sink.accept(generateEvents(50));
  await sink.close(20);

  const stats = runCli(['buffer', 'stats', bufDir, '--json']);
  assert.equal(stats.code, 0, stats.stderr);
  const report = JSON.parse(stats.stdout) as { pending: number; corrupt: number };
  assert.equal(report.pending, 50);
  assert.equal(runCli(['buffer', 'verify', bufDir]).code, 0);

  const seg = listSegments(bufDir).find((s) => fs.statSync(s.file).size > 0)!;
  const buf = fs.readFileSync(seg.file);
  buf[100] = buf[100]! ^ 0xff;
  fs.writeFileSync(seg.file, buf);
  const verify = runCli(['buffer', 'verify', bufDir, '--json']);
  assert.equal(verify.code, 3);
  assert.equal((JSON.parse(verify.stdout) as { corrupt: number }).corrupt, 1);
  const repair = runCli(['buffer', 'repair', bufDir]);
  assert.equal(repair.code, 0, repair.stderr);
  assert.match(repair.stdout, /moved aside: .*quarantine\/\d{20}\.seg\.\d+-\d+\.bin/);
  const after = runCli(['buffer', 'verify', bufDir, '--json']);
  assert.equal(after.code, 0);
  assert.equal((JSON.parse(after.stdout) as { pending: number }).pending, 49);
  assert.equal(runCli(['buffer', 'verify', path.join(dir, 'nope')]).code, 1);
  assert.equal(runCli(['buffer', 'check', bufDir]).code, 2);
  cleanup();
});

test('dlq list|show|replay: replay sends through the configured sink and removes only the delivered entries', () => {
  const { dir, cleanup } = makeTempDir();
  const dlq = path.join(dir, 'dead-letter.ndjson');
  const events = generateEvents(30).map((e, i) => ({ ...e, event_id: `dlq-${i}` }));
  const ts = new Date('2026-01-01T00:00:00Z');
  const lines = events.map((event) =>
    encodeDeadLetterEntry({ sink: 'out', code: 'AEGIS_ERR_SINK_REJECTED', reason: 'mapping', attempts: 1, event }, ts),
  );
  lines.push(
    encodeDeadLetterEntry(
      { source: 'r', code: 'AEGIS_ERR_EVENT_INVALID', reason: 'line 3: invalid JSON', raw: '{nope', line: 3 },
      ts,
    ),
  );
  fs.writeFileSync(dlq, lines.join(''));
  const out = path.join(dir, 'out.ndjson');
  const cfg = path.join(dir, 'aegis.json');
  // The configuration of the daemon (its sources are not used by `dlq replay`).
  fs.writeFileSync(
    cfg,
    JSON.stringify({ data_dir: dir, sources: { s: { type: 'stdin' } }, sinks: { out: { type: 'file', path: out } } }),
  );

  const list = runCli(['dlq', 'list', dlq]);
  assert.equal(list.code, 0, list.stderr);
  assert.match(list.stdout, /^31 entries/);
  assert.match(list.stdout, /^30\tsink out\tAEGIS_ERR_SINK_REJECTED\tevent$/m);
  assert.match(list.stdout, /^1\tsource r\tAEGIS_ERR_EVENT_INVALID\tno event$/m);

  const execs = events.filter((e) => e.type === 'exec');
  assert.ok(execs.length > 0 && execs.length < events.length);
  const show = runCli(['dlq', 'show', dlq, '--where', 'type == "exec"', '--json']);
  assert.equal(show.code, 0);
  assert.equal(show.stdout.trim().split('\n').length, execs.length);
  assert.equal(runCli(['dlq', 'show', dlq, '--where', 'nosuchfield == 1']).code, 2);

  // Only the exec events: delivered to the file, removed from the dead-letter file; the rest stay.
  const replay = runCli(['dlq', 'replay', dlq, '--config', cfg, '--where', 'type == "exec"']);
  assert.equal(replay.code, 0, replay.stdout + replay.stderr);
  const delivered = fs
    .readFileSync(out, 'utf8')
    .trim()
    .split('\n')
    .map((l) => (JSON.parse(l) as { event_id: string }).event_id);
  assert.deepEqual(
    delivered,
    execs.map((e) => e.event_id),
  );
  const left = fs.readFileSync(dlq, 'utf8').trim().split('\n');
  assert.equal(left.length, 31 - execs.length);
  // The rest: the raw entry has no event and stays, so the exit code is 3; everything with an event is delivered.
  const rest = runCli(['dlq', 'replay', dlq, '--config', cfg]);
  assert.equal(rest.code, 3, rest.stdout + rest.stderr);
  assert.equal(fs.readFileSync(dlq, 'utf8').trim().split('\n').length, 1);
  assert.equal(fs.readFileSync(out, 'utf8').trim().split('\n').length, 30);
  assert.equal(runCli(['dlq', 'replay', dlq, '--config', cfg, '--to', 'nosuch']).code, 2);
  cleanup();
});
