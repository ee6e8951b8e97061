/**
 * Linear-regression forecasts over sampled gauges (kernel map entries, event volume), for the `trends` source and
 * the gauge `aegisbpf_map_full_forecast_seconds{map}`: the AegisBPF monitoring guide's "days until full", computed
 * in the daemon instead of by a script over exported metrics.
 *
 * A series keeps (time, value) samples from the last `windowSeconds` (at most `maxPoints`, oldest dropped first)
 * and fits value = intercept + slope × time by ordinary least squares. Time is in seconds from the first sample of
 * the series (not epoch seconds: squaring 1.8e9 loses the precision the fit needs).
 */

export interface LinearFit {
  /** Units per second. */
  readonly slope: number;
  /** Fitted value at `atSeconds`. */
  readonly value: number;
  readonly atSeconds: number;
  readonly points: number;
}

/** Least-squares line through the points; undefined with fewer than 2 points or all at one time. */
export function linearFit(times: readonly number[], values: readonly number[]): LinearFit | undefined {
  const n = times.length;
  if (n < 2) return undefined;
  let st = 0;
  let sv = 0;
  for (let i = 0; i < n; i++) {
    st += times[i]!;
    sv += values[i]!;
  }
  const mt = st / n;
  const mv = sv / n;
  let stt = 0;
  let stv = 0;
  for (let i = 0; i < n; i++) {
    const dt = times[i]! - mt;
    stt += dt * dt;
    stv += dt * (values[i]! - mv);
  }
  if (stt === 0) return undefined;
  const slope = stv / stt;
  const last = times[n - 1]!;
  return { slope, value: mv + slope * (last - mt), atSeconds: last, points: n };
}

/**
 * Seconds until `capacity` is reached at the fitted slope, from the fitted value at the last sample; 0 when it is
 * already reached; Infinity when the series is not growing.
 */
export function secondsToReach(fit: LinearFit, capacity: number): number {
  if (fit.value >= capacity) return 0;
  if (fit.slope <= 0) return Infinity;
  return (capacity - fit.value) / fit.slope;
}

export interface TrendSeries {
  add(atMillis: number, value: number): void;
  fit(): LinearFit | undefined;
  readonly size: number;
}

export function createTrendSeries(windowSeconds: number, maxPoints = 1024): TrendSeries {
  const times: number[] = [];
  const values: number[] = [];
  let origin: number | undefined;
  return {
    add(atMillis, value) {
      origin ??= atMillis;
      const t = (atMillis - origin) / 1000;
      times.push(t);
      values.push(value);
      let drop = 0;
      while (drop < times.length - 2 && (t - times[drop]! > windowSeconds || times.length - drop > maxPoints)) drop++;
      if (drop > 0) {
        times.splice(0, drop);
        values.splice(0, drop);
      }
    },
    fit: () => linearFit(times, values),
    get size() {
      return times.length;
    },
  };
}

/** The last sample of the `host` source, for the `aegisbpf_host_*` families. Counters are cumulative since start. */
export interface HostGauges {
  readonly cpuPercent: number;
  readonly load1: number;
  readonly memTotalBytes: number;
  readonly memAvailableBytes: number;
  readonly diskReadBytesTotal: number;
  readonly diskWriteBytesTotal: number;
  readonly netReceiveBytesTotal: number;
  readonly netTransmitBytesTotal: number;
}

/** What the analytics sources publish for the metrics endpoint (StatsRegistry.analytics). */
export interface AnalyticsStats {
  /** Seconds until each kernel map is forecast full (Infinity: not growing); only maps with a forecast. */
  readonly mapFullForecastSeconds: Map<string, number>;
  /** Set by a `host` source with `metrics: true` (the default); undefined otherwise (no host_* series). */
  host: HostGauges | undefined;
  /**
   * Each `anomaly` processor's state size, by processor name: keys held now and keys evicted since start, per
   * detector kind (`aegisbpf_anomaly_keys`, `aegisbpf_anomaly_keys_evicted_total`; the control API's /anomalies).
   */
  readonly anomalyDetectors: Map<string, () => Readonly<Record<string, AnomalyDetectorCounts>>>;
}

/** Keys an anomaly detector holds now, and the keys it evicted (least recently seen first) since start. */
export interface AnomalyDetectorCounts {
  readonly keys: number;
  readonly evicted: number;
}

export function createAnalyticsStats(): AnalyticsStats {
  return { mapFullForecastSeconds: new Map(), host: undefined, anomalyDetectors: new Map() };
}
