/**
 * The disk buffer (src/sinks/core/disk-buffer.ts) under the sink core: records survive a stop, are delivered after
 * the next start, settle only when delivered; corrupt segment files never stop a start, intact records are
 * delivered, corrupt ones are quarantined and counted exactly.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { createAcknowledgement } from '../../../src/sinks/core/ack';
import { createSink } from '../../../src/sinks/core/sink';
import type { Sink } from '../../../src/sinks/core/sink-api';
import { createDeadLetterQueue } from '../../../src/sinks/core/dead-letter';
import type { DeadLetterQueue } from '../../../src/sinks/core/dead-letter';
import type { BufferOptions, SinkCoreOptions } from '../../../src/sinks/core/types';
import { listSegments, scanRecords, LEDGER_FILE, QUARANTINE_DIR } from '../../../src/sinks/core/disk-format';
import { createSinkStats } from '../../../src/telemetry/stats';
import type { SinkStats } from '../../../src/telemetry/stats';
import { formatJson } from '../../../src/formatters/json';
import { silentLogger } from '../../../src/util/logger';
import type { AegisEvent } from '../../../src/event/types';
import { generateEvents } from '../../helpers/events';
import { createScriptedTransport } from '../../helpers/scripted-transport';
import type { ScriptedTransport } from '../../helpers/scripted-transport';
import { makeTempDir } from '../../helpers/tmp';

const options = (buffer: Partial<BufferOptions> = {}): SinkCoreOptions => ({
  batch: { maxEvents: 20, maxBytes: 1_000_000, timeoutMillis: 5 },
  buffer: {
    type: 'disk',
    maxEvents: 50,
    maxBytes: 200 * 1024,
    whenFull: 'block',
    fsync: 'interval',
    fsyncIntervalMillis: 20,
    ...buffer,
  },
  request: { concurrency: 2, timeoutMillis: 2000 },
  retry: { initialBackoffMillis: 1, maxBackoffMillis: 5, maxDurationMillis: 0, maxRetryAfterMillis: 5000 },
});

interface Opened {
  sink: Sink;
  transport: ScriptedTransport;
  stats: SinkStats;
  deadLetter: DeadLetterQueue;
}

/** `down`: every send hangs until the shutdown deadline aborts it (a receiver that never answers). */
function open(dir: string, buffer: Partial<BufferOptions> = {}, down = false): Opened {
  const transport = createScriptedTransport(down ? new Array<{ hang: true }>(1000).fill({ hang: true }) : []);
  const stats = createSinkStats('d', 'scripted');
  const deadLetter = createDeadLetterQueue({
    path: path.join(dir, 'dlq.ndjson'),
    maxBytes: 1e9,
    logger: silentLogger,
    stats: { written: 0, bytes: 0, failed: 0 },
  });
  const sink = createSink(
    {
      name: 'd',
      type: 'scripted',
      transport,
      formatter: { name: 'json', contentType: 'application/json', format: formatJson },
      stats,
      logger: silentLogger,
      deadLetter,
      bufferDir: path.join(dir, 'buf'),
    },
    options(buffer),
  );
  return { sink, transport, stats, deadLetter };
}

const ids = (events: readonly AegisEvent[]): string[] => events.map((e) => `${e.exec_id}#${e.ts}`);

