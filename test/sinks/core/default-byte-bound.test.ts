/**
 * Every sink's memory buffer is bounded by bytes by default, below its event bound: with the defaults a sink whose
 * receiver does not answer stops admitting records at `buffer.max_bytes` (8 MiB), long before `buffer.max_events`
 * (20 000) of ~0.5 KB records would be reached. Bug it guards against: the 32 MiB default let file → Elasticsearch,
 * HEC and syslog peak at 124 – 368 MiB of RSS (docs/benchmarks.md, issue 23 memory).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createSink } from '../../../src/sinks/core/sink';
import { createDeadLetterQueue } from '../../../src/sinks/core/dead-letter';
import { mergeCoreDefaults, parseCoreOptions } from '../../../src/sinks/core/config';
import { getSinkDefinition, sinkTypes } from '../../../src/sinks/registry';
import { createFormatter } from '../../../src/formatters/registry';
import { createSinkStats } from '../../../src/telemetry/stats';
import { silentLogger } from '../../../src/util/logger';
import { generateEvents } from '../../helpers/events';
import { createScriptedTransport } from '../../helpers/scripted-transport';
import { until } from '../../helpers/daemon';

const DEFAULT_MAX_BYTES = 8 * 1024 * 1024;

test('every sink type defaults to a memory buffer bounded by 8 MiB of records', () => {
  for (const type of sinkTypes()) {
    const def = getSinkDefinition(type)!;
    const core = parseCoreOptions({}, mergeCoreDefaults(def.coreDefaults));
    assert.equal(core.buffer.maxBytes, DEFAULT_MAX_BYTES, `${type}: buffer.max_bytes default`);
    // Batches in flight are bounded too: concurrency × batch.max_bytes of records, each within the buffer's bound.
    assert.ok(core.batch.maxBytes <= core.buffer.maxBytes, `${type}: batch.max_bytes ${core.batch.maxBytes}`);
  }
});

test('with the syslog sink defaults, a held transport stops the buffer at 8 MiB, not at 20 000 events', async () => {
  const def = getSinkDefinition('syslog')!;
  const options = parseCoreOptions({}, mergeCoreDefaults(def.coreDefaults));
  const transport = createScriptedTransport();
  transport.hold();
  const stats = createSinkStats('s', 'syslog', options.buffer);
  const sink = createSink(
    {
      name: 's',
      type: 'syslog',
      transport,
      formatter: createFormatter('rfc5424', { hostname: 'test-host', version: '0.0.0' }),
      stats,
      logger: silentLogger,
      deadLetter: createDeadLetterQueue({
        path: undefined,
        maxBytes: 1,
        logger: silentLogger,
        stats: { written: 0, bytes: 0, failed: 0 },
      }),
    },
    options,
  );
  // Events with a long command line: ~1.1 KB per record, so 20 000 of them are ~22 MiB (above the byte bound).
  const events = generateEvents(20_000).map((e) => ({ ...e, args: ['x'.repeat(600)] }));
  let accepted = false;
  const accepting = sink.accept(events).then(() => (accepted = true));
  try {
    await until('the buffer to fill', () =>
      Promise.resolve(stats.bufferBytes > DEFAULT_MAX_BYTES - 64 * 1024 ? true : undefined),
    );
    // Give the source side a few turns: nothing more is admitted while the transport holds.
    await new Promise((r) => setTimeout(r, 100));
    assert.ok(stats.bufferBytes <= DEFAULT_MAX_BYTES, `buffered ${stats.bufferBytes} bytes`);
    assert.ok(stats.bufferEvents < events.length / 2, `buffered ${stats.bufferEvents} events`);
    assert.equal(accepted, false, 'accept() waits for room (when_full: block)');
  } finally {
    transport.release();
    await accepting;
    await sink.close(10_000);
  }
  assert.equal(transport.delivered.length, events.length, 'every event delivered once the transport answers');
});
