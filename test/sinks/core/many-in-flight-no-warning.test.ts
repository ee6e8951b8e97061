/** Regression: with request.concurrency above 10, batches waiting in backoff made Node warn (MaxListenersExceeded) on stderr. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createSink } from '../../../src/sinks/core/sink';
import { createDeadLetterQueue } from '../../../src/sinks/core/dead-letter';
import { DEFAULT_CORE_OPTIONS } from '../../../src/sinks/core/types';
import { createSinkStats } from '../../../src/telemetry/stats';
import { createLogger } from '../../../src/util/logger';
import { formatJson } from '../../../src/formatters/json';
import { generateEvents } from '../../helpers/events';
import { createScriptedTransport } from '../../helpers/scripted-transport';

test('32 batches in backoff at once: no MaxListenersExceededWarning, everything delivered', async () => {
  const warnings: string[] = [];
  const onWarning = (w: Error): void => void warnings.push(w.name);
  process.on('warning', onWarning);
  const transport = createScriptedTransport(
    Array.from({ length: 32 }, () => ({ kind: 'retryable' as const, reason: 'busy' })),
  );
  const quiet = createLogger({ level: 'FATAL', write: () => undefined });
  const stats = createSinkStats('s', 'scripted');
  const sink = createSink(
    {
      name: 's',
      type: 'scripted',
      transport,
      stats,
      logger: quiet,
      formatter: { name: 'json', contentType: 'application/json', format: formatJson },
      deadLetter: createDeadLetterQueue({
        path: undefined,
        maxBytes: 1,
        logger: quiet,
        stats: { written: 0, bytes: 0, failed: 0 },
      }),
      random: () => 1,
    },
    {
      ...DEFAULT_CORE_OPTIONS,
      batch: { maxEvents: 1, maxBytes: 1 << 20, timeoutMillis: 0 },
      request: { concurrency: 32, timeoutMillis: 5000 },
      retry: { ...DEFAULT_CORE_OPTIONS.retry, initialBackoffMillis: 200, maxBackoffMillis: 200 },
    },
  );
  await sink.accept(generateEvents(32));
  await sink.close(10_000);
  await new Promise((resolve) => setImmediate(resolve));
  process.off('warning', onWarning);
  assert.equal(stats.delivered, 32);
  assert.equal(stats.retriedEvents, 32);
  assert.deepEqual(
    warnings.filter((w) => w === 'MaxListenersExceededWarning'),
    [],
  );
});
