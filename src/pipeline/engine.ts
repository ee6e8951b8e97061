/**
 * The engine: sources → processors → router → sinks, built from a validated configuration.
 *
 * Each source runs its own loop: read a chunk, run the processors, route, and await every sink's accept() before
 * reading the next chunk. That await is the backpressure path: a sink whose buffer is full (when_full: block)
 * stalls the loop, which stops reading its source. At most one chunk per source is between source and sink buffers,
 * so the pipeline itself holds a bounded number of events.
 */
import os from 'node:os';
import type { AegisEvent } from '../event/types';
import type { BuiltSink } from '../sinks/build';
import { buildSink } from '../sinks/build';
import type { Acknowledgement } from '../sinks/core/ack';
import { createAcknowledgement } from '../sinks/core/ack';
import type { DeadLetterQueue } from '../sinks/core/dead-letter';
import { createDeadLetterQueue } from '../sinks/core/dead-letter';
import type { Sink } from '../sinks/core/sink-api';
import type { HealthResult, ShutdownReport } from '../sinks/core/types';
import type { StatsRegistry } from '../telemetry/stats';
import { createSourceStats, createStatsRegistry } from '../telemetry/stats';
import { sleep } from '../sinks/core/retry';
import { AegisError, describeError } from '../util/errors';
import type { Logger } from '../util/logger';
import { resolveSecretFiles } from '../util/secrets';
import { monotonicZeroWallNanos } from '../util/time';
import type { PipelineConfig } from './config';
import { getProcessorDefinition } from './processors/registry';
import type { Processor } from './processors/types';
import { createRouter } from './router';
import type { Router } from './router';
import { getSourceDefinition } from './sources/registry';
import type { Source, TrackedChunk } from './sources/types';
import { isTrackedChunk } from './sources/types';

export interface PipelineOptions {
  readonly logger: Logger;
  readonly version: string;
  readonly hostname?: string;
  readonly stats?: StatsRegistry;
  /** Use these sources instead of the configured ones (e.g. `aegisbpf replay FILE --config …`). */
  readonly sources?: (ctx: {
    deadLetter: DeadLetterQueue;
    stats: StatsRegistry;
    logger: Logger;
    hostname: string;
  }) => Source[];
}

export interface Pipeline {
  readonly stats: StatsRegistry;
  readonly sinks: ReadonlyMap<string, Sink>;
  readonly deadLetter: DeadLetterQueue;
  /**
   * Start the sinks' start-up healthchecks, each bounded by its `healthcheck.timeout_ms`; until one ends, `/ready`
   * says `start-up healthcheck pending` for that sink. Resolves once every sink with `healthcheck.require` passed:
   * at once when none requires it, so that the sources never wait on a remote peer the configuration does not
   * require (the other sinks buffer and retry; their failures are logged). Throws AEGIS_ERR_SINK_UNHEALTHY when a
   * required sink failed or did not answer in time. Resolves early when `signal` aborts (a stop during start-up).
   */
  start(signal?: AbortSignal): Promise<void>;
  /**
   * Run the healthcheck of every sink that has healthchecks enabled, recording the results in the sinks' stats
   * (`healthy`, which `/ready` reports). The daemon calls it periodically so readiness follows idle sinks too.
   */
  healthcheckSinks(): Promise<
    readonly { readonly sink: string; readonly healthy: boolean; readonly reason?: string }[]
  >;
  /** Run every source until it ends or stop() is called. Resolves with the errors of sources that failed. */
  run(): Promise<readonly Error[]>;
  /** Stop reading sources; chunks already read are still delivered. */
  stop(): void;
  /** Stop, wait for the source loops, flush and close every sink (undelivered at the deadline → dead-letter). */
  shutdown(timeoutMillis: number): Promise<readonly ShutdownReport[]>;
  /** SIGHUP: reopen files. */
  reopen(): Promise<void>;
}

