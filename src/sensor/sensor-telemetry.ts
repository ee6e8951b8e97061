/**
 * The sensor's side of telemetry: `SensorStats` (src/telemetry/sensor-stats.ts) read from the kernel maps, for the
 * metrics endpoint, `aegisbpf stats` and `/ready`.
 *
 * Everything is read when asked (a scrape, a `stats` request), never per event: the per-CPU counters of
 * `aegis_stats` are summed over CPUs, the mode comes from `aegis_config`, and each policy map is iterated once for
 * its entry count (the kernel keeps no count; another process, `aegisbpf policy`, changes the maps, so user space
 * cannot keep one either). A scrape therefore costs one pass over the loaded rules: tens of microseconds for a few
 * hundred rules, a few milliseconds for a full deny_inode (65 536 entries).
 *
 * Per-path and per-inode hit counts (`--detailed`, `aegisbpf_blocks_by_path`/`_by_inode`) come from the policy maps
 * themselves: every rule value carries a hit counter (`aegis_rule.hits`) the kernel adds to atomically on each hit,
 * audit hits included. `readSensorDetailed` walks `deny_path` and `deny_inode` once and returns the entries that were
 * hit; an entry's count lives as long as the entry (an apply that keeps the rule does not rewrite it).
 */
import fs from 'node:fs';
import path from 'node:path';
import type { NativeBinding, NativeMap } from '../native/binding';
import type {
  NetRuleType,
  PacketAction,
  SensorDetailedStats,
  SensorMapStats,
  SensorStats,
  SensorStatsSource,
} from '../telemetry/sensor-stats';
import { INODE_KEY, MAPS, PATH_KEY, PKT_STATS, V4_LPM_KEY, V6_LPM_KEY } from './abi';
import { readKernelStats } from './kernel-stats';
import { decodeCString } from './text';
import { POLICY_MAP_KEYS } from './policy/policy-compile';
import type { PolicyMapSet } from './policy/policy-maps';
import { readConfig, ruleValueHits } from './policy/policy-maps';

/** The maps the telemetry reads: the policy maps, the config and the counters. */
export type TelemetryMaps = PolicyMapSet & { readonly stats: NativeMap; readonly pktStats?: NativeMap };

/** The ingress program's per-CPU PASS/DROP counters, summed (bpf/include/aegis_maps.h aegis_pkt_stats). */
export function readPacketStats(map: NativeMap): Record<PacketAction, number> {
  const sum = (slot: number): number => {
    const key = Buffer.alloc(4);
    key.writeUInt32LE(slot);
    const v = map.lookup(key);
    if (v === null) return 0;
    let n = 0;
    for (let off = 0; off + 8 <= v.length; off += 8) n += v.readUInt32LE(off) + v.readUInt32LE(off + 4) * 0x1_0000_0000;
    return n;
  };
  return { PASS: sum(PKT_STATS.pass), DROP: sum(PKT_STATS.drop) };
}

function countLpm(
  map: NativeMap,
  fullPrefix: number,
  out: Record<NetRuleType, number>,
  keys: Buffer,
  count: number,
): void {
  const off = (map.keySize === V4_LPM_KEY.size ? V4_LPM_KEY : V6_LPM_KEY).fields.prefixlen.offset;
  for (let i = 0; i < count; i++) {
    if (keys.readUInt32LE(i * map.keySize + off) === fullPrefix) out.ip++;
    else out.cidr++;
  }
}

/**
 * The counters and maps as they are now. `ip` rules are exact addresses (with or without a port), `cidr` prefixes,
 * `port` rules without an address.
 */
