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
 * `render()` writes the exposition with ./exposition.ts: what `registry.metrics()` writes, faster (the
 * high-cardinality families straight into bytes).
 */
import { Registry, validateMetricName } from 'prom-client';
import type { Metric } from 'prom-client';
import type { FamilyValues, Sample } from './exposition';
import { PROMETHEUS_CONTENT_TYPE, familyHeader, formatValue, renderFamily, seriesText } from './exposition';
import type { MetricName, MetricSpec } from './metric-catalog';
import { METRICS, metricSpec } from './metric-catalog';
import type { ProcessSampler, ProcessUsage } from './process-usage';
import { createProcessSampler } from './process-usage';
import type { SensorDetailedStats, SensorStats } from './sensor-stats';
import { BLOCK_ACTIONS, NET_BLOCK_TYPES, NET_RULE_TYPES, PACKET_ACTIONS } from './sensor-stats';
import type { Histogram, SinkStats, StatsRegistry } from './stats';
import type { AnomalyDetectorCounts, HostGauges } from './trend';

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
  /** The whole exposition, synchronously (`aegisbpf metrics`, tests). */
  render(): string;
  /** The same as UTF-8 bytes, built without a large intermediate string (the server's `/metrics`). */
  renderBuffer(): Buffer;
  /** The families with their current samples (tests, tools). */
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
  readonly detailed: SensorDetailedStats | undefined;
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
    /** The sample lines as bytes (high-cardinality families); must equal renderFamily's lines. */
    readonly fastBytes?: (ctx: ScrapeContext) => Buffer,
  ) {
    if (!validateMetricName(spec.name)) throw new Error(`invalid metric name ${spec.name}`);
    this.name = spec.name;
    this.help = spec.help;
    this.type = spec.type;
  }

  collectWith(ctx: ScrapeContext): FamilyValues {
    return { name: this.name, help: this.help, type: this.type, values: this.read(ctx) };
  }

  header(): string {
    return familyHeader(this.name, this.help, this.type);
  }

  /** What prom-client's Registry calls (`registry.metrics()`, `getMetricsAsJSON()`). */
  get(): Promise<FamilyValues & { readonly aggregator: string }> {
    return Promise.resolve({ ...this.collectWith(this.context()), aggregator: this.aggregator });
  }
}

const one = (value: number, labels: Readonly<Record<string, string | number>> = {}): Sample => ({ labels, value });

/** Prometheus histogram samples (cumulative buckets, +Inf, sum, count) from a stats Histogram, scaled to seconds. */
function histogramSamples(
  name: string,
  h: Histogram,
  toSeconds: number,
  labels: Readonly<Record<string, string>>,
): Sample[] {
  const out: Sample[] = [];
  let cumulative = 0;
  for (let i = 0; i < h.bounds.length; i++) {
    cumulative += h.counts[i] as number;
    out.push({
      metricName: `${name}_bucket`,
      labels: { ...labels, le: String((h.bounds[i] as number) / toSeconds) },
      value: cumulative,
    });
  }
  out.push({ metricName: `${name}_bucket`, labels: { ...labels, le: '+Inf' }, value: h.count });
  out.push({ metricName: `${name}_sum`, labels, value: h.sum / toSeconds });
  out.push({ metricName: `${name}_count`, labels, value: h.count });
  return out;
}

function perSink(read: (s: SinkStats) => number): Collect {
  return (ctx) => [...ctx.stats.sinks.values()].map((s) => one(read(s), { sink: s.sink, type: s.type }));
}

/** The suffix that makes a `SinkStats.extra` key a counter (docs/sinks.md). */
const COUNTER_SUFFIX = '_total';

/**
 * `SinkStats.extra` as two families: keys ending in `_total` are counters (`counter` label: the key without the
 * suffix), the others gauges (`gauge` label: the key). The keys are fixed per sink type, so the series are bounded
 * by sinks x keys; in key order, so a scrape's series order is stable.
 */
function protocolSamples(kind: 'counter' | 'gauge'): Collect {
  return (ctx) => {
    const out: Sample[] = [];
    for (const s of ctx.stats.sinks.values()) {
      for (const key of Object.keys(s.extra).sort()) {
        const isCounter = key.endsWith(COUNTER_SUFFIX);
        if (isCounter !== (kind === 'counter')) continue;
        const name = isCounter ? key.slice(0, -COUNTER_SUFFIX.length) : key;
        out.push(one(s.extra[key] as number, { sink: s.sink, type: s.type, [kind]: name }));
      }
    }
    return out;
  };
}

/** One sample from the host source's last reading; no series without a host source. */
function hostGauge(value: (h: HostGauges) => number): Collect {
  return (ctx) => (ctx.stats.analytics.host === undefined ? [] : [one(value(ctx.stats.analytics.host))]);
}

