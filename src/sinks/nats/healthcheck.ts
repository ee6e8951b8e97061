/**
 * The NATS healthcheck does what a send needs: connect (credentials, TLS), and with JetStream, ask the server's
 * JetStream API which stream captures the subject an exec event would be published to. No message is published.
 */
import type { NatsConnection } from '@nats-io/transport-node';
import type { JetStreamManager } from '@nats-io/jetstream';
import type { AegisEvent } from '../../event/types';
import type { HealthResult } from '../core/types';
import type { NatsSinkConfig } from './config';
import { describeNatsError } from './retry-policy';
import type { SubjectOf } from './subject';

/** A representative event to render the subject template with (the stream lookup needs a concrete subject). */
export const PROBE_EVENT: AegisEvent = {
  ts: '1970-01-01T00:00:00.000000Z',
  type: 'exec',
  host: 'probe',
  pid: 1,
  ppid: 0,
  start_time: 0,
  exec_id: '1:0',
  trace_id: '1:0',
  cgid: 0,
  cgroup_path: '/',
  comm: 'probe',
};

export async function checkNatsHealth(
  conn: NatsConnection,
  config: NatsSinkConfig,
  subjectOf: SubjectOf,
  signal: AbortSignal,
  manager: (c: NatsConnection) => Promise<JetStreamManager>,
): Promise<HealthResult> {
  if (conn.isClosed()) return { healthy: false, reason: 'the NATS connection is closed' };
  if (!config.jetstream) {
    try {
      await conn.flush();
      return { healthy: true };
    } catch (err) {
      return { healthy: false, reason: `NATS did not answer a ping: ${describeNatsError(err)}` };
    }
  }
  const subject = subjectOf(PROBE_EVENT);
  try {
    const jsm = await manager(conn);
    if (signal.aborted) return { healthy: false, reason: 'healthcheck aborted' };
    const stream = await jsm.streams.find(subject);
    return stream === ''
      ? { healthy: false, reason: `no JetStream stream captures subject ${subject}` }
      : { healthy: true };
  } catch (err) {
    return {
      healthy: false,
      reason: `JetStream: no stream captures subject ${subject}, or JetStream is not enabled: ${describeNatsError(err)}`,
    };
  }
}
