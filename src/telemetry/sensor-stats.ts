/**
 * What the kernel sensor reports to the metrics endpoint, `aegisbpf stats` and `/ready`: the telemetry side of the
 * sensor, independent of how the sensor reads its per-CPU maps.
 *
 * The StatsRegistry holds one `SensorStatsSource` (`stats.sensor`). Without a `sensor` source in the configuration
 * it is `NO_SENSOR`: not attached, every counter a real zero (nothing was blocked, no ring buffer exists, so nothing
 * was dropped), and no maps — map gauges are exported only for maps that exist, never with invented capacities.
 *
 * The `sensor` source (src/pipeline/sources/sensor.ts) sets `registry.sensor` to a source whose `read()` sums the
 * kernel counters at call time (src/sensor/sensor-telemetry.ts; called at scrape time, never per event) and
 * registers the `sensor` readiness check. Counters are cumulative since the maps were created; gauges are current
 * values.
 */

/** Enforcement actions that count as blocks in `aegisbpf_blocks_total{action}` (AUDIT is an observation, not a block). */
export const BLOCK_ACTIONS = ['BLOCK', 'TERM', 'KILL', 'INT'] as const;
export type BlockAction = (typeof BLOCK_ACTIONS)[number];

/** Network operations counted in `aegisbpf_net_blocks_total{type}`. */
export const NET_BLOCK_TYPES = ['connect', 'bind'] as const;
export type NetBlockType = (typeof NET_BLOCK_TYPES)[number];

/** Verdicts of the inbound filter counted in `aegisbpf_packets_total{direction,action}`. */
export const PACKET_ACTIONS = ['PASS', 'DROP'] as const;
export type PacketAction = (typeof PACKET_ACTIONS)[number];

/** Rule kinds counted in `aegisbpf_net_rules_total{type}`. */
export const NET_RULE_TYPES = ['ip', 'cidr', 'port'] as const;
export type NetRuleType = (typeof NET_RULE_TYPES)[number];

export interface SensorMapStats {
  /** Map name as the guide spells it: `deny_inode`, `deny_path`, `allow_cgroup`, `net_v4_lpm`, … (bounded set). */
  readonly map: string;
  readonly entries: number;
  /** `max_entries` of the loaded map. */
  readonly capacity: number;
}

export interface SensorStats {
  /** Programs are loaded and attached, and the ring buffer is being read. */
  readonly attached: boolean;
  /** `enforce` or `audit`; undefined when not attached. */
  readonly mode: 'enforce' | 'audit' | undefined;
  /** Hook backend in use (`lsm`, `tracepoint`, …); undefined when not attached. */
  readonly backend: string | undefined;
  /** Rule hits that were enforced, per action (cumulative). */
  readonly blocks: Readonly<Record<BlockAction, number>>;
  /** Records written to the ring buffer (cumulative; excludes drops). */
  readonly ringbufEvents: number;
  /** Records the kernel could not reserve in the ring buffer (cumulative; all ops, network included). */
  readonly ringbufDrops: number;
  /** Network operations denied, per type (cumulative). */
  readonly netBlocks: Readonly<Record<NetBlockType, number>>;
  /** Of `ringbufDrops`, the drops of network records. */
  readonly netRingbufDrops: number;
  /** Every loaded policy map with its entries and capacity. Empty when no sensor is loaded. */
  readonly maps: readonly SensorMapStats[];
  /** Network deny rules per kind; undefined when the network maps are not loaded. */
  readonly netRules: Readonly<Record<NetRuleType, number>> | undefined;
  /**
   * Packets the inbound (direction `in`) filter saw, per verdict (cumulative, per-CPU counters summed); undefined
   * when no ingress program is loaded. Outbound entries act on connect() calls (`netBlocks.connect`), not packets.
   */
  readonly packets?: Readonly<Record<PacketAction, number>>;
  /** Where the inbound filter is attached (`xdp` on interfaces, `cgroup_skb` on a cgroup, `none`); absent when off. */
  readonly ingress?: { readonly hook: string; readonly targets: readonly string[] };
}

/** High-cardinality per-rule hit counters (`--detailed` only): the policy map entries that were hit. Keys: path; `dev:ino` for inodes. */
export interface SensorDetailedStats {
  readonly blocksByPath: ReadonlyMap<string, number>;
  readonly blocksByInode: ReadonlyMap<string, number>;
}

export interface SensorStatsSource {
  /** Why there is no sensor, when there is none (shown by `aegisbpf stats`). */
  readonly absentReason?: string;
  /** Current counters; called at scrape time and by `aegisbpf stats`. Must be cheap and must not throw. */
  read(): SensorStats;
  /** Per-path and per-inode counters; only called with `--detailed`. */
  readDetailed?(): SensorDetailedStats;
}

const zeroBlocks: Readonly<Record<BlockAction, number>> = Object.freeze({ BLOCK: 0, TERM: 0, KILL: 0, INT: 0 });
const zeroNetBlocks: Readonly<Record<NetBlockType, number>> = Object.freeze({ connect: 0, bind: 0 });

/** The sensor stats when no sensor is loaded: real zeros, no maps. */
export const NO_SENSOR_STATS: SensorStats = Object.freeze({
  attached: false,
  mode: undefined,
  backend: undefined,
  blocks: zeroBlocks,
  ringbufEvents: 0,
  ringbufDrops: 0,
  netBlocks: zeroNetBlocks,
  netRingbufDrops: 0,
  maps: Object.freeze([]),
  netRules: undefined,
});

export const NO_SENSOR: SensorStatsSource = Object.freeze({
  absentReason: 'no sensor source is configured',
  read: () => NO_SENSOR_STATS,
});
