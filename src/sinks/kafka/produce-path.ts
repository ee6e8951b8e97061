/**
 * The sink's own produce path: record batches encoded by record-batch.ts, sent as ProduceRequest v8 on the client
 * library's connections (which carry TLS and SASL/SCRAM), with the library's metadata and InitProducerId. Only the
 * per-record work moved out of the library; docs/dependencies.md#kafka-client says why.
 *
 * Idempotence (acks=all): one producer id and epoch, a sequence number per partition, assigned when a send is
 * encoded. A failed request (connection lost, timeout, leader moved) is sent again with the same bytes, so the
 * broker discards what it already wrote (DUPLICATE_SEQUENCE_NUMBER counts as written). What still fails after the
 * retries ends the producer generation: the next send asks for a new producer id and starts every sequence at 0
 * (the broker would refuse a gap). The core then retries the whole batch: partitions the failed send did write can
 * arrive twice (at-least-once, docs/sinks.md).
 */
import type { KafkaLib } from './client-lib';
import { kafkaLib } from './client-lib';
import type { CodecName, PartitionResult, ProduceTopic, WireRecord } from './record-batch';
import { decodeProduceResponseV8, encodeBatch, encodeProduceRequestV8, encodeRecords, murmur2 } from './record-batch';

const PRODUCE_API_KEY = 0;
const PRODUCE_VERSION = 8;
/** The broker's error code for a batch it already has (idempotent retry): the records are written. */
const DUPLICATE_SEQUENCE_NUMBER = 46;
/**
 * Uncompressed bytes of one record batch at most, counted as UTF-16 units. The broker's message.max.bytes (default
 * 1 048 588) limits a batch after compression, and takes one batch per partition per produce request: a partition's
 * records beyond this go into further batches, sent in further requests ("rounds") right behind the first on the
 * same connection. Half the broker default leaves room for text that is mostly 2-byte UTF-8.
 */
const MAX_BATCH_BYTES = 512 * 1024;
const SEQUENCE_WRAP = 0x80000000;

export interface OutRecord extends WireRecord {
  readonly topic: string;
}

export interface ProducePathOptions {
  /** The library client used for metadata and InitProducerId (its own connection to a bootstrap broker). */
  readonly client: KafkaLib.Producer<string, string, string, string>;
  /** Connections for produce requests (same TLS/SASL options as the client). */
  readonly pool: KafkaLib.ConnectionPool;
  readonly idempotent: boolean;
  /** -1 (all in-sync replicas) or 1 (leader). */
  readonly acks: number;
  readonly compression: CodecName;
  readonly timeoutMillis: number;
  readonly retries: number;
  readonly retryDelayMillis: number;
}

export interface ProducePath {
  /** Resolves when every record is acknowledged; rejects with the last error (classify with retry-policy.ts). */
  send(records: readonly OutRecord[]): Promise<void>;
}

/** An error the produce path raises: the protocol errors of the failed partitions, as the classifier reads them. */
export class KafkaProduceError extends Error {
  readonly errors: readonly Error[];
  constructor(message: string, errors: readonly Error[]) {
    super(message);
    this.name = 'KafkaProduceError';
    this.errors = errors;
  }
}

interface Generation {
  readonly producer: Promise<{ producerId: bigint; producerEpoch: number }>;
  readonly sequences: Map<string, number>;
}

interface PartitionBatch {
  readonly topic: string;
  readonly partition: number;
  /** One complete RecordBatch. */
  readonly bytes: Buffer;
  /** 0 for a partition's first batch of this send, 1 for its second … (its round). */
  readonly round: number;
}

const NO_PRODUCER = { producerId: -1n, producerEpoch: -1 };

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function retryable(err: unknown): boolean {
  // Protocol errors carry the broker's verdict; connection errors and timeouts are worth another try.
  const e = err as { canRetry?: unknown; code?: unknown };
  if (e.code === 'PLT_KFK_PROTOCOL') return e.canRetry === true;
  if (e.code === 'PLT_KFK_AUTHENTICATION' || e.code === 'PLT_KFK_USER') return false;
  return true;
}

