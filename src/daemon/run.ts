/**
 * The running agent: build the pipeline, healthcheck the sinks, start the endpoints, run the sources until they end
 * or a signal, then shut down in order (endpoints report "stopping", sources stop, sinks flush within the configured
 * timeout, endpoints close), log a summary line and return an exit code. SIGHUP reopens files (logrotate).
 * A second SIGINT/SIGTERM during the flush exits at once (code 130): the events without an outcome (buffered, in
 * flight, waiting for buffer space) go to the dead-letter file synchronously, within SECOND_SIGNAL_WRITE_MILLIS, and
 * the FATAL line and the summary say how many, and how many could not be written.
 *
 * `runDaemon` is `aegisbpf run` (with /metrics, /health, /ready and the control socket); `runPipeline` is the same
 * loop without endpoints unless given, which `aegisbpf replay --config` uses too.
 */
import type { ControlDiagnostics } from './control-server';
import { redactConfigDocument } from '../config/redact-config';
import type { AegisConfig } from '../config/load';
import type { Pipeline, PipelineOptions } from '../pipeline/engine';
import { createPipeline } from '../pipeline/engine';
import type { ShutdownReport } from '../sinks/core/types';
import type { DaemonEndpoints, DaemonEndpointsOptions } from './endpoints';
import { startDaemonEndpoints } from './endpoints';
import type { ControlEndpointOptions, MetricsEndpointOptions } from '../config/endpoints';
import { resolveControlOptions, resolveMetricsOptions } from '../config/endpoints';
import { resolveApiOptions } from '../config/api-endpoint';
import { DEFAULT_PIN_DIR, parseSensorSourceOptions } from '../pipeline/sources/sensor';
import { findCgroup2Mount } from '../sensor/cgroup-resolver';
import { readSelfIdentity } from '../sensor/event-mapper';
import { createSourceStats } from '../telemetry/stats';
import { createAuditSource } from './api/audit-source';
import type { SpanTracer } from '../telemetry/spans';
import { createSpanTracer } from '../telemetry/spans';
import { describeError, isAegisError } from '../util/errors';
import type { Logger } from '../util/logger';
import { EXIT } from '../util/exit-codes';

/** How long a second stop signal may spend writing undelivered events to the dead-letter file before exiting. */
export const SECOND_SIGNAL_WRITE_MILLIS = 3000;

export interface RunOptions {
  readonly config: AegisConfig;
  readonly logger: Logger;
  readonly version: string;
  readonly sources?: PipelineOptions['sources'];
  /** Called once the pipeline is built and started (metrics endpoint, tests). */
  readonly onStarted?: (pipeline: Pipeline) => void | Promise<void>;
  /** Install process signal handlers (false in tests). */
  readonly handleSignals?: boolean;
  /** The daemon's endpoints (`aegisbpf run`): /metrics, /health, /ready and the control socket. */
  readonly endpoints?: {
    readonly metrics: MetricsEndpointOptions;
    readonly control: ControlEndpointOptions;
    readonly api?: DaemonEndpointsOptions['api'];
    readonly diagnostics?: ControlDiagnostics;
  };
  /** Span logs of the start-up stages (AEGIS_OTEL_SPANS=1). Default: from the environment. */
  readonly spans?: SpanTracer;
}

