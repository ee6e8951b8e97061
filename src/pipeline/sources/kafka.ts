/**
 * `kafka` source: the relay. `aegisbpf run` instances with this source, all in one consumer group, share the
 * partitions of the topics the agents' kafka sinks write to (Kafka does the distribution and rebalancing).
 *
 * At-least-once: a partition's offset is committed only up to the last record whose chunk has settled, in offset
 * order (kafka-offsets.ts); commits go out every `commit_interval_ms` and on stop. A crash or a lost partition
 * replays what was read after the last commit: duplicates are bounded by that uncommitted window (the records of the
 * chunks not yet settled, plus at most one commit interval of settled ones).
 *
 * Settling: chunks are TrackedChunks; the engine calls `settled()` once every event of the chunk has a final outcome
 * (delivered, dead-lettered, dropped by a processor or by when_full, unrouted) in every sink it was routed to. What a
 * SIGKILLed relay held in its sink buffers was therefore never committed, and its partitions' next owner reads it
 * again.
 *
 * Poison records (not JSON, not a valid event) are dead-lettered with topic, partition and offset, and settle at
 * once. Backpressure: at most QUEUE_MAX_RECORDS records (plus one fetch response) are read ahead of the pipeline;
 * past that the client's stream is paused, which stops fetching for every partition of this member, until the
 * pipeline (and so the slowest sink) has taken half of them.
 */
import type { AegisEvent } from '../../event/types';
import { explainInvalidEvent, isValidEvent } from '../../event/validate';
import type { DeadLetterEntry } from '../../sinks/core/dead-letter';
import type { KafkaLib } from '../../sinks/kafka/client-lib';
import { kafkaLib } from '../../sinks/kafka/client-lib';
import { kafkaConfigSchema, parseKafkaConfig } from '../../sinks/kafka/config';
import { connectionOptions } from '../../sinks/kafka/transport';
import { describeKafkaError } from '../../sinks/kafka/retry-policy';
import { capText, MAX_REASON_CHARS } from '../../util/bounded-text';
import type { CommitEntry } from './kafka-offsets';
import { createOffsetTracker } from './kafka-offsets';
import type { Source, SourceContext, SourceDefinition, TrackedChunk } from './types';

const DEFAULT_GROUP = 'aegisbpf-relay';
const DEFAULT_CHUNK_EVENTS = 1000;
const DEFAULT_COMMIT_INTERVAL_MILLIS = 1000;
/** Records the client's stream holds before it stops fetching. */
const STREAM_HIGH_WATER_MARK = 1024;
/** Records read ahead of the pipeline: the stream is paused (no fetching) at this many, resumed at half. */
const QUEUE_MAX_RECORDS = 10_000;
/** How long a stop waits for the last offset commit. */
const FINAL_COMMIT_MAX_MILLIS = 5000;
/** Most bytes of one fetch response (the client's default is 50 MB): bounds what arrives after a pause. */
const FETCH_MAX_BYTES = 8 * 1024 * 1024;

/**
 * The source's own numbers, exported as aegisbpf_source_protocol_total / _value (SourceStats.extra) and
 * aegisbpf_kafka_consumer_lag (SourceStats.partitionLag).
 */
export interface KafkaSourceStats {
  readonly extra: Record<string, number>;
  readonly lag: Map<string, { readonly topic: string; readonly partition: number; lag: number }>;
}

function optionsOf(raw: Readonly<Record<string, unknown>>): {
  topics: string[];
  groupId: string;
  fromBeginning: boolean;
  chunkEvents: number;
  commitIntervalMillis: number;
} {
  return {
    topics: Array.isArray(raw.topics) ? raw.topics.filter((t): t is string => typeof t === 'string') : [],
    groupId: typeof raw.group_id === 'string' ? raw.group_id : DEFAULT_GROUP,
    fromBeginning: raw.from_beginning === true,
    chunkEvents: typeof raw.chunk_events === 'number' ? raw.chunk_events : DEFAULT_CHUNK_EVENTS,
    commitIntervalMillis:
      typeof raw.commit_interval_ms === 'number' ? raw.commit_interval_ms : DEFAULT_COMMIT_INTERVAL_MILLIS,
  };
}

