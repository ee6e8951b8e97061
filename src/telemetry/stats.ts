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
   * is empty (the Prometheus convention for a summary without recent observations). With `reuseMillis`, the result
   * computed for the same `qs` array less than that long ago is returned again (a full window costs ~0.3-0.8 ms to
   * sort: /api/v1/stats, which any client may poll, recomputes at most once a second).
   */
  quantiles(qs: readonly number[], nowMillis: number, reuseMillis = 0): number[] {
    const last = this.lastQuantiles;
    if (last !== undefined && last.qs === qs && nowMillis >= last.at && nowMillis - last.at < reuseMillis)
      return [...last.values];
    const values = this.computeQuantiles(qs, nowMillis);
    this.lastQuantiles = { qs, at: nowMillis, values };
    return [...values];
  }

  private lastQuantiles: { qs: readonly number[]; at: number; values: number[] } | undefined;

  private computeQuantiles(qs: readonly number[], nowMillis: number): number[] {
    let n = 0;
    while (n < this.size) {
      const i = (this.next - 1 - n + this.capacity) % this.capacity;
      if (nowMillis - (this.times[i] as number) > this.maxAgeMillis) break; // older entries are older still
      n++;
    }
    if (n === 0) return qs.map(() => NaN);
    const order = this.sortedIndexes(n);
    const weights = this.weights;
    let total = 0;
    for (let k = 0; k < n; k++) total += weights[order[k] as number] as number;
    // One pass over the sorted window for all qs, in ascending order of q.
    const out = qs.map(() => NaN);
    const byQ = qs.map((q, j) => ({ target: q * total, j })).sort((a, b) => a.target - b.target);
    let acc = 0;
    let next = 0;
    for (let k = 0; k < n && next < byQ.length; k++) {
      const i = order[k] as number;
      acc += weights[i] as number;
      while (next < byQ.length && acc >= (byQ[next] as { target: number }).target)
        out[(byQ[next++] as { j: number }).j] = this.values[i] as number;
    }
    for (; next < byQ.length; next++)
      out[(byQ[next] as { j: number }).j] = this.values[order[n - 1] as number] as number;
    return out;
  }

  // A full window (8192 observations) sorted with a comparator callback cost 2-8 ms of the event loop per
  // /api/v1/stats request or scrape; a typed-array sort without a callback costs a tenth of that.
  private keys: Float64Array | undefined;
  private keyWords: Uint32Array | undefined;
  private order: Uint32Array | undefined;

  /**
   * The ring indexes of the newest `n` observations in ascending order of value (the first n of the array). Fast
   * path: each value goes into a Float64Array with its ring index in the lowest mantissa bits (for values >= 0,
   * numeric order is the order of the bit patterns), sorted natively; the index is read back from those bits and
   * the exact value from the ring. Values closer than 2^-32 of each other may swap places, which moves no quantile
   * by more than that. Other cases (a negative or non-finite value, a big-endian host, capacity over 2^20) sort
   * with a comparator.
   */
  private sortedIndexes(n: number): Uint32Array {
    const bits = Math.max(1, Math.ceil(Math.log2(this.capacity)));
    const littleEndian = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
    this.order ??= new Uint32Array(this.capacity);
    const order = this.order;
    let fast = bits <= 20 && littleEndian;
    if (fast) {
      this.keys ??= new Float64Array(this.capacity);
      this.keyWords ??= new Uint32Array(this.keys.buffer);
      const keys = this.keys;
      const words = this.keyWords;
      const mask = (1 << bits) - 1;
      for (let k = 0; k < n; k++) {
        const i = (this.next - 1 - k + this.capacity) % this.capacity;
        const v = this.values[i] as number;
        if (!(v >= 0) || v === Infinity) {
          fast = false;
          break;
        }
        keys[k] = v;
        words[2 * k] = ((words[2 * k] as number) & ~mask) | i;
      }
      if (fast) {
        keys.subarray(0, n).sort();
        for (let k = 0; k < n; k++) order[k] = (words[2 * k] as number) & mask;
        return order;
      }
    }
    const idx: number[] = [];
    for (let k = 0; k < n; k++) idx.push((this.next - 1 - k + this.capacity) % this.capacity);
    idx.sort((a, b) => (this.values[a] as number) - (this.values[b] as number));
    order.set(idx);
    return order;
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
