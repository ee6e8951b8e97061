/**
 * pipeline.workers: the replay source decoded, filtered, routed and formatted in worker threads gives what the
 * single-thread pipeline gives, byte for byte (records in input order per sink, dead-letter entries with their line
 * numbers, counters), keeps checkpoints exact, and keeps the dead-letter guarantee for records formatted in a worker.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { createPipeline } from '../../src/pipeline/engine';
import { validateConfigDocument } from '../../src/config/load';
import type { AegisConfig } from '../../src/config/load';
import type { AegisEvent } from '../../src/event/types';
import { formatJson } from '../../src/formatters/json';
import { RAW_READ_BYTES } from '../../src/pipeline/sources/raw-lines';
import { silentLogger } from '../../src/util/logger';
import { generateEvents } from '../helpers/events';
import { makeTempDir } from '../helpers/tmp';

const MAX_LINE = 4096;

function configFor(
  dir: string,
  input: string,
  workers: number | string,
  extra: Record<string, unknown> = {},
): AegisConfig {
  const result = validateConfigDocument({
    data_dir: dir,
    dead_letter: { path: path.join(dir, 'dead-letter.ndjson') },
    sources: { r: { type: 'replay', path: input, max_line_bytes: MAX_LINE } },
    processors: [
      { type: 'filter', name: 'no-exit', condition: 'type != "exit" || exit_code != 0' },
      { type: 'redact', name: 'hide', fields: ['cgroup_path'], mode: 'hash', salt: 'test-salt-0123456789' },
    ],
    routes: [
      { name: 'all', sinks: ['json'] },
      { name: 'execs', when: 'type == "exec"', sinks: ['cef'] },
      { name: 'blocks', when: 'type == "block"', sinks: ['ecs'] },
    ],
    sinks: {
      json: { type: 'file', path: path.join(dir, 'json.ndjson'), fsync: 'never' },
      cef: { type: 'file', path: path.join(dir, 'cef.log'), fsync: 'never', format: 'cef' },
      ecs: { type: 'file', path: path.join(dir, 'ecs.ndjson'), fsync: 'never', format: 'ecs' },
    },
    pipeline: { workers },
    ...extra,
  });
  assert.deepEqual(result.problems, []);
  return result.config!;
}

/** Valid events with every kind of bad line between them, spanning several raw reads. */
function writeInput(file: string, count: number): AegisEvent[] {
  const events = generateEvents(count, { seed: 7 });
  const lines = events.map((e) => formatJson(e));
  lines.splice(5, 0, '{"not json');
  lines.splice(40, 0, '{"type":"exec"}');
  lines.splice(41, 0, '');
  // An over-long line that straddles a read boundary, then one far longer than a whole read (skipped, never held).
  const at = Math.floor(count / 2);
  lines.splice(at, 0, `{"pad":"${'x'.repeat(MAX_LINE * 2)}"}`);
  lines.splice(at + 3, 0, `{"pad":"${'y'.repeat(RAW_READ_BYTES * 2)}"}`);
  // The last line has no LF.
  fs.writeFileSync(file, lines.join('\n'));
  return events;
}

async function runOnce(config: AegisConfig): Promise<ReturnType<typeof createPipeline>> {
  const pipeline = createPipeline(config, { logger: silentLogger, version: 't', hostname: 'h' });
  await pipeline.start();
  assert.deepEqual(await pipeline.run(), []);
  await pipeline.shutdown(10_000);
  return pipeline;
}

const deadLetters = (dir: string): Record<string, unknown>[] =>
  fs
    .readFileSync(path.join(dir, 'dead-letter.ndjson'), 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => {
      const { ts: _ts, ...rest } = JSON.parse(l) as Record<string, unknown>;
      return rest;
    });