type Message = KafkaLib.Message<Buffer, Buffer, Buffer, Buffer>;

export function createKafkaSource(
  raw: Readonly<Record<string, unknown>>,
  ctx: SourceContext,
): Source & { readonly kafkaStats: KafkaSourceStats } {
  const options = optionsOf(raw);
  const conn = parseKafkaConfig({ brokers: raw.brokers, tls: raw.tls, sasl: raw.sasl });
  const { password: _password, ...security } = connectionOptions(conn, `sources.${ctx.name}`);
  void _password;
  const kafkaStats: KafkaSourceStats = {
    extra: ctx.stats.extra ?? {},
    lag:
      ctx.stats.partitionLag ?? new Map<string, { readonly topic: string; readonly partition: number; lag: number }>(),
  };
  const extra = kafkaStats.extra;
  for (const k of ['records_in_total', 'poison_total', 'commits_total', 'rebalances_total', 'partitions_assigned'])
    extra[k] = 0;
  let assigned = false;
  ctx.registry?.readiness.register(`source.${ctx.name}`, () =>
    assigned
      ? { ready: true }
      : {
          ready: false,
          reason: `source '${ctx.name}': consumer group '${options.groupId}' has not assigned partitions yet`,
        },
  );

  async function* read(signal: AbortSignal): AsyncGenerator<TrackedChunk> {
    const consumer = new kafkaLib.Consumer({
      clientId: typeof raw.client_id === 'string' ? raw.client_id : 'aegisbpf-relay',
      groupId: options.groupId,
      bootstrapBrokers: conn.brokers.map((b) => ({ host: b.host, port: b.port })),
      sessionTimeout: 10_000,
      heartbeatInterval: 1000,
      rebalanceTimeout: 20_000,
      maxWaitTime: 500,
      maxBytes: FETCH_MAX_BYTES,
      highWaterMark: STREAM_HIGH_WATER_MARK,
      autocommit: false,
      retries: Number.MAX_SAFE_INTEGER,
      retryDelay: 500,
      ...security,
    });
    const tracker = createOffsetTracker();
    consumer.on('consumer:group:join', () => {
      extra.rebalances_total = (extra.rebalances_total ?? 0) + 1;
      const owned = new Set((consumer.assignments ?? []).flatMap((a) => a.partitions.map((p) => `${a.topic}/${p}`)));
      assigned = owned.size > 0;
      extra.partitions_assigned = owned.size;
      for (const k of [...kafkaStats.lag.keys()]) if (!owned.has(k)) kafkaStats.lag.delete(k);
      tracker.forget((tp) => owned.has(`${tp.topic}/${tp.partition}`));
      ctx.logger.info('Kafka consumer group assigned partitions.', {
        source: ctx.name,
        group: options.groupId,
        partitions: [...owned].sort(),
      });
    });
    // A rebalance is starting: commit what settled, so the next owner of a revoked partition replays less.
    consumer.on('consumer:group:rejoin', () => void commitDue());
    consumer.on('consumer:lag', (lag: Map<string, bigint[]>) => {
      for (const [topic, per] of lag)
        per.forEach((l, partition) => {
          // The client reports every partition of the topic; -1 for those this member does not own.
          if (l >= 0n) kafkaStats.lag.set(`${topic}/${partition}`, { topic, partition, lag: Number(l) });
        });
    });
    let committing: Promise<void> = Promise.resolve();
    const commitDue = (): Promise<void> => {
      committing = committing.then(async () => {
        const due: CommitEntry[] = tracker.due();
        if (due.length === 0) return;
        try {
          await consumer.commit({ offsets: due.map((d) => ({ ...d })) });
          tracker.markCommitted(due);
          extra.commits_total = (extra.commits_total ?? 0) + 1;
        } catch (err) {
          // A commit refused during a rebalance is retried with the next one; the records replay at worst.
          ctx.logger.burst('WARN', 'kafka-commit', 'Kafka offset commit failed; it is retried.', {
            source: ctx.name,
            reason: describeKafkaError(err),
          });
        }
      });
      return committing;
    };
    const timer = setInterval(() => void commitDue(), options.commitIntervalMillis);
    timer.unref();
    let stream: KafkaLib.MessagesStream<Buffer, Buffer, Buffer, Buffer> | undefined;
    try {
      // Joining retries without end (brokers down, topic not created yet); a stop must not wait for it.
      const joining = consumer.consume({
        topics: options.topics,
        mode: 'committed',
        fallbackMode: options.fromBeginning ? 'earliest' : 'latest',
        autocommit: false,
        highWaterMark: STREAM_HIGH_WATER_MARK,
        maxWaitTime: 500,
        maxBytes: FETCH_MAX_BYTES,
      });
      let onStop: (() => void) | undefined;
      const stopped = new Promise<undefined>((resolve) => {
        onStop = () => resolve(undefined);
        signal.addEventListener('abort', onStop, { once: true });
        if (signal.aborted) resolve(undefined);
      });
      stream = await Promise.race([joining, stopped]);
      if (onStop !== undefined) signal.removeEventListener('abort', onStop);
      if (stream === undefined) {
        // The forced close below makes the join fail; a join that completed anyway closes its stream.
        joining
          .then(
            (late) => late.close(),
            () => undefined,
          )
          .catch(() => undefined);
        return;
      }
      consumer.startLagMonitoring({ topics: options.topics }, 5000);
      const s = stream;
      // Flowing mode into a bounded queue: the client's pull mode (read() + 'readable') can stop fetching on a live
      // topic, so records arrive as 'data' events and the stream is paused (no fetching) while the queue is full.
      const queue: Message[] = [];
      let head = 0;
      let streamError: Error | undefined;
      let ended = false;
      let wake: (() => void) | undefined;
      const notify = (): void => {
        const w = wake;
        wake = undefined;
        w?.();
      };
      s.on('data', (m: Message) => {
        queue.push(m);
        if (queue.length - head >= QUEUE_MAX_RECORDS && !s.isPaused()) s.pause();
        notify();
      });
      s.on('error', (err: Error) => {
        streamError = err;
        notify();
      });
      s.on('close', () => {
        ended = true;
        notify();
      });
      const onAbort = (): void => notify();
      signal.addEventListener('abort', onAbort, { once: true });
      while (!signal.aborted) {
        if (queue.length - head === 0) {
          if (streamError !== undefined) throw streamError;
          if (ended) break;
          await new Promise<void>((resolve) => (wake = resolve));
          continue;
        }
        const batch = queue.slice(head, head + options.chunkEvents);
        head += batch.length;
        if (head > 4096 && head * 2 > queue.length) {
          queue.splice(0, head);
          head = 0;
        }
        if (s.isPaused() && queue.length - head < QUEUE_MAX_RECORDS / 2) s.resume();
        const chunk = await decode(batch, tracker, ctx, extra);
        if (chunk === undefined) continue;
        ctx.stats.events += chunk.events.length;
        // The engine calls chunk.settled() once every event has a final outcome in every sink it was routed to.
        yield chunk;
      }
      signal.removeEventListener('abort', onAbort);
    } finally {
      clearInterval(timer);
      consumer.stopLagMonitoring();
      // The final commit of what settled; bounded, since the client retries without end while brokers are down
      // (what is not committed is read again by the partition's next owner).
      await Promise.race([commitDue(), new Promise((r) => setTimeout(r, FINAL_COMMIT_MAX_MILLIS).unref())]);
      await stream?.close().catch(() => undefined);
      await consumer.close(true).catch(() => undefined);
      assigned = false;
    }
  }

  return { name: ctx.name, type: 'kafka', read, kafkaStats };
}

