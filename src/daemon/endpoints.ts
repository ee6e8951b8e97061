/**
 * What `aegisbpf run` serves besides the pipeline: the HTTP endpoint (/metrics, /health, /ready), the control
 * socket, and the periodic sink healthchecks that keep /ready current.
 *
 * Enforcement never depends on observability: if the metrics port cannot be bound (in use, privileged, bad
 * address) the daemon logs an error (AEGIS_ERR_METRICS_LISTEN) and keeps running, retrying the bind every
 * `retryMillis`; the DaemonDown alert (up == 0) tells the operator. The same goes for the control socket, which is
 * not retried (a second daemon on the same socket is a configuration problem, not a transient one).
 */
import type { AddressInfo } from 'node:net';
import type { Pipeline } from '../pipeline/engine';
import { describeError, isAegisError } from '../util/errors';
import type { Logger } from '../util/logger';
import type { ControlDiagnostics, ControlServer } from './control-server';
import { createControlServer } from './control-server';
import type { ControlEndpointOptions, MetricsEndpointOptions } from '../config/endpoints';
import type { MetricsServer } from './http-server';
import { createMetricsServer } from './http-server';
import type { AegisMetrics } from '../telemetry/metrics';
import { createMetrics } from '../telemetry/metrics';
import { createProcessSampler } from '../telemetry/process-usage';
import type { ApiEndpointOptions } from '../config/api-endpoint';
import type { AegisEvent } from '../event/types';
import type { RunningApi } from './api/index';
import { startApi } from './api/index';

export interface DaemonEndpointsOptions {
  readonly pipeline: Pipeline;
  readonly version: string;
  readonly logger: Logger;
  readonly metrics: MetricsEndpointOptions;
  readonly control: ControlEndpointOptions;
  /** For `aegisbpf debug bundle` over the control socket (recent logs, redacted configuration). */
  readonly diagnostics?: ControlDiagnostics;
  /** Wait between bind attempts of the metrics port (default 10 s). */
  readonly retryMillis?: number;
  /** The REST API (`api:` section), with the sensor's policy store and pinned maps; undefined: off. */
  readonly api?: { readonly options: ApiEndpointOptions; readonly policyDir: string; readonly pinDir: string };
}

export interface DaemonEndpoints {
  /** Where /metrics is served; undefined when disabled or not bound (yet). */
  metricsAddress(): AddressInfo | undefined;
  readonly controlSocket: string | undefined;
  /** Where the REST API listens; undefined when off or not started. */
  apiAddress(): AddressInfo | undefined;
  /** The pipeline's chunks after the processors (the API's recent-events ring). */
  observe(events: readonly AegisEvent[]): void;
  /** SIGHUP: the API re-reads its keys file. */
  reload(): void;
  /** Shutdown began: `aegisbpf_up` turns 0, `/ready` turns 503, periodic healthchecks stop. */
  markStopping(): void;
  close(): Promise<void>;
}

