/**
 * The read side of the analytics, for the control API's routes (`/api/v1/anomalies?since=`, `/trends`,
 * `/metrics/realtime`, `/metrics/history?since=&step=`; src/daemon/api/ registers them). The engine owns one
 * store; the anomaly processor, the trends source and the host source record into it; the API only reads.
 *
 * Everything is bounded in memory: the last MAX_ANOMALIES findings, the latest forecast per subject, the last
 * MAX_HOST_SAMPLES host samples (at the default 10 s interval, about 2 h 50 min).
 */
import type { AnomalyEvent, HostStatsEvent, TrendEvent } from '../event/types';
import type { StatsRegistry } from '../telemetry/stats';
import type { AnomalyDetectorCounts } from '../telemetry/trend';

export const MAX_ANOMALIES = 1000;
export const MAX_HOST_SAMPLES = 1024;
const MAX_TREND_SUBJECTS = 256;

/** One point of `/metrics/history`: the last host sample of its step. */
export interface HistoryPoint {
  readonly atMillis: number;
  readonly sample: HostStatsEvent;
}

export interface RealtimeMetrics {
  /** The last host sample, when a host source runs. */
  readonly host: HostStatsEvent | undefined;
  /** Events read by each source so far (cumulative; a client derives rates from two readings). */
  readonly sourceEvents: Readonly<Record<string, number>>;
  /** Events between source and sinks now. */
  readonly inFlight: number;
}

export interface AnalyticsView {
  /** Findings with `ts` at or after `sinceMillis`, oldest first (at most MAX_ANOMALIES are kept). */
  anomalies(sinceMillis: number): AnomalyEvent[];
  /** The latest forecast of every subject (maps, `events`), whether or not it was reported as a `trend` event. */
  trends(): TrendEvent[];
  realtime(): RealtimeMetrics;
  /** Host samples since `sinceMillis`, one per `stepMillis` (the last sample of each step), oldest first. */
  history(sinceMillis: number, stepMillis: number): HistoryPoint[];
  /** Each anomaly processor's keys held and evicted, per detector kind: `{ anomaly: { rare: { keys, evicted } } }`. */
  detectors(): Record<string, Readonly<Record<string, AnomalyDetectorCounts>>>;
}

export interface AnalyticsStore extends AnalyticsView {
  recordAnomaly(event: AnomalyEvent): void;
  recordForecast(event: TrendEvent): void;
  recordHostSample(event: HostStatsEvent): void;
  /** An anomaly processor registers how to read its state size (also exported as metrics through the registry). */
  registerDetectors(processor: string, counts: () => Readonly<Record<string, AnomalyDetectorCounts>>): void;
}

export function createAnalyticsStore(registry?: StatsRegistry): AnalyticsStore {
  const anomalies: AnomalyEvent[] = [];
  const trends = new Map<string, TrendEvent>();
  const samples: HostStatsEvent[] = [];
  // Shared with the registry when there is one, so /metrics and the API read the same counts.
  const detectors =
    registry?.analytics.anomalyDetectors ?? new Map<string, () => Readonly<Record<string, AnomalyDetectorCounts>>>();
  return {
    recordAnomaly(e) {
      anomalies.push(e);
      if (anomalies.length > MAX_ANOMALIES) anomalies.splice(0, anomalies.length - MAX_ANOMALIES);
    },
    recordForecast(e) {
      if (!trends.has(e.subject) && trends.size >= MAX_TREND_SUBJECTS) return;
      trends.set(e.subject, e);
    },
    recordHostSample(e) {
      samples.push(e);
      if (samples.length > MAX_HOST_SAMPLES) samples.splice(0, samples.length - MAX_HOST_SAMPLES);
    },
    registerDetectors(processor, counts) {
      detectors.set(processor, counts);
    },
    detectors() {
      const out: Record<string, Readonly<Record<string, AnomalyDetectorCounts>>> = {};
      for (const [name, counts] of detectors) out[name] = counts();
      return out;
    },
    anomalies: (since) => anomalies.filter((a) => Date.parse(a.ts) >= since),
    trends: () => [...trends.values()],
    realtime() {
      const sourceEvents: Record<string, number> = {};
      for (const [name, s] of registry?.sources ?? []) sourceEvents[name] = s.events;
      return { host: samples[samples.length - 1], sourceEvents, inFlight: registry?.pipeline.inFlight ?? 0 };
    },
    history(since, step) {
      const out: HistoryPoint[] = [];
      for (const s of samples) {
        const at = Date.parse(s.ts);
        if (at < since) continue;
        const last = out[out.length - 1];
        if (last !== undefined && Math.floor(last.atMillis / step) === Math.floor(at / step)) out.pop();
        out.push({ atMillis: at, sample: s });
      }
      return out;
    },
  };
}