/** `SourceStats.extra` as two families, split like the sinks' protocolSamples. */
function sourceExtra(kind: 'counter' | 'gauge'): Collect {
  return (ctx) => {
    const out: Sample[] = [];
    for (const s of ctx.stats.sources.values()) {
      for (const key of Object.keys(s.extra ?? {}).sort()) {
        const isCounter = key.endsWith(COUNTER_SUFFIX);
        if (isCounter !== (kind === 'counter')) continue;
        const name = isCounter ? key.slice(0, -COUNTER_SUFFIX.length) : key;
        out.push(
          one((s.extra as Record<string, number>)[key] as number, { source: s.source, type: s.type, [kind]: name }),
        );
      }
    }
    return out;
  };
}

/** One sample per anomaly processor and detector kind; none without an anomaly processor. */
function anomalySamples(value: (c: AnomalyDetectorCounts) => number): Collect {
  return (ctx) => {
    const out: Sample[] = [];
    for (const [processor, counts] of ctx.stats.analytics.anomalyDetectors)
      for (const [detector, c] of Object.entries(counts())) out.push(one(value(c), { processor, detector }));
    return out;
  };
}

function mapGauge(mapName: string): Collect {
  return (ctx) => {
    const map = ctx.sensor.maps.find((x) => x.map === mapName);
    return map === undefined ? [] : [one(map.entries)];
  };
}

/**
 * A high-cardinality family (one label, up to tens of thousands of values): its samples for prom-client, and a fast
 * rendering for scrapes. Each series' `name{label="…"} ` is encoded once and kept as bytes from scrape to scrape, so
 * that a scrape only copies them and writes the values into one buffer: building, then flattening and encoding, a
 * string of 10 000 lines is most of a scrape's cost otherwise (docs/benchmarks.md). The cache is rebuilt from the
 * current keys when it has grown past twice their number (the keys of removed rules go away).
 */
interface HighCardinality {
  samples(entries: Iterable<readonly [string, number]>): Sample[];
  /** The sample lines, newline-separated, no trailing newline: exactly renderFamily's lines. */
  bytes(entries: Iterable<readonly [string, number]>): Buffer;
}

function highCardinality(name: string, label: string): HighCardinality {
  let cache = new Map<string, Buffer>();
  let lastBytes = 0;
  return {
    samples: (entries) => [...entries].map(([key, value]) => one(value, { [label]: key })),
    bytes(entries) {
      // A fresh buffer per scrape: the previous one may still be in a socket's write queue.
      let out = Buffer.allocUnsafe(lastBytes + 4096);
      let off = 0;
      let count = 0;
      for (const [key, value] of entries) {
        let prefix = cache.get(key);
        if (prefix === undefined) {
          prefix = Buffer.from(seriesText(name, { [label]: key }) + ' ', 'utf8');
          cache.set(key, prefix);
        }
        const v = formatValue(value); // ASCII: digits, '.', 'e', '+', '-', 'NaN', 'Inf'
        if (off + 1 + prefix.length + v.length > out.length) {
          const bigger = Buffer.allocUnsafe(2 * out.length + prefix.length + v.length);
          out.copy(bigger, 0, 0, off);
          out = bigger;
        }
        if (count++ > 0) out[off++] = 0x0a;
        out.set(prefix, off);
        off += prefix.length;
        for (let i = 0; i < v.length; i++) out[off++] = v.charCodeAt(i);
      }
      lastBytes = off;
      if (cache.size > 2 * count + 1024) {
        const fresh = new Map<string, Buffer>();
        for (const [key] of entries) fresh.set(key, cache.get(key) as Buffer);
        cache = fresh;
      }
      return out.subarray(0, off);
    },
  };
}