export async function startDaemonEndpoints(options: DaemonEndpointsOptions): Promise<DaemonEndpoints> {
  const { pipeline, logger } = options;
  const stats = pipeline.stats;
  let stopping = false;
  const processSampler = createProcessSampler();
  const up = (): 0 | 1 => (stopping ? 0 : 1);
  const plain = createMetrics({
    stats,
    version: options.version,
    detailed: options.metrics.detailed,
    process: processSampler,
    up,
  });
  let detailedMetrics: AegisMetrics | undefined = options.metrics.detailed ? plain : undefined;
  const metricsFor = (detailed: boolean): AegisMetrics =>
    detailed
      ? (detailedMetrics ??= createMetrics({
          stats,
          version: options.version,
          detailed: true,
          process: processSampler,
          up,
        }))
      : plain;

  const unregister = stats.readiness.register('daemon', () =>
    stopping ? { ready: false, reason: 'shutting down: flushing sinks' } : { ready: true },
  );
  const timers = new Set<NodeJS.Timeout>();
  const later = (millis: number, fn: () => void): void => {
    if (stopping) return;
    const t = setTimeout(() => {
      timers.delete(t);
      fn();
    }, millis);
    t.unref();
    timers.add(t);
  };

  // HTTP endpoint
  let server: MetricsServer | undefined;
  if (options.metrics.enabled) {
    const { listen: host, port } = options.metrics;
    const srv = createMetricsServer({ host, port, metrics: plain, readiness: stats.readiness });
    server = srv;
    if (options.metrics.detailed && host !== '127.0.0.1' && host !== '::1' && host !== 'localhost') {
      logger.warn(
        'metrics.detailed exports file paths and inodes on a non-loopback address; use it only for short debugging sessions.',
        { listen: host, port },
      );
    }
    const tryListen = async (): Promise<void> => {
      try {
        const address = await srv.listen();
        logger.info('Metrics endpoint listening (/metrics, /health, /ready).', {
          address: address.address,
          port: address.port,
        });
      } catch (err) {
        const retryMillis = options.retryMillis ?? 10_000;
        logger.burst(
          'ERROR',
          'metrics-listen',
          'Cannot listen on the metrics port; the daemon runs on without /metrics, /health and /ready and retries.',
          {
            code: 'AEGIS_ERR_METRICS_LISTEN',
            listen: host,
            port,
            error: describeError(err),
            retryInMillis: retryMillis,
          },
          300_000,
        );
        later(retryMillis, () => void tryListen());
      }
    };
    await tryListen();
  }

  // Control socket
  let control: ControlServer | undefined;
  let controlSocket: string | undefined;
  if (options.control.enabled) {
    const c = createControlServer({
      socketPath: options.control.socketPath,
      stats,
      version: options.version,
      metrics: metricsFor,
      usage: () => processSampler.sample(),
      ...(options.diagnostics !== undefined ? { diagnostics: options.diagnostics } : {}),
    });
    try {
      await c.listen();
      control = c;
      controlSocket = options.control.socketPath;
    } catch (err) {
      logger.error(
        'The control socket could not be created; `aegisbpf stats` and `aegisbpf metrics` cannot reach this daemon.',
        {
          code: isAegisError(err) ? err.code : 'AEGIS_ERR_CONTROL_SOCKET',
          socket: options.control.socketPath,
          error: describeError(err),
        },
      );
    }
  }

  // REST API: like the metrics port, its failure never stops enforcement (logged, the daemon runs on without it).
  let api: RunningApi | undefined;
  if (options.api !== undefined) {
    try {
      api = await startApi({
        ...options.api.options,
        policyDir: options.api.policyDir,
        pinDir: options.api.pinDir,
        version: options.version,
        logger: logger.child('api'),
        stats,
        usage: () => processSampler.sample(),
        analytics: pipeline.analytics,
      });
      const address = api.address();
      logger.info('REST API listening (/api/v1/…).', {
        address: address?.address,
        port: address?.port,
        tls: options.api.options.tls !== undefined,
        mtls: options.api.options.tls?.clientCaFile !== undefined,
      });
      api.recordDaemon({ action: 'daemon.start', detail: `aegisbpf ${options.version}` });
    } catch (err) {
      logger.error('The REST API could not start; the daemon runs on without it.', {
        code: isAegisError(err) ? err.code : 'AEGIS_ERR_API_LISTEN',
        error: describeError(err),
      });
    }
  }

  // Periodic sink healthchecks for /ready (never overlapping, stopped at shutdown).
  const interval = options.metrics.healthcheckIntervalMillis;
  if (interval > 0) {
    const tick = (): void => {
      if (stopping) return;
      pipeline.healthcheckSinks().then(
        () => later(interval, tick),
        (err: unknown) => {
          logger.error('Periodic sink healthchecks failed.', { code: 'AEGIS_ERR_INTERNAL', error: describeError(err) });
          later(interval, tick);
        },
      );
    };
    later(interval, tick);
  }

  return {
    metricsAddress: () => server?.address(),
    controlSocket,
    apiAddress: () => api?.address(),
    observe: (events) => api?.observe(events),
    reload: () => api?.reload(),
    markStopping() {
      // Recorded before the sources stop, so that the audit source still ships it as an event.
      if (!stopping) api?.recordDaemon({ action: 'daemon.stop', detail: 'shutdown' });
      stopping = true;
      for (const t of timers) clearTimeout(t);
      timers.clear();
    },
    async close() {
      if (!stopping) api?.recordDaemon({ action: 'daemon.stop', detail: 'shutdown' });
      stopping = true;
      for (const t of timers) clearTimeout(t);
      timers.clear();
      unregister();
      await Promise.all([server?.close(), control?.close(), api?.close()]);
    },
  };
}
