/** The `journald` sink: events as journal entries over journald's native protocol (`--log=journald`). */
import { loadNative } from '../../native/binding';
import type { SinkDefinition } from '../core/definition';
import type { JournaldSinkConfig } from './config';
import { checkJournaldConfig, journaldConfigSchema, parseJournaldConfig } from './config';
import { createJournaldTransport } from './transport';

export const journaldSink: SinkDefinition<JournaldSinkConfig> = {
  type: 'journald',
  description:
    'Write events to the systemd journal (native protocol): MESSAGE is the formatted event, PRIORITY from its severity, its fields as AEGIS_*.',
  configSchema: journaldConfigSchema,
  formats: { allowed: ['*'], default: 'json' },
  // Each entry is one syscall; a batch bounds how long one send keeps the event loop.
  coreDefaults: { batch: { maxEvents: 500, maxBytes: 1024 * 1024, timeoutMillis: 100 } },
  check: checkJournaldConfig,
  parse: parseJournaldConfig,
  createTransport: (config, context) => createJournaldTransport(config, loadNative(), context.stats.extra),
};