function collectors(
  options: MetricsOptions & {
    readonly highCardinality: { readonly byPath: HighCardinality; readonly byInode: HighCardinality };
  },
): Record<MetricName, Collect> {
  const up = options.up ?? (() => 1);
  const { byPath, byInode } = options.highCardinality;
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
        {
          metricName: 'aegisbpf_event_processing_latency_microseconds_sum',
          labels: {},
          value: Math.round(w.sum * 1000) / 1000,
        },
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
    aegisbpf_packets_total: (ctx) =>
      PACKET_ACTIONS.map((a) => one(ctx.sensor.packets?.[a] ?? 0, { direction: 'in', action: a })),
    aegisbpf_net_rules_total: (ctx) => {
      const rules = ctx.sensor.netRules;
      return rules === undefined ? [] : NET_RULE_TYPES.map((t) => one(rules[t], { type: t }));
    },
    aegisbpf_map_entries: (ctx) => ctx.sensor.maps.map((x) => one(x.entries, { map: x.map })),
    aegisbpf_map_capacity: (ctx) => ctx.sensor.maps.map((x) => one(x.capacity, { map: x.map })),
    aegisbpf_map_utilization: (ctx) =>
      ctx.sensor.maps.filter((x) => x.capacity > 0).map((x) => one(x.entries / x.capacity, { map: x.map })),
    aegisbpf_deny_inode_entries: mapGauge('deny_inode'),
    aegisbpf_deny_path_entries: mapGauge('deny_path'),
    aegisbpf_allow_cgroup_entries: mapGauge('allow_cgroup'),
    aegisbpf_host_cpu_percent: hostGauge((h) => h.cpuPercent),
    aegisbpf_host_load1: hostGauge((h) => h.load1),
    aegisbpf_host_memory_total_bytes: hostGauge((h) => h.memTotalBytes),
    aegisbpf_host_memory_available_bytes: hostGauge((h) => h.memAvailableBytes),
    aegisbpf_host_disk_read_bytes_total: hostGauge((h) => h.diskReadBytesTotal),
    aegisbpf_host_disk_written_bytes_total: hostGauge((h) => h.diskWriteBytesTotal),
    aegisbpf_host_network_receive_bytes_total: hostGauge((h) => h.netReceiveBytesTotal),
    aegisbpf_host_network_transmit_bytes_total: hostGauge((h) => h.netTransmitBytesTotal),
    aegisbpf_anomaly_keys: anomalySamples((c) => c.keys),
    aegisbpf_anomaly_keys_evicted_total: anomalySamples((c) => c.evicted),
    aegisbpf_map_full_forecast_seconds: (ctx) =>
      [...ctx.stats.analytics.mapFullForecastSeconds].map(([map, seconds]) => one(seconds, { map })),
    aegisbpf_sensor_attached: (ctx) => [one(ctx.sensor.attached ? 1 : 0)],
    aegisbpf_sensor_info: (ctx) =>
      ctx.sensor.attached
        ? [one(1, { mode: ctx.sensor.mode ?? 'unknown', backend: ctx.sensor.backend ?? 'unknown' })]
        : [],
    aegisbpf_blocks_by_path: (ctx) => (ctx.detailed === undefined ? [] : byPath.samples(ctx.detailed.blocksByPath)),
    aegisbpf_blocks_by_inode: (ctx) => (ctx.detailed === undefined ? [] : byInode.samples(ctx.detailed.blocksByInode)),

    aegisbpf_source_events_total: (ctx) =>
      [...ctx.stats.sources.values()].map((s) => one(s.events, { source: s.source, type: s.type })),
    aegisbpf_source_events_invalid_total: (ctx) =>
      [...ctx.stats.sources.values()].map((s) => one(s.invalid, { source: s.source, type: s.type })),
    aegisbpf_source_bytes_total: (ctx) =>
      [...ctx.stats.sources.values()].map((s) => one(s.bytes, { source: s.source, type: s.type })),
    aegisbpf_source_protocol_total: sourceExtra('counter'),
    aegisbpf_source_protocol_value: sourceExtra('gauge'),
    aegisbpf_kafka_consumer_lag: (ctx) =>
      [...ctx.stats.sources.values()].flatMap((s) =>
        [...(s.partitionLag?.values() ?? [])]
          .sort((a, b) => (a.topic === b.topic ? a.partition - b.partition : a.topic < b.topic ? -1 : 1))
          .map((p) => one(p.lag, { source: s.source, topic: p.topic, partition: String(p.partition) })),
      ),
    aegisbpf_pipeline_events_removed_total: (ctx) =>
      Object.entries(ctx.stats.pipeline.removed).map(([processor, n]) => one(n, { processor })),
    aegisbpf_pipeline_events_unrouted_total: (ctx) => [one(ctx.stats.pipeline.unrouted)],
    aegisbpf_pipeline_queue_depth_events: (ctx) => [one(ctx.stats.pipeline.inFlight)],
    aegisbpf_pipeline_latency_seconds: (ctx) =>
      histogramSamples('aegisbpf_pipeline_latency_seconds', ctx.stats.pipeline.latencyMicros, 1e6, {}),
    aegisbpf_dead_letter_events_total: (ctx) => [one(ctx.stats.deadLetter.written)],
    aegisbpf_dead_letter_bytes_total: (ctx) => [one(ctx.stats.deadLetter.bytes)],
    aegisbpf_dead_letter_failed_total: (ctx) => [one(ctx.stats.deadLetter.failed)],

    aegisbpf_sink_events_received_total: perSink((s) => s.received),
    // A counter never decreases: events later found unconfirmed stay in it (stats and the summary move them out).
    aegisbpf_sink_events_delivered_total: perSink((s) => s.delivered + s.unconfirmed),
    aegisbpf_sink_events_unconfirmed_total: perSink((s) => s.unconfirmed),
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
    aegisbpf_sink_buffer_max_events: (ctx) =>
      [...ctx.stats.sinks.values()]
        .filter((s) => s.bufferMaxEvents > 0)
        .map((s) => one(s.bufferMaxEvents, { sink: s.sink, type: s.type })),
    aegisbpf_buffer_disk_bytes: perSink((s) => s.bufferDiskBytes),
    aegisbpf_buffer_corrupt_records_total: perSink((s) => s.bufferCorruptRecords),
    aegisbpf_buffer_disk_full_total: perSink((s) => s.bufferDiskFull),
    aegisbpf_sink_buffer_max_bytes: (ctx) =>
      [...ctx.stats.sinks.values()]
        .filter((s) => s.bufferMaxBytes > 0)
        .map((s) => one(s.bufferMaxBytes, { sink: s.sink, type: s.type })),
    aegisbpf_sink_inflight_batches: perSink((s) => s.inflightBatches),
    aegisbpf_sink_healthy: perSink((s) => (s.healthy ? 1 : 0)),
    aegisbpf_sink_send_duration_seconds: (ctx) =>
      [...ctx.stats.sinks.values()].flatMap((s) =>
        histogramSamples('aegisbpf_sink_send_duration_seconds', s.sendLatencyMillis, 1000, {
          sink: s.sink,
          type: s.type,
        }),
      ),
    aegisbpf_sink_protocol_total: protocolSamples('counter'),
    aegisbpf_sink_protocol_value: protocolSamples('gauge'),
  };
}

