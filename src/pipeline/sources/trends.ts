/**
 * `trends`: every `interval`, samples the kernel policy maps' entries (the sensor's stats in the registry) and the
 * event volume (events read by all sources), fits a line over the last `window` of samples (src/telemetry/trend.ts)
 * and forecasts when each map reaches its capacity. Publishes the forecast as the gauge
 * `aegisbpf_map_full_forecast_seconds{map}`, and yields a `trend` event when a map is forecast full within `horizon`
 * (again at most once per `repeat` while it stays so), and for the event volume when `events_limit` (events per
 * second) is forecast within `horizon`.
 *
 * ```yaml
 * sources:
 *   - { type: trends, interval: 60s, window: 6h, horizon: 7d }
 * ```
 *
 * Map names and capacities are the sensor's (deny_inode, deny_path, allow_cgroup, net_v4_lpm, …): without a sensor
 * source there are no maps, and only the event volume is forecast.
 */
import type { TrendEvent } from '../../event/types';
import { readSelfIdentity, selfProcessFields } from '../../sensor/event-mapper';
import type { SourceStats, StatsRegistry } from '../../telemetry/stats';
import { createStatsRegistry } from '../../telemetry/stats';
import { createTrendSeries, secondsToReach } from '../../telemetry/trend';
import type { TrendSeries } from '../../telemetry/trend';
import { formatTimestampFromMillis } from '../../util/time';
import { sleep } from '../../sinks/core/retry';
import { parseDuration } from '../processors/anomaly';
import type { AnalyticsStore } from '../analytics-view';
import type { Source, SourceDefinition } from './types';
import type { JsonSchemaObject } from '../../formatters/types';

export interface TrendsOptions {
  readonly intervalMillis: number;
  readonly windowMillis: number;
  readonly horizonMillis: number;
  readonly repeatMillis: number;
  /** Events per second the event volume is compared with; undefined: no event-volume trend events. */
  readonly eventsLimit: number | undefined;
}

export interface TrendsDeps {
  readonly name: string;
  readonly hostname: string;
  readonly registry: StatsRegistry;
  readonly now?: () => number;
  readonly analytics?: AnalyticsStore;
  /** The source's own counters (events yielded). */
  readonly stats?: SourceStats;
  /** Sleep between samples (tests pass one that returns at once). */
  readonly sleep?: (millis: number, signal: AbortSignal) => Promise<boolean>;
}

export interface TrendsSampler {
  /** Take one sample at `now()` and return the trend events it calls for. */
  sample(): TrendEvent[];
}

const durationSchema = (description: string): JsonSchemaObject => ({
  anyOf: [
    { type: 'integer', minimum: 1 },
    { type: 'string', pattern: '^([0-9]+)(ms|s|m|h|d)$' },
  ],
  description,
});

export function parseTrendsOptions(raw: Readonly<Record<string, unknown>>): TrendsOptions {
  return {
    intervalMillis: parseDuration(raw.interval) ?? 60_000,
    windowMillis: parseDuration(raw.window) ?? 6 * 3_600_000,
    horizonMillis: parseDuration(raw.horizon) ?? 7 * 86_400_000,
    repeatMillis: parseDuration(raw.repeat) ?? 3_600_000,
    eventsLimit: typeof raw.events_limit === 'number' ? raw.events_limit : undefined,
  };
}

