/**
 * A JSON snapshot of a daemon's counters: what the control socket's `/v1/stats` returns and `aegisbpf stats`
 * prints (as text, or as is with `--json`). Built at request time from the StatsRegistry.
 */
import { LATENCY_QUANTILES } from './metrics';
import type { ProcessUsage } from './process-usage';
import type { ReadinessReport } from './readiness';
import type { BlockAction, NetBlockType, NetRuleType, SensorMapStats, SensorStatsSource } from './sensor-stats';
import { BLOCK_ACTIONS } from './sensor-stats';
import type { StatsRegistry } from './stats';

export interface SensorSnapshot {
  readonly attached: boolean;
  readonly absent_reason: string | undefined;
  readonly mode: string | undefined;
  readonly backend: string | undefined;
  readonly blocks_total: number;
  readonly blocks: Readonly<Record<BlockAction, number>>;
  readonly ringbuf_events: number;
  readonly ringbuf_drops: number;
  readonly net_blocks: Readonly<Record<NetBlockType, number>>;
  readonly net_ringbuf_drops: number;
  readonly net_rules: Readonly<Record<NetRuleType, number>> | undefined;
  /** Inbound filter verdicts (`aegisbpf_packets_total{direction="in"}`); absent without an ingress program. */
  readonly packets?: { readonly passed: number; readonly dropped: number };
  /** Where the inbound filter is attached; absent when off. */
  readonly ingress?: { readonly hook: string; readonly targets: readonly string[] };
  readonly maps: readonly SensorMapStats[];
  /** Top per-path and per-inode hits, only when asked for (`--detailed`), most hits first. */
  readonly top_blocked_paths?: readonly (readonly [string, number])[];
  readonly top_blocked_inodes?: readonly (readonly [string, number])[];
}

export interface SinkSnapshot {
  readonly type: string;
  readonly healthy: boolean;
  readonly last_error: string | undefined;
  readonly received: number;
  readonly delivered: number;
  readonly unconfirmed: number;
  readonly failed_requests: number;
  readonly retried: number;
  readonly duplicates: number;
  readonly dead_lettered: number;
  readonly dropped: Readonly<Record<string, number>>;
  readonly buffer_events: number;
  readonly buffer_bytes: number;
  readonly buffer_max_events: number;
  readonly buffer_max_bytes: number;
  readonly inflight_batches: number;
  /** The sink type's protocol counters and gauges (`SinkStats.extra`: keys ending in `_total` are counters). */
  readonly extra: Readonly<Record<string, number>>;
}

export interface StatsSnapshot {
  /** Where the numbers come from: a running daemon, or the sensor's pinned maps when no daemon runs. */
  readonly origin: 'daemon' | 'pinned-maps';
  readonly version: string;
  readonly pid: number | undefined;
  readonly started_at: string | undefined;
  readonly uptime_seconds: number | undefined;
  readonly ready: ReadinessReport | undefined;
  readonly sensor: SensorSnapshot;
  readonly pipeline?: {
    readonly events_in: number;
    readonly invalid_input: number;
    readonly removed: Readonly<Record<string, number>>;
    readonly unrouted: number;
    readonly queue_depth_events: number;
    /** Per-event latency quantiles in microseconds over the recent window; null when nothing flowed recently. */
    readonly latency_us: Readonly<Record<string, number | null>>;
  };
  readonly sinks?: Readonly<Record<string, SinkSnapshot>>;
  readonly dead_letter?: { readonly written: number; readonly bytes: number; readonly failed: number };
  readonly process?: { readonly cpu_percent: number; readonly rss_bytes: number };
}

const TOP_N = 20;

function top(map: ReadonlyMap<string, number>): [string, number][] {
  return [...map].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)).slice(0, TOP_N);
}

