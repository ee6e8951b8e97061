/**
 * `aegisbpf policy apply | rollback | show`, as a library.
 *
 * apply: parse + validate (no I/O) -> compile against the detected capabilities (refuses what the kernel cannot
 * enforce unless a fallback is named) -> capacity check -> write the maps all-or-nothing (when a sensor is running:
 * its maps, in-process or pinned) -> commit to the store. With no running sensor the policy is stored and applied
 * by the next sensor start (restore()).
 *
 * applyToKernel: the same checks and map write, without the store: for the API's blocklist, which writes the maps
 * first and persists the returned policy itself (asynchronously, group-committed; src/daemon/api/blocklist.ts).
 */
import type { RuleNames } from '../event-mapper';
import type { EnforcementCapabilities } from '../feature-probe';
import { SensorError } from '../../native/errors';
import type { CompiledRule, TargetResolver } from './policy-compile';
import { compilePolicy, fsResolver } from './policy-compile';
import { parsePolicy, validatePolicy } from './policy-file';
import type { PolicyMode } from './policy-file';
import type { MapsApplyResult, PolicyMapSet } from './policy-maps';
import { applyToMaps, mapUtilization, readConfig, ruleHits } from './policy-maps';
import { withChildSpan } from '../../telemetry/spans';
import type { PolicyStore, StoredPolicy } from './policy-store';

export interface ApplyResult {
  readonly generation: number;
  readonly mode: PolicyMode;
  /** true when written into kernel maps now; false when only stored for the next sensor start. */
  readonly live: boolean;
  readonly rules: readonly CompiledRule[];
  readonly warnings: readonly string[];
  readonly changes: MapsApplyResult | undefined;
  /** One sentence for the CLI and for the `sensor` event. */
  readonly message: string;
}

export interface PolicyShow {
  readonly current: StoredPolicy | undefined;
  readonly previous: StoredPolicy | undefined;
  /** What the kernel holds now, when a sensor is running. */
  readonly kernel:
    | {
        readonly mode: PolicyMode;
        readonly generation: number;
        readonly maps: readonly { readonly map: string; readonly entries: number; readonly capacity: number }[];
        /** Kernel hit counts by rule `id` (audit hits included), for the rules of the current policy that were hit. */
        readonly hits: Readonly<Record<string, number>>;
      }
    | undefined;
}

export interface PolicyEngine {
  apply(text: string, source: string): ApplyResult;
  rollback(): ApplyResult;
  show(): PolicyShow;
  /** Write the stored current policy into the maps (sensor start). undefined when nothing is stored. */
  restore(): ApplyResult | undefined;
  /**
   * Check and write `text` into the maps as the generation after `base` (the caller's view of the current policy,
   * which may be ahead of the store's), leaving the store alone: the caller persists `stored`. Throws as apply().
   * `document`: `text` already parsed (the blocklist builds the document and stores its JSON form as `text`), so that
   * a change does not parse its own text again (a YAML parse was ~0.6 ms of a one-rule change, ~17 ms at 100 rules).
   */
  applyToKernel(
    text: string,
    source: string,
    base: StoredPolicy | undefined,
    document?: unknown,
  ): { readonly result: ApplyResult; readonly stored: StoredPolicy };
}

export interface PolicyEngineOptions {
  readonly store: PolicyStore;
  readonly capabilities: EnforcementCapabilities;
  /** Live maps; undefined when no sensor is running. */
  readonly maps?: PolicyMapSet;
  readonly cgroupRoot?: string;
  readonly resolver?: TargetResolver;
  readonly now?: () => Date;
  /**
   * Where the guide's log lines go (the daemon's logger; the policy command's JSON lines on stderr): a policy that
   * does not fit a map logs `Failed to insert into <map>_map` with `error: "E2BIG (map full)"`, `map`,
   * `current_entries`, `max_entries` (and `required_entries`).
   */
  readonly log?: (level: 'error', message: string, fields: Readonly<Record<string, unknown>>) => void;
}

const written = new Set<() => void>();

/**
 * Told, in this process, each time the maps accepted a policy (synchronously, after the write): the sensor checks
 * its inbound filter at once (attach on the first `direction: in` rule) instead of at its next rescan. Returns the
 * unsubscribe function.
 */
export function onPolicyWritten(listener: () => void): () => void {
  written.add(listener);
  return () => written.delete(listener);
}