export function createTrendsSampler(o: TrendsOptions, deps: TrendsDeps): TrendsSampler {
  const now = deps.now ?? Date.now;
  const self = readSelfIdentity('/sys/fs/cgroup');
  const series = new Map<string, TrendSeries>();
  const lastReported = new Map<string, number>();
  let lastEvents: { atMillis: number; total: number } | undefined;
  const seriesOf = (subject: string): TrendSeries => {
    let s = series.get(subject);
    if (s === undefined) {
      s = createTrendSeries(o.windowMillis / 1000);
      series.set(subject, s);
    }
    return s;
  };
  const event = (
    at: number,
    subject: string,
    current: number,
    slope: number,
    capacity: number | undefined,
    seconds: number | undefined,
  ): TrendEvent => {
    const e: Record<string, unknown> = {
      ts: formatTimestampFromMillis(at),
      type: 'trend',
      host: deps.hostname,
      ...selfProcessFields(self),
      subject,
      current: Math.round(current * 1000) / 1000,
      slope_per_s: slope,
    };
    if (capacity !== undefined) e.capacity = Math.round(capacity);
    if (seconds !== undefined && Number.isFinite(seconds)) e.forecast_seconds = Math.round(seconds);
    e.horizon_seconds = Math.round(o.horizonMillis / 1000);
    if (seconds !== undefined && Number.isFinite(seconds))
      e.message =
        subject === 'events'
          ? `Event volume is forecast to reach ${capacity ?? '?'} events/s in ${Math.round(seconds)} s.`
          : `Map ${subject} is forecast full in ${Math.round(seconds)} s (${Math.round(current)} of ${capacity ?? '?'} entries, ${slope >= 0 ? '+' : ''}${Math.round(slope * 1000) / 1000}/s).`;
    return e as unknown as TrendEvent;
  };
  const due = (subject: string, at: number): boolean => {
    const last = lastReported.get(subject);
    if (last !== undefined && at - last < o.repeatMillis) return false;
    lastReported.set(subject, at);
    return true;
  };
  return {
    sample() {
      const at = now();
      const out: TrendEvent[] = [];
      const forecasts = deps.registry.analytics.mapFullForecastSeconds;
      for (const m of deps.registry.sensor.read().maps) {
        const s = seriesOf(m.map);
        s.add(at, m.entries);
        const fit = s.fit();
        if (fit === undefined || m.capacity <= 0) continue;
        const seconds = secondsToReach(fit, m.capacity);
        forecasts.set(m.map, seconds);
        const e = event(at, m.map, m.entries, fit.slope, m.capacity, seconds);
        deps.analytics?.recordForecast(e);
        if (seconds * 1000 <= o.horizonMillis && due(m.map, at)) out.push(e);
      }
      let total = 0;
      for (const s of deps.registry.sources.values()) total += s.events;
      if (lastEvents !== undefined && at > lastEvents.atMillis) {
        const rate = ((total - lastEvents.total) * 1000) / (at - lastEvents.atMillis);
        const s = seriesOf('events');
        s.add(at, rate);
        const fit = s.fit();
        if (fit !== undefined) {
          const seconds = o.eventsLimit === undefined ? undefined : secondsToReach(fit, o.eventsLimit);
          const e = event(at, 'events', rate, fit.slope, o.eventsLimit, seconds);
          deps.analytics?.recordForecast(e);
          if (seconds !== undefined && seconds * 1000 <= o.horizonMillis && due('events', at)) out.push(e);
        }
      }
      lastEvents = { atMillis: at, total };
      return out;
    },
  };
}

export const trendsSource: SourceDefinition = {
  type: 'trends',
  description: 'Linear-regression forecasts of kernel map entries and event volume; trend events within a horizon.',
  onePerDaemon: 'the map forecasts are published as one gauge family per daemon',
  optionsSchema: {
    properties: {
      interval: durationSchema('How often the maps and the event volume are sampled (default 60s).'),
      window: durationSchema('How much history the regression fits (default 6h).'),
      horizon: durationSchema('A map forecast full within this time yields a trend event (default 7d).'),
      repeat: durationSchema('The same forecast is reported again at most this often (default 1h).'),
      events_limit: {
        type: 'number',
        exclusiveMinimum: 0,
        description: 'Events per second whose forecast within the horizon yields an event-volume trend event.',
      },
    },
  },
  create(raw, ctx) {
    const options = parseTrendsOptions(raw);
    return createTrendsSource(options, {
      name: ctx.name,
      hostname: ctx.hostname,
      registry: ctx.registry ?? createStatsRegistry(),
      stats: ctx.stats,
      analytics: ctx.analytics,
    });
  },
};

export function createTrendsSource(o: TrendsOptions, deps: TrendsDeps): Source {
  const sampler = createTrendsSampler(o, deps);
  const wait = deps.sleep ?? sleep;
  return {
    name: deps.name,
    type: 'trends',
    async *read(signal) {
      while (!signal.aborted) {
        const events = sampler.sample();
        if (events.length > 0) {
          if (deps.stats !== undefined) deps.stats.events += events.length;
          yield events;
        }
        if (!(await wait(o.intervalMillis, signal))) return;
      }
    },
  };
}