export function readSensorStats(
  maps: TelemetryMaps,
  state: {
    readonly attached: boolean;
    readonly backend: string | undefined;
    readonly ingress?: { readonly hook: string; readonly targets: readonly string[] };
  },
): SensorStats {
  const k = readKernelStats(maps.stats);
  const { mode } = readConfig(maps);
  const netRules: Record<NetRuleType, number> = { ip: 0, cidr: 0, port: 0 };
  const mapStats: SensorMapStats[] = [];
  for (const key of POLICY_MAP_KEYS) {
    const map = maps[key];
    const e = map.entries();
    mapStats.push({ map: MAPS[key], entries: e.count, capacity: map.maxEntries });
    if (key === 'netV4Lpm' || key === 'netInV4Lpm') countLpm(map, 32, netRules, e.keys, e.count);
    else if (key === 'netV6Lpm' || key === 'netInV6Lpm') countLpm(map, 128, netRules, e.keys, e.count);
    else if (key === 'netPort') netRules.port += e.count;
    else if (key === 'netAddrPort') netRules.ip += e.count;
  }
  return {
    attached: state.attached,
    mode: state.attached ? mode : undefined,
    backend: state.attached ? state.backend : undefined,
    blocks: { BLOCK: k.enforced.BLOCK, TERM: k.enforced.TERM, KILL: k.enforced.KILL, INT: k.enforced.INT },
    ringbufEvents: k.eventsTotal,
    ringbufDrops: k.dropsTotal,
    // cgroup/connect4|6 are the only network hooks: nothing is ever denied at bind().
    netBlocks: { connect: k.netConnectDenied, bind: 0 },
    netRingbufDrops: k.drops.CONNECT,
    maps: mapStats,
    netRules,
    ...(state.ingress !== undefined ? { ingress: state.ingress } : {}),
    ...(state.ingress !== undefined && state.ingress.hook !== 'none' && maps.pktStats !== undefined
      ? { packets: readPacketStats(maps.pktStats) }
      : {}),
  };
}

/**
 * Hits per `deny_path` entry (key: the path) and per `deny_inode` entry (key: `dev:ino`, dev in the kernel's
 * encoding as in the events' `dev` field); entries never hit are left out, so the series are the rules that fired.
 */
export function readSensorDetailed(maps: Pick<TelemetryMaps, 'denyPath' | 'denyInode'>): SensorDetailedStats {
  const blocksByPath = new Map<string, number>();
  const paths = maps.denyPath.entries();
  for (let i = 0; i < paths.count; i++) {
    const hits = ruleValueHits(paths.values, i * maps.denyPath.valueBytes);
    if (hits > 0)
      blocksByPath.set(
        decodeCString(paths.keys, i * maps.denyPath.keySize + PATH_KEY.fields.path.offset, PATH_KEY.fields.path.size),
        hits,
      );
  }
  const blocksByInode = new Map<string, number>();
  const inodes = maps.denyInode.entries();
  for (let i = 0; i < inodes.count; i++) {
    const hits = ruleValueHits(inodes.values, i * maps.denyInode.valueBytes);
    if (hits === 0) continue;
    const k = i * maps.denyInode.keySize;
    const ino = inodes.keys.readBigUInt64LE(k + INODE_KEY.fields.ino.offset);
    const dev = inodes.keys.readUInt32LE(k + INODE_KEY.fields.dev.offset);
    blocksByInode.set(`${dev}:${ino}`, hits);
  }
  return { blocksByPath, blocksByInode };
}

/**
 * The stats of a sensor that no daemon answers for (and its per-rule hits with `detailed`), from the maps it pinned in `pinDir` (left by a daemon that did
 * not stop cleanly, or one that runs without a control socket); undefined when nothing is pinned there. Read once,
 * at call time; the maps are closed before returning. Throws when the pins exist but cannot be opened (not root).
 */
export function openPinnedSensorStats(
  native: NativeBinding,
  pinDir: string,
  detailed = false,
): SensorStatsSource | undefined {
  const keys: (keyof TelemetryMaps)[] = [...POLICY_MAP_KEYS, 'config', 'stats'];
  for (const key of keys) {
    try {
      fs.statSync(path.join(pinDir, MAPS[key]));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw new Error(`cannot read the pinned maps in ${pinDir}: ${(err as Error).message} (they are root's)`, {
        cause: err,
      });
    }
  }
  const opened = new Map<string, NativeMap>();
  try {
    for (const key of keys) opened.set(key, native.openPinnedMap(path.join(pinDir, MAPS[key])));
    const maps = Object.fromEntries(opened) as unknown as TelemetryMaps;
    const snapshot = readSensorStats(maps, { attached: false, backend: undefined });
    const hits = detailed ? readSensorDetailed(maps) : undefined;
    return {
      absentReason: `no daemon answered; kernel counters from the maps pinned in ${pinDir}`,
      read: () => snapshot,
      ...(hits !== undefined ? { readDetailed: () => hits } : {}),
    };
  } finally {
    for (const m of opened.values()) m.close();
  }
}
