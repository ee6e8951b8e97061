/**
 * The daemon's local control socket: HTTP over a Unix socket that only its owner (root) can use, from which
 * `aegisbpf stats`, `aegisbpf metrics` and `aegisbpf health` read the running daemon's state.
 *
 * Least privilege: a Unix socket is reachable only through the file system, so the socket is created mode 0600
 * (the umask is narrowed while it is bound, then it is chmod'ed to be sure) inside a directory created 0700 when
 * aegisbpf creates it. It can return what the network endpoint never does (per-path hits with `?detailed=1`), and
 * later the control API (policy changes) will live here too. Read-only today:
 *
 *   GET /v1/health            200 {"status":"ok","version","pid"}
 *   GET /v1/ready             200 or 503, the readiness report as JSON
 *   GET /v1/stats[?detailed=1]    the StatsSnapshot (./stats-snapshot.ts) as JSON
 *   GET /v1/metrics[?detailed=1]  the Prometheus exposition
 *   GET /v1/logs              the daemon's recent log lines (JSON array of strings), for `aegisbpf debug bundle`
 *   GET /v1/config            the running configuration, secrets redacted (src/config/redact-config.ts)
 *   GET /v1/profile?seconds=N a CPU profile of N seconds (.cpuprofile JSON), for `aegisbpf debug profile`
 *
 * A socket file left by a crashed daemon is replaced; one that a live daemon still answers on is not (the second
 * daemon runs without a control socket and logs why); a path that exists but is not a socket is never removed.
 */
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { AegisError, describeError } from '../util/errors';
import type { AegisMetrics } from '../telemetry/metrics';
import type { ProcessUsage } from '../telemetry/process-usage';
import { snapshotStats } from '../telemetry/stats-snapshot';
import { MAX_PROFILE_MILLIS, captureCpuProfile } from './profiler';
import type { StatsRegistry } from '../telemetry/stats';

export interface ControlServerOptions {
  readonly socketPath: string;
  readonly stats: StatsRegistry;
  readonly version: string;
  /** The exposition, plain or with the high-cardinality families. */
  readonly metrics: (detailed: boolean) => AegisMetrics;
  readonly usage: () => ProcessUsage;
  /** What `aegisbpf debug` reads; absent: those paths answer 404. */
  readonly diagnostics?: ControlDiagnostics;
}

export interface ControlDiagnostics {
  recentLogs(): readonly string[];
  /** The running configuration with secrets redacted. */
  config(): unknown;
}

export interface ControlServer {
  /** Throws AEGIS_ERR_CONTROL_SOCKET when the socket cannot be created or another daemon owns it. */
  listen(): Promise<void>;
  close(): Promise<void>;
}

function json(res: http.ServerResponse, status: number, value: unknown): void {
  const body = JSON.stringify(value) + '\n';
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

/** Does a live process accept connections on this socket? */
function answers(socketPath: string, timeoutMillis = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(socketPath);
    const done = (alive: boolean): void => {
      s.destroy();
      resolve(alive);
    };
    s.setTimeout(timeoutMillis, () => done(true)); // accepted but slow: someone is there
    s.once('connect', () => done(true));
    s.once('error', () => done(false));
  });
}

export function createControlServer(options: ControlServerOptions): ControlServer {
  const server = http.createServer(
    { requestTimeout: 10_000, headersTimeout: 5_000, maxHeaderSize: 8192 },
    (req, res) => {
      const url = new URL(req.url ?? '/', 'http://aegisbpf');
      const detailed = url.searchParams.get('detailed') === '1';
      if (req.method !== 'GET') {
        json(res, 405, { error: 'method not allowed' });
        return;
      }
      switch (url.pathname) {
        case '/v1/health':
          json(res, 200, { status: 'ok', version: options.version, pid: process.pid });
          return;
        case '/v1/ready': {
          const report = options.stats.readiness.evaluate();
          json(res, report.ready ? 200 : 503, report);
          return;
        }
        case '/v1/stats':
          json(res, 200, snapshotStats(options.stats, { version: options.version, detailed, usage: options.usage() }));
          return;
        case '/v1/metrics': {
          const metrics = options.metrics(detailed);
          const body = metrics.renderBuffer();
          res.writeHead(200, { 'content-type': metrics.contentType, 'content-length': body.length });
          res.end(body);
          return;
        }
        case '/v1/logs':
        case '/v1/config':
          if (options.diagnostics === undefined) break;
          json(res, 200, url.pathname === '/v1/logs' ? options.diagnostics.recentLogs() : options.diagnostics.config());
          return;
        case '/v1/profile': {
          const seconds = Number(url.searchParams.get('seconds') ?? '30');
          if (!Number.isFinite(seconds) || seconds <= 0 || seconds * 1000 > MAX_PROFILE_MILLIS) {
            json(res, 400, { error: `seconds must be a number in (0, ${MAX_PROFILE_MILLIS / 1000}]` });
            return;
          }
          const gone = new AbortController();
          res.on('close', () => gone.abort());
          captureCpuProfile(seconds * 1000, gone.signal).then(
            (profile) => json(res, 200, profile),
            (err: unknown) => json(res, 409, { error: describeError(err) }),
          );
          return;
        }
        default:
      }
      json(res, 404, { error: `unknown path ${url.pathname}` });
    },
  );
  server.maxConnections = 16;
  let listening = false;

  return {
    async listen() {
      const socketPath = options.socketPath;
      const fail = (why: string, cause?: unknown): AegisError =>
        new AegisError(
          'AEGIS_ERR_CONTROL_SOCKET',
          `Cannot create the control socket ${socketPath}: ${why}`,
          cause === undefined ? undefined : { cause },
        );
      const dir = path.dirname(socketPath);
      if (!fs.existsSync(dir)) {
        try {
          fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
        } catch (err) {
          throw fail(describeError(err), err);
        }
      }
      let existing: fs.Stats | undefined;
      try {
        existing = fs.lstatSync(socketPath);
      } catch {
        existing = undefined;
      }
      if (existing !== undefined) {
        if (!existing.isSocket()) throw fail('the path exists and is not a socket; remove it or set control.socket');
        if (await answers(socketPath)) throw fail('another aegisbpf daemon answers on it');
        fs.rmSync(socketPath, { force: true }); // left by a daemon that is gone
      }
      await new Promise<void>((resolve, reject) => {
        const onError = (err: Error): void => reject(fail(describeError(err), err));
        server.once('error', onError);
        // bind() happens synchronously inside listen(): narrow the umask just around it so the socket is never
        // reachable by others, even for the moment before the chmod below.
        const previous = process.umask(0o177);
        try {
          server.listen(socketPath, () => {
            server.off('error', onError);
            resolve();
          });
        } finally {
          process.umask(previous);
        }
      });
      fs.chmodSync(socketPath, 0o600);
      listening = true;
    },
    async close() {
      if (!listening) return;
      listening = false;
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      fs.rmSync(options.socketPath, { force: true });
    },
  };
}