export function createPolicyEngine(options: PolicyEngineOptions): PolicyEngine {
  const { store, capabilities, maps } = options;
  const resolver = options.resolver ?? fsResolver(options.cgroupRoot);
  const now = options.now ?? (() => new Date());

  const install = (
    text: string,
    source: string,
    generation: number,
    commitToStore: boolean,
    document?: unknown,
  ): { result: ApplyResult; stored: StoredPolicy } => {
    const policy = document === undefined ? parsePolicy(text, source) : validatePolicy(document, source);
    const compiled = compilePolicy(policy, capabilities, resolver);
    const stored: StoredPolicy = {
      generation,
      appliedAt: now().toISOString(),
      source,
      text,
      mode: compiled.mode,
      rules: compiled.rules,
      live: maps !== undefined,
    };
    const pending = commitToStore ? store.stage(stored) : undefined;
    // `run --enforce|--audit` decides the mode the kernel holds while that daemon runs; the stored policy keeps its own.
    const forced = store.modeOverride();
    const mode = forced ?? compiled.mode;
    let changes: MapsApplyResult | undefined;
    try {
      if (maps !== undefined) {
        const m = maps;
        changes = withChildSpan('policy.apply_internal', () => applyToMaps(m, { ...compiled, mode }, generation));
      }
    } catch (err) {
      pending?.abort();
      if (maps !== undefined) logMapFull(err, maps);
      throw err;
    }
    pending?.commit();
    if (maps !== undefined) for (const l of written) l();
    const where =
      maps !== undefined
        ? 'now enforced by the running sensor'
        : 'stored; no sensor is running, it applies when the sensor starts';
    const forcedNote = forced !== undefined && forced !== compiled.mode ? `, forced by run --${forced}` : '';
    const result: ApplyResult = {
      generation,
      mode,
      live: maps !== undefined,
      rules: compiled.rules,
      warnings: compiled.warnings,
      changes,
      message: `Policy generation ${generation} from ${source} (${compiled.rules.length} rules, mode ${mode}${forcedNote}) is ${where}.`,
    };
    return { result, stored };
  };

  const logMapFull = (err: unknown, m: PolicyMapSet): void => {
    if (!(err instanceof SensorError) || err.code !== 'AEGIS_ERR_POLICY_MAP_FULL' || options.log === undefined) return;
    const d = (err.details ?? {}) as { map?: unknown; entries?: unknown; capacity?: unknown };
    const map = typeof d.map === 'string' ? d.map : 'unknown';
    const now = mapUtilization(m).find((u) => u.map === map);
    options.log('error', `Failed to insert into ${map}_map`, {
      error: 'E2BIG (map full)',
      map,
      current_entries: now?.entries ?? null,
      max_entries: typeof d.capacity === 'number' ? d.capacity : (now?.capacity ?? null),
      required_entries: typeof d.entries === 'number' ? d.entries : null,
      code: err.code,
    });
  };

  return {
    apply(text, source) {
      return withChildSpan(
        'policy.apply',
        () => install(text, source, (store.current()?.generation ?? 0) + 1, true).result,
      );
    },
    rollback() {
      const prev = store.previous();
      if (prev === undefined)
        throw new SensorError(
          'AEGIS_ERR_POLICY_NO_PREVIOUS',
          `there is no previously applied policy in ${store.dir} to roll back to`,
        );
      const result = withChildSpan(
        'policy.rollback_last_applied',
        () => install(prev.text, prev.source, (store.current()?.generation ?? 0) + 1, true).result,
      );
      return {
        ...result,
        message: `Rolled back to the policy from ${prev.source} (applied ${prev.appliedAt}): ${result.message}`,
      };
    },
    show() {
      return {
        current: store.current(),
        previous: store.previous(),
        kernel:
          maps === undefined
            ? undefined
            : { ...readConfig(maps), maps: mapUtilization(maps), hits: hitsByRule(maps, store.current()?.rules ?? []) },
      };
    },
    restore() {
      const cur = store.current();
      if (cur === undefined) return undefined;
      return install(cur.text, cur.source, cur.generation, false).result;
    },
    applyToKernel(text, source, base, document) {
      return withChildSpan('policy.apply', () => install(text, source, (base?.generation ?? 0) + 1, false, document));
    },
  };
}

function hitsByRule(maps: PolicyMapSet, rules: readonly CompiledRule[]): Record<string, number> {
  const byId = ruleHits(maps);
  const out: Record<string, number> = {};
  for (const r of rules) {
    const n = byId.get(r.ruleId);
    if (n !== undefined) out[r.id] = n;
  }
  return out;
}

/**
 * Rule id -> rule name over the stored current and previous policies (records in flight during a change may
 * carry either). Re-reads the store when current.json changed, checked at most once per `recheckMillis`.
 */
export function storeRuleNames(store: PolicyStore, recheckMillis = 1000): RuleNames {
  let names = new Map<number, string>();
  let version: string | undefined;
  let checkedAt = Number.NEGATIVE_INFINITY;
  const reload = (): void => {
    const v = store.currentVersion();
    if (v === version) return;
    version = v;
    const next = new Map<number, string>();
    for (const p of [store.previous(), store.current()]) for (const r of p?.rules ?? []) next.set(r.ruleId, r.id);
    names = next;
  };
  return {
    name(ruleId) {
      const hit = names.get(ruleId);
      if (hit !== undefined) return hit;
      const t = Date.now();
      if (t - checkedAt >= recheckMillis) {
        checkedAt = t;
        reload();
      }
      return names.get(ruleId);
    },
  };
}