test('pipeline.workers: 2 writes the bytes, dead-letter entries and counts of the single-thread pipeline', async () => {
  const one = makeTempDir();
  const two = makeTempDir();
  try {
    const input = path.join(one.dir, 'in.ndjson');
    const events = writeInput(input, 3000);
    assert.ok(fs.statSync(input).size > 4 * RAW_READ_BYTES, 'the input spans several worker jobs');
    const a = await runOnce(configFor(one.dir, input, 0));
    const b = await runOnce(configFor(two.dir, input, 2));
    for (const f of ['json.ndjson', 'cef.log', 'ecs.ndjson']) {
      const x = fs.readFileSync(path.join(one.dir, f));
      assert.ok(x.length > 0, f);
      assert.ok(x.equals(fs.readFileSync(path.join(two.dir, f))), `${f} differs with workers`);
    }
    const kept = events.filter((e) => e.type !== 'exit' || e.exit_code !== 0);
    assert.equal(fs.readFileSync(path.join(two.dir, 'json.ndjson'), 'utf8').split('\n').length - 1, kept.length);
    const dl = deadLetters(two.dir);
    assert.deepEqual(dl, deadLetters(one.dir));
    assert.deepEqual(
      dl.map((e) => e.line),
      [6, 41, 1501, 1504],
    );
    assert.equal(
      dl[3]!.reason,
      `line 1504: line is longer than 4096 bytes (max_line_bytes): ${RAW_READ_BYTES * 2 + 10} bytes`,
    );
    assert.deepEqual(b.stats.pipeline.removed, a.stats.pipeline.removed);
    assert.equal(b.stats.pipeline.unrouted, a.stats.pipeline.unrouted);
    assert.deepEqual(
      [b.stats.sources.get('r')!.events, b.stats.sources.get('r')!.invalid, b.stats.sources.get('r')!.bytes],
      [events.length, 4, fs.statSync(input).size],
    );
    for (const s of ['json', 'cef', 'ecs'])
      assert.equal(b.stats.sinks.get(s)!.delivered, a.stats.sinks.get(s)!.delivered, s);
  } finally {
    one.cleanup();
    two.cleanup();
  }
});

test('pipeline.workers: a checkpointed replay resumes after the last settled line, with line numbers counted on', async () => {
  const { dir, cleanup } = makeTempDir();
  try {
    const input = path.join(dir, 'in.ndjson');
    const events = generateEvents(1500, { seed: 3 });
    fs.writeFileSync(input, events.map((e) => formatJson(e) + '\n').join(''));
    const config = configFor(dir, input, 2, {
      sources: { r: { type: 'replay', path: input, checkpoint: true } },
      processors: [],
      routes: [],
      sinks: { json: { type: 'file', path: path.join(dir, 'json.ndjson'), fsync: 'never' } },
    });
    const first = await runOnce(config);
    assert.equal(first.stats.sources.get('r')!.events, 1500);
    const more = generateEvents(2, { seed: 4 });
    fs.appendFileSync(input, `${formatJson(more[0]!)}\nnot json\n${formatJson(more[1]!)}\n`);
    const second = await runOnce(config);
    assert.equal(second.stats.sources.get('r')!.events, 2);
    const out = fs.readFileSync(path.join(dir, 'json.ndjson'), 'utf8').split('\n').filter(Boolean);
    assert.deepEqual(
      out,
      [...events, ...more].map((e) => formatJson(e)),
    );
    assert.deepEqual(
      deadLetters(dir).map((e) => e.line),
      [1502],
    );
  } finally {
    cleanup();
  }
});

