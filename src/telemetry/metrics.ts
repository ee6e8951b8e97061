/**
 * The Prometheus metrics of a running aegisbpf, read from the StatsRegistry at scrape time.
 *
 * Every family in ./metric-catalog.ts is one collector registered in a prom-client Registry. Collectors run only
 * when someone scrapes (or `aegisbpf metrics` asks over the control socket): the hot path only does `+=` on plain
 * counters and never touches prom-client. A scrape reads each counter once; the sensor is read once per scrape.
 *
 * prom-client's own metric classes keep state that is updated with set()/inc()/observe(); ours already live in the
 * StatsRegistry, and histogram buckets and summary quantiles are computed there (a sink's send latency histogram,
 * the pipeline latency window), which prom-client's Histogram and Summary cannot take as input. So each collector is
 * a small object with the interface the Registry calls (`name`, `help`, `type`, `aggregator`, `get()`), and
 * `render()` writes the exposition with ./exposition.ts, byte-identical to `registry.metrics()` but faster.
 */
import { Registry, validateMetricName } from 'prom-client';
import type { Metric } from 'prom-client';
import type { FamilyValues, Sample } from './exposition';
import { PROMETHEUS_CONTENT_TYPE, renderFamilies } from './exposition';
import type { MetricName, MetricSpec } from './metric-catalog';
import { METRICS, metricSpec } from './metric-catalog';
import type { ProcessSampler, ProcessUsage } from './process-usage';
import { createProcessSampler } from './process-usage';
import type { SensorStats } from './sensor-stats';
import { BLOCK_ACTIONS, NET_BLOCK_TYPES, NET_RULE_TYPES } from './sensor-stats';
import type { Histogram, SinkStats, StatsRegistry } from './stats';

export interface MetricsOptions {
  readonly stats: StatsRegistry;
  readonly version: string;
  /** Export the high-cardinality families (per path, per inode). */
  readonly detailed: boolean;
  readonly process?: ProcessSampler;
  /** `aegisbpf_up`: 1 while running, 0 once shutting down. Default: always 1. */
  readonly up?: () => 0 | 1;
  /** Wall clock in ms (tests). */
  readonly now?: () => number;
  /** Export only these families (e.g. the sensor's, when reading pinned maps without a daemon). Default: all. */
  readonly only?: (spec: MetricSpec) => boolean;
}

export interface AegisMetrics {
  readonly registry: Registry;
  readonly contentType: string;
  /** The whole exposition, synchronously (the server's `/metrics`, `aegisbpf metrics`). */
  render(): string;
  /** The families with their current samples (`aegisbpf stats`, tests). */
  collect(): FamilyValues[];
}

/** Quantiles of `aegisbpf_event_processing_latency_microseconds` (the guide's). */
export const LATENCY_QUANTILES = [0.5, 0.95, 0.99] as const;

/** Drop reasons exported even at zero so that `rate()` has a series from the first scrape. */
const KNOWN_DROP_REASONS = ['buffer_full', 'dead_letter_failed'] as const;

/** What one scrape reads, each at most once. */
interface ScrapeContext {
  readonly stats: StatsRegistry;
  readonly nowMillis: number;
  readonly sensor: SensorStats;
  readonly process: ProcessUsage;
}

type Collect = (ctx: ScrapeContext) => Sample[];

/** One family as a prom-client Registry sees a metric: name, help, type, aggregator and an async get(). */
class StatsFamily {
  readonly name: string;
  readonly help: string;
  readonly type: string;
  readonly aggregator = 'sum';

  constructor(
    readonly spec: MetricSpec,
    private readonly read: Collect,
    private readonly context: () => ScrapeContext,
  ) {
    if (!validateMetricName(spec.name)) throw new Error(`invalid metric name ${spec.name}`);
    this.name = spec.name;
    this.help = spec.help;
    this.type = spec.type;
  }

  collectWith(ctx: ScrapeContext): FamilyValues {
    return { name: this.name, help: this.help, type: this.type, values: this.read(ctx) };
  }

  /** What prom-client's Registry calls (`registry.metrics()`, `getMetricsAsJSON()`). */
  get(): Promise<FamilyValues & { readonly aggregator: string }> {
    return Promise.resolve({ ...this.collectWith(this.context()), aggregator: this.aggregator });
  }
}

const one = (value: number, labels: Readonly<Record<string, string | number>> = {}): Sample => ({ labels, value });

/** Prometheus histogram samples (cumulative buckets, +Inf, sum, count) from a stats Histogram, scaled to seconds. */
function histogramSamples(name: string, h: Histogram, toSeconds: number, labels: Readonly<Record<string, string>>): Sample[] {
  const out: Sample[] = [];
  let cumulative = 0;
  for (let i = 0; i < h.bounds.length; i++) {
    cumulative += h.counts[i] as number;
    out.push({ metricName: `${name}_bucket`, labels: { ...labels, le: String((h.bounds[i] as number) / toSeconds) }, value: cumulative });
  }
  out.push({ metricName: `${name}_bucket`, labels: { ...labels, le: '+Inf' }, value: h.count });
  out.push({ metricName: `${name}_sum`, labels, value: h.sum / toSeconds });
  out.push({ metricName: `${name}_count`, labels, value: h.count });
  return out;
}

