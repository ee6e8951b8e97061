/**
 * The relay's fetch loop: FetchRequest v11 on the client library's connections (TLS, SASL), record batches decoded by
 * src/sinks/kafka/fetch-codec.ts into one string per value. The library keeps what it does well and cheaply: group
 * membership (join, heartbeats, rebalances, the assignment), metadata (partition leaders), committed offsets,
 * list-offsets and commits. Only the per-record work moved out of it (docs/benchmarks.md#kafka-issue-16).
 *
 * Positions: a partition newly assigned starts at the group's committed offset, else (none committed) at the oldest
 * or the next record (`from_beginning`); a partition kept across a rebalance continues where this member was (what
 * it read past the committed offset is in its pipeline and settles here). A revoked partition's position is dropped,
 * and a fetch answered after the revocation is discarded. OFFSET_OUT_OF_RANGE (retention deleted the records, or the
 * topic was recreated) restarts the partition at its oldest or newest record the same way.
 *
 * Backpressure: `room()` is awaited before every fetch round: no fetching while the pipeline is behind.
 */
import type { KafkaLib } from '../../sinks/kafka/client-lib';
import { kafkaLib } from '../../sinks/kafka/client-lib';
import type { DecodedRecords, FetchResponse, FetchTopicRequest } from '../../sinks/kafka/fetch-codec';
import {
  READ_COMMITTED,
  decodeFetchResponseV11,
  decodeRecordBatches,
  encodeFetchRequestV11,
} from '../../sinks/kafka/fetch-codec';

const FETCH_API_KEY = 1;
const FETCH_VERSION = 11;
/** Broker errors after which the partition's leader is looked up again (it moved, or is being elected). */
const METADATA_ERRORS = new Set([3, 5, 6, 9, 56, 74, 75, 78]);
const OFFSET_OUT_OF_RANGE = 1;

/** Records of one partition from one fetch, in offset order. */
export interface RecordRun extends DecodedRecords {
  readonly topic: string;
  readonly partition: number;
  readonly leaderEpoch: number;
}

export interface KafkaFetcherOptions {
  readonly consumer: KafkaLib.Consumer<Buffer, Buffer, Buffer, Buffer>;
  readonly pool: KafkaLib.ConnectionPool;
  readonly topics: readonly string[];
  readonly fromBeginning: boolean;
  readonly maxWaitMillis: number;
  readonly maxBytes: number;
  readonly partitionMaxBytes: number;
  readonly retryDelayMillis: number;
  /** Resolves when the reader has room for another fetch response. */
  readonly room: () => Promise<void>;
  readonly onRecords: (run: RecordRun) => void;
  /** The partition's end offset (high watermark) after a fetch. */
  readonly onHighWatermark: (topic: string, partition: number, highWatermark: number) => void;
  /** A partition's start offset when it was assigned: the group's committed offset, or where reading starts. */
  readonly onStart: (topic: string, partition: number, offset: number) => void;
  readonly onError: (what: string, err: unknown) => void;
}

export interface KafkaFetcher {
  /** Runs until `signal` aborts; rejects only on a programming error. */
  run(signal: AbortSignal): Promise<void>;
  /** The consumer's assignment changed (a join completed): called from the group-join event. */
  assigned(partitions: readonly { readonly topic: string; readonly partition: number }[]): void;
}

