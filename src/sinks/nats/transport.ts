/**
 * Publishes batches to NATS (`@nats-io/transport-node` + `@nats-io/jetstream`).
 *
 * JetStream (default): every record is published with `Nats-Msg-Id` = an id derived from the event (its
 * `event_id`, else a hash of the formatted record), all records of a batch in flight at once on the one
 * connection, their acks collected on one inbox subscription (./ack-inbox.ts); a record is delivered when the stream
 * acknowledged it. A resend (after a timeout, a lost connection,
 * a server restart) carries the same id, so within the stream's `duplicate_window` (2 minutes by default) the
 * stream stores it once and answers `duplicate: true`, counted in the core's `duplicates`.
 *
 * Core NATS (`jetstream: false`): fire-and-forget. A batch counts as delivered when the server has read it (a
 * flush round trip after the publishes); NATS keeps nothing, and a message nobody subscribes to is discarded.
 *
 * One connection per sink, opened on first use and reconnecting by itself (no attempt limit) after it was up once.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import { connect, credsAuthenticator } from '@nats-io/transport-node';
import type { NatsConnection, NodeConnectionOptions } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { AegisError, describeError } from '../../util/errors';
import type { Logger } from '../../util/logger';
import type { SinkStats } from '../../telemetry/stats';
import type { Batch, EncodedRecord, HealthResult, SendResult, Transport } from '../core/types';
import type { NatsSinkConfig } from './config';
import type { AckInbox, AckOutcome } from './ack-inbox';
import { createAckInbox } from './ack-inbox';
import { checkNatsHealth } from './healthcheck';
import { classifyNatsFailure, describeNatsError } from './retry-policy';
import { compileSubject } from './subject';
import type { SubjectOf } from './subject';

export interface NatsTransportOptions {
  readonly logger: Logger;
  readonly stats: SinkStats;
}

/** `Nats-Msg-Id` of a record: stable for the same event across resends and restarts of the agent. */
export function messageIdOf(record: EncodedRecord<string>): string {
  const id = record.event.event_id;
  if (id !== undefined && id !== '') return id;
  return crypto.createHash('sha256').update(record.data).digest('base64url').slice(0, 32);
}

function readFileText(key: string, file: string): Uint8Array {
  try {
    return fs.readFileSync(file);
  } catch (err) {
    throw new AegisError('AEGIS_ERR_CONFIG_READ', `${key}: cannot read ${file}: ${describeError(err)}`, {
      cause: err,
    });
  }
}

export interface NatsTransport extends Transport<string> {
  /** The subject of an event (the compiled template). */
  readonly subjectOf: SubjectOf;
}

