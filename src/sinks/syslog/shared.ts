/** What the syslog transports share: their dependencies, counters, the connection target and failure reporting. */
import type { Logger } from '../../util/logger';
import type { SyslogSinkConfig } from './config';
import type { StreamTarget } from './connection';
import type { FailureContext } from './retry-policy';
import { describeSyslogFailure } from './retry-policy';

export interface SyslogTransportDeps {
  readonly logger: Logger;
  /** Transport counters (`truncated`, `connects`, `connection_lost`, …), exported with the sink's stats. */
  readonly counters: Record<string, number>;
  /**
   * Records this transport reported delivered (written) but can no longer vouch for: their connection died before
   * the receiver could have read them (stream.ts says which). The core counts them `unconfirmed` (outcomes.ts).
   */
  readonly unconfirmed?: (records: number) => void;
  /** Overrides the unconfirmed window (stream.ts unconfirmedWindowBytes), for tests. */
  readonly unconfirmedWindowBytes?: number;
}

export function increment(counters: Record<string, number>, key: string, by = 1): void {
  counters[key] = (counters[key] ?? 0) + by;
}

export function streamTarget(config: SyslogSinkConfig): StreamTarget {
  return {
    host: config.host,
    port: config.port,
    connectTimeoutMillis: config.connectTimeoutMillis,
    tls: config.transport === 'tls' || config.relpTls ? config.tls : undefined,
  };
}

export function failureContext(config: SyslogSinkConfig): FailureContext {
  const target = streamTarget(config);
  return {
    transport: config.transport === 'relp' && config.relpTls ? 'relp+tls' : config.transport,
    where: `${config.host}:${config.port}`,
    tls: target.tls,
  };
}

/** Log a failure that needs an operator (TLS trust, names) once per burst, with its code. */
export function reportFailure(logger: Logger, err: unknown, context: FailureContext): void {
  const { reason, needsOperator } = describeSyslogFailure(err, context);
  if (!needsOperator) return;
  logger.burst(
    'ERROR',
    'syslog-operator',
    'The syslog receiver cannot be used until its configuration or certificate is fixed; events wait in the buffer.',
    {
      code: context.tls !== undefined && reason.startsWith('TLS') ? 'AEGIS_ERR_SYSLOG_TLS' : 'AEGIS_ERR_SINK_UNHEALTHY',
      reason,
      receiver: context.where,
    },
  );
}
