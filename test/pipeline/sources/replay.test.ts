import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { NdjsonDecoder } from '../../../src/pipeline/sources/ndjson';
import { createReplaySource } from '../../../src/pipeline/sources/replay';
import type { SourceContext, TrackedChunk } from '../../../src/pipeline/sources/types';
import { chunkEvents } from '../../../src/pipeline/sources/types';
import { createDeadLetterQueue } from '../../../src/sinks/core/dead-letter';
import { createSourceStats } from '../../../src/telemetry/stats';
import { formatJson } from '../../../src/formatters/json';
import { silentLogger } from '../../../src/util/logger';
import type { AegisEvent } from '../../../src/event/types';
import { generateEvents } from '../../helpers/events';
import { makeTempDir } from '../../helpers/tmp';

function ctx(dir: string): SourceContext & { dlqPath: string } {
  const dlqPath = path.join(dir, 'dlq.ndjson');
  return {
    name: 'r',
    logger: silentLogger,
    stats: createSourceStats('r', 'replay'),
    hostname: 'h',
    dlqPath,
    deadLetter: createDeadLetterQueue({
      path: dlqPath,
      maxBytes: 1e9,
      logger: silentLogger,
      stats: { written: 0, bytes: 0, failed: 0 },
    }),
  };
}

async function collect(iter: AsyncIterable<readonly AegisEvent[] | TrackedChunk>): Promise<AegisEvent[]> {
  const out: AegisEvent[] = [];
  for await (const chunk of iter) out.push(...chunkEvents(chunk));
  return out;
}

test('decoder: lines split across chunks, CRLF, blank lines and a last line without LF', () => {
  const { dir, cleanup } = makeTempDir();
  const c = ctx(dir);
  const events = generateEvents(3, { adversarial: true });
  const text = `${formatJson(events[0]!)}\r\n\n${formatJson(events[1]!)}\n${formatJson(events[2]!)}`;
  const bytes = Buffer.from(text);
  const dec = new NdjsonDecoder(c, { chunkEvents: 100, maxLineBytes: 1 << 20 });
  const got: AegisEvent[] = [];
  for (let i = 0; i < bytes.length; i += 7) got.push(...dec.push(bytes.subarray(i, i + 7)).events);
  got.push(...dec.end().events);
  assert.deepEqual(got, JSON.parse(`[${events.map((e) => formatJson(e)).join(',')}]`));
  cleanup();
});

test('replay: bad lines are counted and dead-lettered with line number and reason; the rest flows', async () => {
  const { dir, cleanup } = makeTempDir();
  const c = ctx(dir);
  const events = generateEvents(6);
  const lines = [
    formatJson(events[0]!),
    '{"not json',
    formatJson(events[1]!),
    JSON.stringify({ ...events[2], pid: 'x' }),
    Buffer.from([0x7b, 0xff, 0xfe, 0x7d]).toString('latin1'),
    formatJson(events[3]!),
    'x'.repeat(5000),
    formatJson(events[4]!),
  ];
  const file = path.join(dir, 'in.ndjson');
  fs.writeFileSync(file, lines.join('\n') + '\n');
  const source = createReplaySource({ path: file, rate: 0, loop: false, chunkEvents: 2, maxLineBytes: 4096 }, c);
  const got = await collect(source.read(new AbortController().signal));
  assert.deepEqual(
    got.map((e) => e.exec_id),
    [0, 1, 3, 4].map((i) => events[i]!.exec_id),
  );
  assert.equal(c.stats.invalid, 4);
  await c.deadLetter.close();
  const dlq = fs
    .readFileSync(c.dlqPath, 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { line: number; reason: string; code: string; source: string; raw: string });
  assert.deepEqual(
    dlq.map((d) => d.line),
    [2, 4, 5, 7],
  );
  assert.match(dlq[0]!.reason, /^line 2: invalid JSON/);
  assert.match(dlq[1]!.reason, /^line 4: not a valid event: pid: must be integer/);
  assert.match(dlq[3]!.reason, /^line 7: line is longer than 4096 bytes/);
  assert.ok(dlq.every((d) => d.code === 'AEGIS_ERR_EVENT_INVALID' && d.source === 'r'));
  assert.equal(dlq[0]!.raw, '{"not json');
  cleanup();
});

