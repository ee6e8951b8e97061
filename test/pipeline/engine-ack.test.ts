/**
 * Tracked chunks through the engine with real file sinks: settled() fires once per chunk, only after every event
 * routed to every sink has its outcome; events a processor dropped or no route took count as final.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { createPipeline } from '../../src/pipeline/engine';
import { validateConfigDocument } from '../../src/config/load';
import type { Source, TrackedChunk } from '../../src/pipeline/sources/types';
import type { AegisEvent } from '../../src/event/types';
import { silentLogger } from '../../src/util/logger';
import { generateEvents } from '../helpers/events';
import { makeTempDir } from '../helpers/tmp';

const lines = (file: string): number =>
  fs.existsSync(file) ? fs.readFileSync(file, 'utf8').split('\n').filter(Boolean).length : 0;

test('tracked chunks settle after both file sinks wrote them, exactly once; one sink stuck holds them back', async () => {
  const { dir, cleanup } = makeTempDir();
  // Sink `slow` writes to a FIFO nobody reads yet: its writes cannot complete (a receiver that is down) until a
  // reader appears. Sink `fast` is a plain file.
  const fifo = path.join(dir, 'slow.fifo');
  execFileSync('mkfifo', [fifo]);
  const fastFile = path.join(dir, 'fast.ndjson');
  const result = validateConfigDocument({
    data_dir: dir,
    sources: { s: { type: 'stdin' } },
    processors: [{ type: 'filter', name: 'no-exit', condition: 'type != "exit"' }],
    // Connect events match no route (unrouted: final).
    routes: [{ name: 'rest', when: 'type != "connect"', sinks: ['fast', 'slow'] }],
    sinks: {
      fast: { type: 'file', path: fastFile, fsync: 'never', batch: { max_events: 7, timeout_ms: 5 } },
      slow: {
        type: 'file',
        path: fifo,
        fsync: 'never',
        rotate: { max_bytes: 0 },
        batch: { max_events: 7, timeout_ms: 5 },
        request: { timeout_ms: 600_000 },
      },
    },
  });
  assert.deepEqual(result.problems, []);
  const chunks: AegisEvent[][] = [];
  for (let i = 0; i < 6; i++) chunks.push(generateEvents(20, { seed: i + 1 }));
  // One chunk of exits only: the filter drops every event, so it settles at once.
  const exits = generateEvents(40).filter((e) => e.type === 'exit');
  const settledAt: number[] = [];
  const counts = new Array<number>(chunks.length + 1).fill(0);
  const source: Source = {
    name: 's',
    type: 'test',
    async *read() {
      for (let i = 0; i <= chunks.length; i++) {
        const events = i < chunks.length ? chunks[i]! : exits;
        const tracked: TrackedChunk = {
          events,
          settled: () => {
            counts[i]!++;
            settledAt.push(i);
          },
        };
        yield await Promise.resolve(tracked);
      }
    },
  };
  const pipeline = createPipeline(result.config!, { logger: silentLogger, version: 't', sources: () => [source] });
  assert.deepEqual(await pipeline.run(), []);
  await new Promise((r) => setTimeout(r, 200));
  // `fast` wrote everything routed to it, but `slow` delivered nothing: only the all-exit chunk has settled.
  const routed = chunks.flat().filter((e) => e.type !== 'exit' && e.type !== 'connect').length;
  assert.equal(lines(fastFile), routed);
  assert.deepEqual(settledAt, [chunks.length]);
  // The receiver comes up: everything is written and every chunk settles once.
  const received: Buffer[] = [];
  const reader = fs.createReadStream(fifo);
  reader.on('data', (c) => received.push(c as Buffer));
  const end = Date.now() + 10_000;
  while (settledAt.length < chunks.length + 1 && Date.now() < end) await new Promise((r) => setTimeout(r, 10));
  const slowLines = Buffer.concat(received).toString().split('\n').filter(Boolean).length;
  assert.equal(slowLines, routed);
  assert.deepEqual(counts, new Array<number>(chunks.length + 1).fill(1));
  await pipeline.shutdown(5000);
  reader.destroy();
  assert.deepEqual(counts, new Array<number>(chunks.length + 1).fill(1), 'a chunk settled twice');
  cleanup();
});
