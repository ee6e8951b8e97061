/** The `kafka` sink: an idempotent producer (acks=all by default) writing the `kafka` format's records. */
import type { KafkaRecord } from '../../formatters/kafka';
import type { SinkDefinition } from '../core/definition';
import type { KafkaSinkConfig } from './config';
import { checkKafkaConfig, kafkaConfigSchema, parseKafkaConfig } from './config';
import { createKafkaTransport } from './transport';

/** Encoded size of a record as Kafka carries it: key + value + header names and values (UTF-8 bytes). */
export function kafkaRecordBytes(r: KafkaRecord): number {
  let n = Buffer.byteLength(r.value) + (r.key === null ? 0 : Buffer.byteLength(r.key));
  for (const [k, v] of Object.entries(r.headers)) n += Buffer.byteLength(k) + Buffer.byteLength(v);
  return n;
}

export const kafkaSink: SinkDefinition<KafkaSinkConfig, KafkaRecord> = {
  type: 'kafka',
  description:
    'Produce events to Apache Kafka: idempotent producer, acks=all by default, key by host/exec_id, value in any string format.',
  configSchema: kafkaConfigSchema,
  formats: { allowed: ['kafka'], default: 'kafka' },
  coreDefaults: {
    // ~2000 records of ~500 B per send stay under the broker's default 1 MiB per partition batch (message.max.bytes).
    batch: { maxEvents: 2000, maxBytes: 900 * 1024, timeoutMillis: 200 },
    request: { concurrency: 1, timeoutMillis: 30_000 },
  },
  check: checkKafkaConfig,
  parse: parseKafkaConfig,
  sizeOf: kafkaRecordBytes,
  createTransport: (config, context) =>
    createKafkaTransport(config, { name: context.name, logger: context.logger, requestTimeoutMillis: 30_000 }),
};
