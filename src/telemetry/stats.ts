/**
 * Counters as plain objects, updated on the hot path with `+=` and read at scrape time.
 *
 * Components own their stats objects and register them in a StatsRegistry; the metrics endpoint (prom-client
 * collectors, src/telemetry/metrics.ts) and `aegisbpf stats` read them. Nothing here allocates per event.
 */
import type { Readiness } from './readiness';
import { createReadiness } from './readiness';
import type { SensorStatsSource } from './sensor-stats';
import { NO_SENSOR } from './sensor-stats';
import type { AnalyticsStats } from './trend';
import { createAnalyticsStats } from './trend';

export class Histogram {
  /** Upper bounds of the buckets, ascending; an implicit +Inf bucket follows. */
  readonly bounds: readonly number[];
  /** counts[i] = observations <= bounds[i] and > bounds[i-1] (non-cumulative); last entry is the +Inf bucket. */
  readonly counts: number[];
  sum = 0;
  count = 0;

  constructor(bounds: readonly number[]) {
    this.bounds = bounds;
    this.counts = new Array<number>(bounds.length + 1).fill(0);
  }

  /** Record `count` observations of `value` (a chunk's latency counted once per event in it). */
  observe(value: number, count = 1): void {
    let i = 0;
    while (i < this.bounds.length && value > (this.bounds[i] as number)) i++;
    this.counts[i] = (this.counts[i] as number) + count;
    this.sum += value * count;
    this.count += count;
  }
}

/**
 * The most recent observations (value, weight, time) in a fixed ring, for exact quantiles over a sliding window:
 * `record` is O(1) with no allocation (once per chunk on the hot path); `quantiles` sorts a copy of the window at
 * scrape time. A weight is the number of events an observation stands for, so the quantiles are per event.
 */
export class LatencyWindow {
  readonly capacity: number;
  readonly maxAgeMillis: number;
  private readonly values: Float64Array;
  private readonly weights: Float64Array;
  private readonly times: Float64Array;
  private next = 0;
  private size = 0;
  /** Lifetime totals (weighted): the summary's `_sum` and `_count`. */
  sum = 0;
  count = 0;

  constructor(capacity = 8192, maxAgeMillis = 600_000) {
    this.capacity = capacity;
    this.maxAgeMillis = maxAgeMillis;
    this.values = new Float64Array(capacity);
    this.weights = new Float64Array(capacity);
    this.times = new Float64Array(capacity);
  }

  record(value: number, weight: number, nowMillis: number): void {
    if (weight <= 0) return;
    this.values[this.next] = value;
    this.weights[this.next] = weight;
    this.times[this.next] = nowMillis;
    this.next = (this.next + 1) % this.capacity;
    if (this.size < this.capacity) this.size++;
    this.sum += value * weight;
    this.count += weight;
  }

  /**
   * Weighted nearest-rank quantiles over the observations younger than `maxAgeMillis`: for each q, the smallest
   * observed value v such that the weight of observations <= v is at least q x total weight. NaN when the window
   * is empty (the Prometheus convention for a summary without recent observations).
   */
  quantiles(qs: readonly number[], nowMillis: number): number[] {
    const idx: number[] = [];
    for (let k = 0; k < this.size; k++) {
      const i = (this.next - 1 - k + this.capacity) % this.capacity;
      if (nowMillis - (this.times[i] as number) > this.maxAgeMillis) break; // older entries are older still
      idx.push(i);
    }
    if (idx.length === 0) return qs.map(() => NaN);
    idx.sort((a, b) => (this.values[a] as number) - (this.values[b] as number));
    let total = 0;
    for (const i of idx) total += this.weights[i] as number;
    return qs.map((q) => {
      const target = q * total;
      let acc = 0;
      for (const i of idx) {
        acc += this.weights[i] as number;
        if (acc >= target) return this.values[i] as number;
      }
      return this.values[idx[idx.length - 1] as number] as number;
    });
  }
}

/** Milliseconds buckets for request latencies (sends include acknowledgement waits). */
export const LATENCY_BUCKETS_MILLIS = [1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10_000, 30_000] as const;

export interface SinkStats {
  readonly sink: string;
  readonly type: string;
  /** Events offered to the sink (after routing). */
  received: number;
  /** Events the receiver acknowledged (less those later counted `unconfirmed`). */
  delivered: number;
  /**
   * Events the transport had counted delivered under write completion (syslog tcp/tls) whose connection then died
   * before the receiver could have read them: maybe received, maybe lost; nobody can tell (docs/delivery.md).
   */
  unconfirmed: number;
  deliveredBytes: number;
  /** Batches acknowledged. */
  batches: number;
  /** Send attempts that did not deliver everything (retryable, partial, timeouts). */
  failedRequests: number;
  /** Events sent again after a failed attempt. */
  retriedEvents: number;
  /** Events the receiver already had (idempotent resend) or reported as possible duplicates. */
  duplicates: number;
  /** Events written to the dead-letter file (rejected, retry deadline, shutdown). */
  deadLettered: number;
  /** Events dropped, by reason (`buffer_full`, `dead_letter_failed`, …). */
  readonly dropped: Record<string, number>;
  bufferEvents: number;
  bufferBytes: number;
  /** Disk buffer (`buffer.type: disk`): bytes of its segment files on disk. */
  bufferDiskBytes: number;
  /** Disk buffer: corrupt records found (torn writes, damaged storage), moved to quarantine/ or skipped. */
  bufferCorruptRecords: number;
  /** Disk buffer: writes the disk refused (ENOSPC, EIO), each treated like a full buffer. */
  bufferDiskFull: number;
  /** The buffer's bounds (`buffer.max_events`, `buffer.max_bytes`); 0 when unknown. */
  readonly bufferMaxEvents: number;
  readonly bufferMaxBytes: number;
  inflightBatches: number;
  healthy: boolean;
  lastError: string | undefined;
  readonly sendLatencyMillis: Histogram;
  /**
   * Protocol-specific numbers a transport keeps (e.g. HEC `acks_pending`, `ack_timeouts_total`). Keys are fixed per
   * sink type (bounded: never derived from data), snake_case; counters end in `_total`, the rest are gauges. Each
   * sink's keys are listed in docs/sinks.md.
   */
  readonly extra: Record<string, number>;
}