test('pipeline.workers: stopped mid-file and started again, a checkpointed replay delivers every event once, in order', async () => {
  const { dir, cleanup } = makeTempDir();
  try {
    const input = path.join(dir, 'in.ndjson');
    const events = generateEvents(20_000, { seed: 9 });
    fs.writeFileSync(input, events.map((e) => formatJson(e) + '\n').join(''));
    const out = path.join(dir, 'json.ndjson');
    const config = configFor(dir, input, 2, {
      sources: { r: { type: 'replay', path: input, checkpoint: true } },
      processors: [],
      routes: [],
      sinks: { json: { type: 'file', path: out, fsync: 'never' } },
    });
    const first = createPipeline(config, { logger: silentLogger, version: 't', hostname: 'h' });
    const running = first.run();
    const sink = first.sinks.get('json')!;
    const until = Date.now() + 20_000;
    while (sink.stats.delivered < 2000 && Date.now() < until) await new Promise((r) => setTimeout(r, 2));
    first.stop();
    assert.deepEqual(await running, []);
    await first.shutdown(10_000);
    const stoppedAt = first.stats.sources.get('r')!.events;
    assert.ok(stoppedAt >= 2000 && stoppedAt < events.length, `stopped after ${stoppedAt} events`);
    const second = await runOnce(config);
    assert.equal(second.stats.sources.get('r')!.events, events.length - stoppedAt);
    const lines = fs.readFileSync(out, 'utf8').split('\n').filter(Boolean);
    assert.equal(lines.length, events.length);
    assert.ok(
      lines.every((l, i) => l === formatJson(events[i]!)),
      'every event once, in input order',
    );
  } finally {
    cleanup();
  }
});

test('pipeline.workers: records formatted in a worker that cannot be delivered reach the dead-letter file whole', async () => {
  const { dir, cleanup } = makeTempDir();
  // A FIFO nobody reads: the file sink's open() never completes, like a receiver that is down.
  const fifo = path.join(dir, 'out.fifo');
  execFileSync('mkfifo', [fifo]);
  try {
    const input = path.join(dir, 'in.ndjson');
    const events = generateEvents(300, { seed: 5 });
    fs.writeFileSync(input, events.map((e) => formatJson(e) + '\n').join(''));
    const config = configFor(dir, input, 2, {
      processors: [],
      routes: [],
      sinks: { json: { type: 'file', path: fifo, format: 'ecs', rotate: { max_bytes: 0 } } },
    });
    const pipeline = createPipeline(config, { logger: silentLogger, version: 't', hostname: 'h' });
    assert.deepEqual(await pipeline.run(), []);
    const [report] = await pipeline.shutdown(300);
    assert.equal(report!.undelivered, 300);
    const dl = deadLetters(dir);
    assert.equal(dl.length, 300);
    assert.deepEqual(
      dl.map((e) => e.event),
      events.map((e) => JSON.parse(formatJson(e)) as unknown),
    );
    assert.ok(dl.every((e) => e.sink === 'json' && e.code === 'AEGIS_ERR_SHUTDOWN_UNDELIVERED'));
  } finally {
    // Release the sink's open() of the FIFO so no thread stays blocked on it.
    fs.closeSync(fs.openSync(fifo, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK));
    cleanup();
  }
});

test('pipeline.workers: a stateful processor or alert rules refuse a count and make auto run on one thread', () => {
  const { dir, cleanup } = makeTempDir();
  try {
    const input = path.join(dir, 'in.ndjson');
    fs.writeFileSync(input, '');
    const dedupe = { processors: [{ type: 'dedupe', name: 'dd', fields: ['exec_id'] }] };
    assert.throws(
      () => createPipeline(configFor(dir, input, 2, dedupe), { logger: silentLogger, version: 't' }),
      /pipeline\.workers: 2 is not possible: processor 'dd' \(type dedupe\) keeps state across events/,
    );
    const auto = createPipeline(configFor(dir, input, 'auto', dedupe), { logger: silentLogger, version: 't' });
    assert.ok(auto.sinks.size > 0);
    for (const bad of [-1, 'many', 65])
      assert.ok(
        validateConfigDocument({ sources: {}, sinks: {}, pipeline: { workers: bad } }).problems.some((p) =>
          p.includes('pipeline.workers'),
        ),
        `workers: ${String(bad)} accepted`,
      );
  } finally {
    cleanup();
  }
});