export function createPipeline(config: PipelineConfig, options: PipelineOptions): Pipeline {
  const logger = options.logger;
  const hostname = options.hostname ?? os.hostname();
  const stats = options.stats ?? createStatsRegistry();
  const deadLetter = createDeadLetterQueue({
    path: config.deadLetter.path,
    maxBytes: config.deadLetter.maxBytes,
    logger: logger.child('dead-letter'),
    stats: stats.deadLetter,
  });

  // Sinks
  const sinks = new Map<string, Sink>();
  const built = new Map<string, BuiltSink>();
  for (const entry of config.sinks) {
    const b = buildSink(entry, {
      logger,
      hostname,
      version: options.version,
      dataDir: config.dataDir,
      stats,
      deadLetter,
    });
    sinks.set(entry.name, b.sink);
    built.set(entry.name, b);
  }

  // Processors
  const bootWallNanos = monotonicZeroWallNanos();
  const processors: Processor[] = config.processors.map((entry) => {
    const def = getProcessorDefinition(entry.type);
    if (def === undefined) throw new AegisError('AEGIS_ERR_CONFIG_INVALID', `Unknown processor type '${entry.type}'.`);
    const raw = resolveSecretFiles(`processors.${entry.name}`, entry.raw, def.secrets, logger);
    return def.create(raw, {
      name: entry.name,
      stats: stats.pipeline,
      logger: logger.child(`processor.${entry.name}`),
      hostname,
      now: Date.now,
      bootWallNanos,
    });
  });

  // Sources
  const sources: Source[] =
    options.sources?.({ deadLetter, stats, logger, hostname }) ??
    config.sources.map((entry) => {
      const def = getSourceDefinition(entry.type);
      if (def === undefined) throw new AegisError('AEGIS_ERR_CONFIG_INVALID', `Unknown source type '${entry.type}'.`);
      const sourceStats = createSourceStats(entry.name, entry.type);
      stats.sources.set(entry.name, sourceStats);
      return def.create(entry.raw, {
        name: entry.name,
        logger: logger.child(`source.${entry.name}`),
        stats: sourceStats,
        deadLetter,
        hostname,
        dataDir: config.dataDir,
        registry: stats,
      });
    });

  const router: Router = createRouter(config.routes, [...sinks.keys()]);
  const stopController = new AbortController();
  let running: Promise<readonly Error[]> | undefined;

  const runSource = async (source: Source): Promise<Error | undefined> => {
    const pipelineStats = stats.pipeline;
    try {
      for await (const item of source.read(stopController.signal)) {
        const t0 = performance.now();
        const tracked = isTrackedChunk(item) ? item : undefined;
        const chunk = tracked === undefined ? (item as readonly AegisEvent[]) : tracked.events;
        pipelineStats.inFlight += chunk.length;
        try {
          let events = chunk;
          for (const p of processors) {
            events = p.process(events);
            if (events.length === 0) break;
          }
          if (events.length === 0)
            tracked?.settled(); // every event dropped by a processor: final already
          else {
            const { bySink, unrouted } = router.route(events);
            if (unrouted > 0) {
              pipelineStats.unrouted += unrouted;
              logger.burst(
                'WARN',
                'unrouted',
                'Events matched no route and were not sent anywhere (counted as unrouted).',
                { source: source.name, count: unrouted },
              );
            }
            const ack = tracked === undefined ? undefined : acknowledgementFor(tracked, bySink);
            const accepts: Promise<void>[] = [];
            for (const [name, list] of bySink) accepts.push((sinks.get(name) as Sink).accept(list, ack));
            await Promise.all(accepts);
          }
        } finally {
          pipelineStats.inFlight -= chunk.length;
        }
        const t1 = performance.now();
        // Every event of the chunk waited for the whole chunk: count the latency once per event (O(1) per chunk).
        pipelineStats.latencyMicros.observe((t1 - t0) * 1000, chunk.length);
        pipelineStats.latencyWindow.record((t1 - t0) * 1000, chunk.length, t1);
      }
      return undefined;
    } catch (err) {
      logger.error('A source failed; the other sources keep running.', {
        source: source.name,
        code: (err as { code?: unknown }).code,
        error: describeError(err),
      });
      return err instanceof Error ? err : new Error(String(err));
    }
  };

  const pipeline: Pipeline = {
    stats,
    sinks,
    deadLetter,
    async start(signal) {
      const required: { name: string; timeoutMillis: number; check: Promise<HealthResult> }[] = [];
      for (const b of built.values()) {
        if (!b.healthcheck.enabled) continue;
        const check = b.startupHealthcheck();
        if (b.healthcheck.require) {
          required.push({ name: b.sink.name, timeoutMillis: b.healthcheck.timeoutMillis, check });
          continue;
        }
        // Not required: the sources start now and this sink buffers until its receiver answers.
        void check.then((result) => {
          if (result.healthy || stopController.signal.aborted) return;
          logger.warn('Sink failed its start-up healthcheck; events are buffered and retried.', {
            sink: b.sink.name,
            reason: result.reason,
          });
        });
      }
      if (required.length === 0) return;
      logger.info('Waiting for the start-up healthcheck of the sinks that require it (healthcheck.require).', {
        sinks: required.map((r) => r.name),
        timeoutMillis: Math.max(...required.map((r) => r.timeoutMillis)),
      });
      const stopped = new Promise<'stopped'>((resolve) => {
        if (signal?.aborted === true) resolve('stopped');
        signal?.addEventListener('abort', () => resolve('stopped'), { once: true });
      });
      for (const r of required) {
        const result = await Promise.race([r.check, stopped]);
        if (result === 'stopped') return;
        if (!result.healthy) {
          throw new AegisError(
            'AEGIS_ERR_SINK_UNHEALTHY',
            `Sink '${r.name}' failed its start-up healthcheck and healthcheck.require is set: ${result.reason}`,
          );
        }
      }
    },
    async healthcheckSinks() {
      const checks = [...built.values()]
        .filter((b) => b.healthcheck.enabled)
        .map(async ({ sink: s, healthcheck }) => {
          const result = await s.healthcheck(healthcheck.timeoutMillis);
          return result.healthy
            ? { sink: s.name, healthy: true }
            : { sink: s.name, healthy: false, reason: result.reason };
        });
      return Promise.all(checks);
    },
    run() {
      running ??= Promise.all(sources.map(runSource)).then((errors) =>
        errors.filter((e): e is Error => e !== undefined),
      );
      return running;
    },
    stop() {
      stopController.abort();
    },
    async shutdown(timeoutMillis) {
      stopController.abort();
      const deadline = Date.now() + timeoutMillis;
      // Let the source loops hand over what they already read. A loop blocked on a full buffer of a sink that
      // cannot deliver is released when that sink closes at the deadline (its leftovers go to the dead-letter file).
      if (running !== undefined) {
        const timer = new AbortController();
        await Promise.race([running, sleep(timeoutMillis, timer.signal)]);
        timer.abort();
      }
      const reports = await Promise.all([...sinks.values()].map((s) => s.close(Math.max(0, deadline - Date.now()))));
      if (running !== undefined) await running;
      await deadLetter.close();
      return reports;
    },
    async reopen() {
      await Promise.all([...sinks.values()].map((s) => s.reopen()));
    },
  };
  return pipeline;
}

/**
 * One acknowledgement for a tracked chunk, expecting one outcome per (event, sink) pair routed; undefined (and the
 * chunk settled at once) when nothing was routed: processors dropped or the router left every event unrouted,
 * both final outcomes. Sized before any accept() runs, so that a sink settling synchronously (drop_newest) cannot
 * reach zero early.
 */
function acknowledgementFor(
  tracked: TrackedChunk,
  bySink: ReadonlyMap<string, readonly AegisEvent[]>,
): Acknowledgement | undefined {
  let expected = 0;
  for (const list of bySink.values()) expected += list.length;
  if (expected === 0) {
    tracked.settled();
    return undefined;
  }
  return createAcknowledgement(expected, () => tracked.settled());
}
