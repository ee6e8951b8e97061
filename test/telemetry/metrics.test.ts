import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { validateConfigDocument } from '../../src/config/load';
import { createPipeline } from '../../src/pipeline/engine';
import type { Source } from '../../src/pipeline/sources/types';
import { METRICS } from '../../src/telemetry/metric-catalog';
import { createMetrics } from '../../src/telemetry/metrics';
import { createProcessSampler } from '../../src/telemetry/process-usage';
import type { SensorStats, SensorStatsSource } from '../../src/telemetry/sensor-stats';
import { createSinkStats, createSourceStats, createStatsRegistry, increment } from '../../src/telemetry/stats';
import type { StatsRegistry } from '../../src/telemetry/stats';
import { silentLogger } from '../../src/util/logger';
import { familyNames, sampleValue, samples } from '../helpers/daemon';
import { generateEvents } from '../helpers/events';
import { GUIDE_NAME_LINTS, checkMetricsText, promtool, promtoolMissing } from '../helpers/promtool';
import { makeTempDir } from '../helpers/tmp';

const fixedProcess = { sample: () => ({ cpuPercent: 12.5, rssBytes: 50_000_000 }) };

/** prom-client's text, with its one spelling we do not share: `Nan` (Prometheus writes and documents `NaN`). */
async function promClientText(m: ReturnType<typeof createMetrics>): Promise<string> {
  return (await m.registry.metrics()).replace(/ Nan$/gm, ' NaN');
}

function fakeSensor(overrides: Partial<SensorStats> = {}): SensorStatsSource {
  const stats: SensorStats = {
    attached: true,
    mode: 'enforce',
    backend: 'lsm',
    blocks: { BLOCK: 7, TERM: 2, KILL: 1, INT: 0 },
    ringbufEvents: 990,
    ringbufDrops: 10,
    netBlocks: { connect: 3, bind: 1 },
    netRingbufDrops: 4,
    maps: [
      { map: 'deny_inode', entries: 16384, capacity: 65536 },
      { map: 'deny_path', entries: 2, capacity: 16384 },
      { map: 'allow_cgroup', entries: 0, capacity: 1024 },
    ],
    netRules: { ip: 3, cidr: 1, port: 2 },
    ...overrides,
  };
  return {
    read: () => stats,
    readDetailed: () => ({
      blocksByPath: new Map([
        ['/etc/shadow', 5],
        ['/tmp/we"ird\\path\nline', 2],
      ]),
      blocksByInode: new Map([['259:1234567', 4]]),
    }),
  };
}

function populated(): StatsRegistry {
  const stats = createStatsRegistry(Date.now() - 5000);
  const src = createSourceStats('sensor', 'replay');
  src.events = 1000;
  src.bytes = 400_000;
  src.invalid = 3;
  stats.sources.set('sensor', src);
  const sink = createSinkStats('hec', 'file', { maxEvents: 1000, maxBytes: 1 << 20 });
  sink.received = 997;
  sink.delivered = 990;
  sink.deliveredBytes = 396_000;
  sink.batches = 10;
  sink.failedRequests = 2;
  sink.retriedEvents = 20;
  sink.deadLettered = 4;
  increment(sink.dropped, 'buffer_full', 3);
  sink.bufferEvents = 900;
  sink.bufferBytes = 1000;
  sink.healthy = false;
  sink.sendLatencyMillis.observe(3);
  sink.sendLatencyMillis.observe(40);
  sink.sendLatencyMillis.observe(60_000);
  sink.extra.acks_pending = 2;
  sink.extra.ack_timeouts_total = 1;
  stats.sinks.set('hec', sink);
  stats.pipeline.removed['filter#0'] = 5;
  stats.pipeline.unrouted = 1;
  stats.pipeline.inFlight = 10;
  stats.pipeline.latencyMicros.observe(80, 10);
  stats.pipeline.latencyWindow.record(80, 10, performance.now());
  stats.pipeline.latencyWindow.record(900, 1, performance.now());
  stats.deadLetter.written = 7;
  stats.deadLetter.bytes = 3000;
  stats.sensor = fakeSensor();
  return stats;
}

