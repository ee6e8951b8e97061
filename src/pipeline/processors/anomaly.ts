/**
 * `anomaly`: detectors over the stream whose findings are ordinary `type: anomaly` events, emitted right after the
 * chunk's events, so they reach every sink and route like the rest.
 *
 * ```yaml
 * processors:
 *   - type: anomaly
 *     detectors:
 *       - { kind: rate, key: [host, comm], window: 1m, baseline: 1h, threshold: 4 }
 *       - { kind: rare, key: [parent_exe, exe], learn: 24h }
 *       - { kind: isolation_forest, features: [execs, distinct_paths, connects, arg_bytes], per: exec_id, window: 5m }
 * ```
 *
 * The detectors are in ./anomaly-detectors.ts. Their state (rate histories, seen pairs, the forest's training
 * sample) is saved to `<data_dir>/analytics/anomaly-<name>.json` every `save_interval_ms` (wall clock) and on close,
 * and read back at start, so a restart does not learn again from zero.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { AegisEvent, AnomalyEvent } from '../../event/types';
import { eventMillis } from '../../formatters/common';
import { checkExpression, checkFieldNames, optionalWhen } from './common';
import type { CompiledExpression } from '../expr';
import { createIforestDetector, createRareDetector, createRateDetector, IFOREST_FEATURES } from './anomaly-detectors';
import type { Detector, Finding, IforestFeature } from './anomaly-detectors';
import type { Processor, ProcessorDefinition } from './types';
import type { JsonSchemaObject } from '../../formatters/types';

const UNITS: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const DURATION = /^([0-9]+)(ms|s|m|h|d)$/;

/** Milliseconds of a duration written `90s`, `1m`, `24h` or as an integer of milliseconds; undefined if neither. */
export function parseDuration(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isInteger(value) && value > 0 ? value : undefined;
  if (typeof value !== 'string') return undefined;
  const m = DURATION.exec(value);
  if (m === null) return undefined;
  const ms = Number(m[1]) * UNITS[m[2]!]!;
  return ms > 0 && Number.isSafeInteger(ms) ? ms : undefined;
}

const durationSchema = (description: string): JsonSchemaObject => ({
  anyOf: [
    { type: 'integer', minimum: 1 },
    { type: 'string', pattern: DURATION.source },
  ],
  description,
});

const detectorSchema: JsonSchemaObject = {
  type: 'object',
  required: ['kind'],
  additionalProperties: false,
  properties: {
    kind: { type: 'string', enum: ['rate', 'rare', 'isolation_forest'], description: 'Which detector.' },
    key: {
      type: 'array',
      minItems: 1,
      items: { type: 'string', minLength: 1 },
      description: 'rate, rare: fields that form the key (rate default [host, comm]; rare default [parent_exe, exe]).',
    },
    window: durationSchema('rate (default 1m), isolation_forest (default 5m): window length, e.g. 1m.'),
    baseline: durationSchema('rate: how much history a key is compared with (default 1h).'),
    threshold: {
      type: 'number',
      minimum: 0,
      description: 'Score at or above which a finding is reported (rate default 4; isolation_forest default 0.75).',
    },
    center: { type: 'string', enum: ['median', 'ewma'], description: 'rate: centre of the baseline (default median).' },
    learn: durationSchema('rare: learning period from the first event, e.g. 24h (default 24h).'),
    features: {
      type: 'array',
      minItems: 1,
      uniqueItems: true,
      items: { type: 'string', enum: [...IFOREST_FEATURES] },
      description: 'isolation_forest: the per-process features (default execs, distinct_paths, connects, arg_bytes).',
    },
    per: {
      type: 'string',
      minLength: 1,
      description: 'isolation_forest: the field that identifies a process (default exec_id).',
    },
    trees: { type: 'integer', minimum: 1, maximum: 1000, description: 'isolation_forest: trees (default 100).' },
    sample_size: {
      type: 'integer',
      minimum: 2,
      maximum: 4096,
      description: 'isolation_forest: points per tree (default 256).',
    },
    max_sample: {
      type: 'integer',
      minimum: 2,
      maximum: 100_000,
      description: 'isolation_forest: vectors kept for training, the newest (default 2048).',
    },
    min_sample: {
      type: 'integer',
      minimum: 2,
      description: 'isolation_forest: vectors needed before anything is scored (default 128).',
    },
    seed: { type: 'integer', minimum: 0, maximum: 4294967295, description: 'isolation_forest: PRNG seed (default 1).' },
    max_keys: {
      type: 'integer',
      minimum: 1,
      description:
        'Most keys kept (rate 10000, rare 100000, isolation_forest 10000 processes per window); the least recently seen are evicted.',
    },
    when: { type: 'string', minLength: 1, description: 'Only events for which this expression is true are observed.' },
  },
};

