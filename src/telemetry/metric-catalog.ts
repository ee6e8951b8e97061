/**
 * Every metric aegisbpf exports: name, type, labels, help. The single source of truth for the collectors
 * (./metrics.ts), docs/metrics.md (a test checks both directions), the dashboards and the name checks of the alert
 * rules. Names marked `guide` are fixed by the AegisBPF monitoring guide and never change.
 *
 * Label values are bounded: actions, map names, rule kinds, sink/source/processor names from the configuration,
 * drop reasons chosen in code, histogram buckets. Paths and inodes appear only in the `detailed` families.
 */

export type MetricType = 'counter' | 'gauge' | 'histogram' | 'summary';

/**
 * When a family has samples (its `# HELP`/`# TYPE` lines are always there):
 * - `always`: on every scrape (sensor counters with real zeros while no sensor is loaded);
 * - `sensor`: only what a loaded sensor has (map gauges for the maps that exist, the sensor's mode and backend);
 * - `detailed`: only with `--detailed` (`metrics.detailed`), and then only what the sensor reports;
 * - `per-instance`: one series per configured sink/source/processor.
 */
export type Presence = 'always' | 'sensor' | 'detailed' | 'per-instance';

/** What the family describes: the daemon process, the kernel sensor, the pipeline, or one sink. */
export type Component = 'daemon' | 'sensor' | 'pipeline' | 'sink';

export interface MetricSpec {
  readonly name: string;
  readonly component: Component;
  readonly type: MetricType;
  readonly labels: readonly string[];
  readonly help: string;
  readonly presence: Presence;
  /** Named (and spelled) by the AegisBPF monitoring or SIEM integration guide. */
  readonly guide: boolean;
}

const m = <N extends string>(
  component: Component,
  name: N,
  type: MetricType,
  labels: readonly string[],
  presence: Presence,
  guide: boolean,
  help: string,
): MetricSpec & { readonly name: N } => ({ name, component, type, labels, presence, guide, help });