export function snapshotSensor(source: SensorStatsSource, detailed: boolean): SensorSnapshot {
  const s = source.read();
  const d = detailed ? source.readDetailed?.() : undefined;
  return {
    attached: s.attached,
    absent_reason: s.attached ? undefined : source.absentReason,
    mode: s.mode,
    backend: s.backend,
    blocks_total: BLOCK_ACTIONS.reduce((n, a) => n + s.blocks[a], 0),
    blocks: { ...s.blocks },
    ringbuf_events: s.ringbufEvents,
    ringbuf_drops: s.ringbufDrops,
    net_blocks: { ...s.netBlocks },
    net_ringbuf_drops: s.netRingbufDrops,
    net_rules: s.netRules === undefined ? undefined : { ...s.netRules },
    ...(s.packets !== undefined ? { packets: { passed: s.packets.PASS, dropped: s.packets.DROP } } : {}),
    ...(s.ingress !== undefined ? { ingress: { hook: s.ingress.hook, targets: [...s.ingress.targets] } } : {}),
    maps: s.maps.map((m) => ({ map: m.map, entries: m.entries, capacity: m.capacity })),
    ...(detailed
      ? {
          top_blocked_paths: d === undefined ? [] : top(d.blocksByPath),
          top_blocked_inodes: d === undefined ? [] : top(d.blocksByInode),
        }
      : {}),
  };
}

const LATENCY_REUSE_MILLIS = 1000;

export function snapshotStats(
  stats: StatsRegistry,
  options: {
    readonly version: string;
    readonly detailed: boolean;
    readonly usage: ProcessUsage;
    readonly now?: number;
  },
): StatsSnapshot {
  const now = options.now ?? Date.now();
  let eventsIn = 0;
  let invalid = 0;
  for (const s of stats.sources.values()) {
    eventsIn += s.events;
    invalid += s.invalid;
  }
  // Recomputed at most once a second (LATENCY_REUSE_MILLIS): quantiles over a 10-minute window do not move faster, and
  // sorting a full window on every request of a client polling the stats would be most of the request's time.
  const qs = stats.pipeline.latencyWindow.quantiles(LATENCY_QUANTILES, performance.now(), LATENCY_REUSE_MILLIS);
  const latency: Record<string, number | null> = {};
  LATENCY_QUANTILES.forEach((q, i) => {
    const v = qs[i] as number;
    latency[`p${Math.round(q * 100)}`] = Number.isNaN(v) ? null : Math.round(v * 10) / 10;
  });
  const sinks: Record<string, SinkSnapshot> = {};
  for (const [name, s] of stats.sinks) {
    sinks[name] = {
      type: s.type,
      healthy: s.healthy,
      last_error: s.lastError,
      received: s.received,
      delivered: s.delivered,
      unconfirmed: s.unconfirmed,
      failed_requests: s.failedRequests,
      retried: s.retriedEvents,
      duplicates: s.duplicates,
      dead_lettered: s.deadLettered,
      dropped: { ...s.dropped },
      buffer_events: s.bufferEvents,
      buffer_bytes: s.bufferBytes,
      buffer_max_events: s.bufferMaxEvents,
      buffer_max_bytes: s.bufferMaxBytes,
      inflight_batches: s.inflightBatches,
      extra: Object.fromEntries(
        Object.keys(s.extra)
          .sort()
          .map((k) => [k, s.extra[k] as number]),
      ),
    };
  }
  return {
    origin: 'daemon',
    version: options.version,
    pid: process.pid,
    started_at: new Date(stats.startedAtMillis).toISOString(),
    uptime_seconds: Math.round((now - stats.startedAtMillis) / 100) / 10,
    ready: stats.readiness.evaluate(),
    sensor: snapshotSensor(stats.sensor, options.detailed),
    pipeline: {
      events_in: eventsIn,
      invalid_input: invalid,
      removed: { ...stats.pipeline.removed },
      unrouted: stats.pipeline.unrouted,
      queue_depth_events: stats.pipeline.inFlight,
      latency_us: latency,
    },
    sinks,
    dead_letter: { ...stats.deadLetter },
    process: { cpu_percent: Math.round(options.usage.cpuPercent * 10) / 10, rss_bytes: options.usage.rssBytes },
  };
}
