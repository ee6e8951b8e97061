/** The `stdout` sink: events on standard output, one per line (the daemon's own logs go to stderr). */
import type { SinkDefinition } from '../core/definition';
import type { StdoutSinkConfig } from './config';
import { parseStdoutConfig, stdoutConfigSchema } from './config';
import type { StreamRecord } from './transport';
import { createStreamTransport } from './transport';

export const stdoutSink: SinkDefinition<StdoutSinkConfig, StreamRecord> = {
  type: 'stdout',
  description: 'Write events to standard output, one per line.',
  configSchema: stdoutConfigSchema,
  // kafka: records as JSON lines {topic, key, headers, value}, the preview of what the kafka sink produces.
  formats: { allowed: ['*', 'kafka'], default: 'json' },
  coreDefaults: { batch: { maxEvents: 1000, maxBytes: 1024 * 1024, timeoutMillis: 100 } },
  parse: parseStdoutConfig,
  createTransport: () => createStreamTransport(process.stdout),
};