export const METRICS = [
  // Daemon
  m(
    'daemon',
    'aegisbpf_up',
    'gauge',
    ['version'],
    'always',
    true,
    '1 while the daemon runs, 0 once it is shutting down (and in a textfile written while no daemon answered).',
  ),
  m('daemon', 'aegisbpf_daemon_uptime_seconds', 'gauge', [], 'always', true, 'Seconds since the daemon started.'),
  m(
    'daemon',
    'aegisbpf_daemon_start_timestamp_seconds',
    'gauge',
    [],
    'always',
    true,
    'Unix time the daemon started; a change means a restart.',
  ),
  m(
    'daemon',
    'aegisbpf_cpu_usage_percent',
    'gauge',
    [],
    'always',
    true,
    'CPU used by the daemon process (all threads) over the last interval of at least one second, in percent of one core.',
  ),
  m('daemon', 'aegisbpf_memory_rss_bytes', 'gauge', [], 'always', true, 'Resident set size of the daemon process.'),
  m(
    'daemon',
    'aegisbpf_event_processing_latency_microseconds',
    'summary',
    ['quantile'],
    'always',
    true,
    'Time from a source handing over a chunk of events to every sink having accepted it, per event; quantiles over the last 10 minutes (at most 8192 chunks).',
  ),
  // Kernel sensor
  m(
    'sensor',
    'aegisbpf_blocks_total',
    'counter',
    ['action'],
    'always',
    true,
    'Operations the kernel sensor enforced a rule on, by action (BLOCK, TERM, KILL, INT).',
  ),
  m(
    'sensor',
    'aegisbpf_ringbuf_events_total',
    'counter',
    [],
    'always',
    true,
    'Records the kernel sensor wrote to its ring buffer.',
  ),
  m(
    'sensor',
    'aegisbpf_ringbuf_drops_total',
    'counter',
    [],
    'always',
    true,
    'Records the kernel sensor could not write because the ring buffer was full (lost events).',
  ),
  m(
    'sensor',
    'aegisbpf_ringbuf_drop_rate',
    'gauge',
    [],
    'always',
    true,
    'Lifetime fraction of ring-buffer records lost: drops / (events + drops); 0 before any record.',
  ),
  m(
    'sensor',
    'aegisbpf_net_blocks_total',
    'counter',
    ['type'],
    'always',
    true,
    'Network operations the kernel sensor denied, by type (connect, bind).',
  ),
  m(
    'sensor',
    'aegisbpf_packets_total',
    'counter',
    ['direction', 'action'],
    'always',
    false,
    'Packets the inbound filter (XDP or cgroup_skb ingress) saw, by direction (in) and verdict (PASS, DROP).',
  ),
  m(
    'sensor',
    'aegisbpf_net_ringbuf_drops_total',
    'counter',
    [],
    'always',
    true,
    'Of aegisbpf_ringbuf_drops_total, the network records lost.',
  ),
  m(
    'sensor',
    'aegisbpf_net_rules_total',
    'gauge',
    ['type'],
    'sensor',
    true,
    'Network deny rules loaded, by kind (ip, cidr, port).',
  ),
  m('sensor', 'aegisbpf_map_entries', 'gauge', ['map'], 'sensor', true, 'Entries in a kernel policy map.'),
  m(
    'sensor',
    'aegisbpf_map_capacity',
    'gauge',
    ['map'],
    'sensor',
    true,
    'Capacity (max_entries) of a kernel policy map.',
  ),
  m(
    'sensor',
    'aegisbpf_map_utilization',
    'gauge',
    ['map'],
    'sensor',
    true,
    'Entries / capacity of a kernel policy map (0 to 1).',
  ),
  m('sensor', 'aegisbpf_deny_inode_entries', 'gauge', [], 'sensor', true, 'Entries in the deny_inode map.'),
  m('sensor', 'aegisbpf_deny_path_entries', 'gauge', [], 'sensor', true, 'Entries in the deny_path map.'),
  m('sensor', 'aegisbpf_allow_cgroup_entries', 'gauge', [], 'sensor', true, 'Entries in the allow_cgroup map.'),
  m(
    'sensor',
    'aegisbpf_sensor_attached',
    'gauge',
    [],
    'always',
    false,
    '1 when the kernel sensor is loaded, attached and read; 0 otherwise.',
  ),
  m(
    'sensor',
    'aegisbpf_sensor_info',
    'gauge',
    ['mode', 'backend'],
    'sensor',
    false,
    'Always 1 while the sensor is attached; labels say the enforcement mode and hook backend.',
  ),
  m(
    'sensor',
    'aegisbpf_blocks_by_path',
    'gauge',
    ['path'],
    'detailed',
    true,
    'Hits of each deny_path rule that was hit, audit hits included (high cardinality: only with --detailed). Resets when the rule is removed or changed.',
  ),
  m(
    'sensor',
    'aegisbpf_blocks_by_inode',
    'gauge',
    ['inode'],
    'detailed',
    true,
    'Hits of each deny_inode rule that was hit, inode as dev:ino (high cardinality: only with --detailed). Resets when the rule is removed or changed.',
  ),
  // Pipeline
  m(
    'pipeline',
    'aegisbpf_source_events_total',
    'counter',
    ['source', 'type'],
    'per-instance',
    false,
    'Valid events read by a source.',
  ),
  m(
    'pipeline',
    'aegisbpf_source_events_invalid_total',
    'counter',
    ['source', 'type'],
    'per-instance',
    false,
    'Input records that were not valid events (sent to the dead-letter file).',
  ),
  m(
    'pipeline',
    'aegisbpf_source_bytes_total',
    'counter',
    ['source', 'type'],
    'per-instance',
    false,
    'Bytes read by a source.',
  ),
  m(
    'pipeline',
    'aegisbpf_source_protocol_total',
    'counter',
    ['source', 'type', 'counter'],
    'per-instance',
    false,
    "A source type's own counters (SourceStats.extra keys ending in _total, named without it): kafka records_in, poison, commits, rebalances (docs/kafka.md).",
  ),
  m(
    'pipeline',
    'aegisbpf_source_protocol_value',
    'gauge',
    ['source', 'type', 'gauge'],
    'per-instance',
    false,
    "A source type's own gauges (the other SourceStats.extra keys): kafka partitions_assigned (docs/kafka.md).",
  ),
  m(
    'pipeline',
    'aegisbpf_kafka_consumer_lag',
    'gauge',
    ['source', 'topic', 'partition'],
    'per-instance',
    false,
    'Records of a partition the kafka source has not consumed yet (end offset minus position), every 5 s; only partitions the relay owns.',
  ),
  m(
    'pipeline',
    'aegisbpf_pipeline_events_removed_total',
    'counter',
    ['processor'],
    'per-instance',
    false,
    'Events removed by a processor (filter, sample, throttle, dedupe): decisions, not losses.',
  ),
  m(
    'pipeline',
    'aegisbpf_pipeline_events_unrouted_total',
    'counter',
    [],
    'always',
    false,
    'Events that matched no route and went nowhere.',
  ),
  m(
    'pipeline',
    'aegisbpf_pipeline_queue_depth_events',
    'gauge',
    [],
    'always',
    false,
    'Events read from sources and not yet accepted by every sink buffer (the pipeline queue).',
  ),
  m(
    'pipeline',
    'aegisbpf_pipeline_latency_seconds',
    'histogram',
    ['le'],
    'always',
    false,
    'Time from a source handing over a chunk to every sink having accepted it, counted once per event.',
  ),
  m(
    'pipeline',
    'aegisbpf_dead_letter_events_total',
    'counter',
    [],
    'always',
    false,
    'Entries written to the dead-letter file (sink give-ups and invalid input).',
  ),
  m(
    'pipeline',
    'aegisbpf_dead_letter_bytes_total',
    'counter',
    [],
    'always',
    false,
    'Bytes written to the dead-letter file.',
  ),
  m(
    'pipeline',
    'aegisbpf_dead_letter_failed_total',
    'counter',
    [],
    'always',
    false,
    'Entries the dead-letter file could not take (lost events).',
  ),
  // Sinks
  m(
    'sink',
    'aegisbpf_sink_events_received_total',
    'counter',
    ['sink', 'type'],
    'per-instance',
    false,
    'Events offered to the sink after routing.',
  ),
  m(
    'sink',
    'aegisbpf_sink_events_delivered_total',
    'counter',
    ['sink', 'type'],
    'per-instance',
    false,
    'Events sent and acknowledged by the receiver (delivered), including those later counted unconfirmed.',
  ),
  m(
    'sink',
    'aegisbpf_sink_events_unconfirmed_total',
    'counter',
    ['sink', 'type'],
    'per-instance',
    false,
    'Events written on a syslog tcp/tls connection that then died before the receiver could have read them (maybe lost).',
  ),
  m(
    'sink',
    'aegisbpf_sink_bytes_delivered_total',
    'counter',
    ['sink', 'type'],
    'per-instance',
    false,
    'Encoded bytes delivered.',
  ),
  m(
    'sink',
    'aegisbpf_sink_batches_delivered_total',
    'counter',
    ['sink', 'type'],
    'per-instance',
    false,
    'Batches delivered.',
  ),
  m(
    'sink',
    'aegisbpf_sink_requests_failed_total',
    'counter',
    ['sink', 'type'],
    'per-instance',
    false,
    'Send attempts that did not deliver everything (retryable, partial, rejected, too large, timed out).',
  ),
  m(
    'sink',
    'aegisbpf_sink_events_retried_total',
    'counter',
    ['sink', 'type'],
    'per-instance',
    false,
    'Events sent again after a failed attempt.',
  ),
  m(
    'sink',
    'aegisbpf_sink_events_duplicate_total',
    'counter',
    ['sink', 'type'],
    'per-instance',
    false,
    'Events the receiver reported it already had.',
  ),
  m(
    'sink',
    'aegisbpf_sink_events_dead_lettered_total',
    'counter',
    ['sink', 'type'],
    'per-instance',
    false,
    'Events the sink gave up on and wrote to the dead-letter file.',
  ),
  m(
    'sink',
    'aegisbpf_sink_events_dropped_total',
    'counter',
    ['sink', 'type', 'reason'],
    'per-instance',
    false,
    'Events dropped, by reason: buffer_full (when_full: drop_newest), dead_letter_failed (lost).',
  ),
  m(
    'sink',
    'aegisbpf_sink_buffer_events',
    'gauge',
    ['sink', 'type'],
    'per-instance',
    false,
    'Events waiting in the sink buffer.',
  ),
  m(
    'sink',
    'aegisbpf_sink_buffer_bytes',
    'gauge',
    ['sink', 'type'],
    'per-instance',
    false,
    'Encoded bytes waiting in the sink buffer.',
  ),
  m(
    'sink',
    'aegisbpf_sink_buffer_max_events',
    'gauge',
    ['sink', 'type'],
    'per-instance',
    false,
    'Bound of the sink buffer in events (buffer.max_events).',
  ),
  m(
    'sink',
    'aegisbpf_sink_buffer_max_bytes',
    'gauge',
    ['sink', 'type'],
    'per-instance',
    false,
    'Bound of the sink buffer in bytes (buffer.max_bytes).',
  ),
  m(
    'sink',
    'aegisbpf_buffer_disk_bytes',
    'gauge',
    ['sink', 'type'],
    'per-instance',
    false,
    'Bytes of the disk buffer segment files (buffer.type disk).',
  ),
  m(
    'sink',
    'aegisbpf_buffer_corrupt_records_total',
    'counter',
    ['sink', 'type'],
    'per-instance',
    false,
    'Corrupt disk-buffer records (torn writes, damaged storage) moved to quarantine/ or skipped.',
  ),
  m(
    'sink',
    'aegisbpf_buffer_disk_full_total',
    'counter',
    ['sink', 'type'],
    'per-instance',
    false,
    'Disk-buffer writes the disk refused (ENOSPC, EIO), each treated like a full buffer.',
  ),
  m(
    'sink',
    'aegisbpf_sink_inflight_batches',
    'gauge',
    ['sink', 'type'],
    'per-instance',
    false,
    'Batches sent and awaiting an acknowledgement.',
  ),
  m(
    'sink',
    'aegisbpf_sink_healthy',
    'gauge',
    ['sink', 'type'],
    'per-instance',
    false,
    '1 when the sink is healthy, 0 after a failed healthcheck or repeated send failures (until a batch is acknowledged or a healthcheck passes).',
  ),
  m(
    'sink',
    'aegisbpf_sink_send_duration_seconds',
    'histogram',
    ['sink', 'type', 'le'],
    'per-instance',
    false,
    'Duration of one send attempt, acknowledgement included.',
  ),
  m(
    'sink',
    'aegisbpf_sink_protocol_total',
    'counter',
    ['sink', 'type', 'counter'],
    'per-instance',
    false,
    "A sink type's own protocol counters (SinkStats.extra keys ending in _total, named without it): syslog connects, connection_lost, truncated; splunk_hec ack_polls, acks_received, ack_timeouts, … (docs/sinks.md).",
  ),
  m(
    'sink',
    'aegisbpf_sink_protocol_value',
    'gauge',
    ['sink', 'type', 'gauge'],
    'per-instance',
    false,
    "A sink type's own protocol gauges (the other SinkStats.extra keys): splunk_hec acks_pending, ack_fallback (docs/sinks.md).",
  ),
  m(
    'sensor',
    'aegisbpf_map_full_forecast_seconds',
    'gauge',
    ['map'],
    'sensor',
    false,
    'Seconds until a kernel policy map is forecast full, by linear regression over its recent entries (+Inf when not growing); with a trends source only.',
  ),
  m(
    'daemon',
    'aegisbpf_host_cpu_percent',
    'gauge',
    [],
    'sensor',
    false,
    'Busy share of all CPUs over the last host sample interval, percent (host source).',
  ),
  m(
    'daemon',
    'aegisbpf_host_load1',
    'gauge',
    [],
    'sensor',
    false,
    'One-minute load average at the last host sample (host source).',
  ),
  m(
    'daemon',
    'aegisbpf_host_memory_total_bytes',
    'gauge',
    [],
    'sensor',
    false,
    'MemTotal of the machine, bytes (host source).',
  ),
  m(
    'daemon',
    'aegisbpf_host_memory_available_bytes',
    'gauge',
    [],
    'sensor',
    false,
    'MemAvailable of the machine at the last host sample, bytes (host source).',
  ),
  m(
    'daemon',
    'aegisbpf_host_disk_read_bytes_total',
    'counter',
    [],
    'sensor',
    false,
    'Bytes read from whole disks since the host source started.',
  ),
  m(
    'daemon',
    'aegisbpf_host_disk_written_bytes_total',
    'counter',
    [],
    'sensor',
    false,
    'Bytes written to whole disks since the host source started.',
  ),
  m(
    'daemon',
    'aegisbpf_host_network_receive_bytes_total',
    'counter',
    [],
    'sensor',
    false,
    'Bytes received on every interface but lo since the host source started.',
  ),
  m(
    'daemon',
    'aegisbpf_host_network_transmit_bytes_total',
    'counter',
    [],
    'sensor',
    false,
    'Bytes sent on every interface but lo since the host source started.',
  ),
  m(
    'pipeline',
    'aegisbpf_anomaly_keys',
    'gauge',
    ['processor', 'detector'],
    'per-instance',
    false,
    'Keys an anomaly processor holds now, per detector kind (rate: keys, rare: pairs, isolation_forest: processes and sample vectors).',
  ),
  m(
    'pipeline',
    'aegisbpf_anomaly_keys_evicted_total',
    'counter',
    ['processor', 'detector'],
    'per-instance',
    false,
    'Keys an anomaly detector forgot because it held max_keys (least recently seen first): state lost to the bound.',
  ),
] as const satisfies readonly MetricSpec[];

export type MetricName = (typeof METRICS)[number]['name'];

const BY_NAME = new Map<string, MetricSpec>(METRICS.map((s) => [s.name, s]));

export function metricSpec(name: MetricName): MetricSpec {
  return BY_NAME.get(name) as MetricSpec;
}

/** The family a sample or query name belongs to (`x_bucket`, `x_sum`, `x_count` → `x` for histograms and summaries). */
export function familyOf(name: string): MetricSpec | undefined {
  const direct = BY_NAME.get(name);
  if (direct !== undefined) return direct;
  const m2 = /^(.*)_(bucket|sum|count)$/.exec(name);
  if (m2 === null) return undefined;
  const base = BY_NAME.get(m2[1] as string);
  if (base === undefined) return undefined;
  if (m2[2] === 'bucket' ? base.type === 'histogram' : base.type === 'histogram' || base.type === 'summary')
    return base;
  return undefined;
}

/** Every `aegisbpf_*` metric name referenced in a text (PromQL, YAML, JSON, Markdown). */
export function referencedMetricNames(text: string): Set<string> {
  return new Set(text.match(/\baegisbpf_[a-z0-9_]*[a-z0-9]\b/g) ?? []);
}
