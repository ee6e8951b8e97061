/**
 * The trends source on a map that grows linearly: the forecast time-to-full is the known answer, the gauge
 * `aegisbpf_map_full_forecast_seconds{map}` says it, and one `trend` event is yielded within the horizon.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { TrendEvent } from '../../../src/event/types';
import { isValidEvent } from '../../../src/event/validate';
import { createAnalyticsStore } from '../../../src/pipeline/analytics-view';
import { createTrendsSampler, createTrendsSource, parseTrendsOptions } from '../../../src/pipeline/sources/trends';
import { createMetrics } from '../../../src/telemetry/metrics';
import { NO_SENSOR_STATS } from '../../../src/telemetry/sensor-stats';
import { createSourceStats, createStatsRegistry } from '../../../src/telemetry/stats';
import { linearFit, secondsToReach } from '../../../src/telemetry/trend';

const T0 = Date.UTC(2026, 10, 21);

test('linear fit: exact on a line, secondsToReach from the fitted value; Infinity when not growing', () => {
  const fit = linearFit([0, 60, 120, 180], [100, 220, 340, 460])!;
  assert.equal(fit.slope, 2);
  assert.equal(fit.value, 460);
  assert.equal(secondsToReach(fit, 1460), 500);
  assert.equal(secondsToReach(linearFit([0, 1], [5, 5])!, 10), Infinity);
  assert.equal(secondsToReach(fit, 400), 0);
  assert.equal(linearFit([1], [1]), undefined);
});

test('a map growing by 2 entries a second: time-to-full is (capacity - entries) / 2, as gauge and trend event', () => {
  let now = T0;
  let entries = 1000;
  const registry = createStatsRegistry(T0);
  registry.sensor = {
    read: () => ({
      ...NO_SENSOR_STATS,
      maps: [
        { map: 'deny_inode', entries, capacity: 65_536 },
        { map: 'allow_cgroup', entries: 7, capacity: 1024 }, // flat: +Inf, never reported
      ],
    }),
  };
  const source = createSourceStats('replay', 'replay');
  registry.sources.set('replay', source);
  const analytics = createAnalyticsStore(registry);
  const sampler = createTrendsSampler(parseTrendsOptions({ interval: '60s', window: '6h', horizon: '1d' }), {
    name: 'trends',
    hostname: 'web-1',
    registry,
    analytics,
    now: () => now,
  });
  const events: TrendEvent[] = [];
  for (let i = 0; i < 10; i++) {
    events.push(...sampler.sample());
    now += 60_000;
    entries += 120;
    source.events += 600; // 10 events/s
  }
  // Last sample at 540 s: 1000 + 9 × 120 = 2080 entries; full in (65536 − 2080) / 2 = 31 728 s, within one day.
  assert.ok(Math.abs(registry.analytics.mapFullForecastSeconds.get('deny_inode')! - 31_728) < 1e-6);
  assert.equal(registry.analytics.mapFullForecastSeconds.get('allow_cgroup'), Infinity);
  // The first forecast within the horizon (the second sample, 1120 entries) is reported; later ones within `repeat` are not.
  assert.equal(events.length, 1, JSON.stringify(events));
  const e = events[0]!;
  assert.equal(e.subject, 'deny_inode');
  assert.equal(e.forecast_seconds, (65_536 - 1120) / 2);
  assert.equal(e.capacity, 65_536);
  assert.equal(e.slope_per_s, 2);
  assert.equal(e.horizon_seconds, 86_400);
  assert.ok(isValidEvent(e), 'a valid event');
  const latest = analytics.trends().find((t) => t.subject === 'deny_inode')!;
  assert.equal(latest.forecast_seconds, 31_728);
  const volume = analytics.trends().find((t) => t.subject === 'events')!;
  assert.equal(volume.current, 10);

  const text = createMetrics({ stats: registry, version: 't', detailed: false }).render();
  assert.match(text, /^aegisbpf_map_full_forecast_seconds\{map="deny_inode"\} 31728$/m);
  assert.match(text, /^aegisbpf_map_full_forecast_seconds\{map="allow_cgroup"\} \+Inf$/m);
});

test('the source yields the sampler’s trend events and counts them; it ends when stopped', async () => {
  let entries = 60_000;
  let now = T0;
  const registry = createStatsRegistry(T0);
  registry.sensor = { read: () => ({ ...NO_SENSOR_STATS, maps: [{ map: 'deny_path', entries, capacity: 65_536 }] }) };
  const stats = createSourceStats('trends', 'trends');
  const stop = new AbortController();
  const src = createTrendsSource(parseTrendsOptions({ interval: 1000, horizon: '1h' }), {
    name: 'trends',
    hostname: 'h',
    registry,
    stats,
    now: () => now,
    sleep: () => {
      now += 1000;
      entries += 10;
      return Promise.resolve(!stop.signal.aborted);
    },
  });
  const got: TrendEvent[] = [];
  for await (const chunk of src.read(stop.signal)) {
    got.push(...(chunk as TrendEvent[]));
    stop.abort();
  }
  assert.equal(got.length, 1);
  assert.equal(got[0]!.subject, 'deny_path');
  assert.equal(got[0]!.forecast_seconds, Math.round((65_536 - 60_010) / 10));
  assert.equal(stats.events, 1);
});
