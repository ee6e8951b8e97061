/**
 * Records of the json and hec formats keep their text only (src/sinks/core/encode.ts): the event object is parsed again from
 * the text when a dead-letter entry or a transport asks for it, so a buffered event is held once, not twice. Bug it
 * guards against: file → Elasticsearch/HEC peaking at 150-313 MiB while ~40 MiB were buffered records, each holding
 * its parsed event next to its formatted text (docs/benchmarks.md, issue 23 memory).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import fs from 'node:fs';
import { createSink } from '../../../src/sinks/core/sink';
import { createDeadLetterQueue } from '../../../src/sinks/core/dead-letter';
import type { SinkCoreOptions } from '../../../src/sinks/core/types';
import type { AegisEvent } from '../../../src/event/types';
import { createSinkStats } from '../../../src/telemetry/stats';
import { formatJson } from '../../../src/formatters/json';
import { createFormatter } from '../../../src/formatters/registry';
import type { Formatter } from '../../../src/formatters/types';
import { silentLogger } from '../../../src/util/logger';
import { generateEvents } from '../../helpers/events';
import { createScriptedTransport } from '../../helpers/scripted-transport';
import { makeTempDir } from '../../helpers/tmp';

const OPTIONS: SinkCoreOptions = {
  batch: { maxEvents: 100, maxBytes: 1 << 20, timeoutMillis: 5 },
  buffer: { maxEvents: 1000, maxBytes: 1 << 24, whenFull: 'block' },
  request: { concurrency: 1, timeoutMillis: 2000 },
  retry: { initialBackoffMillis: 1, maxBackoffMillis: 5, maxDurationMillis: 0, maxRetryAfterMillis: 5000 },
};

async function deadLettersAfterMutation(formatter: Formatter): Promise<{ accepted: string[]; entries: string[] }> {
  const { dir, cleanup } = makeTempDir();
  const dlqPath = path.join(dir, 'dlq.ndjson');
  const deadLetter = createDeadLetterQueue({
    path: dlqPath,
    maxBytes: 1e9,
    logger: silentLogger,
    stats: { written: 0, bytes: 0, failed: 0 },
  });
  const transport = createScriptedTransport([{ kind: 'rejected', reason: 'refused by the receiver' }]);
  transport.hold();
  const sink = createSink(
    {
      name: 't',
      type: 'scripted',
      transport,
      formatter,
      stats: createSinkStats('t', 'scripted'),
      logger: silentLogger,
      deadLetter,
    },
    OPTIONS,
  );
  try {
    const events = generateEvents(20);
    const accepted = events.map((e) => formatJson(e));
    await sink.accept(events);
    // Change the caller's objects while the records wait in the buffer: a record that kept the object would now
    // carry the change into its dead-letter entry.
    for (const e of events) (e as { comm: string }).comm = 'changed-after-accept';
    transport.release();
    await sink.close(5000);
    await deadLetter.close();
    const entries = fs
      .readFileSync(dlqPath, 'utf8')
      .trim()
      .split('\n')
      .map((l) => formatJson((JSON.parse(l) as { event: AegisEvent }).event));
    return { accepted, entries };
  } finally {
    cleanup();
  }
}

test('a buffered json record holds no reference to the accepted event; its dead-letter entry is the event as accepted', async () => {
  const { accepted, entries } = await deadLettersAfterMutation({
    name: 'json',
    contentType: 'application/json',
    format: formatJson,
  });
  assert.deepEqual(entries, accepted);
});

// The hec format embeds the event's canonical JSON as its `event` member (Formatter.eventOf): its records keep the
// text alone too. HEC batches wait for indexer acknowledgement, 16 in flight by default: they held ~0.56 KB of
// parsed event per record next to the envelope (issue 23, memory).
test('a buffered hec record holds no reference to the accepted event; its dead-letter entry is the event as accepted', async () => {
  const formatter = createFormatter('hec', { hostname: 'test-host', version: '0.0.0' });
  assert.equal(typeof formatter.eventOf, 'function');
  const { accepted, entries } = await deadLettersAfterMutation(formatter);
  assert.deepEqual(entries, accepted);
});
