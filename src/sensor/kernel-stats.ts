/**
 * The kernel-side counters (struct aegis_stats, one per-CPU entry), summed over CPUs.
 * Every ring-buffer reserve failure is in `drops` per op: a drop is never silent.
 */
import type { NativeMap } from '../native/binding';
import type { ActionName, OpName } from './abi';
import { ACTION_IDS, MAP_ID_NAMES, OP, STATS } from './abi';
import { sumPercpuU64, zeroKey } from './bpf-map';

export interface KernelStats {
  readonly events: Readonly<Record<OpName, number>>;
  readonly drops: Readonly<Record<OpName, number>>;
  readonly eventsTotal: number;
  readonly dropsTotal: number;
  /** Rule hits per action (AUDIT included, audit-mode hits included). */
  readonly blocks: Readonly<Record<ActionName, number>>;
  /** Rule hits the kernel enforced, per action: the operation was denied or the signal sent. */
  readonly enforced: Readonly<Record<ActionName, number>>;
  /** connect() calls the cgroup hooks denied. */
  readonly netConnectDenied: number;
  /** Kernel-side map update failures, per map. */
  readonly mapFull: Readonly<Record<string, number>>;
  readonly signalFailures: number;
}

const OP_ENTRIES = Object.entries(OP) as [OpName, number][];
const ACTION_ENTRIES = (Object.entries(ACTION_IDS) as [ActionName | 'NONE', number][]).filter(
  (e): e is [ActionName, number] => e[0] !== 'NONE',
);

export function readKernelStats(statsMap: NativeMap): KernelStats {
  const cpus = statsMap.possibleCpus ?? 1;
  const value = statsMap.lookup(zeroKey());
  const zeroes = new Array<number>(64).fill(0);
  const events = value === null ? zeroes : sumPercpuU64(value, STATS, 'events', cpus);
  const drops = value === null ? zeroes : sumPercpuU64(value, STATS, 'drops', cpus);
  const blocks = value === null ? zeroes : sumPercpuU64(value, STATS, 'blocks', cpus);
  const mapFull = value === null ? zeroes : sumPercpuU64(value, STATS, 'map_full', cpus);
  const enforced = value === null ? zeroes : sumPercpuU64(value, STATS, 'enforced', cpus);
  const signalFailures = value === null ? 0 : (sumPercpuU64(value, STATS, 'signal_failures', cpus)[0] as number);
  const netConnectDenied = value === null ? 0 : (sumPercpuU64(value, STATS, 'net_connect_denied', cpus)[0] as number);
  const byAction = (arr: number[]) =>
    Object.fromEntries(ACTION_ENTRIES.map(([name, id]) => [name, arr[id] ?? 0])) as Record<ActionName, number>;
  const byOp = (arr: number[]) =>
    Object.fromEntries(OP_ENTRIES.map(([name, id]) => [name, arr[id] ?? 0])) as Record<OpName, number>;
  return {
    events: byOp(events),
    drops: byOp(drops),
    eventsTotal: events.reduce((a, b) => a + b, 0),
    dropsTotal: drops.reduce((a, b) => a + b, 0),
    blocks: byAction(blocks),
    enforced: byAction(enforced),
    netConnectDenied,
    mapFull: Object.fromEntries(MAP_ID_NAMES.map((name, id) => [name, mapFull[id] ?? 0])),
    signalFailures,
  };
}