/** What `anomaly` processors expose to the control API (AnalyticsView) and tests. */
export interface AnomalyProcessor extends Processor {
  /** Keys held and evicted, per detector kind (summed over detectors of the same kind). */
  counts(): Readonly<Record<string, { readonly keys: number; readonly evicted: number }>>;
  /** Write the state file now. */
  save(): void;
  close(): void;
}

interface Built {
  readonly detector: Detector;
  readonly when: CompiledExpression | undefined;
}

function build(raw: Readonly<Record<string, unknown>>): Built {
  const when = optionalWhen(raw);
  const maxKeys = typeof raw.max_keys === 'number' ? raw.max_keys : undefined;
  const threshold = typeof raw.threshold === 'number' ? raw.threshold : undefined;
  const key = Array.isArray(raw.key) ? (raw.key as string[]) : undefined;
  switch (raw.kind) {
    case 'rate':
      return {
        when,
        detector: createRateDetector({
          key: key ?? ['host', 'comm'],
          windowMillis: parseDuration(raw.window) ?? 60_000,
          baselineMillis: parseDuration(raw.baseline) ?? 3_600_000,
          threshold: threshold ?? 4,
          center: raw.center === 'ewma' ? 'ewma' : 'median',
          maxKeys: maxKeys ?? 10_000,
        }),
      };
    case 'rare':
      return {
        when,
        detector: createRareDetector({
          key: key ?? ['parent_exe', 'exe'],
          learnMillis: parseDuration(raw.learn) ?? 86_400_000,
          maxKeys: maxKeys ?? 100_000,
        }),
      };
    default:
      return {
        when,
        detector: createIforestDetector({
          features: Array.isArray(raw.features)
            ? (raw.features as IforestFeature[])
            : ['execs', 'distinct_paths', 'connects', 'arg_bytes'],
          per: typeof raw.per === 'string' ? raw.per : 'exec_id',
          windowMillis: parseDuration(raw.window) ?? 300_000,
          threshold: threshold ?? 0.75,
          trees: typeof raw.trees === 'number' ? raw.trees : 100,
          sampleSize: typeof raw.sample_size === 'number' ? raw.sample_size : 256,
          maxSample: typeof raw.max_sample === 'number' ? raw.max_sample : 2048,
          minSample: typeof raw.min_sample === 'number' ? raw.min_sample : 128,
          maxKeys: maxKeys ?? 10_000,
          seed: typeof raw.seed === 'number' ? raw.seed : 1,
        }),
      };
  }
}

const IDENTITY = [
  'host',
  'pid',
  'ppid',
  'start_time',
  'exec_id',
  'trace_id',
  'cgid',
  'cgroup_path',
  'comm',
  'uid',
  'gid',
  'exe',
  'parent_start_time',
  'parent_exec_id',
  'parent_trace_id',
  'parent_comm',
  'parent_exe',
  'start_ts',
  'parent_start_ts',
  'container_id',
  'mode',
  'labels',
] as const;

/** The finding as an event: the trigger's process identity, the detector's figures. */
export function anomalyEvent(f: Finding): AnomalyEvent {
  const t = f.trigger as unknown as Record<string, unknown>;
  const out: Record<string, unknown> = { ts: f.trigger.ts, type: 'anomaly' };
  for (const k of IDENTITY) if (t[k] !== undefined) out[k] = t[k];
  if (f.trigger.event_id !== undefined) {
    out.event_id = `${f.trigger.event_id}:anomaly:${f.detector}`.slice(0, 128);
    out.trigger_event_id = f.trigger.event_id;
  }
  out.detector = f.detector;
  out.anomaly_key = f.key === '' ? '-' : f.key;
  out.score = f.score;
  out.threshold = f.threshold;
  if (f.baseline !== undefined) out.baseline = f.baseline;
  out.trigger_type = f.trigger.type;
  out.message = f.message.slice(0, 4096);
  return out as unknown as AnomalyEvent;
}

interface StateFile {
  readonly version: 1;
  readonly detectors: readonly { readonly kind: string; readonly state: unknown }[];
}

