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

type Factory = (config: SyslogSinkConfig, deps: SyslogTransportDeps, internals: RelpTransportInternals) => Transport<string>;

const TRANSPORTS: Readonly<Record<SyslogTransportKind, Factory>> = {
  udp: (config, deps) => createUdpTransport(config, deps),
  tcp: (config, deps) => createStreamTransport(config, deps),
  tls: (config, deps) => createStreamTransport(config, deps),
  relp: (config, deps, internals) => createRelpTransport(config, deps, internals),
};

export function createSyslogTransport(config: SyslogSinkConfig, deps: SyslogTransportDeps, internals: RelpTransportInternals = {}): Transport<string> {
  return TRANSPORTS[config.transport](config, deps, internals);
}
