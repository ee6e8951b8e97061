/**
 * Load and validate configuration: YAML → `${VAR}` substitution → JSON Schema (ajv, all errors) → semantic checks
 * (routes name existing sinks, expressions parse, each definition's own checks). No I/O beyond reading the file
 * itself; secrets in `*_file` keys are read later, when sinks are built.
 *
 * Every problem is reported with its key path, e.g. `sinks.hec.batch.max_events: must be >= 1`.
 */
import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { pipelineWorkersOf } from './pipeline-section';
import type { ErrorObject, ValidateFunction } from 'ajv';
import { AegisError, describeError } from '../util/errors';
import { MAX_TIMER_EXPLANATION, MAX_TIMER_MILLIS } from '../util/duration-schema';
import { BYTE_SIZE_HELP, BYTE_SIZE_PATTERN } from '../util/byte-size';
import { capText } from '../util/bounded-text';
import type { ValidatorSpec } from '../util/precompiled-validator';
import { createAjv2020, loadValidator } from '../util/precompiled-validator';
import type { LogLevel } from '../util/logger';
import { parseLogLevel } from '../util/logger';
import type { NamedEntry, PipelineConfig } from '../pipeline/config';
import { compileExpression } from '../pipeline/expr';
import { getProcessorDefinition } from '../pipeline/processors/registry';
import { getSourceDefinition } from '../pipeline/sources/registry';
import { getSinkDefinition } from '../sinks/registry';
import { checkCoreOptions, mergeCoreDefaults, parseCoreOptions } from '../sinks/core/config';
import { ConfigError } from './errors';
import { normalizeByteSizes } from './byte-sizes';
import { substituteEnv } from './env';
import type { EnvProblem } from './env';
import { NAME_PATTERN, buildConfigSchema } from './schema';
import { extraConfigSections } from './sections';

export type { NamedEntry };

/** The validated configuration: what the pipeline runs from (PipelineConfig, defined below config) plus the daemon's keys. */
export interface AegisConfig extends PipelineConfig {
  readonly logLevel: LogLevel;
  readonly shutdownTimeoutMillis: number;
  /** The whole validated document (env substituted), for sections owned elsewhere. */
  readonly document: Readonly<Record<string, unknown>>;
}

export { ConfigError };

export const DEFAULT_DATA_DIR = '/var/lib/aegisbpf';
export const DEFAULT_SHUTDOWN_TIMEOUT_MILLIS = 10_000;
export const DEFAULT_DEAD_LETTER_MAX_BYTES = 1024 * 1024 * 1024;

export interface ValidationResult {
  readonly config: AegisConfig | undefined;
  /** `key.path: problem`, sorted by key path. Empty when valid. */
  readonly problems: readonly string[];
  /** How many problems there were: `problems` lists the first MAX_LISTED_PROBLEMS and then one line counting the rest. */
  readonly problemCount: number;
  /** Not errors: things the user probably did not mean (a sink no route uses). */
  readonly warnings: readonly string[];
}

const CONFIG_AJV_OPTIONS = { allErrors: true, verbose: true, strict: true, allowUnionTypes: true } as const;

/** The configuration validator's schema and ajv set-up (precompiled by the build: src/util/precompiled-validator.ts). */
export function configValidatorSpec(): ValidatorSpec {
  return {
    id: 'config',
    schema: buildConfigSchema(),
    options: CONFIG_AJV_OPTIONS,
    createAjv: (extra) => createAjv2020({ ...CONFIG_AJV_OPTIONS, ...extra }),
  };
}

let schemaForSizes: Readonly<Record<string, unknown>> | undefined;

let validator: ValidateFunction | undefined;
function getValidator(): ValidateFunction {
  validator ??= loadValidator(configValidatorSpec()).validate;
  return validator;
}