test('render() is byte for byte what prom-client’s Registry.metrics() writes for the same collectors', async () => {
  for (const detailed of [false, true]) {
    const m = createMetrics({
      stats: populated(),
      version: '1.2.3',
      detailed,
      process: fixedProcess,
      now: () => 1_800_000_000_000,
    });
    const ours = m.render();
    const theirs = await promClientText(m);
    assert.equal(ours, theirs);
    assert.equal(m.renderBuffer().toString('utf8'), ours);
    assert.equal(m.contentType, 'text/plain; version=0.0.4; charset=utf-8');
  }
});

test('the high-cardinality fast path stays equal to prom-client’s output as the per-path counters grow, change and shrink', async () => {
  const stats = createStatsRegistry();
  const byPath = new Map<string, number>();
  const byInode = new Map<string, number>([['1:2', 3]]);
  stats.sensor = {
    read: () => fakeSensor().read(),
    readDetailed: () => ({ blocksByPath: byPath, blocksByInode: byInode }),
  };
  const m = createMetrics({ stats, version: 't', detailed: true, process: fixedProcess, now: () => 1_800_000_000_000 });
  const same = async (what: string): Promise<void> => {
    assert.equal(m.render(), await promClientText(m), what);
    assert.equal(m.renderBuffer().toString('utf8'), m.render(), what);
  };
  await same('no per-path counters yet');
  for (let i = 0; i < 5000; i++) byPath.set(`/srv/app-${i}/ü "quoted" \\ dir/file`, i); // > the initial buffer, escapes, UTF-8
  await same('5000 paths');
  await same('the same paths again, from the cache');
  for (let i = 0; i < 5000; i += 2) byPath.set(`/srv/app-${i}/ü "quoted" \\ dir/file`, i * 1000 + 0.5);
  for (let i = 1; i < 5000; i += 3) byPath.delete(`/srv/app-${i}/ü "quoted" \\ dir/file`);
  byPath.set('/new/path', Infinity);
  await same('changed values, removed and added paths');
  byPath.clear();
  await same('all rules removed');
});

test('the exported families are exactly the catalog; the per-path and per-inode ones only with detailed', () => {
  const plain = familyNames(createMetrics({ stats: createStatsRegistry(), version: 't', detailed: false }).render());
  const detailed = familyNames(createMetrics({ stats: createStatsRegistry(), version: 't', detailed: true }).render());
  assert.deepEqual([...detailed].sort(), METRICS.map((s) => s.name).sort());
  assert.deepEqual(
    [...plain].sort(),
    METRICS.filter((s) => s.presence !== 'detailed')
      .map((s) => s.name)
      .sort(),
  );
  assert.ok(!plain.has('aegisbpf_blocks_by_path') && !plain.has('aegisbpf_blocks_by_inode'));
});

test('without a sensor: real zeros for the kernel counters, no map series (no invented capacities), not attached', () => {
  const text = createMetrics({ stats: createStatsRegistry(), version: 't', detailed: true }).render();
  assert.deepEqual(
    samples(text, 'aegisbpf_blocks_total').map((s) => [s.labels.action, s.value]),
    [
      ['BLOCK', 0],
      ['TERM', 0],
      ['KILL', 0],
      ['INT', 0],
    ],
  );
  for (const n of [
    'aegisbpf_ringbuf_events_total',
    'aegisbpf_ringbuf_drops_total',
    'aegisbpf_ringbuf_drop_rate',
    'aegisbpf_net_ringbuf_drops_total',
    'aegisbpf_sensor_attached',
  ]) {
    assert.equal(sampleValue(text, n), 0, n);
  }
  for (const n of [
    'aegisbpf_map_entries',
    'aegisbpf_map_capacity',
    'aegisbpf_map_utilization',
    'aegisbpf_deny_inode_entries',
    'aegisbpf_deny_path_entries',
    'aegisbpf_allow_cgroup_entries',
    'aegisbpf_net_rules_total',
    'aegisbpf_sensor_info',
    'aegisbpf_blocks_by_path',
    'aegisbpf_blocks_by_inode',
  ]) {
    assert.deepEqual(samples(text, n), [], n);
  }
});

