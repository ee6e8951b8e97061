/** The `nats` sink: JetStream publish with acks and Nats-Msg-Id deduplication, or core NATS fire-and-forget. */
import type { SinkDefinition } from '../core/definition';
import type { NatsSinkConfig } from './config';
import { checkNatsConfig, NATS_DEFAULTS, natsConfigSchema, parseNatsConfig } from './config';
import type * as TransportModule from './transport';

export const natsSink: SinkDefinition<NatsSinkConfig> = {
  type: 'nats',
  description:
    'Publish to NATS: JetStream (delivered = the stream acknowledged; Nats-Msg-Id from the event, so resends are stored once) or core NATS (fire-and-forget).',
  configSchema: natsConfigSchema,
  secrets: ['token'],
  formats: { allowed: ['*'], default: 'json' },
  coreDefaults: {
    batch: {
      maxEvents: NATS_DEFAULTS.maxEvents,
      maxBytes: NATS_DEFAULTS.maxBytes,
      timeoutMillis: NATS_DEFAULTS.batchTimeoutMillis,
    },
    request: { concurrency: NATS_DEFAULTS.concurrency, timeoutMillis: NATS_DEFAULTS.requestTimeoutMillis },
  },
  check: checkNatsConfig,
  parse: parseNatsConfig,
  createTransport: (config, context) => {
    if (config.tls !== undefined && !config.tls.verify)
      context.logger.warn('TLS certificate verification is off for this NATS sink (tls.verify: false).', {
        sink: context.name,
      });
    // Loaded here, not at import: the NATS client costs RSS in every daemon without a NATS sink (issue 23, memory).
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { createNatsTransport } = require('./transport') as typeof TransportModule;
    return createNatsTransport(config, { logger: context.logger, stats: context.stats });
  },
};
