import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { createPipeline, SOURCE_STOP_GRACE_MILLIS } from '../../src/pipeline/engine';
import { validateConfigDocument } from '../../src/config/load';
import type { Source } from '../../src/pipeline/sources/types';
import type { AegisEvent } from '../../src/event/types';
import { silentLogger } from '../../src/util/logger';
import { formatJson } from '../../src/formatters/json';
import { generateEvents } from '../helpers/events';
import { makeTempDir } from '../helpers/tmp';

test('backpressure reaches the source: a sink that cannot write stops the source from being read ahead', async () => {
  const { dir, cleanup } = makeTempDir();
  // A named pipe nobody reads yet: the file sink's open() blocks until a reader appears, then its writes block
  // whenever the pipe is full. A real slow receiver, no mocks.
  const fifo = path.join(dir, 'out.fifo');
  execFileSync('mkfifo', [fifo]);
  const result = validateConfigDocument({
    data_dir: dir,
    sources: { s: { type: 'stdin' } },
    sinks: {
      f: {
        type: 'file',
        path: fifo,
        fsync: 'never',
        rotate: { max_bytes: 0 },
        buffer: { max_events: 20 },
        batch: { max_events: 10, timeout_ms: 5 },
        request: { timeout_ms: 600_000 },
      },
    },
  });
  assert.deepEqual(result.problems, []);
  const events = generateEvents(1000);
  let pulled = 0;
  const source: Source = {
    name: 's',
    type: 'test',
    async *read(signal) {
      for (let i = 0; i < events.length && !signal.aborted; i += 10) {
        pulled += 10;
        yield await Promise.resolve(events.slice(i, i + 10));
      }
    },
  };
  const pipeline = createPipeline(result.config!, { logger: silentLogger, version: 't', sources: () => [source] });
  const sink = pipeline.sinks.get('f')!;
  const running = pipeline.run();
  await new Promise((r) => setTimeout(r, 300));
  // In flight: one batch (10); buffered: at most 20; the loop holds one chunk (10) while it waits.
  assert.ok(pulled <= 40, `source read ${pulled} events ahead of a stuck sink`);
  assert.ok(sink.stats.bufferEvents <= 20, `buffer ${sink.stats.bufferEvents} > 20`);
  assert.equal(sink.stats.delivered, 0);
  // Now a reader appears: everything flows, in order, nothing lost.
  const chunks: Buffer[] = [];
  const reader = fs.createReadStream(fifo);
  reader.on('data', (c) => chunks.push(c as Buffer));
  const readerDone = new Promise<void>((r) => reader.on('close', () => r()));
  await running;
  const reports = await pipeline.shutdown(10_000);
  await readerDone;
  assert.equal(reports[0]!.undelivered, 0);
  const lines = Buffer.concat(chunks).toString('utf8').trim().split('\n');
  assert.equal(lines.length, 1000);
  assert.deepEqual(
    lines.map((l) => (JSON.parse(l) as AegisEvent).exec_id),
    events.map((e) => e.exec_id),
  );
  cleanup();
});

test('routes and processors apply in order; the summary counts removed and unrouted events', async () => {
  const { dir, cleanup } = makeTempDir();
  const input = path.join(dir, 'in.ndjson');
  const events = generateEvents(200);
  fs.writeFileSync(input, events.map((e) => formatJson(e)).join('\n') + '\n');
  const result = validateConfigDocument({
    data_dir: dir,
    sources: { r: { type: 'replay', path: input } },
    processors: [{ type: 'filter', name: 'no-exit', condition: 'type != "exit"' }],
    routes: [
      { name: 'blocks', when: 'type == "block"', sinks: ['blocks'] },
      { name: 'execs', when: 'type == "exec"', sinks: ['all'] },
      { name: 'blocks-too', when: 'type == "block"', sinks: ['all'] },
    ],
    sinks: {
      blocks: { type: 'file', path: path.join(dir, 'blocks.ndjson') },
      all: { type: 'file', path: path.join(dir, 'all.ndjson') },
    },
  });
  assert.deepEqual(result.problems, []);
  const pipeline = createPipeline(result.config!, { logger: silentLogger, version: 't' });
  await pipeline.start();
  assert.deepEqual(await pipeline.run(), []);
  await pipeline.shutdown(5000);
  const read = (f: string): AegisEvent[] =>
    fs
      .readFileSync(path.join(dir, f), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as AegisEvent);
  assert.deepEqual(
    read('blocks.ndjson').map((e) => e.exec_id),
    events.filter((e) => e.type === 'block').map((e) => e.exec_id),
  );
  assert.deepEqual(
    read('all.ndjson').map((e) => e.exec_id),
    events.filter((e) => e.type === 'block' || e.type === 'exec').map((e) => e.exec_id),
  );
  assert.equal(pipeline.stats.pipeline.removed['no-exit'], events.filter((e) => e.type === 'exit').length);
  assert.equal(pipeline.stats.pipeline.unrouted, events.filter((e) => e.type === 'connect').length);
  cleanup();
});

test(
  'shutdown is bounded behind a source that ignores the stop: the source is closed under it, or given up on',
  { timeout: 60_000 },
  async () => {
    const { dir, cleanup } = makeTempDir();
    try {
      const result = validateConfigDocument({
        data_dir: dir,
        sources: { s: { type: 'stdin' } },
        sinks: { f: { type: 'file', path: path.join(dir, 'out.ndjson') } },
      });
      assert.deepEqual(result.problems, []);
      const events = generateEvents(5);
      for (const closeEndsIt of [true, false]) {
        let release: (() => void) | undefined;
        let closed = 0;
        // Yields once, then waits for input that never comes and never looks at the signal.
        const source: Source = {
          name: 's',
          type: 'test',
          async *read() {
            yield events;
            await new Promise<void>((r) => (release = r));
          },
          close: () => {
            closed++;
            if (closeEndsIt) release?.();
          },
        };
        const pipeline = createPipeline(result.config!, {
          logger: silentLogger,
          version: 't',
          sources: () => [source],
        });
        const running = pipeline.run();
        await new Promise((r) => setTimeout(r, 200));
        const t0 = Date.now();
        const reports = await pipeline.shutdown(500);
        const took = Date.now() - t0;
        assert.equal(closed, 1, 'the source was closed once');
        assert.equal(pipeline.sinks.get('f')!.stats.delivered, events.length);
        assert.equal(reports[0]!.undelivered, 0);
        // 500 ms for the loops, one grace before closing the source and at most one after.
        assert.ok(
          took < 500 + 2 * SOURCE_STOP_GRACE_MILLIS + 1500,
          `shutdown took ${took} ms (close ends it: ${closeEndsIt})`,
        );
        if (closeEndsIt) assert.deepEqual(await running, []);
        else release?.();
      }
    } finally {
      cleanup();
    }
  },
);
