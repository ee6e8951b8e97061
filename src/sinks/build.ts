/**
 * Build one sink from its configured entry: read its secret files, create its formatter, fill the core options
 * from the sink type's defaults, create its counters and readiness check, its transport, and the sink core around
 * it. The pipeline only loops over the configured sinks calling buildSink(); a new sink type needs nothing here.
 */
import path from 'node:path';
import { createFormatter, formatSpecName, getFormatterDefinition } from '../formatters/registry';
import type { FormatSpec } from '../formatters/types';
import type { StatsRegistry } from '../telemetry/stats';
import { createSinkStats } from '../telemetry/stats';
import { AegisError } from '../util/errors';
import type { Logger } from '../util/logger';
import { resolveSecretFiles } from '../util/secrets';
import type { HealthcheckOptions } from './core/config';
import { mergeCoreDefaults, parseCoreOptions } from './core/config';
import type { DeadLetterQueue } from './core/dead-letter';
import type { Redactor } from './core/redact';
import { createRedactor, redactingLogger } from './core/redact';
import type { SinkDefinition } from './core/definition';
import { watchProgress } from './core/progress';
import type { Sink } from './core/sink-api';
import { createSink } from './core/sink';
import type { HealthResult } from './core/types';
import { getSinkDefinition } from './registry';

/** A configured sink: its name, its type, and the validated entry (env substituted, `type` included). */
export interface SinkEntry {
  readonly name: string;
  readonly type: string;
  readonly raw: Readonly<Record<string, unknown>>;
}

/** What every sink of one pipeline shares. */
export interface BuildContext {
  readonly logger: Logger;
  readonly hostname: string;
  readonly version: string;
  readonly dataDir: string;
  /** The sink's counters are registered here (`stats.sinks`), and its readiness check (`stats.readiness`). */
  readonly stats: StatsRegistry;
  readonly deadLetter: DeadLetterQueue;
}

export interface BuiltSink {
  readonly sink: Sink;
  /** Whether the pipeline runs the sink's healthcheck (at start, and periodically), and must refuse to start on failure. */
  readonly healthcheck: HealthcheckOptions;
  /**
   * Run the start-up healthcheck (bounded by healthcheck.timeout_ms). Until it ends, the sink's readiness says
   * `start-up healthcheck pending`. Does not throw.
   */
  startupHealthcheck(): Promise<HealthResult>;
  /**
   * The format a pipeline worker thread may produce for this sink (pipeline.workers): set when the output is text
   * measured as UTF-8 (the core's default sizeOf), undefined when the sink formats its own records (Kafka records).
   */
  readonly workerFormat: FormatSpec | undefined;
}

/** Throws AegisError for an unknown type or an unreadable secret file (the config was validated before). */
export function buildSink(entry: SinkEntry, context: BuildContext): BuiltSink {
  const def = getSinkDefinition(entry.type);
  if (def === undefined) throw new AegisError('AEGIS_ERR_CONFIG_INVALID', `Unknown sink type '${entry.type}'.`);
  const { logger, hostname, version, stats } = context;
  const raw = resolveSecretFiles(`sinks.${entry.name}`, entry.raw, def.secrets, logger);
  const formatSpec = (raw.format as FormatSpec | undefined) ?? def.formats.default;
  const formatter = createFormatter<unknown>(formatSpec, {
    hostname,
    version,
  });
  const redact = sinkRedactor(def, raw);
  const sinkLogger = logger.child(`sink.${entry.name}`);
  const core = parseCoreOptions(raw, mergeCoreDefaults(def.coreDefaults));
  const sinkStats = createSinkStats(entry.name, entry.type, core.buffer);
  const created = def.createTransport(def.parse(raw), {
    name: entry.name,
    logger: redactingLogger(sinkLogger, redact),
    formatter,
    hostname,
    dataDir: context.dataDir,
    version,
    stats: sinkStats,
  });
  stats.sinks.set(entry.name, sinkStats);
  const progress = watchProgress(created, sinkStats, Date.now, core.request.timeoutMillis);
  const transport = progress.transport;
  // Ready once the start-up healthcheck ended, while the sink is healthy (sends and healthchecks keep `healthy`
  // current) and while it makes progress: events waiting with no send answered for longer than one attempt may take
  // (request.timeout_ms) means a receiver that stopped reading, which turns the sink unhealthy only after several
  // attempts. The check itself does no I/O.
  let startupPending = core.healthcheck.enabled;
  const stallMillis = core.request.timeoutMillis;
  stats.readiness.register(`sink.${entry.name}`, () => {
    if (startupPending) return { ready: false, reason: `sink '${entry.name}': start-up healthcheck pending` };
    if (!sinkStats.healthy)
      return {
        ready: false,
        reason: `sink '${entry.name}' is unhealthy: ${sinkStats.lastError ?? 'healthcheck failed'}`,
      };
    const stalled = progress.stalledMillis();
    if (stalled > stallMillis)
      return {
        ready: false,
        reason: `sink '${entry.name}' made no progress for ${Math.round(stalled / 1000)} s (more than request.timeout_ms ${stallMillis} ms): ${sinkStats.bufferEvents} events buffered, ${sinkStats.inflightBatches} batches in flight, none acknowledged`,
      };
    return { ready: true };
  });
  const sizeOf = def.sizeOf === undefined ? undefined : def.sizeOf.bind(def);
  const sink = createSink(
    {
      name: entry.name,
      type: entry.type,
      transport,
      formatter,
      sizeOf,
      stats: sinkStats,
      logger: sinkLogger,
      deadLetter: context.deadLetter,
      redact,
      bufferDir: core.buffer.path ?? path.join(context.dataDir, 'buffers', entry.name),
    },
    core,
  );
  return {
    sink,
    healthcheck: core.healthcheck,
    workerFormat:
      def.sizeOf === undefined && getFormatterDefinition(formatSpecName(formatSpec))?.output === 'string'
        ? formatSpec
        : undefined,
    async startupHealthcheck() {
      try {
        return await sink.healthcheck(core.healthcheck.timeoutMillis);
      } finally {
        startupPending = false;
      }
    },
  };
}

/**
 * The redactor of one sink: its resolved secret values (the definition's `secrets` keys) and its Basic
 * authentication pairs. A receiver may echo any of them back (src/sinks/core/redact.ts says in which encodings).
 */
export function sinkRedactor(def: SinkDefinition<unknown, unknown>, raw: Readonly<Record<string, unknown>>): Redactor {
  const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
  const values: string[] = [];
  for (const key of def.secrets ?? []) {
    const v = str(raw[key]);
    if (v !== undefined) values.push(v);
  }
  const pairs: (readonly [string, string])[] = [];
  for (const [userKey, secretKey] of def.credentialPairs ?? []) {
    const user = str(raw[userKey]);
    const secret = str(raw[secretKey]);
    if (user !== undefined && secret !== undefined) pairs.push([user, secret]);
  }
  return createRedactor({ values, pairs });
}
