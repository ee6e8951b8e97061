/**
 * The `syslog` sink's transport: one implementation per wire protocol, chosen by `transport` from a table.
 * Each adds only its framing and envelope to the formatter's messages (STYLE 1) and reports failures as values.
 */
import type { Transport } from '../core/types';
import type { SyslogSinkConfig, SyslogTransportKind } from './config';
import type { RelpTransportInternals } from './relp';
import { createRelpTransport } from './relp';
import type { SyslogTransportDeps } from './shared';
import { createStreamTransport } from './stream';
import { createUdpTransport } from './udp';

type Factory = (
  config: SyslogSinkConfig,
  deps: SyslogTransportDeps,
  internals: RelpTransportInternals,
) => Transport<string>;

const TRANSPORTS: Readonly<Record<SyslogTransportKind, Factory>> = {
  udp: (config, deps) => createUdpTransport(config, deps),
  tcp: (config, deps) => createStreamTransport(config, deps),
  tls: (config, deps) => createStreamTransport(config, deps),
  relp: (config, deps, internals) => createRelpTransport(config, deps, internals),
};

/**
 * The counters each transport keeps in `SinkStats.extra` (docs/sinks.md). They exist at 0 from the start, so that
 * `aegisbpf_sink_protocol_total` has its series (and `rate()` its first sample) before the first increment.
 */
const COUNTERS: Readonly<Record<SyslogTransportKind, readonly string[]>> = {
  udp: ['truncated_total'],
  tcp: ['connects_total', 'connection_lost_total', 'truncated_total'],
  tls: ['connects_total', 'connection_lost_total', 'truncated_total'],
  relp: [
    'connects_total',
    'connection_lost_total',
    'truncated_total',
    'relp_resent_unacknowledged_total',
    'relp_rollovers_total',
  ],
};

export function createSyslogTransport(
  config: SyslogSinkConfig,
  deps: SyslogTransportDeps,
  internals: RelpTransportInternals = {},
): Transport<string> {
  for (const key of COUNTERS[config.transport]) deps.counters[key] ??= 0;
  return TRANSPORTS[config.transport](config, deps, internals);
}