test('a sensor’s counters, maps and per-rule hits are exported with the guide’s names and labels', () => {
  const text = createMetrics({ stats: populated(), version: '1.2.3', detailed: true, process: fixedProcess }).render();
  assert.equal(sampleValue(text, 'aegisbpf_blocks_total', { action: 'BLOCK' }), 7);
  assert.equal(sampleValue(text, 'aegisbpf_blocks_total', { action: 'TERM' }), 2);
  assert.equal(sampleValue(text, 'aegisbpf_ringbuf_drop_rate'), 0.01);
  assert.equal(sampleValue(text, 'aegisbpf_map_utilization', { map: 'deny_inode' }), 0.25);
  assert.equal(sampleValue(text, 'aegisbpf_map_capacity', { map: 'deny_path' }), 16384);
  assert.equal(sampleValue(text, 'aegisbpf_deny_inode_entries'), 16384);
  assert.equal(sampleValue(text, 'aegisbpf_deny_path_entries'), 2);
  assert.equal(sampleValue(text, 'aegisbpf_allow_cgroup_entries'), 0);
  assert.equal(sampleValue(text, 'aegisbpf_net_blocks_total', { type: 'connect' }), 3);
  assert.equal(sampleValue(text, 'aegisbpf_net_rules_total', { type: 'cidr' }), 1);
  assert.equal(sampleValue(text, 'aegisbpf_sensor_info', { mode: 'enforce', backend: 'lsm' }), 1);
  assert.equal(
    sampleValue(text, 'aegisbpf_blocks_by_path', { path: '/tmp/we"ird\\path\nline' }),
    2,
    'label values are escaped and round-trip',
  );
  assert.equal(sampleValue(text, 'aegisbpf_blocks_by_inode', { inode: '259:1234567' }), 4);
  assert.equal(sampleValue(text, 'aegisbpf_cpu_usage_percent'), 12.5);
  assert.equal(sampleValue(text, 'aegisbpf_up', { version: '1.2.3' }), 1);
});

test('pipeline, dead-letter and sink counters; the send histogram is cumulative and in seconds', () => {
  const text = createMetrics({ stats: populated(), version: 't', detailed: false, process: fixedProcess }).render();
  const s = { sink: 'hec', type: 'file' };
  assert.equal(sampleValue(text, 'aegisbpf_source_events_total', { source: 'sensor', type: 'replay' }), 1000);
  assert.equal(sampleValue(text, 'aegisbpf_source_events_invalid_total', { source: 'sensor' }), 3);
  assert.equal(sampleValue(text, 'aegisbpf_pipeline_events_removed_total', { processor: 'filter#0' }), 5);
  assert.equal(sampleValue(text, 'aegisbpf_pipeline_queue_depth_events'), 10);
  assert.equal(sampleValue(text, 'aegisbpf_dead_letter_events_total'), 7);
  assert.equal(sampleValue(text, 'aegisbpf_sink_events_delivered_total', s), 990);
  assert.equal(sampleValue(text, 'aegisbpf_sink_requests_failed_total', s), 2);
  assert.equal(sampleValue(text, 'aegisbpf_sink_events_retried_total', s), 20);
  assert.equal(sampleValue(text, 'aegisbpf_sink_events_dead_lettered_total', s), 4);
  assert.equal(sampleValue(text, 'aegisbpf_sink_events_dropped_total', { ...s, reason: 'buffer_full' }), 3);
  assert.equal(
    sampleValue(text, 'aegisbpf_sink_events_dropped_total', { ...s, reason: 'dead_letter_failed' }),
    0,
    'known reasons exist at 0',
  );
  assert.equal(sampleValue(text, 'aegisbpf_sink_buffer_events', s), 900);
  assert.equal(sampleValue(text, 'aegisbpf_sink_buffer_max_events', s), 1000);
  assert.equal(sampleValue(text, 'aegisbpf_sink_buffer_max_bytes', s), 1 << 20);
  assert.equal(sampleValue(text, 'aegisbpf_sink_healthy', s), 0);
  const buckets = samples(text, 'aegisbpf_sink_send_duration_seconds_bucket').map((b) => [b.labels.le, b.value]);
  assert.deepEqual(buckets.slice(0, 4), [
    ['0.001', 0],
    ['0.0025', 0],
    ['0.005', 1],
    ['0.01', 1],
  ]);
  assert.deepEqual(buckets.at(-2), ['30', 2]);
  assert.deepEqual(buckets.at(-1), ['+Inf', 3]);
  assert.equal(sampleValue(text, 'aegisbpf_sink_send_duration_seconds_sum', s), 60.043);
  assert.equal(sampleValue(text, 'aegisbpf_sink_send_duration_seconds_count', s), 3);
  assert.equal(sampleValue(text, 'aegisbpf_pipeline_latency_seconds_count'), 10);
  // The latency window holds 10 events at 80 µs and 1 at 900 µs: the per-event p50 is 80, p95 and p99 are 900.
  assert.equal(sampleValue(text, 'aegisbpf_event_processing_latency_microseconds', { quantile: '0.5' }), 80);
  assert.equal(sampleValue(text, 'aegisbpf_event_processing_latency_microseconds', { quantile: '0.99' }), 900);
  assert.equal(sampleValue(text, 'aegisbpf_event_processing_latency_microseconds_count'), 11);
});