function perSink(read: (s: SinkStats) => number): Collect {
  return (ctx) => [...ctx.stats.sinks.values()].map((s) => one(read(s), { sink: s.sink, type: s.type }));
}

function mapGauge(mapName: string): Collect {
  return (ctx) => {
    const map = ctx.sensor.maps.find((x) => x.map === mapName);
    return map === undefined ? [] : [one(map.entries)];
  };
}

function collectors(options: MetricsOptions): Record<MetricName, Collect> {
  const up = options.up ?? (() => 1);
  return {
    aegisbpf_up: () => [one(up(), { version: options.version })],
    aegisbpf_daemon_uptime_seconds: (ctx) => [one(Math.max(0, (ctx.nowMillis - ctx.stats.startedAtMillis) / 1000))],
    aegisbpf_daemon_start_timestamp_seconds: (ctx) => [one(ctx.stats.startedAtMillis / 1000)],
    aegisbpf_cpu_usage_percent: (ctx) => [one(Math.round(ctx.process.cpuPercent * 1000) / 1000)],
    aegisbpf_memory_rss_bytes: (ctx) => [one(ctx.process.rssBytes)],
    aegisbpf_event_processing_latency_microseconds: (ctx) => {
      const w = ctx.stats.pipeline.latencyWindow;
      const qs = w.quantiles(LATENCY_QUANTILES, performance.now());
      return [
        ...LATENCY_QUANTILES.map((q, i) => one(Math.round((qs[i] as number) * 1000) / 1000, { quantile: String(q) })),
        { metricName: 'aegisbpf_event_processing_latency_microseconds_sum', labels: {}, value: Math.round(w.sum * 1000) / 1000 },
        { metricName: 'aegisbpf_event_processing_latency_microseconds_count', labels: {}, value: w.count },
      ];
    },

    aegisbpf_blocks_total: (ctx) => BLOCK_ACTIONS.map((a) => one(ctx.sensor.blocks[a], { action: a })),
    aegisbpf_ringbuf_events_total: (ctx) => [one(ctx.sensor.ringbufEvents)],
    aegisbpf_ringbuf_drops_total: (ctx) => [one(ctx.sensor.ringbufDrops)],
    aegisbpf_ringbuf_drop_rate: (ctx) => {
      const attempted = ctx.sensor.ringbufEvents + ctx.sensor.ringbufDrops;
      return [one(attempted === 0 ? 0 : ctx.sensor.ringbufDrops / attempted)];
    },
    aegisbpf_net_blocks_total: (ctx) => NET_BLOCK_TYPES.map((t) => one(ctx.sensor.netBlocks[t], { type: t })),
    aegisbpf_net_ringbuf_drops_total: (ctx) => [one(ctx.sensor.netRingbufDrops)],
    aegisbpf_net_rules_total: (ctx) => {
      const rules = ctx.sensor.netRules;
      return rules === undefined ? [] : NET_RULE_TYPES.map((t) => one(rules[t], { type: t }));
    },
    aegisbpf_map_entries: (ctx) => ctx.sensor.maps.map((x) => one(x.entries, { map: x.map })),
    aegisbpf_map_capacity: (ctx) => ctx.sensor.maps.map((x) => one(x.capacity, { map: x.map })),
    aegisbpf_map_utilization: (ctx) => ctx.sensor.maps.filter((x) => x.capacity > 0).map((x) => one(x.entries / x.capacity, { map: x.map })),
    aegisbpf_deny_inode_entries: mapGauge('deny_inode'),
    aegisbpf_deny_path_entries: mapGauge('deny_path'),
    aegisbpf_allow_cgroup_entries: mapGauge('allow_cgroup'),
    aegisbpf_sensor_attached: (ctx) => [one(ctx.sensor.attached ? 1 : 0)],
    aegisbpf_sensor_info: (ctx) =>
      ctx.sensor.attached ? [one(1, { mode: ctx.sensor.mode ?? 'unknown', backend: ctx.sensor.backend ?? 'unknown' })] : [],
    aegisbpf_blocks_by_path: (ctx) => {
      const d = ctx.stats.sensor.readDetailed?.();
      return d === undefined ? [] : [...d.blocksByPath].map(([path, n]) => one(n, { path }));
    },
    aegisbpf_blocks_by_inode: (ctx) => {
      const d = ctx.stats.sensor.readDetailed?.();
      return d === undefined ? [] : [...d.blocksByInode].map(([inode, n]) => one(n, { inode }));
    },

    aegisbpf_source_events_total: (ctx) => [...ctx.stats.sources.values()].map((s) => one(s.events, { source: s.source, type: s.type })),
    aegisbpf_source_events_invalid_total: (ctx) => [...ctx.stats.sources.values()].map((s) => one(s.invalid, { source: s.source, type: s.type })),
    aegisbpf_source_bytes_total: (ctx) => [...ctx.stats.sources.values()].map((s) => one(s.bytes, { source: s.source, type: s.type })),
    aegisbpf_pipeline_events_removed_total: (ctx) => Object.entries(ctx.stats.pipeline.removed).map(([processor, n]) => one(n, { processor })),
    aegisbpf_pipeline_events_unrouted_total: (ctx) => [one(ctx.stats.pipeline.unrouted)],
    aegisbpf_pipeline_queue_depth_events: (ctx) => [one(ctx.stats.pipeline.inFlight)],
    aegisbpf_pipeline_latency_seconds: (ctx) => histogramSamples('aegisbpf_pipeline_latency_seconds', ctx.stats.pipeline.latencyMicros, 1e6, {}),
    aegisbpf_dead_letter_events_total: (ctx) => [one(ctx.stats.deadLetter.written)],
    aegisbpf_dead_letter_bytes_total: (ctx) => [one(ctx.stats.deadLetter.bytes)],
    aegisbpf_dead_letter_failed_total: (ctx) => [one(ctx.stats.deadLetter.failed)],

    aegisbpf_sink_events_received_total: perSink((s) => s.received),
    aegisbpf_sink_events_delivered_total: perSink((s) => s.delivered),
    aegisbpf_sink_bytes_delivered_total: perSink((s) => s.deliveredBytes),
    aegisbpf_sink_batches_delivered_total: perSink((s) => s.batches),
    aegisbpf_sink_requests_failed_total: perSink((s) => s.failedRequests),
    aegisbpf_sink_events_retried_total: perSink((s) => s.retriedEvents),
    aegisbpf_sink_events_duplicate_total: perSink((s) => s.duplicates),
    aegisbpf_sink_events_dead_lettered_total: perSink((s) => s.deadLettered),
    aegisbpf_sink_events_dropped_total: (ctx) => {
      const out: Sample[] = [];
      for (const s of ctx.stats.sinks.values()) {
        const reasons = new Set<string>([...KNOWN_DROP_REASONS, ...Object.keys(s.dropped)]);
        for (const reason of reasons) out.push(one(s.dropped[reason] ?? 0, { sink: s.sink, type: s.type, reason }));
      }
      return out;
    },
    aegisbpf_sink_buffer_events: perSink((s) => s.bufferEvents),
    aegisbpf_sink_buffer_bytes: perSink((s) => s.bufferBytes),
    aegisbpf_sink_buffer_max_events: (ctx) => [...ctx.stats.sinks.values()].filter((s) => s.bufferMaxEvents > 0).map((s) => one(s.bufferMaxEvents, { sink: s.sink, type: s.type })),
    aegisbpf_sink_buffer_max_bytes: (ctx) => [...ctx.stats.sinks.values()].filter((s) => s.bufferMaxBytes > 0).map((s) => one(s.bufferMaxBytes, { sink: s.sink, type: s.type })),
    aegisbpf_sink_inflight_batches: perSink((s) => s.inflightBatches),
    aegisbpf_sink_healthy: perSink((s) => (s.healthy ? 1 : 0)),
    aegisbpf_sink_send_duration_seconds: (ctx) =>
      [...ctx.stats.sinks.values()].flatMap((s) => histogramSamples('aegisbpf_sink_send_duration_seconds', s.sendLatencyMillis, 1000, { sink: s.sink, type: s.type })),
  };
}

