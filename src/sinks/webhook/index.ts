/** The `webhook` sink: HTTP(S) POST of batches or single events, HMAC-signed, with presets for common receivers. */
import type { SinkDefinition } from '../core/definition';
import type { WebhookSinkConfig } from './config';
import { checkWebhookConfig, parseWebhookConfig, WEBHOOK_DEFAULTS, webhookConfigSchema } from './config';
import { createWebhookTransport } from './transport';

export const webhookSink: SinkDefinition<WebhookSinkConfig> = {
  type: 'webhook',
  description:
    'POST events to an HTTP(S) endpoint: a JSON array per batch or one event per request, HMAC-signed with a timestamp; presets for Slack, PagerDuty Events v2 and Alertmanager.',
  configSchema: webhookConfigSchema,
  secrets: ['url', 'authorization', 'routing_key'],
  formats: { allowed: ['*'], default: 'json' },
  coreDefaults: {
    batch: {
      maxEvents: WEBHOOK_DEFAULTS.maxEvents,
      maxBytes: WEBHOOK_DEFAULTS.maxBytes,
      timeoutMillis: WEBHOOK_DEFAULTS.batchTimeoutMillis,
    },
    request: { concurrency: WEBHOOK_DEFAULTS.concurrency, timeoutMillis: WEBHOOK_DEFAULTS.requestTimeoutMillis },
  },
  check: checkWebhookConfig,
  parse: parseWebhookConfig,
  createTransport: (config, context) => {
    if (!config.tls.verify)
      context.logger.warn(
        'TLS certificate verification is off for this webhook sink (tls.verify: false); use tls.ca_file instead.',
        { sink: context.name },
      );
    return createWebhookTransport(config, {
      contentType: context.formatter.contentType,
      userAgent: `aegisbpf/${context.version}`,
    });
  },
};