export function createMetrics(options: MetricsOptions): AegisMetrics {
  const processSampler = options.process ?? createProcessSampler();
  const now = options.now ?? Date.now;
  const context = (): ScrapeContext => {
    let sensor: SensorStats | undefined;
    let detailed: { value: SensorDetailedStats | undefined } | undefined;
    let usage: ProcessUsage | undefined;
    return {
      stats: options.stats,
      nowMillis: now(),
      get sensor() {
        return (sensor ??= options.stats.sensor.read());
      },
      get detailed() {
        return (detailed ??= { value: options.stats.sensor.readDetailed?.() }).value;
      },
      get process() {
        return (usage ??= processSampler.sample());
      },
    };
  };
  const byPath = highCardinality('aegisbpf_blocks_by_path', 'path');
  const byInode = highCardinality('aegisbpf_blocks_by_inode', 'inode');
  const table = collectors({ ...options, highCardinality: { byPath, byInode } });
  const none = Buffer.alloc(0);
  const fast: Partial<Record<MetricName, (ctx: ScrapeContext) => Buffer>> = {
    aegisbpf_blocks_by_path: (ctx) => (ctx.detailed === undefined ? none : byPath.bytes(ctx.detailed.blocksByPath)),
    aegisbpf_blocks_by_inode: (ctx) => (ctx.detailed === undefined ? none : byInode.bytes(ctx.detailed.blocksByInode)),
  };
  const registry = new Registry();
  // The high-cardinality families exist only with --detailed: without it their names are not exported at all.
  const families = METRICS.filter(
    (spec) => (options.detailed || spec.presence !== 'detailed') && (options.only?.(spec) ?? true),
  ).map((spec) => new StatsFamily(metricSpec(spec.name), table[spec.name], context, fast[spec.name]));
  // The cast is the one place where our collectors meet prom-client's types: the Registry only reads `name` and
  // calls `get()`, which StatsFamily provides (test/telemetry/metrics.test.ts renders through both).
  for (const f of families) registry.registerMetric(f as unknown as Metric);
  /** Families separated by a blank line, ending with a newline, as prom-client writes them; fast families as bytes. */
  const renderBuffer = (): Buffer => {
    const ctx = context();
    const parts: Buffer[] = [];
    let text = '';
    families.forEach((f, i) => {
      if (i > 0) text += '\n\n';
      const bytes = f.fastBytes?.(ctx);
      if (bytes === undefined) {
        text += renderFamily(f.collectWith(ctx));
        return;
      }
      text += f.header();
      if (bytes.length === 0) return;
      parts.push(Buffer.from(text + '\n', 'utf8'), bytes);
      text = '';
    });
    parts.push(Buffer.from(text + '\n', 'utf8'));
    return parts.length === 1 ? (parts[0] as Buffer) : Buffer.concat(parts);
  };
  const collect = (): FamilyValues[] => {
    const ctx = context();
    return families.map((f) => f.collectWith(ctx));
  };
  return {
    registry,
    contentType: PROMETHEUS_CONTENT_TYPE,
    collect,
    renderBuffer,
    render: () => renderBuffer().toString('utf8'),
  };
}