export function createProducePath(options: ProducePathOptions): ProducePath {
  const { client, pool } = options;
  let generation: Generation | undefined;
  /** Round-robin partition for key-less records: one partition per send, the next one for the next send. */
  let nextKeyless = 0;
  /** murmur2 of recent keys (hosts, exec ids repeat): the hash costs more than the lookup. */
  const keyHashes = new Map<string, number>();

  const currentGeneration = (): Generation => {
    if (generation === undefined) {
      const g: Generation = {
        producer: options.idempotent
          ? client
              .initIdempotentProducer({})
              .then((p) => ({ producerId: p.producerId, producerEpoch: p.producerEpoch }))
          : Promise.resolve(NO_PRODUCER),
        sequences: new Map(),
      };
      // A failed InitProducerId must not stick: the next send asks again.
      g.producer.catch(() => {
        if (generation === g) generation = undefined;
      });
      generation = g;
    }
    return generation;
  };

  const hashOf = (key: string): number => {
    let h = keyHashes.get(key);
    if (h === undefined) {
      if (keyHashes.size > 10_000) keyHashes.clear();
      h = murmur2(Buffer.from(key, 'utf8')) & 0x7fffffff;
      keyHashes.set(key, h);
    }
    return h;
  };

  const encode = (
    byPartition: Map<string, { topic: string; partition: number; records: OutRecord[] }>,
    producer: { producerId: bigint; producerEpoch: number },
    sequences: Map<string, number>,
  ): PartitionBatch[] => {
    const now = Date.now();
    const out: PartitionBatch[] = [];
    for (const [id, group] of byPartition) {
      let round = 0;
      let from = 0;
      let pendingBytes = 0;
      const flush = (to: number): void => {
        if (to === from) return;
        const slice = group.records.slice(from, to);
        const n = slice.length;
        let baseSequence = -1;
        if (producer.producerId >= 0n) {
          baseSequence = sequences.get(id) ?? 0;
          sequences.set(id, (baseSequence + n) % SEQUENCE_WRAP);
        }
        const section = encodeRecords(slice);
        const body =
          options.compression === 'none'
            ? section
            : kafkaLib.compressionsAlgorithms[options.compression].compressSync(section);
        const bytes = encodeBatch(body, n, options.compression, now, { ...producer, baseSequence });
        out.push({ topic: group.topic, partition: group.partition, bytes, round: round++ });
        from = to;
        pendingBytes = 0;
      };
      for (let i = 0; i < group.records.length; i++) {
        const r = group.records[i] as OutRecord;
        // UTF-16 units, the bytes of ASCII text (non-ASCII takes up to 3 bytes a unit: hence the limit's margin).
        let size = r.value.length + (r.key?.length ?? 0) + 16;
        for (const k in r.headers) size += k.length + (r.headers[k] as string).length + 4;
        if (pendingBytes + size > MAX_BATCH_BYTES && i > from) flush(i);
        pendingBytes += size;
      }
      flush(group.records.length);
    }
    return out;
  };

  const produceTo = (broker: KafkaLib.Broker, batches: readonly PartitionBatch[]): Promise<PartitionResult[]> => {
    const byTopic = new Map<string, { partition: number; batch: Buffer }[]>();
    for (const b of batches) {
      let list = byTopic.get(b.topic);
      if (list === undefined) byTopic.set(b.topic, (list = []));
      list.push({ partition: b.partition, batch: b.bytes });
    }
    const topics: ProduceTopic[] = [...byTopic].map(([topic, partitions]) => ({ topic, partitions }));
    return new Promise<PartitionResult[]>((resolve, reject) => {
      pool.get(broker, (err, connection) => {
        if ((err !== null && err !== undefined) || connection === undefined) {
          reject(err ?? new Error(`no connection to ${broker.host}:${broker.port}`));
          return;
        }
        connection.send(
          PRODUCE_API_KEY,
          PRODUCE_VERSION,
          () => {
            const w = kafkaLib.Writer.create();
            for (const part of encodeProduceRequestV8(options.acks, options.timeoutMillis, topics)) w.append(part);
            return w;
          },
          (_correlationId, _apiKey, _apiVersion, reader) => decodeProduceResponseV8(reader.buffer.buffer),
          false,
          false,
          (error: Error | null, results: PartitionResult[] | undefined) => {
            if (error !== null && error !== undefined) reject(error);
            else resolve(results ?? []);
          },
        );
      });
    });
  };

  const send = async (records: readonly OutRecord[]): Promise<void> => {
    if (records.length === 0) return;
    const topics = [...new Set(records.map((r) => r.topic))];
    let metadata = await client.metadata({ topics, autocreateTopics: false });
    const gen = currentGeneration();
    const producer = await gen.producer;
    // Group by partition, in record order.
    const byPartition = new Map<string, { topic: string; partition: number; records: OutRecord[] }>();
    const keyless = nextKeyless++;
    for (const r of records) {
      const count = metadata.topics.get(r.topic)?.partitionsCount ?? 1;
      const partition = r.key === null ? keyless % count : hashOf(r.key) % count;
      const id = `${r.topic}:${partition}`;
      let group = byPartition.get(id);
      if (group === undefined) byPartition.set(id, (group = { topic: r.topic, partition, records: [] }));
      group.records.push(r);
    }
    /** Sends batches (at most one per partition) until acknowledged; the errors of the last attempt otherwise. */
    const sendRound = async (batches: PartitionBatch[]): Promise<Error[]> => {
      let pending = batches;
      for (let attempt = 0; ; attempt++) {
        const byLeader = new Map<number, PartitionBatch[]>();
        for (const b of pending) {
          const leader = metadata.topics.get(b.topic)?.partitions[b.partition]?.leader ?? -1;
          let list = byLeader.get(leader);
          if (list === undefined) byLeader.set(leader, (list = []));
          list.push(b);
        }
        const failed: PartitionBatch[] = [];
        const errors: Error[] = [];
        let fatal = false;
        await Promise.all(
          [...byLeader].map(async ([leader, batches]) => {
            const broker = metadata.brokers.get(leader);
            if (broker === undefined) {
              failed.push(...batches);
              errors.push(new kafkaLib.ProtocolError('LEADER_NOT_AVAILABLE', `no leader known for node ${leader}`));
              return;
            }
            try {
              const results = await produceTo(broker, batches);
              for (const b of batches) {
                const r = results.find((x) => x.topic === b.topic && x.partition === b.partition);
                if (r === undefined) {
                  failed.push(b);
                  errors.push(new Error(`the broker's produce response has no result for ${b.topic}/${b.partition}`));
                } else if (r.errorCode !== 0 && r.errorCode !== DUPLICATE_SEQUENCE_NUMBER) {
                  const e = new kafkaLib.ProtocolError(r.errorCode, r.message === '' ? null : r.message, {
                    path: `${b.topic}/${b.partition}`,
                  });
                  if (!retryable(e)) fatal = true;
                  failed.push(b);
                  errors.push(e);
                }
              }
            } catch (err) {
              if (!retryable(err)) fatal = true;
              failed.push(...batches);
              errors.push(err instanceof Error ? err : new Error(String(err)));
            }
          }),
        );
        if (failed.length === 0) return [];
        if (fatal || attempt >= options.retries) return errors;
        await sleep(options.retryDelayMillis);
        pending = failed;
        try {
          metadata = await client.metadata({ topics, autocreateTopics: false, forceUpdate: true });
        } catch (err) {
          return [err instanceof Error ? err : new Error(String(err))];
        }
      }
    };
    const encoded = encode(byPartition, producer, gen.sequences);
    const rounds = Math.max(...encoded.map((b) => b.round)) + 1;
    // Every round's first request is written now, in sequence order, before anything else can interleave (another
    // send's sequences follow these on the same connection; the broker handles a connection's requests in order).
    // Awaiting each round first would let a concurrent send's next sequence overtake this send's second round.
    const outcomes = await Promise.all(
      Array.from({ length: rounds }, (_, round) => sendRound(encoded.filter((b) => b.round === round))),
    );
    const lastErrors = outcomes.flat();
    if (lastErrors.length === 0) return;
    // This generation's sequences now have a gap the broker would refuse: start a new one.
    if (generation === gen) generation = undefined;
    const first = lastErrors[0];
    const summary = lastErrors.map((e) => e.message).join('; ');
    throw new KafkaProduceError(`Kafka produce failed: ${summary}`, first === undefined ? [] : lastErrors);
  };

  return { send };
}
