/**
 * The three detectors of the `anomaly` processor. Each observes events in stream order, keeps bounded state (at most
 * `maxKeys` keys, the least recently seen evicted first and counted) and appends findings to `out`. Time is the
 * events' own `ts` (epoch milliseconds passed in): windows follow the stream, so a replay finds what live did.
 */
import type { AegisEvent, AnomalyDetector } from '../../event/types';
import { fieldValue } from './common';
import { trainIsolationForest } from './anomaly-iforest';
import type { IsolationForest } from './anomaly-iforest';

export interface Finding {
  readonly detector: AnomalyDetector;
  readonly key: string;
  readonly score: number;
  readonly threshold: number;
  readonly baseline?: number;
  /** The event whose identity the finding carries. */
  readonly trigger: AegisEvent;
  /** Event time of the finding, epoch ms. */
  readonly atMillis: number;
  readonly message: string;
}

export interface Detector {
  readonly kind: AnomalyDetector;
  observe(event: AegisEvent, atMillis: number, out: Finding[]): void;
  /** JSON-safe state for the data dir. */
  snapshot(): unknown;
  restore(state: unknown): void;
  /** Keys held now, and keys evicted since start. */
  counts(): { readonly keys: number; readonly evicted: number };
}

const MAX_KEY_CHARS = 4096;

/** `a=1 b=2` from the key fields; undefined when any is absent (the event is not about what the detector keys). */
function keyText(event: AegisEvent, fields: readonly string[]): string | undefined {
  let out = '';
  for (const f of fields) {
    const v = fieldValue(event as unknown as Record<string, unknown>, f);
    if (v === undefined || v === null) return undefined;
    out += (out === '' ? '' : ' ') + f + '=' + (typeof v === 'string' ? v : JSON.stringify(v));
  }
  return out.length > MAX_KEY_CHARS ? out.slice(0, MAX_KEY_CHARS) : out;
}

/**
 * Make room in a full `map` by forgetting its least recently seen eighth (Map iteration order is insertion order,
 * and touch() re-inserts). In batches, not one key per new key: V8 leaves a deleted entry as a hole until the
 * table is rebuilt, so deleting the first key again and again makes every `keys().next()` walk all the earlier holes
 * (measured: 8 µs per event instead of under 1 µs with 10 000 keys and a new key per event). Returns how many went.
 */
function evictOldest<V>(map: Map<string, V>, maxKeys: number): number {
  if (map.size < maxKeys) return 0;
  const n = Math.max(1, Math.ceil(maxKeys / 8));
  let evicted = 0;
  for (const k of map.keys()) {
    map.delete(k);
    if (++evicted >= n) break;
  }
  return evicted;
}

/** Move `key` to the most recent end of `map` (Map iteration order is insertion order). */
function touch<V>(map: Map<string, V>, key: string, value: V): void {
  map.delete(key);
  map.set(key, value);
}

function median(sorted: readonly number[]): number {
  const n = sorted.length;
  return n % 2 === 1 ? sorted[(n - 1) / 2]! : (sorted[n / 2 - 1]! + sorted[n / 2]!) / 2;
}

// ---------------------------------------------------------------------------------------------------------------
// rate

export interface RateOptions {
  readonly key: readonly string[];
  readonly windowMillis: number;
  readonly baselineMillis: number;
  readonly threshold: number;
  /** Centre of the baseline: the median of past windows (default) or their EWMA. */
  readonly center: 'median' | 'ewma';
  readonly maxKeys: number;
}

interface RateKey {
  window: number;
  count: number;
  /** Counts of past windows, oldest first, at most baselineMillis / windowMillis of them. */
  history: number[];
  ewma: number;
  /** Count at which the current window is reported (Infinity while the history is too short). */
  limit: number;
  center: number;
  scale: number;
  reported: boolean;
}

/**
 * Per-key event counts per window, compared with the key's own past windows by a robust z-score:
 * z = (count − centre) / scale, centre the median (or EWMA) of past counts, scale 1.4826 × MAD (the standard
 * deviation a MAD estimates for normal data) but at least √centre and 1 (the Poisson noise of a count, so that a
 * perfectly regular key does not report one extra event). Reported once per window, as soon as the count reaches
 * the limit, on the event that reached it. A key reports only after a quarter of its baseline (at least 5 windows).
 */