export function summarize(pipeline: Pipeline, reports: readonly ShutdownReport[]): Record<string, unknown> {
  const { stats } = pipeline;
  const usage = process.resourceUsage();
  let eventsIn = 0;
  let invalid = 0;
  for (const s of stats.sources.values()) {
    eventsIn += s.events;
    invalid += s.invalid;
  }
  const sinks: Record<string, unknown> = {};
  for (const [name, s] of stats.sinks) {
    sinks[name] = {
      received: s.received,
      delivered: s.delivered,
      unconfirmed: s.unconfirmed,
      dead_lettered: s.deadLettered,
      dropped: s.dropped,
      retried: s.retriedEvents,
      duplicates: s.duplicates,
      ...(Object.keys(s.extra).length > 0 ? { extra: s.extra } : {}),
    };
  }
  return {
    events_in: eventsIn,
    invalid_input: invalid,
    removed_by_processors: stats.pipeline.removed,
    unrouted: stats.pipeline.unrouted,
    sinks,
    undelivered_at_shutdown: reports.reduce((n, r) => n + r.undelivered, 0),
    // Every event nothing kept: what the dead-letter file refused, from a sink at any time (shutdown included) or
    // from a source (invalid input lines). The same counter as aegisbpf_dead_letter_failed_total, so the two agree.
    lost: stats.deadLetter.failed,
    dead_letter_file: pipeline.deadLetter.path,
    dead_letter_written: stats.deadLetter.written,
    cpu_user_ms: Math.round(usage.userCPUTime / 1000),
    cpu_system_ms: Math.round(usage.systemCPUTime / 1000),
    max_rss_bytes: usage.maxRSS * 1024,
    uptime_ms: Date.now() - stats.startedAtMillis,
  };
}