interface Position {
  readonly topic: string;
  readonly partition: number;
  offset: number;
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done(): void {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}

const decompress = (codec: number, data: Buffer): Buffer => {
  const algorithm = kafkaLib.compressionsAlgorithmsByBitmask[codec];
  if (algorithm === undefined) throw new Error(`unknown compression codec ${codec}`);
  return algorithm.decompressSync(data);
};

export function createKafkaFetcher(options: KafkaFetcherOptions): KafkaFetcher {
  const { consumer, pool } = options;
  /** The assignment: partition key → whether it has a position yet. */
  let assignment = new Map<string, { topic: string; partition: number }>();
  const positions = new Map<string, Position>();
  let refreshMetadata = false;
  let wake: (() => void) | undefined;
  const key = (topic: string, partition: number): string => `${topic}/${partition}`;

  /** Start offsets of `missing`: committed, else the oldest (-2) or next (-1) record; `reset` skips committed. */
  const resolveStarts = async (
    missing: readonly { topic: string; partition: number }[],
    reset: boolean,
  ): Promise<void> => {
    const byTopic = new Map<string, number[]>();
    for (const m of missing) {
      const list = byTopic.get(m.topic) ?? [];
      list.push(m.partition);
      byTopic.set(m.topic, list);
    }
    const committed = reset
      ? new Map<string, bigint[]>()
      : await consumer.listCommittedOffsets({
          topics: [...byTopic].map(([topic, partitions]) => ({ topic, partitions })),
        });
    const needFallback = missing.filter((m) => (committed.get(m.topic)?.[m.partition] ?? -1n) < 0n);
    const fallback =
      needFallback.length === 0
        ? new Map<string, bigint[]>()
        : await consumer.listOffsets({
            topics: [...new Set(needFallback.map((m) => m.topic))],
            partitions: Object.fromEntries(
              [...byTopic].map(([t]) => [t, needFallback.filter((m) => m.topic === t).map((m) => m.partition)]),
            ),
            timestamp: options.fromBeginning ? -2n : -1n,
          });
    for (const m of missing) {
      const k = key(m.topic, m.partition);
      if (!assignment.has(k)) continue; // revoked while we asked
      const c = committed.get(m.topic)?.[m.partition] ?? -1n;
      const offset = Number(c >= 0n ? c : (fallback.get(m.topic)?.[m.partition] ?? 0n));
      positions.set(k, { topic: m.topic, partition: m.partition, offset });
      options.onStart(m.topic, m.partition, offset);
    }
  };

  const fetchFrom = (broker: KafkaLib.Broker, topics: readonly FetchTopicRequest[]): Promise<FetchResponse> =>
    new Promise<FetchResponse>((resolve, reject) => {
      pool.get(broker, (err, connection) => {
        if ((err !== null && err !== undefined) || connection === undefined) {
          reject(err ?? new Error(`no connection to ${broker.host}:${broker.port}`));
          return;
        }
        connection.send(
          FETCH_API_KEY,
          FETCH_VERSION,
          () => {
            const w = kafkaLib.Writer.create();
            w.append(encodeFetchRequestV11(options.maxWaitMillis, 1, options.maxBytes, READ_COMMITTED, topics));
            return w;
          },
          (_correlationId, _apiKey, _apiVersion, reader) => decodeFetchResponseV11(reader.buffer.buffer),
          false,
          false,
          (error: Error | null, response: FetchResponse | undefined) => {
            if (error !== null && error !== undefined) reject(error);
            else if (response === undefined) reject(new Error('empty fetch response'));
            else resolve(response);
          },
        );
      });
    });

  /** One fetch round: every assigned partition, one request per leader, in parallel. */
  const round = async (signal: AbortSignal): Promise<void> => {
    const missing = [...assignment].filter(([k]) => !positions.has(k)).map(([, tp]) => tp);
    if (missing.length > 0) await resolveStarts(missing, false);
    const metadata = await consumer.metadata({ topics: [...options.topics], forceUpdate: refreshMetadata });
    refreshMetadata = false;
    const byNode = new Map<number, { positions: Position[]; offsets: number[] }>();
    for (const pos of positions.values()) {
      const leader = metadata.topics.get(pos.topic)?.partitions[pos.partition]?.leader;
      if (leader === undefined || leader < 0) {
        refreshMetadata = true;
        continue;
      }
      const entry = byNode.get(leader) ?? { positions: [], offsets: [] };
      entry.positions.push(pos);
      entry.offsets.push(pos.offset);
      byNode.set(leader, entry);
    }
    if (byNode.size === 0) {
      await sleep(options.retryDelayMillis, signal);
      return;
    }
    await Promise.all(
      [...byNode].map(async ([node, { positions: asked, offsets }]) => {
        const broker = metadata.brokers.get(node);
        if (broker === undefined) {
          refreshMetadata = true;
          return;
        }
        const topics = new Map<string, { partition: number; fetchOffset: number; partitionMaxBytes: number }[]>();
        asked.forEach((pos, i) => {
          const list = topics.get(pos.topic) ?? [];
          list.push({
            partition: pos.partition,
            fetchOffset: offsets[i] as number,
            partitionMaxBytes: options.partitionMaxBytes,
          });
          topics.set(pos.topic, list);
        });
        let response: FetchResponse;
        try {
          response = await fetchFrom(
            broker,
            [...topics].map(([topic, partitions]) => ({ topic, partitions })),
          );
        } catch (err) {
          refreshMetadata = true;
          options.onError(`fetch from ${broker.host}:${broker.port}`, err);
          await sleep(options.retryDelayMillis, signal);
          return;
        }
        if (signal.aborted) return;
        if (response.errorCode !== 0) {
          refreshMetadata = true;
          options.onError(
            `fetch from ${broker.host}:${broker.port}`,
            new Error(`Kafka error code ${response.errorCode}`),
          );
          await sleep(options.retryDelayMillis, signal);
          return;
        }
        for (const p of response.partitions) {
          const k = key(p.topic, p.partition);
          const i = asked.findIndex((a) => a.topic === p.topic && a.partition === p.partition);
          const pos = positions.get(k);
          // Revoked, or restarted, while the fetch was out: its records belong to the next owner or position.
          if (i < 0 || pos === undefined || pos !== asked[i] || pos.offset !== offsets[i]) continue;
          if (p.errorCode === OFFSET_OUT_OF_RANGE) {
            options.onError(
              `partition ${k} offset ${pos.offset}`,
              new Error(
                'OFFSET_OUT_OF_RANGE: restarting at the ' + (options.fromBeginning ? 'oldest' : 'newest') + ' record',
              ),
            );
            positions.delete(k);
            await resolveStarts([{ topic: p.topic, partition: p.partition }], true);
            continue;
          }
          if (p.errorCode !== 0) {
            if (METADATA_ERRORS.has(p.errorCode)) refreshMetadata = true;
            options.onError(`partition ${k}`, new Error(`Kafka error code ${p.errorCode} in a fetch response`));
            continue;
          }
          options.onHighWatermark(p.topic, p.partition, p.highWatermark);
          if (p.records === null || p.records.length === 0) continue;
          const decoded = decodeRecordBatches(p.records, pos.offset, p.aborted, decompress);
          pos.offset = decoded.nextOffset;
          const leaderEpoch = metadata.topics.get(p.topic)?.partitions[p.partition]?.leaderEpoch ?? -1;
          if (decoded.offsets.length > 0 || decoded.corrupt.length > 0)
            options.onRecords({ ...decoded, topic: p.topic, partition: p.partition, leaderEpoch });
        }
        if (refreshMetadata) await sleep(options.retryDelayMillis, signal);
      }),
    );
  };

  return {
    assigned(partitions) {
      assignment = new Map(partitions.map((tp) => [key(tp.topic, tp.partition), tp]));
      for (const k of [...positions.keys()]) if (!assignment.has(k)) positions.delete(k);
      const w = wake;
      wake = undefined;
      w?.();
    },
    async run(signal) {
      const onAbort = (): void => wake?.();
      signal.addEventListener('abort', onAbort, { once: true });
      try {
        while (!signal.aborted) {
          await options.room();
          if (signal.aborted) break;
          if (assignment.size === 0) {
            await new Promise<void>((resolve) => {
              wake = resolve;
              setTimeout(resolve, 1000).unref();
            });
            continue;
          }
          try {
            await round(signal);
          } catch (err) {
            // Metadata, committed offsets or list-offsets failed (brokers down, a rebalance): try again.
            refreshMetadata = true;
            options.onError('fetch round', err);
            await sleep(options.retryDelayMillis, signal);
          }
        }
      } finally {
        signal.removeEventListener('abort', onAbort);
      }
    },
  };
}
