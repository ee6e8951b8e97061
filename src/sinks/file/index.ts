/** The `file` sink: NDJSON to a local file with rotation, SIGHUP reopen and configurable fsync. */
import type { SinkDefinition } from '../core/definition';
import type { FileSinkConfig } from './config';
import { checkFileConfig, fileConfigSchema, parseFileConfig } from './config';
import { createFileTransport } from './transport';

export const fileSink: SinkDefinition<FileSinkConfig> = {
  type: 'file',
  description: 'Append events to a local file, one per line, with size-based rotation and SIGHUP reopen.',
  configSchema: fileConfigSchema,
  formats: { allowed: ['*'], default: 'json' },
  coreDefaults: {
    // Big enough to amortize fdatasync, small enough that building one write does not stall the event loop.
    batch: { maxEvents: 2000, maxBytes: 1024 * 1024, timeoutMillis: 200 },
  },
  check: checkFileConfig,
  parse: parseFileConfig,
  createTransport: (config) => createFileTransport(config),
};