export async function runPipeline(options: RunOptions): Promise<number> {
  const { config, logger } = options;
  const spans = options.spans ?? createSpanTracer({ logger });
  let pipeline: Pipeline | undefined;
  let endpoints: DaemonEndpoints | undefined;

  // Signals first, before anything is built: a stop at any moment of start-up is logged and ends cleanly (summary
  // line, exit code), never Node's default SIGTERM death (143, no log). Start-up only waits where the configuration
  // says so (healthcheck.require), and `startAborted` ends that wait.
  let started = false;
  const startAborted = new AbortController();
  let signals = 0;
  let stopRequested: () => void = () => undefined;
  const stopping = new Promise<void>((resolve) => (stopRequested = resolve));
  const onStop = (signal: NodeJS.Signals): void => {
    signals++;
    if (signals === 1) {
      if (started) logger.info('Stopping: flushing sinks.', { signal, timeoutMillis: config.shutdownTimeoutMillis });
      else logger.info('Stop signal during start-up: stopping before the sources start.', { signal });
      endpoints?.markStopping();
      pipeline?.stop();
      startAborted.abort();
      stopRequested();
      return;
    }
    if (pipeline === undefined) {
      logger.fatal('Second signal during start-up: exiting.', { signal });
      process.exit(EXIT.FORCED);
    }
    const deadlineAt = Date.now() + SECOND_SIGNAL_WRITE_MILLIS;
    const reports = [...pipeline.sinks.values()].map((s) => s.stopNow(deadlineAt));
    const undelivered = reports.reduce((n, r) => n + r.undelivered, 0);
    const lost = reports.reduce((n, r) => n + r.lost, 0);
    logger.fatal('Second signal: exiting without finishing the flush.', {
      signal,
      undeliveredEvents: undelivered,
      deadLetteredNow: undelivered - lost,
      notWritten: lost,
      perSink: Object.fromEntries(reports.map((r) => [r.sink, { undelivered: r.undelivered, notWritten: r.lost }])),
      deadLetterFile: pipeline.deadLetter.path,
    });
    logger.info('aegisbpf stopped.', { ...summarize(pipeline, reports), forced: true });
    process.exit(EXIT.FORCED);
  };
  const onHup = (): void => {
    logger.info('SIGHUP: reopening files.');
    endpoints?.reload();
    pipeline?.reopen().catch((err: unknown) => logger.error('Reopening files failed.', { error: describeError(err) }));
  };
  if (options.handleSignals !== false) {
    process.on('SIGINT', onStop);
    process.on('SIGTERM', onStop);
    process.on('SIGHUP', onHup);
  }
  try {
    let built: Pipeline;
    try {
      built = spans.withSpan('daemon.build_pipeline', () =>
        createPipeline(config, {
          logger,
          version: options.version,
          ...(options.sources ? { sources: options.sources } : {}),
          ...(options.endpoints?.api !== undefined
            ? {
                observe: (events) => endpoints?.observe(events),
                extraSources: auditSources(options.endpoints.api.options.auditFile),
              }
            : {}),
        }),
      );
      pipeline = built;
    } catch (err) {
      logger.fatal('aegisbpf could not start.', {
        code: isAegisError(err) ? err.code : undefined,
        error: describeError(err),
      });
      // A secret file that cannot be read, or is empty, is a configuration error like any other (nothing started).
      return isConfigError(err) ? EXIT.USAGE : EXIT.FAILURE;
    }
    // The endpoints before any wait on a sink: /health answers and /ready says what start-up waits for.
    if (options.endpoints !== undefined) {
      const { metrics, control, api, diagnostics } = options.endpoints;
      endpoints = await spans.withSpan('daemon.start_endpoints', () =>
        startDaemonEndpoints({
          pipeline: built,
          version: options.version,
          logger,
          metrics,
          control,
          ...(api !== undefined ? { api } : {}),
          ...(diagnostics !== undefined ? { diagnostics } : {}),
        }),
      );
      if (startAborted.signal.aborted) endpoints.markStopping();
    }
    try {
      await spans.withSpan('daemon.healthcheck_sinks', () => built.start(startAborted.signal));
    } catch (err) {
      logger.fatal('aegisbpf could not start.', {
        code: isAegisError(err) ? err.code : undefined,
        error: describeError(err),
      });
      endpoints?.markStopping();
      await built.shutdown(config.shutdownTimeoutMillis); // nothing was read: this only closes the transports
      return EXIT.FAILURE;
    }

    // Until the sources end, or a stop signal: a source waiting for room in a sink that cannot deliver would not end
    // by itself, and shutdown() is what releases it (at the deadline, its events go to the dead-letter file).
    let ran: Promise<readonly Error[]> = Promise.resolve([]);
    if (!startAborted.signal.aborted) {
      started = true;
      const metricsAddress = endpoints?.metricsAddress();
      logger.info('aegisbpf started.', {
        version: options.version,
        sources: config.sources.map((s) => `${s.name}:${s.type}`),
        sinks: config.sinks.map((s) => `${s.name}:${s.type}`),
        ...(metricsAddress !== undefined ? { metricsPort: metricsAddress.port } : {}),
        ...(endpoints?.controlSocket !== undefined ? { controlSocket: endpoints.controlSocket } : {}),
        ...(endpoints?.apiAddress() !== undefined ? { apiPort: endpoints.apiAddress()?.port } : {}),
      });
      await options.onStarted?.(built);
      ran = built.run();
      await spans.withSpan('daemon.event_loop', () => Promise.race([ran, stopping]));
    }
    endpoints?.markStopping();
    const reports = await spans.withSpan('daemon.shutdown', () => built.shutdown(config.shutdownTimeoutMillis));
    const errors = await ran;
    const summary = summarize(built, reports);
    logger.info('aegisbpf stopped.', summary);
    if (errors.length > 0) return EXIT.FAILURE;
    let incomplete =
      (summary.invalid_input as number) > 0 || (summary.lost as number) > 0 || built.stats.pipeline.unrouted > 0;
    for (const s of built.stats.sinks.values()) {
      if (s.deadLettered > 0 || Object.values(s.dropped).some((n) => n > 0)) incomplete = true;
    }
    return incomplete ? EXIT.INCOMPLETE : EXIT.OK;
  } finally {
    await endpoints?.close();
    if (options.handleSignals !== false) {
      process.off('SIGINT', onStop);
      process.off('SIGTERM', onStop);
      process.off('SIGHUP', onHup);
    }
  }
}

function isConfigError(err: unknown): boolean {
  return isAegisError(err) && (err.code === 'AEGIS_ERR_CONFIG_READ' || err.code === 'AEGIS_ERR_CONFIG_INVALID');
}

export interface DaemonOptions {
  readonly config: AegisConfig;
  readonly logger: Logger;
  readonly version: string;
  /** AEGIS_METRICS_PORT, AEGIS_CONTROL_SOCKET, AEGIS_OTEL_SPANS. */
  readonly env: NodeJS.ProcessEnv;
  /** `--metrics-port` as given (the caller has checked it with parsePortSetting); overrides the file and env. */
  readonly metricsPort?: string | undefined;
  /** The daemon's recent log lines, for `aegisbpf debug bundle --include-logs`. */
  readonly recentLogs?: () => readonly string[];
}

