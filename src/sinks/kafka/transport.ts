/**
 * Kafka transport: an idempotent producer (acks=all by default). The client library in client-lib.ts provides the
 * connections (TLS, SASL/SCRAM), metadata and InitProducerId; the records themselves are encoded and sent by our own
 * produce path (produce-path.ts, record-batch.ts), which costs a fraction of the library's per-record CPU
 * (docs/benchmarks.md#kafka-issue-16). A batch is one produce request per partition leader; it resolves `delivered`
 * when the brokers acknowledged every record with the configured acks. Transient failures are retried by the produce
 * path with the same producer id and sequence numbers (`retries` below), so a write whose acknowledgement was lost is
 * not written twice; what still fails comes back as a value (retry-policy.ts) and the core retries the batch later.
 * A core retry is a new produce under a new producer id: records of partitions that the failed send did write can
 * then arrive twice. At-least-once, as docs/sinks.md says.
 */
import fs from 'node:fs';
import type { ConnectionOptions as TlsConnectionOptions } from 'node:tls';
import type { KafkaRecord } from '../../formatters/kafka';
import { AegisError, describeError } from '../../util/errors';
import type { Logger } from '../../util/logger';
import { resolveSecretFiles } from '../../util/secrets';
import type { Batch, HealthResult, SendResult, Transport } from '../core/types';
import type { KafkaLib } from './client-lib';
import { kafkaLib } from './client-lib';
import type { KafkaSinkConfig } from './config';
import { isTopicTemplate, topicFor } from './config';
import { checkKafkaHealth } from './healthcheck';
import type { OutRecord } from './produce-path';
import { createProducePath } from './produce-path';
import { classifyKafkaError } from './retry-policy';

/** Retries of one produce inside the transport (same sequence numbers: the broker de-duplicates). */
const CLIENT_RETRIES = 5;
const CLIENT_RETRY_DELAY_MILLIS = 250;
const CONNECT_TIMEOUT_MILLIS = 5_000;

export interface KafkaTransportContext {
  readonly name: string;
  readonly logger: Logger;
  /** Request timeout of one produce (the sink's request.timeout_ms). */
  readonly requestTimeoutMillis: number;
}

type Producer = KafkaLib.Producer<string, string, string, string>;

function readPem(where: string, file: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new AegisError('AEGIS_ERR_CONFIG_READ', `${where}: cannot read ${file}: ${describeError(err)}`, {
      cause: err,
    });
  }
}

/** Reads the TLS files and the SASL password file (build time: a missing file is a configuration error). */
export function connectionOptions(
  config: KafkaSinkConfig,
  where: string,
): Pick<KafkaLib.ProducerOptions<string, string, string, string>, 'tls' | 'sasl'> & { password?: string } {
  const out: { tls?: TlsConnectionOptions; sasl?: KafkaLib.SASLOptions; password?: string } = {};
  const tls = config.tls;
  if (tls !== undefined) {
    out.tls = {
      rejectUnauthorized: tls.verify,
      ...(tls.caFile !== undefined ? { ca: readPem(`${where}.tls.ca_file`, tls.caFile) } : {}),
      ...(tls.certFile !== undefined ? { cert: readPem(`${where}.tls.cert_file`, tls.certFile) } : {}),
      ...(tls.keyFile !== undefined ? { key: readPem(`${where}.tls.key_file`, tls.keyFile) } : {}),
      ...(tls.serverName !== undefined ? { servername: tls.serverName } : {}),
    };
  }
  const sasl = config.sasl;
  if (sasl !== undefined) {
    const resolved = resolveSecretFiles(
      `${where}.sasl`,
      sasl.passwordFile === undefined ? { password: sasl.password } : { password_file: sasl.passwordFile },
      ['password'],
    );
    const password = typeof resolved.password === 'string' ? resolved.password : '';
    out.password = password;
    out.sasl = {
      mechanism: sasl.mechanism.toUpperCase() as KafkaLib.SASLOptions['mechanism'],
      username: sasl.username,
      password,
    };
  }
  return out;
}