test('aegisbpf_up follows the daemon state; uptime and start time add up to the scrape time', () => {
  let up: 0 | 1 = 1;
  const stats = createStatsRegistry(1_700_000_000_000);
  const m = createMetrics({
    stats,
    version: 't',
    detailed: false,
    up: () => up,
    now: () => 1_700_000_060_000,
    process: fixedProcess,
  });
  assert.equal(sampleValue(m.render(), 'aegisbpf_up', { version: 't' }), 1);
  up = 0;
  const text = m.render();
  assert.equal(sampleValue(text, 'aegisbpf_up', { version: 't' }), 0);
  assert.equal(sampleValue(text, 'aegisbpf_daemon_uptime_seconds'), 60);
  assert.equal(sampleValue(text, 'aegisbpf_daemon_start_timestamp_seconds'), 1_700_000_000);
});

test(
  'the exposition parses with Prometheus’ own parser (promtool check metrics); the only lints are on names the guide fixed',
  { skip: promtoolMissing() },
  () => {
    const text = createMetrics({
      stats: populated(),
      version: '1.2.3',
      detailed: true,
      process: createProcessSampler(),
    }).render();
    const r = promtool(['check', 'metrics'], text);
    // promtool exits 1 on a parse error, 3 on lint findings only.
    assert.notEqual(r.code, 1, r.stderr + r.stdout);
    const findings = (r.stdout + r.stderr).split('\n').filter((l) => l.trim() !== '');
    assert.deepEqual(findings, GUIDE_NAME_LINTS);
  },
);