export function createRateDetector(o: RateOptions): Detector {
  const keys = new Map<string, RateKey>();
  const slots = Math.max(1, Math.floor(o.baselineMillis / o.windowMillis));
  const minWindows = Math.max(5, Math.ceil(slots / 4));
  const alpha = 2 / (slots + 1);
  let evicted = 0;

  const prepare = (k: RateKey): void => {
    if (k.history.length < minWindows) {
      k.limit = Infinity;
      return;
    }
    const sorted = [...k.history].sort((a, b) => a - b);
    const m = median(sorted);
    const mad = median(sorted.map((v) => Math.abs(v - m)).sort((a, b) => a - b));
    k.center = o.center === 'ewma' ? k.ewma : m;
    k.scale = Math.max(1.4826 * mad, Math.sqrt(k.center), 1);
    k.limit = k.center + o.threshold * k.scale;
  };
  const close = (k: RateKey, window: number): void => {
    const push = (v: number): void => {
      k.history.push(v);
      k.ewma = k.history.length === 1 ? v : alpha * v + (1 - alpha) * k.ewma;
    };
    push(k.count);
    // Windows without an event count as zero (at most a baseline's worth).
    for (let i = 0, gap = Math.min(window - k.window - 1, slots); i < gap; i++) push(0);
    if (k.history.length > slots) k.history.splice(0, k.history.length - slots);
    k.window = window;
    k.count = 0;
    k.reported = false;
    prepare(k);
  };

  return {
    kind: 'rate',
    observe(event, at, out) {
      const key = keyText(event, o.key);
      if (key === undefined) return;
      const window = Math.floor(at / o.windowMillis);
      let k = keys.get(key);
      if (k === undefined) {
        evicted += evictOldest(keys, o.maxKeys);
        k = { window, count: 0, history: [], ewma: 0, limit: Infinity, center: 0, scale: 1, reported: false };
        keys.set(key, k);
      } else if (window > k.window) {
        close(k, window);
        touch(keys, key, k);
      } else if (window < k.window) {
        return; // late event for a window already closed: not counted again
      }
      k.count++;
      if (!k.reported && k.count >= k.limit) {
        k.reported = true;
        const score = (k.count - k.center) / k.scale;
        out.push({
          detector: 'rate',
          key,
          score,
          threshold: o.threshold,
          baseline: k.center,
          trigger: event,
          atMillis: at,
          message: `${key}: ${k.count} events in the ${o.windowMillis / 1000} s window, baseline ${round(k.center)} (robust z-score ${round(score)} >= ${o.threshold}).`,
        });
      }
    },
    snapshot() {
      return [...keys].map(([key, k]) => [key, k.window, k.count, k.history, k.ewma]);
    },
    restore(state) {
      if (!Array.isArray(state)) return;
      for (const row of state as unknown[]) {
        if (!Array.isArray(row) || row.length !== 5 || typeof row[0] !== 'string') continue;
        const [key, window, count, history, ewma] = row as [string, number, number, number[], number];
        if (keys.size >= o.maxKeys) break;
        const k: RateKey = { window, count, history, ewma, limit: Infinity, center: 0, scale: 1, reported: false };
        prepare(k);
        keys.set(key, k);
      }
    },
    counts: () => ({ keys: keys.size, evicted }),
  };
}

const round = (v: number): number => Math.round(v * 100) / 100;

// ---------------------------------------------------------------------------------------------------------------
// rare

export interface RareOptions {
  readonly key: readonly string[];
  readonly learnMillis: number;
  readonly maxKeys: number;
}

/**
 * First-seen combinations (parent_exe → exe by default): every combination seen during the learning period (from
 * the first event, by event time) is normal; afterwards a new one is reported once and remembered.
 */
export function createRareDetector(o: RareOptions): Detector {
  const seen = new Map<string, true>();
  let learnStart: number | undefined;
  let evicted = 0;
  return {
    kind: 'rare',
    observe(event, at, out) {
      const key = keyText(event, o.key);
      if (key === undefined) return;
      learnStart ??= at;
      if (seen.has(key)) {
        touch(seen, key, true);
        return;
      }
      evicted += evictOldest(seen, o.maxKeys);
      seen.set(key, true);
      if (at - learnStart < o.learnMillis) return;
      out.push({
        detector: 'rare',
        key,
        score: 1,
        threshold: 1,
        trigger: event,
        atMillis: at,
        message: `First seen after the learning period: ${key}.`,
      });
    },
    snapshot: () => ({ learn_start: learnStart, seen: [...seen.keys()] }),
    restore(state) {
      const s = state as { learn_start?: unknown; seen?: unknown } | null;
      if (s === null || typeof s !== 'object') return;
      if (typeof s.learn_start === 'number') learnStart = s.learn_start;
      if (Array.isArray(s.seen))
        for (const k of s.seen) if (typeof k === 'string' && seen.size < o.maxKeys) seen.set(k, true);
    },
    counts: () => ({ keys: seen.size, evicted }),
  };
}

// ---------------------------------------------------------------------------------------------------------------
// isolation_forest

export const IFOREST_FEATURES = [
  'events',
  'execs',
  'blocks',
  'connects',
  'distinct_paths',
  'distinct_remotes',
  'arg_bytes',
] as const;
export type IforestFeature = (typeof IFOREST_FEATURES)[number];

export interface IforestOptions {
  readonly features: readonly IforestFeature[];
  /** Field that identifies a process (default exec_id). */
  readonly per: string;
  readonly windowMillis: number;
  readonly threshold: number;
  readonly trees: number;
  readonly sampleSize: number;
  /** Most vectors kept for training (the rolling sample, newest kept). */
  readonly maxSample: number;
  /** Vectors needed before anything is scored. */
  readonly minSample: number;
  /** Most processes tracked within one window. */
  readonly maxKeys: number;
  readonly seed: number;
}

/** Distinct values counted per process and window, at most this many each (a flood counts as this many). */
const MAX_DISTINCT = 1024;

