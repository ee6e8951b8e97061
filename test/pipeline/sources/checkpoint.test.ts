/**
 * The replay checkpoint (src/pipeline/sources/checkpoint.ts): it advances only over a prefix of settled chunks,
 * survives a restart, and a replay with `checkpoint: true` resumes where its events were settled.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { checkpointFile, openReplayCheckpoint } from '../../../src/pipeline/sources/checkpoint';
import type { SourceContext } from '../../../src/pipeline/sources/types';
import { createPipeline } from '../../../src/pipeline/engine';
import { validateConfigDocument } from '../../../src/config/load';
import { createDeadLetterQueue } from '../../../src/sinks/core/dead-letter';
import { createSourceStats } from '../../../src/telemetry/stats';
import { formatJson } from '../../../src/formatters/json';
import { silentLogger } from '../../../src/util/logger';
import { generateEvents } from '../../helpers/events';
import { makeTempDir } from '../../helpers/tmp';

function ctx(dir: string): SourceContext {
  return {
    name: 'r',
    logger: silentLogger,
    stats: createSourceStats('r', 'replay'),
    deadLetter: createDeadLetterQueue({
      path: undefined,
      maxBytes: 0,
      logger: silentLogger,
      stats: { written: 0, bytes: 0, failed: 0 },
    }),
    hostname: 'h',
    dataDir: dir,
  };
}

test('checkpoint: advances over the settled prefix only, in order, whatever order chunks settle in', () => {
  const { dir, cleanup } = makeTempDir();
  const input = path.join(dir, 'in.ndjson');
  fs.writeFileSync(input, 'x'.repeat(1000));
  const cp = openReplayCheckpoint(ctx(dir), input, fs.statSync(input));
  assert.deepEqual(cp.resumeAt, { byte: 0, line: 0 });
  const a = cp.track([], { byte: 100, line: 1 });
  const b = cp.track([], { byte: 200, line: 2 });
  const c = cp.track([], { byte: 300, line: 3 });
  c.settled();
  b.settled();
  assert.deepEqual(cp.settled, { byte: 0, line: 0 }, 'moved past an unsettled chunk');
  a.settled();
  assert.deepEqual(cp.settled, { byte: 300, line: 3 });
  a.settled(); // a second call changes nothing
  cp.close();
  const again = openReplayCheckpoint(ctx(dir), input, fs.statSync(input));
  assert.deepEqual(again.resumeAt, { byte: 300, line: 3 });
  again.close();
  // Another file at the same path (new inode): from the start.
  // (written before the rename, so that it cannot reuse the old file's inode)
  fs.writeFileSync(`${input}.new`, 'y'.repeat(1000));
  fs.renameSync(`${input}.new`, input);
  const other = openReplayCheckpoint(ctx(dir), input, fs.statSync(input));
  assert.deepEqual(other.resumeAt, { byte: 0, line: 0 });
  other.close();
  cleanup();
});

test('replay with checkpoint: a second run resumes after the events the first run delivered, nothing twice', async () => {
  const { dir, cleanup } = makeTempDir();
  const input = path.join(dir, 'in.ndjson');
  const out = path.join(dir, 'out.ndjson');
  const events = generateEvents(3000).map((e, i) => ({ ...e, event_id: `cp-${i}` }));
  // The first run sees only the first 1000 lines (the file grows later, as a log does).
  fs.writeFileSync(
    input,
    events
      .slice(0, 1000)
      .map((e) => formatJson(e) + '\n')
      .join(''),
  );
  const config = validateConfigDocument({
    data_dir: dir,
    sources: { r: { type: 'replay', path: input, checkpoint: true, chunk_events: 100 } },
    sinks: { f: { type: 'file', path: out, fsync: 'never', batch: { max_events: 70, timeout_ms: 5 } } },
  });
  assert.deepEqual(config.problems, []);
  const run = async (): Promise<void> => {
    const p = createPipeline(config.config!, { logger: silentLogger, version: 't' });
    await p.start();
    assert.deepEqual(await p.run(), []);
    await p.shutdown(5000);
  };
  await run();
  const saved = JSON.parse(fs.readFileSync(checkpointFile(dir, 'r'), 'utf8')) as { byte: number; line: number };
  assert.equal(saved.byte, fs.statSync(input).size);
  assert.equal(saved.line, 1000);
  fs.appendFileSync(
    input,
    events
      .slice(1000)
      .map((e) => formatJson(e) + '\n')
      .join(''),
  );
  await run();
  const got = fs
    .readFileSync(out, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => (JSON.parse(l) as { event_id: string }).event_id);
  assert.deepEqual(
    got,
    events.map((e) => e.event_id),
  );
  // Checkpoint and loop exclude each other, by key path.
  const bad = validateConfigDocument({
    data_dir: dir,
    sources: { r: { type: 'replay', path: input, checkpoint: true, loop: true } },
    sinks: { f: { type: 'file', path: out } },
  });
  assert.deepEqual(bad.problems, ['sources.r.checkpoint: cannot be combined with loop']);
  cleanup();
});
