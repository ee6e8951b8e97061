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
 * once; so are record batches that fail their CRC-32C (with their offset range). Backpressure: at most
 * QUEUE_MAX_RECORDS records (plus one fetch response) are read ahead of the pipeline; past that no fetch is sent
 * for any partition of this member (kafka-fetcher.ts), until the
 * pipeline (and so the slowest sink) has taken half of them.
 */
import type { AegisEvent } from '../../event/types';
import { explainInvalidEvent, isValidEvent } from '../../event/validate';
import type { DeadLetterEntry } from '../../sinks/core/dead-letter';
import { kafkaLib } from '../../sinks/kafka/client-lib';
import { kafkaConfigSchema, parseKafkaConfig } from '../../sinks/kafka/config';
import { connectionOptions } from '../../sinks/kafka/transport';
import { describeKafkaError } from '../../sinks/kafka/retry-policy';
import { capText, MAX_REASON_CHARS } from '../../util/bounded-text';
import type { RecordRun } from './kafka-fetcher';
import { createKafkaFetcher } from './kafka-fetcher';
import type { CommitEntry } from './kafka-offsets';
import { createOffsetTracker } from './kafka-offsets';
import { MAX_MAX_LINE_BYTES } from './ndjson';
import type { RawItem, Source, SourceContext, SourceDefinition, TrackedChunk } from './types';