interface ProcessWindow {
  readonly counts: number[];
  /** Created on the first path or remote: most processes have neither. */
  paths: Set<string> | undefined;
  remotes: Set<string> | undefined;
  last: AegisEvent;
}

/**
 * Per-process feature vectors over a window (events, execs of the process and its children, blocks, connects,
 * distinct paths and remotes, argument bytes). When a window closes, each vector is scored by a forest trained on
 * the rolling sample of past vectors, reported at or above `threshold`, then added to the sample; the forest is
 * retrained on the sample at every window close.
 */
export function createIforestDetector(o: IforestOptions): Detector {
  const sample: number[][] = [];
  let window: number | undefined;
  let current = new Map<string, ProcessWindow>();
  let forest: IsolationForest | undefined;
  let evicted = 0;
  let trainings = 0;

  const vectorOf = (p: ProcessWindow): number[] =>
    o.features.map((f) =>
      f === 'distinct_paths'
        ? (p.paths?.size ?? 0)
        : f === 'distinct_remotes'
          ? (p.remotes?.size ?? 0)
          : p.counts[IFOREST_FEATURES.indexOf(f)]!,
    );
  const retrain = (): void => {
    forest =
      sample.length >= o.minSample
        ? trainIsolationForest(sample, { trees: o.trees, sampleSize: o.sampleSize, seed: o.seed + trainings++ })
        : undefined;
  };
  const closeWindow = (at: number, out: Finding[]): void => {
    if (current.size === 0) return;
    // The window's vectors join the sample before the forest is trained, as a batch isolation forest is fitted on
    // the data it scores: a point outside every training point's range would otherwise only follow the extreme
    // training points down the trees and never be isolated early.
    const windowed: [ProcessWindow, string, number[]][] = [];
    for (const [key, p] of current) {
      const v = vectorOf(p);
      windowed.push([p, key, v]);
      sample.push(v);
    }
    if (sample.length > o.maxSample) sample.splice(0, sample.length - o.maxSample);
    current = new Map();
    retrain();
    if (forest === undefined) return;
    const scores = windowed.map(([, , v]) => forest!.score(v));
    const meanScore = scores.reduce((a, b) => a + b, 0) / scores.length;
    windowed.forEach(([p, key, v], i) => {
      const s = scores[i]!;
      if (s < o.threshold) return;
      out.push({
        detector: 'isolation_forest',
        key: `${o.per}=${key}`,
        score: s,
        threshold: o.threshold,
        baseline: meanScore,
        trigger: p.last,
        atMillis: at,
        message: `${o.per}=${key}: isolation score ${round(s)} >= ${o.threshold} for ${o.features.map((f, j) => `${f}=${v[j]}`).join(' ')}.`,
      });
    });
  };

  const execIdx = IFOREST_FEATURES.indexOf('execs');
  return {
    kind: 'isolation_forest',
    observe(event, at, out) {
      const w = Math.floor(at / o.windowMillis);
      if (window === undefined) window = w;
      else if (w > window) {
        closeWindow(at, out);
        window = w;
      }
      const raw = event as unknown as Record<string, unknown>;
      const id = fieldValue(raw, o.per);
      if (typeof id !== 'string' && typeof id !== 'number') return;
      const key = String(id);
      let p = current.get(key);
      if (p === undefined) {
        evicted += evictOldest(current, o.maxKeys);
        p = { counts: [0, 0, 0, 0, 0, 0, 0], paths: undefined, remotes: undefined, last: event };
      } else current.delete(key);
      current.set(key, p);
      p.last = event;
      p.counts[0]!++;
      if (event.type === 'exec') {
        p.counts[execIdx]!++;
        p.counts[6]! += event.args === undefined ? 0 : event.args.reduce((n, a) => n + a.length, 0);
        // A child's exec also counts for its parent (what a process spawns), when the parent is keyed by exec_id.
        const parent = o.per === 'exec_id' ? event.parent_exec_id : undefined;
        const pp = parent === undefined ? undefined : current.get(parent);
        if (pp !== undefined) pp.counts[execIdx]!++;
      } else if (event.type === 'block') {
        p.counts[2]!++;
        p.paths ??= new Set();
        if (event.path !== undefined && p.paths.size < MAX_DISTINCT) p.paths.add(event.path);
      } else if (event.type === 'connect') {
        p.counts[3]!++;
        p.remotes ??= new Set();
        if (p.remotes.size < MAX_DISTINCT) p.remotes.add(`${event.remote_ip}:${event.remote_port}`);
      }
    },
    snapshot: () => ({ sample }),
    restore(state) {
      const s = state as { sample?: unknown } | null;
      if (s === null || typeof s !== 'object' || !Array.isArray(s.sample)) return;
      for (const v of s.sample)
        if (Array.isArray(v) && v.length === o.features.length && v.every((x) => typeof x === 'number')) sample.push(v);
      if (sample.length > o.maxSample) sample.splice(0, sample.length - o.maxSample);
      retrain();
    },
    counts: () => ({ keys: current.size + sample.length, evicted }),
  };
}