test('replay --rate paces the output', async () => {
  const { dir, cleanup } = makeTempDir();
  const file = path.join(dir, 'in.ndjson');
  fs.writeFileSync(
    file,
    generateEvents(50)
      .map((e) => formatJson(e))
      .join('\n') + '\n',
  );
  const t0 = performance.now();
  const got = await collect(
    createReplaySource({ path: file, rate: 200, loop: false, chunkEvents: 1024, maxLineBytes: 1 << 20 }, ctx(dir)).read(
      new AbortController().signal,
    ),
  );
  const elapsed = performance.now() - t0;
  assert.equal(got.length, 50);
  assert.ok(elapsed >= 230 && elapsed < 1500, `50 events at 200/s took ${elapsed.toFixed(0)} ms, expected about 250`);
  cleanup();
});

test('replay --loop starts over until stopped; a file with no valid event stops the loop', async () => {
  const { dir, cleanup } = makeTempDir();
  const file = path.join(dir, 'in.ndjson');
  fs.writeFileSync(
    file,
    generateEvents(10)
      .map((e) => formatJson(e))
      .join('\n') + '\n',
  );
  const stop = new AbortController();
  let n = 0;
  for await (const chunk of createReplaySource(
    { path: file, rate: 0, loop: true, chunkEvents: 3, maxLineBytes: 1 << 20 },
    ctx(dir),
  ).read(stop.signal)) {
    n += chunkEvents(chunk).length;
    if (n >= 35) stop.abort();
  }
  assert.ok(n >= 35 && n <= 40, `read ${n}`);
  const empty = path.join(dir, 'empty.ndjson');
  fs.writeFileSync(empty, 'garbage\n');
  const c = ctx(dir);
  assert.deepEqual(
    await collect(
      createReplaySource({ path: empty, rate: 0, loop: true, chunkEvents: 3, maxLineBytes: 1 << 20 }, c).read(
        new AbortController().signal,
      ),
    ),
    [],
  );
  await c.deadLetter.close(); // the garbage line opened it
  cleanup();
});

test('a missing file fails with AEGIS_ERR_SOURCE_READ naming the path', async () => {
  const { dir, cleanup } = makeTempDir();
  const source = createReplaySource(
    { path: path.join(dir, 'nope.ndjson'), rate: 0, loop: false, chunkEvents: 3, maxLineBytes: 1 << 20 },
    ctx(dir),
  );
  await assert.rejects(
    collect(source.read(new AbortController().signal)),
    (err: Error & { code?: string }) => err.code === 'AEGIS_ERR_SOURCE_READ' && err.message.includes('nope.ndjson'),
  );
  cleanup();
});

test('replay: a file of many 64 KiB reads (lines and multi-byte characters across read boundaries) arrives whole, event for event', async () => {
  const { dir, cleanup } = makeTempDir();
  try {
    const c = ctx(dir);
    // Adversarial strings carry 2-, 3- and 4-byte UTF-8 characters; ~1 MB of lines puts read boundaries everywhere.
    const events = generateEvents(2500, { adversarial: true, seed: 5 });
    const file = path.join(dir, 'in.ndjson');
    const text = events.map((e) => formatJson(e) + '\n').join('');
    fs.writeFileSync(file, text);
    assert.ok(Buffer.byteLength(text) > 16 * 64 * 1024, 'the file spans many reads');
    assert.ok(Buffer.byteLength(text) > text.length, 'the file has multi-byte characters');
    const got = await collect(
      createReplaySource({ path: file, rate: 0, loop: false, chunkEvents: 1024, maxLineBytes: 1 << 20 }, c).read(
        new AbortController().signal,
      ),
    );
    assert.equal(got.length, events.length);
    assert.deepEqual(got, JSON.parse(`[${events.map((e) => formatJson(e)).join(',')}]`));
    assert.equal(c.stats.invalid, 0);
    assert.equal(c.stats.bytes, Buffer.byteLength(text));
  } finally {
    cleanup();
  }
});

test('replay: a path that cannot be read as a file (a directory) fails with AEGIS_ERR_SOURCE_READ naming it', async () => {
  const { dir, cleanup } = makeTempDir();
  try {
    const source = createReplaySource(
      { path: dir, rate: 0, loop: false, chunkEvents: 10, maxLineBytes: 4096 },
      ctx(dir),
    );
    await assert.rejects(collect(source.read(new AbortController().signal)), (err: Error & { code?: string }) => {
      assert.equal(err.code, 'AEGIS_ERR_SOURCE_READ');
      assert.match(err.message, new RegExp(`cannot read ${dir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: .*EISDIR`));
      return true;
    });
  } finally {
    cleanup();
  }
});
