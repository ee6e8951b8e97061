/** The `stdout` sink: events on standard output, one per line (the daemon's own logs go to stderr). */
import type { SinkDefinition } from '../core/definition';
import type { StdoutSinkConfig } from './config';
import { parseStdoutConfig, stdoutConfigSchema } from './config';
import { createStreamTransport } from './transport';

export const stdoutSink: SinkDefinition<StdoutSinkConfig> = {
  type: 'stdout',
  description: 'Write events to standard output, one per line.',
  configSchema: stdoutConfigSchema,
  formats: { allowed: ['*'], default: 'json' },
  coreDefaults: { batch: { maxEvents: 1000, maxBytes: 1024 * 1024, timeoutMillis: 100 } },
  parse: parseStdoutConfig,
  createTransport: () => createStreamTransport(process.stdout),
};
