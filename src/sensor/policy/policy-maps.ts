/**
 * Writing a compiled policy into the kernel maps, all or nothing.
 *
 * 1. Capacity first: if any map would need more entries than it holds, nothing is touched and the error names the
 *    map, the entries needed and the capacity (E2BIG).
 * 2. Snapshot every policy map (and the config) as it is now.
 * 3. Delete what the new policy drops, then insert/overwrite what it adds or changes (deletes first so a full map has
 *    room), then write the mode and generation. An entry that stays the same is not written, so it keeps the hit
 *    count the kernel keeps in it.
 * 4. Any failure restores the snapshot, so the kernel keeps enforcing the previous policy, and the error says so.
 *
 * Between steps 3's first write and its last, the kernel sees a mix of old and new rules (single map updates are
 * atomic, a set of them is not); that window is a few milliseconds for typical policies.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { NativeBinding, NativeMap } from '../../native/binding';
import { SensorError, isNativeError } from '../../native/errors';
import { CONFIG, MAPS, MODE_IDS, RULE } from '../abi';
import { zeroKey } from '../bpf-map';
import type { CompiledPolicy, MapEntry, PolicyMapKey } from './policy-compile';
import { POLICY_MAP_KEYS } from './policy-compile';

export type PolicyMapSet = Readonly<Record<PolicyMapKey | 'config', NativeMap>>;

const E2BIG = 7;

/** The policy maps pinned in `pinDir` by a running sensor, or undefined when no sensor has pinned them. */
export function openPinnedPolicyMaps(native: NativeBinding, pinDir: string): PolicyMapSet | undefined {
  const keys: (PolicyMapKey | 'config')[] = [...POLICY_MAP_KEYS, 'config'];
  if (!keys.every((k) => fs.existsSync(path.join(pinDir, MAPS[k])))) return undefined;
  const opened: [string, NativeMap][] = [];
  try {
    for (const k of keys) opened.push([k, native.openPinnedMap(path.join(pinDir, MAPS[k]))]);
  } catch (err) {
    for (const [, m] of opened) m.close();
    throw err;
  }
  return Object.fromEntries(opened) as PolicyMapSet;
}

export function closePolicyMaps(maps: PolicyMapSet): void {
  for (const m of Object.values(maps)) m.close();
}

interface Snapshot {
  readonly entries: ReadonlyMap<string, MapEntry>;
}

function snapshot(map: NativeMap): Snapshot {
  const { count, keys, values } = map.entries();
  const out = new Map<string, MapEntry>();
  for (let i = 0; i < count; i++) {
    const key = Buffer.from(keys.subarray(i * map.keySize, (i + 1) * map.keySize));
    out.set(key.toString('hex'), {
      key,
      value: Buffer.from(values.subarray(i * map.valueBytes, (i + 1) * map.valueBytes)),
    });
  }
  return { entries: out };
}

/** Throws AEGIS_ERR_POLICY_MAP_FULL when `compiled` does not fit; touches nothing. */
export function checkCapacity(maps: PolicyMapSet, compiled: CompiledPolicy): void {
  for (const k of POLICY_MAP_KEYS) {
    const need = compiled.entries[k].size;
    const cap = maps[k].maxEntries;
    if (need > cap) {
      throw new SensorError(
        'AEGIS_ERR_POLICY_MAP_FULL',
        `policy needs ${need} entries in map ${MAPS[k]}, which holds ${cap} (E2BIG); nothing was applied`,
        {
          errno: E2BIG,
          details: { map: MAPS[k], entries: need, capacity: cap },
        },
      );
    }
  }
}

export interface MapsApplyResult {
  readonly added: number;
  readonly removed: number;
  readonly unchanged: number;
}

/**
 * Whether an entry already in a map says what the compiled one says. Rule values end with the kernel's hit counter
 * (`aegis_rule.hits`), which the compiled value has as 0: it is not compared, so an entry the new policy keeps is not
 * rewritten and keeps its count.
 */
function sameRule(inMap: Buffer, compiled: Buffer): boolean {
  if (inMap.length !== compiled.length) return false;
  const end = compiled.length === RULE.size ? RULE.fields.hits.offset : compiled.length;
  return inMap.compare(compiled, 0, end, 0, end) === 0;
}