const DEFAULT_GROUP = 'aegisbpf-relay';
const DEFAULT_CHUNK_EVENTS = 1000;
const DEFAULT_COMMIT_INTERVAL_MILLIS = 1000;
/** Records read ahead of the pipeline: no fetching at this many, resumed at half. */
const QUEUE_MAX_RECORDS = 10_000;
/** How long the broker holds a fetch with no new records before answering. */
const FETCH_MAX_WAIT_MILLIS = 500;
/** Most bytes per partition in one fetch response (the broker returns a larger first batch whole). */
const PARTITION_MAX_BYTES = 1024 * 1024;
const RETRY_DELAY_MILLIS = 500;
/** How often the partitions' end offsets are listed for the lag metric (also taken from every fetch). */
const LAG_INTERVAL_MILLIS = 5000;
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

  /**
   * The consumer session: joins the group, fetches, and yields chunks of events (read) or, with `asRawItems`, items of
   * LF-separated record values for the pipeline's worker threads (readRaw, pipeline.workers).
   */
  async function* session(signal: AbortSignal, asRawItems: boolean): AsyncGenerator<TrackedChunk | RawItem> {
    const clientId = typeof raw.client_id === 'string' ? raw.client_id : 'aegisbpf-relay';
    const consumer = new kafkaLib.Consumer({
      clientId,
      groupId: options.groupId,
      bootstrapBrokers: conn.brokers.map((b) => ({ host: b.host, port: b.port })),
      sessionTimeout: 10_000,
      heartbeatInterval: 1000,
      rebalanceTimeout: 20_000,
      autocommit: false,
      retries: Number.MAX_SAFE_INTEGER,
      retryDelay: RETRY_DELAY_MILLIS,
      ...security,
    });
    // Fetches go over connections of their own: a fetch waits up to FETCH_MAX_WAIT_MILLIS at the broker, which
    // would hold up heartbeats and commits queued behind it on a shared connection.
    const pool = new kafkaLib.ConnectionPool(clientId, { ...security });
    const tracker = createOffsetTracker();
    /** Per partition: the offset committed (or where reading started), for the lag metric. */
    const committedAt = new Map<string, number>();
    const endAt = new Map<string, number>();
    const updateLag = (k: string, topic: string, partition: number): void => {
      const end = endAt.get(k);
      const committed = committedAt.get(k);
      if (end !== undefined && committed !== undefined)
        kafkaStats.lag.set(k, { topic, partition, lag: Math.max(0, end - committed) });
    };
    // Record runs read ahead of the pipeline; fetching waits while they hold QUEUE_MAX_RECORDS or more.
    const queue: RecordRun[] = [];
    let queued = 0;
    /** Records of queue[0] already handed over. */
    let headTaken = 0;
    let wake: (() => void) | undefined;
    let roomWaiter: (() => void) | undefined;
    const notify = (): void => {
      const w = wake;
      wake = undefined;
      w?.();
    };
    const fetcher = createKafkaFetcher({
      consumer,
      pool,
      topics: options.topics,
      fromBeginning: options.fromBeginning,
      maxWaitMillis: FETCH_MAX_WAIT_MILLIS,
      maxBytes: FETCH_MAX_BYTES,
      partitionMaxBytes: PARTITION_MAX_BYTES,
      retryDelayMillis: RETRY_DELAY_MILLIS,
      room: () =>
        queued < QUEUE_MAX_RECORDS || signal.aborted
          ? Promise.resolve()
          : new Promise<void>((resolve) => (roomWaiter = resolve)),
      onRecords: (run) => {
        queue.push(run);
        queued += run.offsets.length;
        notify();
      },
      onHighWatermark: (topic, partition, end) => {
        const k = `${topic}/${partition}`;
        endAt.set(k, end);
        updateLag(k, topic, partition);
      },
      onStart: (topic, partition, offset) => {
        const k = `${topic}/${partition}`;
        committedAt.set(k, offset);
        updateLag(k, topic, partition);
      },
      onError: (what, err) =>
        ctx.logger.burst('WARN', 'kafka-fetch', 'Kafka fetch failed; it is retried.', {
          source: ctx.name,
          what,
          reason: describeKafkaError(err),
        }),
    });
    consumer.on('consumer:group:join', () => {
      extra.rebalances_total = (extra.rebalances_total ?? 0) + 1;
      const owned = (consumer.assignments ?? []).flatMap((a) =>
        a.partitions.map((partition) => ({ topic: a.topic, partition })),
      );
      const keys = new Set(owned.map((tp) => `${tp.topic}/${tp.partition}`));
      assigned = keys.size > 0;
      extra.partitions_assigned = keys.size;
      for (const k of [...kafkaStats.lag.keys()]) if (!keys.has(k)) kafkaStats.lag.delete(k);
      for (const k of [...committedAt.keys()]) if (!keys.has(k)) committedAt.delete(k);
      tracker.forget((tp) => keys.has(`${tp.topic}/${tp.partition}`));
      fetcher.assigned(owned);
      ctx.logger.info('Kafka consumer group assigned partitions.', {
        source: ctx.name,
        group: options.groupId,
        partitions: [...keys].sort(),
      });
    });
    // A rebalance is starting: commit what settled, so the next owner of a revoked partition replays less.
    consumer.on('consumer:group:rejoin', () => void commitDue());
    let committing: Promise<void> = Promise.resolve();
    const commitDue = (): Promise<void> => {
      committing = committing.then(async () => {
        const due: CommitEntry[] = tracker.due();
        if (due.length === 0) return;
        try {
          await consumer.commit({ offsets: due.map((d) => ({ ...d })) });
          tracker.markCommitted(due);
          extra.commits_total = (extra.commits_total ?? 0) + 1;
          for (const d of due) {
            const k = `${d.topic}/${d.partition}`;
            if (!committedAt.has(k)) continue; // revoked meanwhile
            committedAt.set(k, Number(d.offset));
            updateLag(k, d.topic, d.partition);
          }
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
    // End offsets also come from every fetch response; this keeps the lag growing while fetching waits on a slow
    // sink (backpressure), which is when it matters.
    let listing = false;
    const lagTimer = setInterval(() => {
      if (listing || committedAt.size === 0) return;
      listing = true;
      consumer
        .listOffsets({ topics: [...options.topics] })
        .then((ends) => {
          for (const [topic, per] of ends)
            per.forEach((end, partition) => {
              const k = `${topic}/${partition}`;
              if (!committedAt.has(k)) return; // not ours
              endAt.set(k, Math.max(endAt.get(k) ?? 0, Number(end)));
              updateLag(k, topic, partition);
            });
        })
        .catch(() => undefined) // brokers down: the fetch loop reports it
        .finally(() => (listing = false));
    }, LAG_INTERVAL_MILLIS);
    lagTimer.unref();
    const stopFetching = new AbortController();
    const onAbort = (): void => {
      stopFetching.abort();
      notify();
      roomWaiter?.();
    };
    signal.addEventListener('abort', onAbort, { once: true });
    let fetching: Promise<void> | undefined;
    let fetchError: Error | undefined;
    let joining: Promise<unknown> | undefined;
    try {
      // Joining retries without end (brokers down, topic not created yet); a stop must not wait for it.
      for (const t of options.topics) consumer.topics.track(t);
      joining = consumer.joinGroup({});
      const stopped = new Promise<'stopped'>((resolve) => {
        if (signal.aborted) resolve('stopped');
        else signal.addEventListener('abort', () => resolve('stopped'), { once: true });
      });
      if ((await Promise.race([joining.then(() => 'joined' as const), stopped])) === 'stopped') {
        joining.catch(() => undefined); // the forced close below makes the join fail
        return;
      }
      fetching = fetcher.run(stopFetching.signal).catch((err: unknown) => {
        fetchError = err instanceof Error ? err : new Error(String(err));
        notify();
      });
      while (!signal.aborted) {
        if (queue.length === 0) {
          if (fetchError !== undefined) throw fetchError;
          await new Promise<void>((resolve) => (wake = resolve));
          continue;
        }
        const chunk = asRawItems ? await takeItem() : await takeChunk();
        if (queued < QUEUE_MAX_RECORDS / 2 && roomWaiter !== undefined) {
          const r = roomWaiter;
          roomWaiter = undefined;
          r();
        }
        if (chunk === undefined) continue;
        if ('events' in chunk) ctx.stats.events += chunk.events.length; // (raw items: counted by the workers' loop)
        // The engine settles a chunk (or item) once every event has a final outcome in every sink it was routed to.
        yield chunk;
      }
    } finally {
      signal.removeEventListener('abort', onAbort);
      stopFetching.abort();
      roomWaiter?.();
      clearInterval(timer);
      clearInterval(lagTimer);
      // A fetch still out (up to FETCH_MAX_WAIT_MILLIS at the broker, longer if it stalls) is not waited for: its
      // answer is discarded, and closing the pool below ends it.
      await Promise.race([fetching, new Promise((r) => setTimeout(r, FETCH_MAX_WAIT_MILLIS * 2).unref())]);
      // The final commit of what settled; bounded, since the client retries without end while brokers are down
      // (what is not committed is read again by the partition's next owner).
      await Promise.race([commitDue(), new Promise((r) => setTimeout(r, FINAL_COMMIT_MAX_MILLIS).unref())]);
      await consumer.close(true).catch(() => undefined);
      await pool.close().catch(() => undefined);
      assigned = false;
    }

    /**
     * Up to chunk_events records from the head of the queue as one raw item: their values, one line each (LF and CR
     * inside a value become spaces: in valid JSON they can only be whitespace), for the workers to parse, validate
     * and format. Empty values and corrupt batches are dead-lettered here; the item's `where` names a bad line's
     * topic, partition and offset. Its offset ranges are tracked now, in order, and settle when the engine says so.
     */
    async function takeItem(): Promise<RawItem | undefined> {
      const lines: string[] = [];
      const at: { topic: string; partition: number; offset: number }[] = [];
      const settled = await takeRecords((run, offset, value, poison) => {
        let text = value;
        // A blank line would be skipped by the workers, not dead-lettered.
        if (text.length === 0 || (text.charCodeAt(0) <= 32 && text.trim() === '')) {
          poison.push({
            source: ctx.name,
            code: 'AEGIS_ERR_EVENT_INVALID',
            reason: `kafka topic ${run.topic} partition ${run.partition} offset ${offset}: not JSON: empty value`,
            raw: text,
          });
          return;
        }
        if (text.includes('\n') || text.includes('\r')) text = text.replace(/[\r\n]/g, ' ');
        lines.push(text);
        at.push({ topic: run.topic, partition: run.partition, offset });
      });
      if (lines.length === 0) {
        settled();
        return undefined;
      }
      lines.push('');
      const text = lines.join('\n');
      // Its own ArrayBuffer: the worker pool transfers it (Buffer.from may use Node's shared pool, not transferable).
      const bytes = new Uint8Array(Buffer.byteLength(text, 'utf8'));
      Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).write(text, 'utf8');
      return {
        kind: 'lines',
        bytes,
        track: () => settled,
        where: (n) => {
          const w = at[n - 1];
          return w === undefined ? `line ${n}` : `kafka topic ${w.topic} partition ${w.partition} offset ${w.offset}`;
        },
      };
    }

    /**
     * Takes up to chunk_events records from the head of the queue, in order, handing each value to `visit` (which
     * may add dead-letter entries to `poison`); tracks their offset ranges (per partition, widened over the corrupt
     * batches a run ends with), dead-letters the poison, and returns the function that settles the ranges.
     */
    async function takeRecords(
      visit: (run: RecordRun, offset: number, value: string, poison: DeadLetterEntry[]) => void,
    ): Promise<() => void> {
      const poison: DeadLetterEntry[] = [];
      const ranges = new Map<
        string,
        { topic: string; partition: number; first: number; last: number; epoch: number }
      >();
      let taken = 0;
      while (queue.length > 0 && taken < options.chunkEvents) {
        const run = queue[0] as RecordRun;
        const k = `${run.topic}/${run.partition}`;
        const from = headTaken;
        const to = Math.min(run.offsets.length, from + options.chunkEvents - taken);
        let r = ranges.get(k);
        for (let i = from; i < to; i++) {
          const offset = run.offsets[i] as number;
          if (r === undefined) {
            r = { topic: run.topic, partition: run.partition, first: offset, last: offset, epoch: run.leaderEpoch };
            ranges.set(k, r);
          } else r.last = offset;
          const text = run.values[i] ?? '';
          ctx.stats.bytes += text.length;
          visit(run, offset, text, poison);
        }
        taken += to - from;
        queued -= to - from;
        if (to < run.offsets.length) {
          headTaken = to;
          break;
        }
        // The run's last slice also reports its corrupt batches, so its range covers them and settles after the
        // run's earlier slices (the commit never passes records still in the pipeline).
        r = corruptInto(run, r, ranges, poison);
        queue.shift();
        headTaken = 0;
      }
      extra.records_in_total = (extra.records_in_total ?? 0) + taken;
      const tokens = [...ranges.values()].map((r) => tracker.track(r, BigInt(r.first), BigInt(r.last), r.epoch));
      if (poison.length > 0) await deadLetterPoison(poison);
      return (): void => {
        for (const t of tokens) tracker.settle(t);
      };
    }

    /** The run's corrupt batches as dead-letter entries, its range widened over them (see takeRecords). */
    function corruptInto(
      run: RecordRun,
      r: { topic: string; partition: number; first: number; last: number; epoch: number } | undefined,
      ranges: Map<string, { topic: string; partition: number; first: number; last: number; epoch: number }>,
      poison: DeadLetterEntry[],
    ): typeof r {
      for (const c of run.corrupt) {
        if (r === undefined) {
          r = {
            topic: run.topic,
            partition: run.partition,
            first: c.firstOffset,
            last: c.lastOffset,
            epoch: run.leaderEpoch,
          };
          ranges.set(`${run.topic}/${run.partition}`, r);
        } else {
          r.first = Math.min(r.first, c.firstOffset);
          r.last = Math.max(r.last, c.lastOffset);
        }
        poison.push({
          source: ctx.name,
          code: 'AEGIS_ERR_EVENT_INVALID',
          reason: capText(
            `kafka topic ${run.topic} partition ${run.partition} offsets ${c.firstOffset}-${c.lastOffset}: ${c.reason}`,
            MAX_REASON_CHARS,
          ),
        });
      }
      return r;
    }

    async function deadLetterPoison(poison: DeadLetterEntry[]): Promise<void> {
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

    /**
     * Up to chunk_events records from the head of the queue, parsed and validated; poison records and corrupt
     * batches are dead-lettered (they settle at once, with the chunk's other records).
     */
    async function takeChunk(): Promise<TrackedChunk | undefined> {
      const events: AegisEvent[] = [];
      const settled = await takeRecords((run, offset, text, poison) => {
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
            reason: capText(
              `kafka topic ${run.topic} partition ${run.partition} offset ${offset}: ${why}`,
              MAX_REASON_CHARS,
            ),
            raw: capText(text, 4096),
          });
      });
      if (events.length === 0) {
        settled();
        return undefined;
      }
      return { events, settled };
    }
  }

  return {
    name: ctx.name,
    type: 'kafka',
    read: (signal) => session(signal, false) as AsyncGenerator<TrackedChunk>,
    readRaw: (signal) => ({
      stats: ctx.stats,
      // Record values are bounded by the broker's message size, not by a line limit.
      maxLineBytes: MAX_MAX_LINE_BYTES,
      items: session(signal, true) as AsyncGenerator<RawItem>,
    }),
    kafkaStats,
  };
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
