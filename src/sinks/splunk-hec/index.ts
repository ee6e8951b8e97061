/** The `splunk_hec` sink: Splunk HTTP Event Collector with indexer acknowledgement. See docs/sinks.md. */
import type { SinkDefinition } from '../core/definition';
import type { HecSinkConfig } from './config';
import { checkHecConfig, HEC_DEFAULTS, hecConfigSchema, parseHecConfig } from './config';
import { createHecTransport } from './transport';

export const splunkHecSink: SinkDefinition<HecSinkConfig> = {
  type: 'splunk_hec',
  description:
    'Splunk HTTP Event Collector (/services/collector/event or /raw), gzip, keep-alive, indexer acknowledgement.',
  configSchema: hecConfigSchema,
  secrets: ['token'],
  formats: { allowed: ['*'], default: 'hec' },
  coreDefaults: {
    batch: {
      maxEvents: HEC_DEFAULTS.maxEvents,
      maxBytes: HEC_DEFAULTS.maxBodyBytes,
      timeoutMillis: HEC_DEFAULTS.batchTimeoutMillis,
    },
    request: { concurrency: HEC_DEFAULTS.concurrency, timeoutMillis: HEC_DEFAULTS.requestTimeoutMillis },
  },
  check: checkHecConfig,
  parse: parseHecConfig,
  createTransport: (config, context) => {
    if (!config.tls.verify)
      context.logger.warn(
        'TLS certificate verification is off for this HEC sink (tls.verify: false); use tls.ca_file instead.',
        { sink: context.name },
      );
    return createHecTransport(config, { logger: context.logger, stats: context.stats, version: context.version });
  },
};