export function createNatsTransport(config: NatsSinkConfig, options: NatsTransportOptions): NatsTransport {
  const compiled = compileSubject(config.subject);
  if ('error' in compiled) throw new AegisError('AEGIS_ERR_CONFIG_INVALID', `subject: ${compiled.error}`);
  const subjectOf = compiled.subject;
  const creds =
    config.credentialsFile === undefined ? undefined : readFileText('credentials_file', config.credentialsFile);
  const extra = options.stats.extra;
  extra.reconnects_total = 0;
  extra.disconnects_total = 0;
  extra.connected = 0;

  const connectOptions: NodeConnectionOptions = {
    servers: [...config.servers],
    name: config.connectionName,
    timeout: config.connectTimeoutMillis,
    // Once connected, the client reconnects forever (publishes wait in its buffer or time out and are retried by
    // the core); the first connection is the transport's to retry, as a send or healthcheck failure.
    maxReconnectAttempts: -1,
    reconnectTimeWait: 250,
    pingInterval: 10_000,
    ...(creds === undefined ? {} : { authenticator: credsAuthenticator(creds) }),
    ...(config.token === undefined ? {} : { token: config.token }),
    ...(config.tls === undefined
      ? {}
      : {
          tls: {
            ...(config.tls.caFile === undefined ? {} : { caFile: config.tls.caFile }),
            ...(config.tls.certFile === undefined ? {} : { certFile: config.tls.certFile }),
            ...(config.tls.keyFile === undefined ? {} : { keyFile: config.tls.keyFile }),
            // Passed through to tls.connect by the Node transport.
            ...(config.tls.verify ? {} : { rejectUnauthorized: false }),
          },
        }),
  };

  let nc: NatsConnection | undefined;
  let inbox: AckInbox | undefined;
  let connecting: Promise<NatsConnection> | undefined;
  let closed = false;

  const watch = (conn: NatsConnection): void => {
    void (async () => {
      for await (const s of conn.status()) {
        if (s.type === 'disconnect') {
          extra.disconnects_total = (extra.disconnects_total ?? 0) + 1;
          extra.connected = 0;
          options.logger.burst('WARN', 'nats-disconnect', 'The NATS connection was lost; reconnecting.', {});
        } else if (s.type === 'reconnect') {
          extra.reconnects_total = (extra.reconnects_total ?? 0) + 1;
          extra.connected = 1;
          options.logger.info('Reconnected to NATS.', { server: s.server });
        }
      }
    })().catch(() => undefined);
    void conn.closed().then(() => {
      extra.connected = 0;
      if (nc === conn) {
        nc = undefined;
        inbox = undefined;
      }
    });
  };

  const connection = (): Promise<NatsConnection> => {
    if (nc !== undefined) return Promise.resolve(nc);
    if (closed) return Promise.reject(new Error('the sink is closed'));
    connecting ??= connect(connectOptions).then(
      (c) => {
        connecting = undefined;
        if (closed) {
          void c.close();
          throw new Error('the sink is closed');
        }
        nc = c;
        inbox = undefined;
        extra.connected = 1;
        watch(c);
        return c;
      },
      (err: unknown) => {
        connecting = undefined;
        throw err;
      },
    );
    return connecting;
  };

  const failure = (err: unknown, subject: string): SendResult =>
    classifyNatsFailure({
      name: err instanceof Error ? err.name : 'Error',
      message: describeNatsError(err),
      subject,
    });

  /** Resolves when the signal aborts (never rejects); `undefined` when no signal. */
  const aborted = (signal: AbortSignal): Promise<'aborted'> =>
    new Promise((resolve) => {
      if (signal.aborted) resolve('aborted');
      else signal.addEventListener('abort', () => resolve('aborted'), { once: true });
    });

  const sendJetStream = async (batch: Batch<string>, inbox: AckInbox, signal: AbortSignal): Promise<SendResult> => {
    const n = batch.records.length;
    const subjects = batch.records.map((r) => subjectOf(r.event));
    const outcomes = await inbox.publishAll(
      batch.records.map((r, i) => [subjects[i] as string, r.data, messageIdOf(r)] as const),
      config.ackTimeoutMillis,
      signal,
    );
    let duplicates = 0;
    const retry: number[] = [];
    const rejected: { index: number; reason: string }[] = [];
    let first: Extract<SendResult, { kind: 'retryable' }> | undefined;
    for (let i = 0; i < n; i++) {
      const o = outcomes[i] as AckOutcome;
      if (o.kind === 'acked') {
        if (o.duplicate) duplicates++;
        continue;
      }
      const r = classifyNatsFailure({ name: o.name, message: o.message, subject: subjects[i] as string });
      if (r.kind === 'too_large' || r.kind === 'rejected') rejected.push({ index: i, reason: r.reason });
      else if (r.kind === 'retryable') {
        retry.push(i);
        first ??= r;
      }
    }
    if (retry.length === 0 && rejected.length === 0)
      return duplicates === 0 ? { kind: 'delivered' } : { kind: 'delivered', duplicates };
    if (retry.length === n && first !== undefined) return first;
    if (rejected.length === n && n === 1)
      return { kind: 'rejected', reason: (rejected[0] as { reason: string }).reason };
    return { kind: 'partial', retry, rejected, ...(duplicates === 0 ? {} : { duplicates }) };
  };

  const sendCore = async (batch: Batch<string>, conn: NatsConnection, signal: AbortSignal): Promise<SendResult> => {
    let subject = '';
    try {
      for (const record of batch.records) {
        subject = subjectOf(record.event);
        conn.publish(subject, record.data);
      }
    } catch (err) {
      // Messages before this one may already be on their way: fire-and-forget cannot tell.
      return failure(err, subject);
    }
    try {
      const r = await Promise.race([conn.flush(), aborted(signal)]);
      if (r === 'aborted') return { kind: 'retryable', reason: 'aborted before the NATS server confirmed the flush' };
      return { kind: 'delivered' };
    } catch (err) {
      return failure(err, subject);
    }
  };

  const send = async (batch: Batch<string>, signal: AbortSignal): Promise<SendResult> => {
    if (batch.records.length === 0) return { kind: 'delivered' };
    if (signal.aborted) return { kind: 'retryable', reason: 'aborted before sending' };
    let conn: NatsConnection;
    try {
      const r = await Promise.race([connection(), aborted(signal)]);
      if (r === 'aborted') return { kind: 'retryable', reason: 'aborted while connecting to NATS' };
      conn = r;
    } catch (err) {
      return {
        kind: 'retryable',
        reason: `cannot connect to NATS (${config.servers.join(', ')}): ${describeNatsError(err)}`,
      };
    }
    if (!config.jetstream) return sendCore(batch, conn, signal);
    inbox ??= createAckInbox(conn);
    return sendJetStream(batch, inbox, signal);
  };

  return {
    subjectOf,
    send,
    async healthcheck(signal): Promise<HealthResult> {
      let conn: NatsConnection;
      try {
        const r = await Promise.race([connection(), aborted(signal)]);
        if (r === 'aborted') return { healthy: false, reason: 'healthcheck aborted while connecting to NATS' };
        conn = r;
      } catch (err) {
        return {
          healthy: false,
          reason: `cannot connect to NATS (${config.servers.join(', ')}): ${describeNatsError(err)}`,
        };
      }
      return checkNatsHealth(conn, config, subjectOf, signal, (c) =>
        jetstreamManager(c, { timeout: config.ackTimeoutMillis }),
      );
    },
    async close() {
      closed = true;
      const c = nc ?? (await connecting?.catch(() => undefined));
      nc = undefined;
      // drain: publishes already handed to the client are flushed to the server before the socket closes.
      if (c !== undefined && !c.isClosed()) await c.drain().catch(() => c.close());
    },
    abandon() {
      closed = true;
      const c = nc;
      nc = undefined;
      if (c !== undefined) void c.close().catch(() => undefined);
    },
  };
}
