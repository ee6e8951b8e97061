/**
 * The `syslog` sink: RFC 5424 (or RFC 3164) messages to rsyslog, syslog-ng or any syslog receiver over UDP
 * (RFC 5426), TCP with octet counting (RFC 6587), TLS (RFC 5425) or RELP (acknowledged).
 */
import type { SinkDefinition } from '../core/definition';
import { countUnconfirmed } from '../core/outcomes';
import type { SyslogSinkConfig } from './config';
import { checkSyslogConfig, parseSyslogConfig, syslogConfigSchema } from './config';
import { createSyslogTransport } from './transport';

export const syslogSink: SinkDefinition<SyslogSinkConfig> = {
  type: 'syslog',
  description:
    'Syslog to rsyslog, syslog-ng or any receiver: udp, tcp (octet counting), tls (RFC 5425) or relp (acknowledged); rfc5424 (default) or rfc3164 messages.',
  configSchema: syslogConfigSchema,
  secrets: ['tls_key_passphrase'],
  formats: { allowed: ['rfc5424', 'rfc3164'], default: 'rfc5424' },
  coreDefaults: {
    batch: { maxEvents: 1000, maxBytes: 1024 * 1024, timeoutMillis: 200 },
    // Two batches in flight: RELP sends the next batch while the previous one's answers arrive (an idle session
    // between batches stalls on Nagle and delayed ACKs). tcp/tls/udp write one batch at a time regardless.
    // Order across batches can change only when a batch is retried.
    request: { concurrency: 2 },
    retry: { initialBackoffMillis: 250, maxBackoffMillis: 10_000 },
  },
  check: checkSyslogConfig,
  parse: parseSyslogConfig,
  createTransport: (config, context) =>
    createSyslogTransport(
      config,
      {
        logger: context.logger,
        counters: context.stats.extra,
        unconfirmed: (records) => countUnconfirmed(context.stats, records),
      },
      { version: context.version },
    ),
};