/** Apply all-or-nothing (see the file comment). */
export function applyToMaps(maps: PolicyMapSet, compiled: CompiledPolicy, generation: number): MapsApplyResult {
  checkCapacity(maps, compiled);
  const before = new Map<PolicyMapKey, Snapshot>(POLICY_MAP_KEYS.map((k) => [k, snapshot(maps[k])]));
  const configBefore = maps.config.lookup(zeroKey());
  let added = 0;
  let removed = 0;
  let unchanged = 0;
  let current: { map: PolicyMapKey | 'config'; op: string } = { map: 'config', op: 'start' };
  try {
    for (const k of POLICY_MAP_KEYS) {
      const old = (before.get(k) as Snapshot).entries;
      const want = compiled.entries[k];
      current = { map: k, op: 'delete' };
      for (const [hex, e] of old) {
        if (!want.has(hex)) {
          maps[k].delete(e.key);
          removed++;
        }
      }
    }
    for (const k of POLICY_MAP_KEYS) {
      const old = (before.get(k) as Snapshot).entries;
      current = { map: k, op: 'update' };
      for (const [hex, e] of compiled.entries[k]) {
        const prev = old.get(hex);
        if (prev !== undefined && sameRule(prev.value, e.value)) {
          unchanged++;
          continue;
        }
        maps[k].update(e.key, e.value);
        added++;
      }
    }
    current = { map: 'config', op: 'update' };
    const cfg = Buffer.alloc(CONFIG.size);
    cfg.writeUInt32LE(MODE_IDS[compiled.mode], CONFIG.fields.mode.offset);
    cfg.writeUInt32LE(generation >>> 0, CONFIG.fields.generation.offset);
    maps.config.update(zeroKey(), cfg);
  } catch (err) {
    const restoreErrors = restore(maps, before, configBefore);
    const full = isNativeError(err) && err.code === 'AEGIS_ERR_MAP_FULL';
    const mapName = MAPS[current.map];
    const restored =
      restoreErrors.length === 0
        ? 'the previous policy was restored'
        : `restoring the previous policy also failed: ${restoreErrors.join('; ')}`;
    if (full && current.map !== 'config') {
      const need = compiled.entries[current.map].size;
      throw new SensorError(
        'AEGIS_ERR_POLICY_MAP_FULL',
        `map ${mapName} is full (E2BIG) while applying ${need} entries (capacity ${maps[current.map].maxEntries}); ${restored}`,
        {
          cause: err,
          errno: E2BIG,
          details: { map: mapName, entries: need, capacity: maps[current.map].maxEntries },
        },
      );
    }
    throw new SensorError(
      'AEGIS_ERR_POLICY_APPLY',
      `writing map ${mapName} (${current.op}) failed: ${(err as Error).message}; ${restored}`,
      {
        cause: err,
        ...(isNativeError(err) ? { errno: err.errno } : {}),
      },
    );
  }
  return { added, removed, unchanged };
}

function restore(
  maps: PolicyMapSet,
  before: ReadonlyMap<PolicyMapKey, Snapshot>,
  configBefore: Buffer | null,
): string[] {
  const errors: string[] = [];
  for (const k of POLICY_MAP_KEYS) {
    const old = (before.get(k) as Snapshot).entries;
    try {
      const now = snapshot(maps[k]).entries;
      for (const [hex, e] of now) if (!old.has(hex)) maps[k].delete(e.key);
      for (const [, e] of old) maps[k].update(e.key, e.value);
    } catch (err) {
      errors.push(`${MAPS[k]}: ${(err as Error).message}`);
    }
  }
  try {
    if (configBefore !== null) maps.config.update(zeroKey(), configBefore);
  } catch (err) {
    errors.push(`${MAPS.config}: ${(err as Error).message}`);
  }
  return errors;
}

/** Entries currently in each policy map, with capacity (for `policy show` and utilization metrics). */
/** The hit counter of the `aegis_rule` value at `offset` (u64; exact below 2^53, 285 years at a million hits a second). */
export function ruleValueHits(values: Buffer, offset: number): number {
  const at = offset + RULE.fields.hits.offset;
  return values.readUInt32LE(at) + values.readUInt32LE(at + 4) * 0x1_0000_0000;
}

/** The maps whose values are `aegis_rule` (id, action, hit counter); allow_cgroup and deny_path_leaf are not. */
const RULE_VALUE_MAPS: readonly PolicyMapKey[] = [
  'denyInode',
  'denyPath',
  'netV4Lpm',
  'netV6Lpm',
  'netPort',
  'netAddrPort',
  'netInV4Lpm',
  'netInV6Lpm',
];

/**
 * Hits per rule id, summed over every entry of the rule maps (a rule may own several entries). Rules never hit are
 * absent. One pass over the maps (a few ms for full ones): for `aegisbpf policy show`, not per event.
 */
export function ruleHits(maps: PolicyMapSet): Map<number, number> {
  const out = new Map<number, number>();
  for (const k of RULE_VALUE_MAPS) {
    const map = maps[k];
    if (map.valueSize !== RULE.size) continue;
    const { count, values } = map.entries();
    for (let i = 0; i < count; i++) {
      const hits = ruleValueHits(values, i * map.valueBytes);
      if (hits === 0) continue;
      const id = values.readUInt32LE(i * map.valueBytes + RULE.fields.rule_id.offset);
      out.set(id, (out.get(id) ?? 0) + hits);
    }
  }
  return out;
}

export function mapUtilization(
  maps: PolicyMapSet,
): { readonly map: string; readonly entries: number; readonly capacity: number }[] {
  return POLICY_MAP_KEYS.map((k) => ({ map: MAPS[k], entries: maps[k].entries().count, capacity: maps[k].maxEntries }));
}

/** Mode and generation currently in the kernel config map. */
export function readConfig(maps: PolicyMapSet): { readonly mode: 'audit' | 'enforce'; readonly generation: number } {
  const v = maps.config.lookup(zeroKey());
  const mode = v === null ? 0 : v.readUInt32LE(CONFIG.fields.mode.offset);
  return {
    mode: mode === MODE_IDS.enforce ? 'enforce' : 'audit',
    generation: v === null ? 0 : v.readUInt32LE(CONFIG.fields.generation.offset),
  };
}
