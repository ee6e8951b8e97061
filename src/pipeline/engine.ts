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
import type { AlertEngine, AlertNotification } from './alerts/engine';
import { createAlertEngine, metricsFromStats } from './alerts/engine';
import { parseAlertRule } from './alerts/rule';
import { getProcessorDefinition } from './processors/registry';
import type { AnalyticsView } from './analytics-view';
import { createAnalyticsStore } from './analytics-view';
import type { Processor } from './processors/types';
import { createRouter } from './router';
import type { Router } from './router';
import { getSourceDefinition } from './sources/registry';
import type { Source, TrackedChunk } from './sources/types';
import { isTrackedChunk } from './sources/types';
import type { WorkerPool } from './workers/pool';
import { createWorkerPool } from './workers/pool';
import { PURE_PROCESSOR_TYPES } from './workers/protocol';
import { runRawSource } from './workers/run-raw';

export interface PipelineOptions {
  readonly logger: Logger;
  readonly version: string;
  readonly hostname?: string;
  readonly stats?: StatsRegistry;
  /** Use these sources instead of the configured ones (e.g. `aegisbpf replay FILE --config …`). */
  /** How often the alert rules are evaluated (default ALERT_INTERVAL_MILLIS). */
  readonly alertIntervalMillis?: number;
  /** Wall clock for the alert rules (default Date.now). */
  readonly now?: () => number;
  readonly sources?: (ctx: {
    deadLetter: DeadLetterQueue;
    stats: StatsRegistry;
    logger: Logger;
    hostname: string;
  }) => Source[];
  /**
   * Sources the daemon adds to the configured ones (the audit log's `audit` events). They run until stop() or until
   * every other source ended, so that a run whose inputs end still ends.
   */
  readonly extraSources?: (ctx: { stats: StatsRegistry; logger: Logger; hostname: string }) => Source[];
  /** Sees every chunk after the processors, before routing (the REST API's recent-events ring). Must not throw. */
  readonly observe?: (events: readonly AegisEvent[]) => void;
}

/** Alert rules are evaluated once a second: windows are at least 1 s, and a storm is seen within one tick. */
export const ALERT_INTERVAL_MILLIS = 1000;