export function createMetrics(options: MetricsOptions): AegisMetrics {
  const processSampler = options.process ?? createProcessSampler();
  const now = options.now ?? Date.now;
  const context = (): ScrapeContext => {
    let sensor: SensorStats | undefined;
    let usage: ProcessUsage | undefined;
    return {
      stats: options.stats,
      nowMillis: now(),
      get sensor() {
        return (sensor ??= options.stats.sensor.read());
      },
      get process() {
        return (usage ??= processSampler.sample());
      },
    };
  };
  const table = collectors(options);
  const registry = new Registry();
  // The high-cardinality families exist only with --detailed: without it their names are not exported at all.
  const families = METRICS.filter((spec) => (options.detailed || spec.presence !== 'detailed') && (options.only?.(spec) ?? true)).map((spec) => new StatsFamily(metricSpec(spec.name), table[spec.name], context));
  // The cast is the one place where our collectors meet prom-client's types: the Registry only reads `name` and
  // calls `get()`, which StatsFamily provides (test/telemetry/exposition.test.ts renders through both).
  for (const f of families) registry.registerMetric(f as unknown as Metric);
  const collect = (): FamilyValues[] => {
    const ctx = context();
    return families.map((f) => f.collectWith(ctx));
  };
  return {
    registry,
    contentType: PROMETHEUS_CONTENT_TYPE,
    collect,
    render: () => renderFamilies(collect()),
  };
}
