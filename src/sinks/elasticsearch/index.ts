/** The `elasticsearch` sink: `_bulk` with `create` and deterministic ids, per-item results, templates on demand. */
import type { SinkDefinition } from '../core/definition';
import type { ElasticsearchSinkConfig } from './config';
import { checkElasticsearchConfig, elasticsearchConfigSchema, parseElasticsearchConfig } from './config';
import { createElasticsearchTransport } from './transport';

export const elasticsearchSink: SinkDefinition<ElasticsearchSinkConfig> = {
  type: 'elasticsearch',
  description:
    'Index events into Elasticsearch with _bulk: create actions with deterministic ids (a resend cannot duplicate), per-item retry, mapping errors to the dead-letter file.',
  configSchema: elasticsearchConfigSchema,
  secrets: ['api_key', 'password'],
  credentialPairs: [['username', 'password']],
  // The index templates map the ECS document; other formats would not fit them.
  formats: { allowed: ['ecs'], default: 'ecs' },
  coreDefaults: {
    batch: { maxEvents: 5000, maxBytes: 5 * 1024 * 1024, timeoutMillis: 1000 },
    request: { concurrency: 2, timeoutMillis: 60_000 },
  },
  check: checkElasticsearchConfig,
  parse: parseElasticsearchConfig,
  createTransport: (config, context) =>
    createElasticsearchTransport(config, { logger: context.logger, version: context.version }),
};