export function createAnomalyProcessor(
  raw: Readonly<Record<string, unknown>>,
  ctx: {
    readonly name: string;
    readonly now: () => number;
    readonly dataDir?: string;
    readonly logger: { warn(msg: string, fields?: Record<string, unknown>): void };
    readonly onAnomaly?: (event: AnomalyEvent) => void;
  },
): AnomalyProcessor {
  const built = (raw.detectors as Readonly<Record<string, unknown>>[]).map(build);
  const saveInterval = typeof raw.save_interval_ms === 'number' ? raw.save_interval_ms : 60_000;
  const file =
    ctx.dataDir === undefined
      ? undefined
      : path.join(ctx.dataDir, 'analytics', `anomaly-${ctx.name.replace(/[^A-Za-z0-9_.-]/g, '_')}.json`);
  let lastSave = ctx.now();

  if (file !== undefined && fs.existsSync(file)) {
    try {
      const s = JSON.parse(fs.readFileSync(file, 'utf8')) as StateFile;
      // Detectors are matched by position and kind: a changed configuration starts the changed ones afresh.
      s.detectors.forEach((d, i) => {
        const b = built[i];
        if (b !== undefined && b.detector.kind === d.kind) b.detector.restore(d.state);
      });
    } catch (err) {
      ctx.logger.warn(`The anomaly state file ${file} could not be read; the detectors start learning afresh.`, {
        error: (err as Error).message,
      });
    }
  }

  const save = (): void => {
    if (file === undefined) return;
    const state: StateFile = {
      version: 1,
      detectors: built.map((b) => ({ kind: b.detector.kind, state: b.detector.snapshot() })),
    };
    try {
      fs.mkdirSync(path.dirname(file), { recursive: true });
      const tmp = `${file}.tmp`;
      fs.writeFileSync(tmp, JSON.stringify(state));
      fs.renameSync(tmp, file);
    } catch (err) {
      ctx.logger.warn(`The anomaly state could not be saved to ${file}.`, { error: (err as Error).message });
    }
  };

  const findings: Finding[] = [];
  return {
    name: ctx.name,
    type: 'anomaly',
    process(events) {
      findings.length = 0;
      for (const e of events) {
        // Findings of another anomaly processor are not observed again.
        if (e.type === 'anomaly') continue;
        const at = eventMillis(e);
        for (const b of built) if (b.when === undefined || b.when.test(e)) b.detector.observe(e, at, findings);
      }
      const now = ctx.now();
      if (now - lastSave >= saveInterval) {
        lastSave = now;
        save();
      }
      if (findings.length === 0) return events;
      const out: AegisEvent[] = [...events];
      for (const f of findings) {
        const a = anomalyEvent(f);
        ctx.onAnomaly?.(a);
        out.push(a);
      }
      return out;
    },
    counts() {
      // Summed over detectors of the same kind (two `rare` detectors on different keys are one figure).
      const out: Record<string, { keys: number; evicted: number }> = {};
      for (const b of built) {
        const c = b.detector.counts();
        const sum = (out[b.detector.kind] ??= { keys: 0, evicted: 0 });
        sum.keys += c.keys;
        sum.evicted += c.evicted;
      }
      return out;
    },
    save,
    close: save,
  };
}

export const anomalyProcessor: ProcessorDefinition = {
  type: 'anomaly',
  description: 'Anomaly detection (rate z-score, first-seen pairs, isolation forest); findings are anomaly events.',
  optionsSchema: {
    properties: {
      detectors: { type: 'array', minItems: 1, items: detectorSchema, description: 'The detectors to run.' },
      save_interval_ms: {
        type: 'integer',
        minimum: 1000,
        maximum: 2_147_483_647,
        description: 'How often the learned state is written to <data_dir>/analytics (default 60000).',
      },
    },
    required: ['detectors'],
  },
  check(raw) {
    const problems: string[] = [];
    if (!Array.isArray(raw.detectors)) return problems;
    (raw.detectors as unknown[]).forEach((d, i) => {
      if (d === null || typeof d !== 'object') return;
      const det = d as Record<string, unknown>;
      problems.push(
        ...checkFieldNames(`detectors.${i}.key`, det.key),
        ...checkExpression(`detectors.${i}.when`, det.when),
      );
      if (typeof det.per === 'string') problems.push(...checkFieldNames(`detectors.${i}.per`, [det.per]));
      const window = parseDuration(det.window);
      const baseline = parseDuration(det.baseline);
      if (window !== undefined && baseline !== undefined && baseline < window)
        problems.push(`detectors.${i}.baseline: must be at least the window (${String(det.window)})`);
    });
    return problems;
  },
  create(raw, ctx) {
    const p = createAnomalyProcessor(raw, {
      name: ctx.name,
      now: ctx.now,
      dataDir: ctx.dataDir,
      logger: ctx.logger,
      onAnomaly: ctx.analytics === undefined ? undefined : (e) => ctx.analytics?.recordAnomaly(e),
    });
    ctx.analytics?.registerDetectors(ctx.name, () => p.counts());
    return p;
  },
};