export function createKafkaTransport(config: KafkaSinkConfig, context: KafkaTransportContext): Transport<KafkaRecord> {
  const where = `sinks.${context.name}`;
  const { password, ...conn } = connectionOptions(config, where);
  // The client's own error texts could in theory carry what was sent; the password never goes into a log line.
  const scrub = (text: string): string =>
    password === undefined || password === '' ? text : text.split(password).join('<redacted>');
  if (config.acks === 'leader')
    context.logger.warn(
      'acks: leader is weaker than acks: all: an event counts as delivered once the partition leader has it, and is lost if that broker fails before a follower copied it. Idempotence is off with it.',
      { sink: context.name },
    );
  const template = isTopicTemplate(config.topic);
  const staticTopic = template ? undefined : config.topic;
  const producer: Producer = new kafkaLib.Producer({
    clientId: config.clientId,
    bootstrapBrokers: config.brokers.map((b) => ({ host: b.host, port: b.port })),
    serializers: kafkaLib.stringSerializers,
    idempotent: config.idempotent,
    acks: config.acks === 'all' ? kafkaLib.ProduceAcks.ALL : kafkaLib.ProduceAcks.LEADER,
    compression: config.compression,
    autocreateTopics: false,
    repeatOnStaleMetadata: true,
    retries: CLIENT_RETRIES,
    retryDelay: CLIENT_RETRY_DELAY_MILLIS,
    timeout: context.requestTimeoutMillis,
    connectTimeout: CONNECT_TIMEOUT_MILLIS,
    ...conn,
  });
  const pool = new kafkaLib.ConnectionPool(config.clientId, {
    connectTimeout: CONNECT_TIMEOUT_MILLIS,
    requestTimeout: context.requestTimeoutMillis,
    ...conn,
  });
  const path = createProducePath({
    client: producer,
    pool,
    idempotent: config.idempotent,
    acks: config.acks === 'all' ? kafkaLib.ProduceAcks.ALL : kafkaLib.ProduceAcks.LEADER,
    compression: config.compression,
    timeoutMillis: context.requestTimeoutMillis,
    retries: CLIENT_RETRIES,
    retryDelayMillis: CLIENT_RETRY_DELAY_MILLIS,
  });
  let abandoned = false;
  let closing: Promise<void> | undefined;

  const send = async (batch: Batch<KafkaRecord>, signal: AbortSignal): Promise<SendResult> => {
    if (signal.aborted || abandoned) return { kind: 'retryable', reason: 'send aborted before it started' };
    const topics = new Set<string>();
    const records = batch.records.map((r): OutRecord => {
      const topic = staticTopic ?? topicFor(config.topic, r.event.type);
      topics.add(topic);
      const key =
        config.key === undefined
          ? r.data.key
          : config.key === 'host'
            ? r.event.host
            : config.key === 'exec_id'
              ? r.event.exec_id
              : null;
      return { topic, key: key ?? null, value: r.data.value, headers: r.data.headers };
    });
    let onAbort: (() => void) | undefined;
    const aborted = new Promise<SendResult>((resolve) => {
      onAbort = () =>
        resolve({
          kind: 'retryable',
          reason: 'Kafka produce aborted (request timeout or shutdown) before the brokers acknowledged it',
        });
      signal.addEventListener('abort', onAbort, { once: true });
    });
    const produced = path.send(records).then(
      (): SendResult => ({ kind: 'delivered' }),
      (err: unknown): SendResult => {
        const r = classifyKafkaError(err, [...topics]);
        return 'reason' in r ? { ...r, reason: scrub(r.reason) } : r;
      },
    );
    try {
      return await Promise.race([produced, aborted]);
    } finally {
      if (onAbort !== undefined) signal.removeEventListener('abort', onAbort);
    }
  };

  return {
    send,
    async healthcheck(signal: AbortSignal): Promise<HealthResult> {
      const h = await checkKafkaHealth(
        (topics) => producer.metadata({ topics, forceUpdate: true, autocreateTopics: false }),
        staticTopic,
        signal,
      );
      return h.healthy ? h : { healthy: false, reason: scrub(h.reason) };
    },
    close(): Promise<void> {
      closing ??= Promise.all([producer.close(), pool.close()]).then(
        () => undefined,
        () => undefined,
      );
      return closing;
    },
    abandon(): void {
      abandoned = true;
      // close(true) drops the connections at once; pending sends settle with an error (retryable).
      void producer.close(true).catch(() => undefined);
      void pool.close().catch(() => undefined);
    },
  };
}