/**
 * What `aegisbpf debug bundle` reads over the control socket: the configuration with its secrets redacted, and the
 * recent log lines with any of those secret values replaced too (the daemon never logs a secret; this is the
 * second line of defence for a file that leaves the host).
 */
function diagnosticsFor(config: AegisConfig, recentLogs: (() => readonly string[]) | undefined): ControlDiagnostics {
  const redacted = redactConfigDocument(config.document);
  const secrets = redacted.secretValues.filter((v) => v.length >= 4);
  return {
    config: () => redacted.document,
    recentLogs: () =>
      (recentLogs?.() ?? []).map((line) => secrets.reduce((l, secret) => l.split(secret).join('[REDACTED]'), line)),
  };
}

/** `aegisbpf run`: the pipeline with the daemon's endpoints, inside a `daemon.run` span. Resolves to the exit code. */
export function runDaemon(options: DaemonOptions): Promise<number> {
  const { config, logger, env } = options;
  const apiOptions = resolveApiOptions(config.document, config.dataDir);
  const endpoints = {
    metrics: resolveMetricsOptions(config.document, env, options.metricsPort),
    control: resolveControlOptions(config.document, env),
    ...(apiOptions !== undefined ? { api: { options: apiOptions, ...sensorPolicyPlaces(config) } } : {}),
    diagnostics: diagnosticsFor(config, options.recentLogs),
  };
  const spans = createSpanTracer({ logger, env });
  return spans.withSpan('daemon.run', (span) =>
    runPipeline({ config, logger, version: options.version, endpoints, spans }).then((code) => {
      if (code === EXIT.FAILURE) span.fail(`exit code ${code}`);
      exitIfHeld(logger, code);
      return code;
    }),
  );
}

/** The audit log as a source of `audit` events (src/daemon/api/audit-source.ts), with its own source counters. */
function auditSources(file: string): NonNullable<PipelineOptions['extraSources']> {
  return ({ stats, hostname }) => {
    const sourceStats = createSourceStats('audit', 'audit');
    stats.sources.set('audit', sourceStats);
    return [createAuditSource({ file, hostname, self: readSelfIdentity(findCgroup2Mount()), stats: sourceStats })];
  };
}

/** The policy store and pinned maps of the configured `sensor` source (the defaults when there is none). */
function sensorPolicyPlaces(config: AegisConfig): { policyDir: string; pinDir: string } {
  const entry = config.sources.find((s) => s.type === 'sensor');
  const parsed = parseSensorSourceOptions(entry?.raw ?? {}, config.dataDir);
  return { policyDir: parsed.policyDir, pinDir: parsed.pinDir ?? DEFAULT_PIN_DIR };
}

/** How long the process may stay up after its summary line before exitIfHeld ends it. */
export const EXIT_GRACE_MILLIS = 1000;

/**
 * After the summary line the process ends by itself once nothing holds the event loop. What cannot be interrupted
 * (a file operation stuck in the kernel: a hung NFS mount, a FIFO nobody opens for reading) would hold it for good;
 * this timer, unref'd so that it never delays a normal exit, ends the process with its exit code instead of leaving
 * it to a supervisor's SIGKILL.
 */
function exitIfHeld(logger: Logger, code: number): void {
  setTimeout(() => {
    const resources = process.getActiveResourcesInfo().filter((r) => r !== 'Timeout');
    // A file operation stuck in the kernel occupies a libuv thread, and process.exit() joins those threads: it
    // would wait as long. SIGKILL is then the only way out (the exit status says 137, this line says why).
    const stuckInKernel = resources.some((r) => r.startsWith('FSReq'));
    logger.warn('Something still held the process after shutdown; exiting anyway.', {
      exitCode: code,
      resources,
      ...(stuckInKernel ? { note: 'a file operation is stuck in the kernel: exiting with SIGKILL (status 137)' } : {}),
    });
    if (stuckInKernel) process.kill(process.pid, 'SIGKILL');
    process.exit(code);
  }, EXIT_GRACE_MILLIS).unref();
}