test('the latency quantiles are measured: a sink that stalls for 300 ms shows in p95/p99, not in p50', async () => {
  const { dir, cleanup } = makeTempDir();
  // A named pipe nobody reads yet is a receiver that does not answer; a reader appears after 300 ms.
  const fifo = path.join(dir, 'out.fifo');
  execFileSync('mkfifo', [fifo]);
  const result = validateConfigDocument({
    data_dir: dir,
    sources: { s: { type: 'stdin' } },
    sinks: {
      f: {
        type: 'file',
        path: fifo,
        fsync: 'never',
        rotate: { max_bytes: 0 },
        healthcheck: { enabled: false },
        buffer: { max_events: 10 },
        batch: { max_events: 10, timeout_ms: 1 },
        request: { timeout_ms: 600_000 },
      },
    },
  });
  assert.deepEqual(result.problems, []);
  const events = generateEvents(200);
  const source: Source = {
    name: 's',
    type: 'test',
    async *read(signal) {
      for (let i = 0; i < events.length && !signal.aborted; i += 10)
        yield await Promise.resolve(events.slice(i, i + 10));
    },
  };
  const pipeline = createPipeline(result.config!, { logger: silentLogger, version: 't', sources: () => [source] });
  const running = pipeline.run();
  const t0 = performance.now();
  await new Promise((r) => setTimeout(r, 300));
  const reader = fs.createReadStream(fifo);
  reader.resume();
  await running;
  const stalledMillis = performance.now() - t0;
  await pipeline.shutdown(10_000);
  reader.destroy();
  const text = createMetrics({ stats: pipeline.stats, version: 't', detailed: false, process: fixedProcess }).render();
  const q = (x: string): number =>
    sampleValue(text, 'aegisbpf_event_processing_latency_microseconds', { quantile: x })!;
  // 20 chunks of 10: the first two fill the in-flight batch and the buffer, the third waits for the reader
  // (about 300 ms): 10 of 200 events = 5 %, so the 0.95 quantile is on the edge and the 0.99 one is that chunk.
  assert.ok(
    q('0.99') >= 250_000 && q('0.99') <= stalledMillis * 1000 + 50_000,
    `p99 ${q('0.99')} µs, stall ${stalledMillis} ms`,
  );
  assert.ok(q('0.5') < 100_000, `p50 ${q('0.5')} µs`);
  assert.ok(q('0.5') <= q('0.95') && q('0.95') <= q('0.99'));
  assert.equal(sampleValue(text, 'aegisbpf_event_processing_latency_microseconds_count'), 200);
  assert.ok(sampleValue(text, 'aegisbpf_event_processing_latency_microseconds_sum')! >= 10 * 250_000);
  assert.equal(sampleValue(text, 'aegisbpf_pipeline_latency_seconds_count'), 200);
  cleanup();
});

test('SinkStats.extra: keys ending in _total are aegisbpf_sink_protocol_total{counter}, the others aegisbpf_sink_protocol_value{gauge}', async () => {
  const stats = createStatsRegistry();
  const syslog = createSinkStats('siem', 'syslog');
  Object.assign(syslog.extra, { connects_total: 3, connection_lost_total: 1, truncated_total: 0 });
  const hec = createSinkStats('splunk', 'splunk_hec');
  Object.assign(hec.extra, { acks_pending: 4, ack_fallback: 0, ack_timeouts_total: 2 });
  const file = createSinkStats('archive', 'file'); // no protocol numbers: no series
  for (const s of [syslog, hec, file]) stats.sinks.set(s.sink, s);
  const m = createMetrics({
    stats,
    version: 't',
    detailed: false,
    process: fixedProcess,
    now: () => 1_800_000_000_000,
  });
  const text = m.render();
  assert.deepEqual(samples(text, 'aegisbpf_sink_protocol_total'), [
    { labels: { sink: 'siem', type: 'syslog', counter: 'connection_lost' }, value: 1 },
    { labels: { sink: 'siem', type: 'syslog', counter: 'connects' }, value: 3 },
    { labels: { sink: 'siem', type: 'syslog', counter: 'truncated' }, value: 0 },
    { labels: { sink: 'splunk', type: 'splunk_hec', counter: 'ack_timeouts' }, value: 2 },
  ]);
  assert.deepEqual(samples(text, 'aegisbpf_sink_protocol_value'), [
    { labels: { sink: 'splunk', type: 'splunk_hec', gauge: 'ack_fallback' }, value: 0 },
    { labels: { sink: 'splunk', type: 'splunk_hec', gauge: 'acks_pending' }, value: 4 },
  ]);
  assert.match(text, /^# TYPE aegisbpf_sink_protocol_total counter$/m);
  assert.match(text, /^# TYPE aegisbpf_sink_protocol_value gauge$/m);
  // Read at scrape time: a transport's next += shows in the next scrape.
  syslog.extra.connects_total = (syslog.extra.connects_total ?? 0) + 1;
  assert.equal(sampleValue(m.render(), 'aegisbpf_sink_protocol_total', { sink: 'siem', counter: 'connects' }), 4);
  assert.equal(m.render(), await promClientText(m));
  if (promtoolMissing() === false) {
    const check = checkMetricsText(text);
    assert.ok(check.parsed, check.output);
    assert.deepEqual(check.unexpected, [], 'promtool lints nothing in the two families');
  }
});