export function createSinkStats(
  sink: string,
  type: string,
  buffer?: { readonly maxEvents: number; readonly maxBytes: number },
): SinkStats {
  return {
    sink,
    type,
    received: 0,
    delivered: 0,
    unconfirmed: 0,
    deliveredBytes: 0,
    batches: 0,
    failedRequests: 0,
    retriedEvents: 0,
    duplicates: 0,
    deadLettered: 0,
    dropped: {},
    bufferEvents: 0,
    bufferBytes: 0,
    bufferDiskBytes: 0,
    bufferCorruptRecords: 0,
    bufferDiskFull: 0,
    bufferMaxEvents: buffer?.maxEvents ?? 0,
    bufferMaxBytes: buffer?.maxBytes ?? 0,
    inflightBatches: 0,
    healthy: true,
    lastError: undefined,
    sendLatencyMillis: new Histogram(LATENCY_BUCKETS_MILLIS),
    extra: {},
  };
}

export interface SourceStats {
  readonly source: string;
  readonly type: string;
  /** Valid events read. */
  events: number;
  /** Records that were not valid events (dead-lettered). */
  invalid: number;
  bytes: number;
  /**
   * A source type's own counters and gauges (like SinkStats.extra: keys ending in `_total` are counters), under keys
   * fixed per source type: kafka `records_in_total`, `poison_total`, `commits_total`, `rebalances_total`,
   * `partitions_assigned`. Absent for sources that keep none.
   */
  readonly extra?: Record<string, number>;
  /** Consumer lag per partition (kafka source), keyed `topic/partition`. */
  readonly partitionLag?: Map<string, { readonly topic: string; readonly partition: number; lag: number }>;
}

export function createSourceStats(source: string, type: string): SourceStats {
  return { source, type, events: 0, invalid: 0, bytes: 0, extra: {}, partitionLag: new Map() };
}

export interface PipelineStats {
  /** Events removed by processors, by processor name (filter, sample, throttle, dedupe). */
  readonly removed: Record<string, number>;
  /** Events that matched no route. */
  unrouted: number;
  /** Events currently between source and sink buffers (read, not yet accepted by every sink). */
  inFlight: number;
  /**
   * Source read → accepted by all sinks, in microseconds, measured per chunk and counted once per event of the
   * chunk (every event of a chunk waits for the whole chunk).
   */
  readonly latencyMicros: Histogram;
  /** The same measurements, recent ones kept exactly, for the p50/p95/p99 of `aegisbpf stats` and `/metrics`. */
  readonly latencyWindow: LatencyWindow;
}

export const LATENCY_BUCKETS_MICROS = [
  10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10_000, 25_000, 100_000, 1_000_000,
] as const;

export function createPipelineStats(): PipelineStats {
  return {
    removed: {},
    unrouted: 0,
    inFlight: 0,
    latencyMicros: new Histogram(LATENCY_BUCKETS_MICROS),
    latencyWindow: new LatencyWindow(),
  };
}

export interface DeadLetterStats {
  written: number;
  bytes: number;
  failed: number;
}

export interface StatsRegistry {
  readonly startedAtMillis: number;
  readonly sinks: Map<string, SinkStats>;
  readonly sources: Map<string, SourceStats>;
  readonly pipeline: PipelineStats;
  readonly deadLetter: DeadLetterStats;
  /** The kernel sensor's counters; `NO_SENSOR` (real zeros, no maps) until a sensor is wired in. */
  sensor: SensorStatsSource;
  /** Named readiness checks (`sink.<name>`, `sensor`) behind `/ready`. */
  readonly readiness: Readiness;
  /** What the trends source forecasts (src/telemetry/trend.ts). */
  readonly analytics: AnalyticsStats;
}

export function createStatsRegistry(now: number = Date.now()): StatsRegistry {
  return {
    startedAtMillis: now,
    sinks: new Map(),
    sources: new Map(),
    pipeline: createPipelineStats(),
    deadLetter: { written: 0, bytes: 0, failed: 0 },
    sensor: NO_SENSOR,
    readiness: createReadiness(),
    analytics: createAnalyticsStats(),
  };
}

export function increment(record: Record<string, number>, key: string, by = 1): void {
  record[key] = (record[key] ?? 0) + by;
}