async function until(cond: () => boolean, what: string, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

test('disk buffer: a receiver down at shutdown keeps the events on disk; the next start delivers every one, once', async () => {
  const { dir, cleanup } = makeTempDir();
  const events = generateEvents(300);
  const a = open(dir, {}, true); // the receiver never answers in this run
  let fired = 0;
  const ack = createAcknowledgement(events.length, () => fired++);
  await a.sink.accept(events, ack);
  // The read-ahead holds 50 in memory; the rest spilled to disk only.
  assert.ok(a.stats.bufferDiskBytes > 0);
  await a.sink.close(100);
  assert.equal(fired, 0, 'settled while the events were still buffered');
  assert.equal(a.transport.delivered.length, 0);
  assert.equal(fs.readFileSync(path.join(dir, 'dlq.ndjson'), { flag: 'a+' }).length, 0, 'nothing dead-lettered');
  await a.deadLetter.close();

  const b = open(dir);
  await until(() => b.transport.delivered.length >= events.length, 'replayed delivery');
  await b.sink.close(2000);
  await b.deadLetter.close();
  assert.deepEqual(ids(b.transport.delivered), ids(events), 'every event once, in order');
  // Fully acknowledged: the segments are gone but the one being written, and the ledger says so.
  const c = open(dir);
  await new Promise((r) => setTimeout(r, 50));
  await c.sink.close(1000);
  await c.deadLetter.close();
  assert.equal(c.transport.delivered.length, 0, 'delivered again after a clean stop');
  cleanup();
});

test('disk buffer: bytes on disk stay under max_bytes while the receiver is down; drop_newest counts the rest', async () => {
  const { dir, cleanup } = makeTempDir();
  const a = open(dir, { maxBytes: 64 * 1024, whenFull: 'drop_newest' });
  a.transport.hold();
  await a.sink.accept(generateEvents(1000));
  const onDisk = listSegments(path.join(dir, 'buf')).reduce((n, s) => n + fs.statSync(s.file).size, 0);
  assert.ok(onDisk <= 64 * 1024, `${onDisk} bytes on disk`);
  const dropped = a.stats.dropped.buffer_full ?? 0;
  assert.ok(dropped > 0);
  a.transport.release();
  await until(() => a.transport.delivered.length === 1000 - dropped, 'delivery of what was kept');
  await a.sink.close(2000);
  await a.deadLetter.close();
  cleanup();
});

/** Byte ranges of every record in a segment file. */
function recordRanges(file: string): { start: number; end: number }[] {
  const buf = fs.readFileSync(file);
  const out: { start: number; end: number }[] = [];
  scanRecords(
    buf,
    0,
    buf.length,
    (r) => out.push({ start: r.offset, end: r.end }),
    () => assert.fail('a fresh segment is corrupt'),
    false,
  );
  return out;
}

test('disk buffer fuzz: truncated and flipped segments and a deleted ledger never stop a start; intact records delivered, corrupt ones quarantined and counted exactly', async () => {
  const rounds = Number(process.env.AEGIS_FUZZ_ROUNDS ?? 12);
  let seed = 0x5eed;
  const rand = (n: number): number => {
    seed = (seed * 1103515245 + 12345) >>> 0;
    return seed % n;
  };
  for (let round = 0; round < rounds; round++) {
    const { dir, cleanup } = makeTempDir();
    const events = generateEvents(200, { seed: round + 1 });
    const a = open(dir, {}, true);
    await a.sink.accept(events);
    await a.sink.close(20);
    await a.deadLetter.close();
    const bufDir = path.join(dir, 'buf');
    const segments = listSegments(bufDir).filter((s) => fs.statSync(s.file).size > 0);
    assert.ok(segments.length >= 3, `only ${segments.length} segments`);
    // Which records (by position in `events`) each segment holds.
    let index = 0;
    const layout = segments.map((s) => {
      const ranges = recordRanges(s.file);
      const first = index;
      index += ranges.length;
      return { file: s.file, ranges, first };
    });
    assert.equal(index, events.length);
    const lost = new Set<number>();
    let corrupt = 0;
    // 1. Flip bytes in non-adjacent records of the first segments.
    for (const seg of layout.slice(0, -1)) {
      const buf = fs.readFileSync(seg.file);
      for (let k = rand(3); k < seg.ranges.length; k += 3 + rand(4)) {
        const r = seg.ranges[k]!;
        const at = r.start + rand(r.end - r.start);
        buf[at] = buf[at]! ^ (1 + rand(255));
        lost.add(seg.first + k);
        corrupt++;
      }
      fs.writeFileSync(seg.file, buf);
    }
    // 2. Truncate the last segment at a random offset: a torn record (counted) unless the cut is on a boundary.
    const last = layout.at(-1)!;
    const size = last.ranges.at(-1)!.end;
    const cut = 1 + rand(size - 1);
    fs.truncateSync(last.file, cut);
    last.ranges.forEach((r, k) => {
      if (r.end > cut) lost.add(last.first + k);
      if (r.start < cut && r.end > cut) corrupt++;
    });
    // 3. Every other round, delete the ledger (every record found is replayed).
    if (round % 2 === 1) fs.rmSync(path.join(bufDir, LEDGER_FILE));

    const b = open(dir);
    const expected = events.filter((_, i) => !lost.has(i));
    await until(() => b.transport.delivered.length >= expected.length, `round ${round}: delivery`);
    await b.sink.close(2000);
    await b.deadLetter.close();
    assert.deepEqual(ids(b.transport.delivered), ids(expected), `round ${round}: intact records delivered once`);
    assert.equal(b.stats.bufferCorruptRecords, corrupt, `round ${round}: corrupt count`);
    const quarantined = fs.existsSync(path.join(bufDir, QUARANTINE_DIR))
      ? fs.readdirSync(path.join(bufDir, QUARANTINE_DIR))
      : [];
    assert.equal(quarantined.length, corrupt, `round ${round}: quarantine files`);
    for (const q of quarantined) assert.match(q, /^\d{20}\.seg\.\d+-\d+\.bin$/);
    // A second start finds nothing corrupt again (the ranges were moved aside) and nothing to deliver.
    const c = open(dir);
    await new Promise((r) => setTimeout(r, 30));
    await c.sink.close(1000);
    await c.deadLetter.close();
    assert.equal(c.stats.bufferCorruptRecords, 0, `round ${round}: counted again`);
    assert.equal(c.transport.delivered.length, 0, `round ${round}: delivered again`);
    cleanup();
  }
});
