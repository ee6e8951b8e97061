/**
 * Disk full under the disk buffer, on a real small tmpfs: ENOSPC is treated like the bound (when_full applies),
 * counted (aegisbpf_buffer_disk_full_total), and delivery resumes by itself once delivered segments free space.
 * Needs to mount a tmpfs (root); skipped with the reason otherwise.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { createSink } from '../../../src/sinks/core/sink';
import type { Sink } from '../../../src/sinks/core/sink-api';
import { createDeadLetterQueue } from '../../../src/sinks/core/dead-letter';
import type { DeadLetterQueue } from '../../../src/sinks/core/dead-letter';
import type { WhenFull } from '../../../src/sinks/core/types';
import { createSinkStats } from '../../../src/telemetry/stats';
import type { SinkStats } from '../../../src/telemetry/stats';
import { formatJson } from '../../../src/formatters/json';
import { silentLogger } from '../../../src/util/logger';
import { generateEvents } from '../../helpers/events';
import { createScriptedTransport } from '../../helpers/scripted-transport';
import type { ScriptedTransport } from '../../helpers/scripted-transport';
import { makeTempDir } from '../../helpers/tmp';

const TMPFS_BYTES = 256 * 1024;

function mountTmpfs(dir: string): string | undefined {
  const r = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${TMPFS_BYTES},mode=0700`, 'tmpfs', dir], {
    encoding: 'utf8',
  });
  return r.status === 0 ? undefined : `cannot mount a tmpfs here (${(r.stderr || r.error?.message || '').trim()})`;
}

function open(
  bufDir: string,
  dlqDir: string,
  whenFull: WhenFull,
): { sink: Sink; transport: ScriptedTransport; stats: SinkStats; deadLetter: DeadLetterQueue } {
  const transport = createScriptedTransport();
  const stats = createSinkStats('full', 'scripted');
  const deadLetter = createDeadLetterQueue({
    path: path.join(dlqDir, `dlq-${whenFull}.ndjson`),
    maxBytes: 1e9,
    logger: silentLogger,
    stats: { written: 0, bytes: 0, failed: 0 },
  });
  const sink = createSink(
    {
      name: 'full',
      type: 'scripted',
      transport,
      formatter: { name: 'json', contentType: 'application/json', format: formatJson },
      stats,
      logger: silentLogger,
      deadLetter,
      bufferDir: bufDir,
    },
    {
      batch: { maxEvents: 100, maxBytes: 1 << 20, timeoutMillis: 5 },
      // The bound is far above the disk: the disk fills first.
      buffer: { type: 'disk', maxEvents: 100, maxBytes: 16 << 20, whenFull, fsync: 'never' },
      request: { concurrency: 1, timeoutMillis: 5000 },
      retry: { initialBackoffMillis: 5, maxBackoffMillis: 20, maxDurationMillis: 0, maxRetryAfterMillis: 1000 },
    },
  );
  return { sink, transport, stats, deadLetter };
}

test('disk full (ENOSPC) on a small tmpfs: when_full applies and is counted; delivery resumes when space returns', async (t) => {
  const { dir, cleanup } = makeTempDir();
  const mnt = path.join(dir, 'mnt');
  fs.mkdirSync(mnt);
  const skip = mountTmpfs(mnt);
  if (skip !== undefined) {
    cleanup();
    t.skip(skip);
    return;
  }
  try {
    // drop_newest: what does not fit on the disk is dropped and counted; the rest is delivered once the receiver is back.
    {
      const s = open(path.join(mnt, 'drop'), dir, 'drop_newest');
      s.transport.hold();
      const events = generateEvents(2000);
      for (let i = 0; i < events.length; i += 100) await s.sink.accept(events.slice(i, i + 100));
      assert.ok(s.stats.bufferDiskFull >= 1, 'ENOSPC was not counted');
      const dropped = s.stats.dropped.buffer_full ?? 0;
      assert.ok(dropped > 0 && dropped < events.length, `dropped ${dropped}`);
      s.transport.release();
      await s.sink.close(10_000);
      assert.equal(s.transport.delivered.length + dropped, events.length, 'an event neither delivered nor counted');
      await s.deadLetter.close();
      fs.rmSync(path.join(mnt, 'drop'), { recursive: true, force: true });
    }
    // block: the accept waits (backpressure) while the disk is full and completes once delivery frees space.
    {
      const s = open(path.join(mnt, 'block'), dir, 'block');
      s.transport.hold();
      const events = generateEvents(2000, { seed: 2 });
      let fed = 0;
      const feeding = (async () => {
        for (let i = 0; i < events.length; i += 100) {
          await s.sink.accept(events.slice(i, i + 100));
          fed = i + 100;
        }
      })();
      const end = Date.now() + 10_000;
      while (s.stats.bufferDiskFull === 0 && Date.now() < end) await new Promise((r) => setTimeout(r, 10));
      assert.ok(s.stats.bufferDiskFull >= 1, 'the disk never filled');
      await new Promise((r) => setTimeout(r, 700)); // past one ENOSPC retry: still full, still waiting
      assert.ok(fed < events.length, 'the source was not slowed by the full disk');
      s.transport.release();
      await feeding;
      await s.sink.close(10_000);
      assert.equal(s.transport.delivered.length, events.length, 'events lost under when_full: block');
      assert.equal(s.stats.dropped.buffer_full ?? 0, 0);
      await s.deadLetter.close();
    }
  } finally {
    spawnSync('umount', [mnt]);
    cleanup();
  }
});
