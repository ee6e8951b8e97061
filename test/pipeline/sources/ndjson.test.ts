import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { MAX_MAX_LINE_BYTES, NdjsonDecoder, decodeNdjsonStream } from '../../../src/pipeline/sources/ndjson';
import type { SourceContext } from '../../../src/pipeline/sources/types';
import { createDeadLetterQueue, encodeDeadLetterEntry } from '../../../src/sinks/core/dead-letter';
import { createSourceStats } from '../../../src/telemetry/stats';
import { formatJson } from '../../../src/formatters/json';
import { createLogger, silentLogger } from '../../../src/util/logger';
import type { Logger } from '../../../src/util/logger';
import { validateConfigText } from '../../../src/config/load';
import { generateEvents } from '../../helpers/events';
import { makeTempDir } from '../../helpers/tmp';

function ctx(dir: string, logger: Logger = silentLogger): SourceContext & { dlqPath: string } {
  const dlqPath = path.join(dir, 'dlq.ndjson');
  return {
    name: 'n',
    logger,
    stats: createSourceStats('n', 'stdin'),
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

/** CPU time (this process only, so other work on the machine does not count) to decode one line of `bytes` fed in `chunkBytes` pieces. */
function decodeCpuMicros(c: SourceContext, bytes: number, chunkBytes: number): number {
  const line = Buffer.from(`{"a":"${'x'.repeat(bytes - 9)}"}\n`);
  let best = Infinity;
  for (let run = 0; run < 3; run++) {
    const dec = new NdjsonDecoder(c, { chunkEvents: 1024, maxLineBytes: MAX_MAX_LINE_BYTES });
    const before = process.cpuUsage();
    let invalid = 0;
    for (let i = 0; i < line.length; i += chunkBytes)
      invalid += dec.push(line.subarray(i, i + chunkBytes)).invalid.length;
    const used = process.cpuUsage(before);
    assert.equal(invalid, 1, 'the line is decoded (valid JSON, not an event)');
    best = Math.min(best, used.user + used.system);
  }
  return best;
}

test(
  'long lines were assembled in quadratic time: a line over many small chunks decodes in time linear in its length',
  { timeout: 120_000 },
  () => {
    const { dir, cleanup } = makeTempDir();
    const c = ctx(dir);
    decodeCpuMicros(c, 1 << 20, 4096); // warm up the JIT
    const small = decodeCpuMicros(c, 1 << 20, 4096);
    const large = decodeCpuMicros(c, 8 << 20, 4096);
    // 8 times the bytes: linear assembly costs ~8 times as much, the old append-and-search ~64 times.
    assert.ok(large < small * 24 + 20_000, `1 MiB: ${small} µs, 8 MiB: ${large} µs of CPU`);
    cleanup();
  },
);

test('an over-long line is dead-lettered with its size, counted past max_line_bytes without being held in memory', () => {
  const { dir, cleanup } = makeTempDir();
  const c = ctx(dir);
  const max = 64 * 1024;
  const dec = new NdjsonDecoder(c, { chunkEvents: 1024, maxLineBytes: max });
  const [event] = generateEvents(1);
  const chunk = Buffer.from('é'.repeat(8192)); // 16 KiB, multi-byte so bytes and characters differ
  const invalid = [];
  for (let i = 0; i < 1280; i++) {
    // 20 MiB of one line
    invalid.push(...dec.push(chunk).invalid);
    assert.ok(dec.heldChars <= max, `holds ${dec.heldChars} characters`);
  }
  const tail = dec.push(Buffer.from(`\n${formatJson(event!)}\n`));
  invalid.push(...tail.invalid);
  assert.equal(tail.events.length, 1, 'the next line is decoded');
  assert.equal(invalid.length, 1);
  assert.equal(invalid[0]!.line, 1);
  assert.equal(
    invalid[0]!.reason,
    `line 1: line is longer than ${max} bytes (max_line_bytes): ${20 * 1024 * 1024} bytes`,
  );
  assert.equal(invalid[0]!.raw, `${'é'.repeat(256)}…`);
  assert.equal(dec.linesRead, 2);
  // The same at the end of input without a final LF.
  const d2 = new NdjsonDecoder(c, { chunkEvents: 1024, maxLineBytes: 100 });
  assert.equal(d2.push(Buffer.from('y'.repeat(150))).invalid.length, 0);
  assert.match(d2.end().invalid[0]?.reason ?? '', /: 150 bytes$/);
  cleanup();
});

test('max_line_bytes had no upper bound: replay and stdin refuse more than 64 MiB', () => {
  const r = validateConfigText(
    `
sources:
  a: { type: stdin, max_line_bytes: ${MAX_MAX_LINE_BYTES + 1} }
  b: { type: replay, path: /x, max_line_bytes: ${MAX_MAX_LINE_BYTES} }
sinks: { o: { type: stdout } }
`,
    {},
  );
  assert.deepEqual(r.problems, [`sources.a.max_line_bytes: must be <= ${MAX_MAX_LINE_BYTES}`]);
});

test('error reasons had no size bound: a line of 100 000 unknown keys (1 MB) gives a log line and a dead-letter reason of a few KB that count the problems', async () => {
  const { dir, cleanup } = makeTempDir();
  const logLines: string[] = [];
  const c = ctx(dir, createLogger({ write: (l) => void logLines.push(l) }));
  const [event] = generateEvents(1);
  const keys = Array.from({ length: 100_000 }, (_, i) => `"k${i}":1`).join(',');
  const line = `${formatJson(event!).slice(0, -1)},${keys}}`;
  assert.ok(line.length > 900_000 && line.length < 1_200_000, `${line.length}`);
  const input = Readable.from([Buffer.from(`${line}\n`)]);
  for await (const chunk of decodeNdjsonStream(
    input,
    c,
    { chunkEvents: 1024, maxLineBytes: 2 << 20 },
    new AbortController().signal,
  ))
    assert.fail(`unexpected events ${chunk.length}`);
  await c.deadLetter.close();
  const logged = logLines.filter((l) => l.includes('AEGIS_ERR_EVENT_INVALID'));
  assert.equal(logged.length, 1);
  assert.ok(logged[0]!.length < 4096, `log line of ${logged[0]!.length} bytes`);
  assert.match(logged[0]!, /… and 99990 more problems \(100000 in all\)/);
  const entries = fs.readFileSync(c.dlqPath, 'utf8').trim().split('\n');
  assert.equal(entries.length, 1);
  const entry = JSON.parse(entries[0]!) as { reason: string; raw: string };
  assert.ok(entry.reason.length < 4096, `reason of ${entry.reason.length} characters`);
  assert.match(
    entry.reason,
    /^line 1: not a valid event: event: unknown field 'k0'; .*; … and 99990 more problems \(100000 in all\)$/,
  );
  // The raw line is kept whole (it is bounded by max_line_bytes) so it can be replayed once fixed; only the reason
  // around it is bounded: the entry is the line plus a few KB, not 4 MB.
  assert.equal(entry.raw, line);
  assert.ok(
    Buffer.byteLength(entries[0]!) < JSON.stringify(line).length + 4096,
    `entry of ${Buffer.byteLength(entries[0]!)} bytes`,
  );
  cleanup();
});

test('error reasons had no size bound: the dead-letter file cuts any reason to 4096 characters and says how long it was', () => {
  const text = encodeDeadLetterEntry(
    { sink: 's', code: 'AEGIS_ERR_SINK_REJECTED', reason: 'r'.repeat(3_000_000) },
    new Date(0),
  );
  assert.ok(text.length < 4300, `${text.length}`);
  assert.match((JSON.parse(text) as { reason: string }).reason, /^r{4096}… \(3000000 characters in all\)$/);
});