/** Parse and validate a batch; poison records are dead-lettered (they settle at once). */
async function decode(
  batch: readonly Message[],
  tracker: ReturnType<typeof createOffsetTracker>,
  ctx: SourceContext,
  extra: Record<string, number>,
): Promise<TrackedChunk | undefined> {
  const events: AegisEvent[] = [];
  const poison: DeadLetterEntry[] = [];
  const ranges = new Map<string, { topic: string; partition: number; first: bigint; last: bigint; epoch: number }>();
  for (const m of batch) {
    const k = `${m.topic}/${m.partition}`;
    const r = ranges.get(k);
    if (r === undefined)
      ranges.set(k, { topic: m.topic, partition: m.partition, first: m.offset, last: m.offset, epoch: m.leaderEpoch });
    else r.last = m.offset;
    const text = m.value === null || m.value === undefined ? '' : m.value.toString('utf8');
    ctx.stats.bytes += text.length;
    let why: string | undefined;
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (err) {
      why = `not JSON: ${(err as Error).message}`;
    }
    if (why === undefined && !isValidEvent(value))
      why = `not a valid event: ${explainInvalidEvent(value) ?? 'invalid'}`;
    if (why === undefined) events.push(value as AegisEvent);
    else
      poison.push({
        source: ctx.name,
        code: 'AEGIS_ERR_EVENT_INVALID',
        reason: capText(`kafka topic ${m.topic} partition ${m.partition} offset ${m.offset}: ${why}`, MAX_REASON_CHARS),
        raw: capText(text, 4096),
      });
  }
  extra.records_in_total = (extra.records_in_total ?? 0) + batch.length;
  const tokens = [...ranges.values()].map((r) => tracker.track(r, r.first, r.last, r.epoch));
  if (poison.length > 0) {
    extra.poison_total = (extra.poison_total ?? 0) + poison.length;
    ctx.stats.invalid += poison.length;
    ctx.logger.burst(
      'WARN',
      'kafka-poison',
      'Kafka records were not valid events; they went to the dead-letter file.',
      {
        source: ctx.name,
        code: 'AEGIS_ERR_EVENT_INVALID',
        count: poison.length,
        first: poison[0]?.reason,
      },
    );
    await ctx.deadLetter.write(poison);
  }
  const settled = (): void => {
    for (const t of tokens) tracker.settle(t);
  };
  if (events.length === 0) {
    settled();
    return undefined;
  }
  return { events, settled };
}