const dotted = (instancePath: string): string =>
  instancePath.slice(1).replace(/\//g, '.').replace(/~1/g, '/').replace(/~0/g, '~');
const join = (base: string, key: string): string => (base === '' ? key : `${base}.${key}`);

function editDistance(a: string, b: string): number {
  const dp = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = dp[0] as number;
    dp[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = dp[j] as number;
      dp[j] = Math.min((dp[j] as number) + 1, (dp[j - 1] as number) + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = tmp;
    }
  }
  return dp[b.length] as number;
}

function suggest(word: string, candidates: readonly string[]): string {
  let best: string | undefined;
  let bestD = Infinity;
  for (const c of candidates) {
    const d = editDistance(word, c);
    if (d < bestD) {
      best = c;
      bestD = d;
    }
  }
  return best !== undefined && bestD <= Math.max(1, Math.floor(word.length / 3)) ? `; did you mean '${best}'?` : '';
}

function describeAjvError(e: ErrorObject): string | undefined {
  const at = dotted(e.instancePath);
  const params = e.params as Record<string, unknown>;
  switch (e.keyword) {
    case 'if':
      return undefined; // "must match then schema": the inner error says what is wrong
    case 'required':
      return `${join(at, String(params.missingProperty))}: is required`;
    case 'additionalProperties': {
      const key = String(params.additionalProperty);
      const known = Object.keys(
        ((e.parentSchema ?? {}) as { properties?: Record<string, unknown> }).properties ?? {},
      ).filter((k) => k !== 'type');
      return `${join(at, key)}: unknown key${suggest(key, known)}${known.length > 0 ? ` (known keys: ${known.sort().join(', ')})` : ''}`;
    }
    case 'enum': {
      const allowed = (params.allowedValues as unknown[]).map(String);
      const value = JSON.stringify(e.data);
      const kind = /^\/sinks\/[^/]+\/type$/.test(e.instancePath)
        ? 'sink'
        : /^\/sources\/[^/]+\/type$/.test(e.instancePath)
          ? 'source'
          : /^\/processors\/\d+\/type$/.test(e.instancePath)
            ? 'processor'
            : undefined;
      if (kind !== undefined)
        return `${at}: unknown ${kind} type ${value}${suggest(String(e.data), allowed)}; known ${kind} types: ${allowed.join(', ')}`;
      if (/^\/sinks\/[^/]+\/format(\/type)?$/.test(e.instancePath))
        return `${at}: unknown format ${value}${suggest(String(e.data), allowed)}; formats this sink can write: ${allowed.join(', ')}`;
      return `${at}: must be one of ${allowed.join(', ')} (got ${value})`;
    }
    case 'propertyNames':
      return `${join(at, String(params.propertyName))}: invalid name (letters, digits, '_' and '-', at most 64)`;
    case 'not': {
      const description = ((e.parentSchema ?? {}) as { description?: unknown }).description;
      return `${at}: ${JSON.stringify(e.data)} is not allowed${typeof description === 'string' ? ` (${description})` : ''}`;
    }
    case 'maximum':
      if (params.limit === MAX_TIMER_MILLIS) return `${at}: must be <= ${MAX_TIMER_MILLIS} (${MAX_TIMER_EXPLANATION})`;
      return `${at === '' ? '(root)' : at}: ${e.message ?? e.keyword}`;
    case 'type':
      if (((e.parentSchema ?? {}) as { pattern?: unknown }).pattern === BYTE_SIZE_PATTERN)
        return `${at}: must be a byte size (${BYTE_SIZE_HELP})`;
      return `${at === '' ? '(root)' : at}: ${e.message ?? e.keyword}`;
    case 'pattern':
      if (params.pattern === BYTE_SIZE_PATTERN) return undefined; // normalizeByteSizes said what is wrong
      if (params.pattern === NAME_PATTERN)
        return `${at}: invalid name ${JSON.stringify(e.data)} (letters, digits, '_' and '-', at most 64)`;
      return `${at}: must match pattern ${String(params.pattern)}`;
    default:
      return `${at === '' ? '(root)' : at}: ${e.message ?? e.keyword}`;
  }
}

const isRecord = (value: unknown): value is Record<string, unknown> =>
  value !== null && typeof value === 'object' && !Array.isArray(value);

/** The mapping entries of `value` whose values are mappings (the semantic checks also run on documents that failed the schema). */
function entriesOf(value: unknown): [string, Record<string, unknown>][] {
  return isRecord(value)
    ? Object.entries(value).filter((e): e is [string, Record<string, unknown>] => isRecord(e[1]))
    : [];
}

/** The mapping items of a list, with their index (anything else in the list failed the schema). */
function itemsOf(value: unknown): [number, Record<string, unknown>][] {
  return Array.isArray(value)
    ? value.flatMap((v: unknown, i) => (isRecord(v) ? [[i, v] as [number, Record<string, unknown>]] : []))
    : [];
}

/**
 * The entry an ajv error is about, as the semantic checks name it: `sinks.<name>`, `sources.<name>`,
 * `processors.<i>`, `routes.<i>` or a top-level section; the root itself is ''.
 */
function entryOf(instancePath: string): string {
  const parts = instancePath.split('/').slice(1);
  const first = parts[0] ?? '';
  if (['sinks', 'sources', 'processors', 'routes'].includes(first) && parts[1] !== undefined)
    return `${first}.${parts[1].replace(/~1/g, '/').replace(/~0/g, '~')}`;
  return first;
}

/** Most problems `validate` lists; past it, one line says how many more there are (a generated file can have 100 000). */
export const MAX_LISTED_PROBLEMS = 100;
/** Longest problem line: a key name is quoted from the file and may be any length. */
const MAX_PROBLEM_CHARS = 1024;

/** The first MAX_LISTED_PROBLEMS problems, each cut to MAX_PROBLEM_CHARS, then how many more there are. */
function listProblems(problems: readonly string[]): string[] {
  const listed = problems.slice(0, MAX_LISTED_PROBLEMS).map((p) => capText(p, MAX_PROBLEM_CHARS));
  if (problems.length > MAX_LISTED_PROBLEMS)
    listed.push(`… and ${problems.length - MAX_LISTED_PROBLEMS} more problems (${problems.length} in all)`);
  return listed;
}

function checkSecrets(
  prefix: string,
  raw: Readonly<Record<string, unknown>>,
  secrets: readonly string[] | undefined,
  required: readonly string[] | undefined,
): string[] {
  const problems: string[] = [];
  for (const s of secrets ?? []) {
    const inline = raw[s] !== undefined;
    const file = raw[`${s}_file`] !== undefined;
    if (inline && file) problems.push(`${prefix}.${s}: set either ${s} or ${s}_file, not both`);
    if (!inline && !file && (required ?? []).includes(s))
      problems.push(`${prefix}.${s}: is required (set ${s}, or ${s}_file to read it from a file)`);
  }
  return problems;
}

/**
 * Semantic checks. Pure. They also run on a document that failed the schema, so that one `validate` shows every
 * problem: values are type-guarded here, and an entry's own checks (a definition's `check`, the core options) are
 * skipped for the entries in `schemaInvalid` (`sinks.x`, `processors.2`, …), since those checks may rely on the
 * schema's guarantees and the schema problem is already reported.
 */
function semanticChecks(
  doc: Record<string, unknown>,
  schemaInvalid: ReadonlySet<string>,
): { problems: string[]; warnings: string[] } {
  const problems: string[] = [];
  const warnings: string[] = [];
  const sinkNames = entriesOf(doc.sinks).map(([n]) => n);

  const firstOfType = new Map<string, string>();
  for (const [name, raw] of entriesOf(doc.sources)) {
    const def = getSourceDefinition(String(raw.type));
    if (!schemaInvalid.has(`sources.${name}`))
      for (const p of def?.check?.(raw) ?? []) problems.push(`sources.${name}.${p}`);
    if (def?.onePerDaemon === undefined) continue;
    const first = firstOfType.get(def.type);
    if (first === undefined) firstOfType.set(def.type, name);
    else
      problems.push(
        `sources.${name}: a second ${def.type} source ('${first}' is one); only one is allowed: ${def.onePerDaemon}`,
      );
  }
  for (const [i, raw] of itemsOf(doc.processors)) {
    const def = getProcessorDefinition(String(raw.type));
    if (schemaInvalid.has(`processors.${i}`)) continue;
    for (const p of def?.check?.(raw) ?? []) problems.push(`processors.${i}.${p}`);
    problems.push(...checkSecrets(`processors.${i}`, raw, def?.secrets, def?.optionsSchema.required));
  }
  const routed = new Set<string>();
  for (const [i, route] of itemsOf(doc.routes)) {
    if (typeof route.when === 'string') {
      try {
        compileExpression(route.when);
      } catch (err) {
        problems.push(`routes.${i}.when: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
    (Array.isArray(route.sinks) ? (route.sinks as unknown[]) : []).forEach((s, j) => {
      if (typeof s !== 'string') return; // a schema problem
      routed.add(s);
      if (!sinkNames.includes(s))
        problems.push(
          `routes.${i}.sinks.${j}: unknown sink '${s}'${suggest(s, sinkNames)}; defined sinks: ${sinkNames.join(', ')}`,
        );
    });
  }
  // A sink that only alert rules send to (a pager) is used on purpose.
  for (const [, rule] of itemsOf(doc.alerts))
    if (Array.isArray(rule.sinks)) for (const s of rule.sinks as unknown[]) if (typeof s === 'string') routed.add(s);
  for (const [name, raw] of entriesOf(doc.sinks)) {
    const def = getSinkDefinition(String(raw.type));
    if (Array.isArray(doc.routes) && doc.routes.length > 0 && !routed.has(name))
      warnings.push(`sinks.${name}: no route sends events to this sink`);
    if (def === undefined || schemaInvalid.has(`sinks.${name}`)) continue;
    for (const p of def.check?.(raw) ?? []) problems.push(`sinks.${name}.${p}`);
    problems.push(...checkSecrets(`sinks.${name}`, raw, def.secrets, def.configSchema.required));
    problems.push(
      ...checkCoreOptions(`sinks.${name}`, parseCoreOptions(raw, mergeCoreDefaults(def.coreDefaults)), raw),
    );
  }
  for (const section of extraConfigSections().sections) {
    const raw = doc[section.key];
    if ((isRecord(raw) || Array.isArray(raw)) && !schemaInvalid.has(section.key))
      for (const p of section.check?.(raw as Record<string, unknown>, doc) ?? []) problems.push(`${section.key}.${p}`);
  }
  return { problems, warnings };
}

function toConfig(doc: Record<string, unknown>): AegisConfig {
  const dataDir = typeof doc.data_dir === 'string' ? path.resolve(doc.data_dir) : DEFAULT_DATA_DIR;
  const dl = (doc.dead_letter ?? {}) as Record<string, unknown>;
  const log = (doc.log ?? {}) as Record<string, unknown>;
  const named = (value: unknown): NamedEntry[] =>
    entriesOf(value).map(([name, raw]) => ({ name, type: String(raw.type), raw }));
  return {
    dataDir,
    logLevel: (typeof log.level === 'string' ? parseLogLevel(log.level) : undefined) ?? 'INFO',
    shutdownTimeoutMillis:
      typeof doc.shutdown_timeout_ms === 'number' ? doc.shutdown_timeout_ms : DEFAULT_SHUTDOWN_TIMEOUT_MILLIS,
    deadLetter: {
      path:
        dl.enabled === false
          ? undefined
          : typeof dl.path === 'string'
            ? path.resolve(dl.path)
            : path.join(dataDir, 'dead-letter.ndjson'),
      maxBytes: typeof dl.max_bytes === 'number' ? dl.max_bytes : DEFAULT_DEAD_LETTER_MAX_BYTES,
    },
    sources: named(doc.sources),
    processors: (Array.isArray(doc.processors) ? (doc.processors as Record<string, unknown>[]) : []).map((raw, i) => ({
      name: typeof raw.name === 'string' ? raw.name : `${String(raw.type)}#${i}`,
      type: String(raw.type),
      raw,
    })),
    routes: (Array.isArray(doc.routes) ? (doc.routes as Record<string, unknown>[]) : []).map((r) => ({
      name: String(r.name),
      when: typeof r.when === 'string' ? r.when : undefined,
      sinks: (r.sinks as unknown[]).map(String),
    })),
    sinks: named(doc.sinks),
    alerts: Array.isArray(doc.alerts) ? (doc.alerts as Record<string, unknown>[]) : [],
    workers: pipelineWorkersOf(doc),
    document: doc,
  };
}

/** Validate a parsed configuration document (before env substitution). Pure. */
export function validateConfigDocument(document: unknown, env: NodeJS.ProcessEnv = process.env): ValidationResult {
  if (document === null || typeof document !== 'object' || Array.isArray(document)) {
    return {
      config: undefined,
      problems: ['(root): the configuration must be a YAML mapping (key: value pairs)'],
      problemCount: 1,
      warnings: [],
    };
  }
  const envProblems: EnvProblem[] = [];
  const substituted = substituteEnv(document, env, envProblems);
  const problems = envProblems.map((p) => `${p.path}: ${p.message}`);
  // `max_bytes: 2GiB` → 2147483648 before the schema checks the range (util/byte-size.ts).
  schemaForSizes ??= buildConfigSchema();
  const doc = normalizeByteSizes(substituted, schemaForSizes, problems) as Record<string, unknown>;
  const validate = getValidator();
  const schemaInvalid = new Set<string>();
  if (!validate(doc)) {
    const seen = new Set(problems);
    for (const e of validate.errors ?? []) {
      schemaInvalid.add(entryOf(e.instancePath));
      const m = describeAjvError(e);
      if (m !== undefined && !seen.has(m)) {
        seen.add(m);
        problems.push(m);
      }
    }
  }
  // Schema and semantic problems together: one run of `validate` shows everything to fix.
  const semantic = semanticChecks(doc, schemaInvalid);
  problems.push(...semantic.problems);
  problems.sort();
  return {
    config: problems.length === 0 ? toConfig(doc) : undefined,
    problems: listProblems(problems),
    problemCount: problems.length,
    warnings: semantic.warnings,
  };
}

/** Parse YAML text and validate it. */
export function validateConfigText(text: string, env: NodeJS.ProcessEnv = process.env): ValidationResult {
  let document: unknown;
  try {
    const parsed = YAML.parseDocument(text, { prettyErrors: true, uniqueKeys: true });
    if (parsed.errors.length > 0) {
      return {
        config: undefined,
        problems: listProblems(parsed.errors.map((e) => `(yaml): ${e.message.split('\n')[0] ?? e.message}`)),
        problemCount: parsed.errors.length,
        warnings: [],
      };
    }
    document = parsed.toJS({ maxAliasCount: 100 }) as unknown;
  } catch (err) {
    return { config: undefined, problems: [`(yaml): ${describeError(err)}`], problemCount: 1, warnings: [] };
  }
  return validateConfigDocument(document, env);
}

/** Read, parse and validate a configuration file; throws ConfigError listing every problem. */
export function loadConfigFile(
  file: string,
  env: NodeJS.ProcessEnv = process.env,
): AegisConfig & { readonly warnings: readonly string[] } {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new AegisError('AEGIS_ERR_CONFIG_READ', `Cannot read configuration file ${file}: ${describeError(err)}`, {
      cause: err,
    });
  }
  const result = validateConfigText(text, env);
  if (result.config === undefined) throw new ConfigError(file, result.problems);
  return { ...result.config, warnings: result.warnings };
}