export interface Pipeline {
  readonly stats: StatsRegistry;
  /** Anomalies, forecasts and host samples for the control API's analytics routes. */
  readonly analytics: AnalyticsView;
  /** The alert rules of the `alerts:` section; undefined when there are none. */
  readonly alerts: AlertEngine | undefined;
  /** Send alert events to the rule's sinks and along the routes (as the evaluation does). */
  deliverAlerts(notifications: readonly AlertNotification[]): Promise<void>;
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

/** How long shutdown waits for the source loops after the sinks closed, before closing the sources under them. */
export const SOURCE_STOP_GRACE_MILLIS = 1000;

/** Whether `p` settled within `millis`. */
async function settlesWithin(p: Promise<unknown>, millis: number): Promise<boolean> {
  const timer = new AbortController();
  try {
    return await Promise.race([
      p.then(
        () => true,
        () => true,
      ),
      sleep(millis, timer.signal).then(() => false),
    ]);
  } finally {
    timer.abort();
  }
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

  const analytics = createAnalyticsStore(stats);

  // Processors
  const bootWallNanos = monotonicZeroWallNanos();
  const resolvedProcessors: { name: string; type: string; raw: Readonly<Record<string, unknown>> }[] = [];
  const processors: Processor[] = config.processors.map((entry) => {
    const def = getProcessorDefinition(entry.type);
    if (def === undefined) throw new AegisError('AEGIS_ERR_CONFIG_INVALID', `Unknown processor type '${entry.type}'.`);
    const raw = resolveSecretFiles(`processors.${entry.name}`, entry.raw, def.secrets, logger);
    resolvedProcessors.push({ name: entry.name, type: entry.type, raw });
    return def.create(raw, {
      name: entry.name,
      stats: stats.pipeline,
      logger: logger.child(`processor.${entry.name}`),
      hostname,
      now: Date.now,
      bootWallNanos,
      dataDir: config.dataDir,
      analytics,
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
        analytics,
      });
    });

  const extraSources: Source[] = options.extraSources?.({ stats, logger, hostname }) ?? [];
  const workerCount = resolveWorkerCount(config, logger);
  let pool: WorkerPool | undefined;
  const workerPool = (): WorkerPool => {
    pool ??= createWorkerPool(workerCount, {
      hostname,
      version: options.version,
      bootWallNanos: bootWallNanos.toString(),
      processors: resolvedProcessors,
      routes: config.routes,
      sinks: config.sinks.map((e) => ({ name: e.name, format: (built.get(e.name) as BuiltSink).workerFormat })),
    });
    return pool;
  };
  const router: Router = createRouter(config.routes, [...sinks.keys()]);
  const stopController = new AbortController();

  // Alert rules: fed by every source chunk (before the processors), evaluated on a timer, their events routed like
  // any other and also sent to each rule's own sinks (each sink gets an alert event once).
  const now = options.now ?? Date.now;
  const alertRules = (config.alerts ?? []).map(parseAlertRule);
  const alerts =
    alertRules.length === 0 ? undefined : createAlertEngine(alertRules, { hostname, metrics: metricsFromStats(stats) });
  const deliverAlerts = async (notifications: readonly AlertNotification[]): Promise<void> => {
    for (const n of notifications) {
      const { bySink } = router.route([n.event]);
      const targets = new Set<string>(bySink.keys());
      for (const s of n.rule.sinks) if (sinks.has(s)) targets.add(s);
      logger.warn(`Alert ${n.event.alert} ${n.event.status}: ${n.event.message}`, {
        alert: n.event.alert,
        severity: n.event.severity,
        value: n.event.value,
        sinks: [...targets],
      });
      await Promise.all([...targets].map((t) => (sinks.get(t) as Sink).accept([n.event])));
    }
  };
  let alertTimer: NodeJS.Timeout | undefined;
  let alertBusy = false;
  const tickAlerts = (): void => {
    if (alerts === undefined || alertBusy) return;
    const due = alerts.evaluate(now());
    if (due.length === 0) return;
    alertBusy = true;
    deliverAlerts(due)
      .catch((err: unknown) => logger.error('Delivering alert events failed.', { error: describeError(err) }))
      .finally(() => {
        alertBusy = false;
      });
  };
  const stopAlerts = (): void => {
    if (alertTimer !== undefined) clearInterval(alertTimer);
    alertTimer = undefined;
  };
  let running: Promise<readonly Error[]> | undefined;

  const runSource = async (source: Source, signal = stopController.signal): Promise<Error | undefined> => {
    const pipelineStats = stats.pipeline;
    try {
      const raw = workerCount > 0 ? source.readRaw?.(signal) : undefined;
      if (raw !== undefined) {
        const p = workerPool();
        await runRawSource(source.name, raw, WORKER_WINDOW_PER_THREAD * p.size, {
          pool: p,
          sinks: config.sinks.map((e) => sinks.get(e.name) as Sink),
          pipelineStats,
          deadLetter,
          logger,
          ...(options.observe === undefined ? {} : { observe: options.observe }),
        });
        return undefined;
      }
      for await (const item of source.read(signal)) {
        const t0 = performance.now();
        const tracked = isTrackedChunk(item) ? item : undefined;
        const chunk = tracked === undefined ? (item as readonly AegisEvent[]) : tracked.events;
        pipelineStats.inFlight += chunk.length;
        alerts?.observe(chunk, now());
        try {
          let events = chunk;
          for (const p of processors) {
            events = p.process(events);
            if (events.length === 0) break;
          }
          if (events.length === 0)
            tracked?.settled(); // every event dropped by a processor: final already
          else {
            options.observe?.(events);
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
    analytics,
    alerts,
    deliverAlerts,
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
      if (alerts !== undefined && alertTimer === undefined && !stopController.signal.aborted) {
        alertTimer = setInterval(tickAlerts, options.alertIntervalMillis ?? ALERT_INTERVAL_MILLIS);
        alertTimer.unref();
      }
      if (running === undefined) {
        const main = Promise.all(sources.map((src) => runSource(src)));
        const mainEnded = new AbortController();
        void main.then(() => mainEnded.abort());
        const extraSignal = AbortSignal.any([stopController.signal, mainEnded.signal]);
        running = Promise.all([main, Promise.all(extraSources.map((src) => runSource(src, extraSignal)))]).then(
          ([a, b]) => [...a, ...b].filter((e): e is Error => e !== undefined),
        );
      }
      return running;
    },
    stop() {
      stopAlerts();
      stopController.abort();
    },
    async shutdown(timeoutMillis) {
      stopAlerts();
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
      // A source that ignores the stop (waiting on input that never comes) must not hold the process for ever: give
      // the loops a bound, then close the sources, which ends such a wait (stdin lets go of its pipe).
      const loopsEnded = running === undefined || (await settlesWithin(running, SOURCE_STOP_GRACE_MILLIS));
      if (!loopsEnded)
        logger.warn('A source did not stop reading at the stop; closing it.', {
          graceMillis: SOURCE_STOP_GRACE_MILLIS,
        });
      let sourcesClosed = false;
      const closeSources = async (): Promise<void> => {
        if (sourcesClosed) return;
        sourcesClosed = true;
        for (const source of sources) {
          try {
            await source.close?.();
          } catch (err) {
            logger.warn('Closing a source failed (its position may not be saved).', {
              source: source.name,
              error: describeError(err),
            });
          }
        }
      };
      if (!loopsEnded) {
        await closeSources();
        await settlesWithin(running as Promise<unknown>, SOURCE_STOP_GRACE_MILLIS);
      }
      // After the source loops ended (or were given up on): no process() call runs concurrently with close().
      for (const p of processors) p.close?.();
      await pool?.close();
      await closeSources();
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
 * Items each worker thread may have queued or in hand: enough that a worker stays busy while the engine delivers
 * earlier results and while one thread waits for a core (this machine is shared and oversubscribed), and a bound on
 * what is read ahead: 4 × workers items of RAW_READ_BYTES (768 KiB with 2 workers).
 */
const WORKER_WINDOW_PER_THREAD = 4;

/**
 * pipeline.workers as a thread count. Workers run only stateless processors and cannot feed the alert rules (which
 * count events before the processors, on one thread): an explicit count with either configured is refused, naming
 * the key; `auto` then falls back to 0 with a log line.
 */
export function resolveWorkerCount(config: PipelineConfig, logger: Logger): number {
  const wanted = config.workers ?? 0;
  if (wanted === 0) return 0;
  const stateful = config.processors.find((p) => !PURE_PROCESSOR_TYPES.has(p.type));
  const why =
    stateful !== undefined
      ? `processor '${stateful.name}' (type ${stateful.type}) keeps state across events and runs on one thread (worker threads run only: ${[...PURE_PROCESSOR_TYPES].join(', ')})`
      : (config.alerts ?? []).length > 0
        ? 'the alert rules count events on one thread'
        : undefined;
  if (why !== undefined) {
    if (wanted === 'auto') {
      logger.info(`pipeline.workers: auto runs no worker threads: ${why}.`);
      return 0;
    }
    throw new AegisError(
      'AEGIS_ERR_CONFIG_INVALID',
      `pipeline.workers: ${wanted} is not possible: ${why}; set it to 0.`,
    );
  }
  return wanted === 'auto' ? os.availableParallelism() : wanted;
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