export const kafkaSource: SourceDefinition = {
  type: 'kafka',
  description:
    'Consume events from Apache Kafka in a consumer group (the relay): at-least-once, offsets committed only for settled records.',
  optionsSchema: {
    properties: {
      brokers: kafkaConfigSchema.properties.brokers as Record<string, unknown>,
      topics: {
        type: 'array',
        minItems: 1,
        items: { type: 'string', minLength: 1, maxLength: 249 },
        description: 'Topics to consume.',
      },
      group_id: { type: 'string', minLength: 1, description: `Consumer group (default "${DEFAULT_GROUP}").` },
      from_beginning: {
        type: 'boolean',
        description:
          'With no committed offset for the group: start at the oldest record (true) or only new ones (false, default).',
      },
      client_id: { type: 'string', minLength: 1, description: 'Kafka client id (default "aegisbpf-relay").' },
      chunk_events: {
        type: 'integer',
        minimum: 1,
        maximum: 100_000,
        description: `Most events per chunk (default ${DEFAULT_CHUNK_EVENTS}).`,
      },
      commit_interval_ms: {
        type: 'integer',
        minimum: 100,
        maximum: 60_000,
        description: `How often settled offsets are committed (default ${DEFAULT_COMMIT_INTERVAL_MILLIS}).`,
      },
      tls: kafkaConfigSchema.properties.tls as Record<string, unknown>,
      sasl: kafkaConfigSchema.properties.sasl as Record<string, unknown>,
    },
    required: ['brokers', 'topics'],
  },
  create: (raw, ctx) => createKafkaSource(raw, ctx),
};
