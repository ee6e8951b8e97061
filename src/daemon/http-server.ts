/**
 * The daemon's HTTP endpoint on `--metrics-port` (default 9090): `GET /metrics` (Prometheus text format),
 * `GET /health` (liveness: 200 whenever the event loop answers), `GET /ready` (200 when every readiness check
 * passes, else 503; the body names each part and why it is not ready).
 *
 * It carries nothing secret by design (label values are bounded; paths and inodes only with `--detailed`), which is
 * why it may listen beyond loopback: Kubernetes httpGet probes and remote Prometheus servers need that. Everything
 * is bounded: connections, request time, header size; any other path is 404, any other method 405.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { AegisMetrics } from '../telemetry/metrics';
import type { Readiness } from '../telemetry/readiness';
import { formatReadiness } from '../telemetry/readiness';

export interface MetricsServerOptions {
  readonly host: string;
  /** 0: an ephemeral port, reported by `address()` once listening. */
  readonly port: number;
  readonly metrics: AegisMetrics;
  readonly readiness: Readiness;
  /** Most simultaneous connections (default 64). */
  readonly maxConnections?: number;
}

export interface MetricsServer {
  /** Resolves once listening; rejects with the listen error (EADDRINUSE, EACCES, EADDRNOTAVAIL). */
  listen(): Promise<AddressInfo>;
  address(): AddressInfo | undefined;
  close(): Promise<void>;
}

const TEXT = 'text/plain; charset=utf-8';

/** The request handler, shared by the TCP endpoint and tests. */
export function createMetricsHandler(metrics: AegisMetrics, readiness: Readiness): http.RequestListener {
  return (req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const send = (status: number, type: string, body: string | Buffer): void => {
      res.writeHead(status, {
        'content-type': type,
        'content-length': Buffer.byteLength(body),
        'cache-control': 'no-store',
      });
      res.end(req.method === 'HEAD' ? undefined : body);
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('allow', 'GET, HEAD');
      send(405, TEXT, 'method not allowed\n');
      return;
    }
    switch (url.pathname) {
      case '/metrics':
        send(200, metrics.contentType, metrics.renderBuffer());
        return;
      case '/health':
        send(200, TEXT, 'ok\n');
        return;
      case '/ready': {
        const report = readiness.evaluate();
        send(report.ready ? 200 : 503, TEXT, formatReadiness(report));
        return;
      }
      default:
        send(404, TEXT, 'not found: try /metrics, /health or /ready\n');
    }
  };
}

export function createMetricsServer(options: MetricsServerOptions): MetricsServer {
  const server = http.createServer(
    { requestTimeout: 10_000, headersTimeout: 5_000, maxHeaderSize: 8192 },
    createMetricsHandler(options.metrics, options.readiness),
  );
  server.maxConnections = options.maxConnections ?? 64;
  server.keepAliveTimeout = 5_000;
  let listening = false;
  return {
    listen() {
      return new Promise<AddressInfo>((resolve, reject) => {
        const onError = (err: Error): void => {
          server.off('listening', onListening);
          reject(err);
        };
        const onListening = (): void => {
          server.off('error', onError);
          listening = true;
          resolve(server.address() as AddressInfo);
        };
        server.once('error', onError);
        server.once('listening', onListening);
        server.listen({ host: options.host, port: options.port, exclusive: true });
      });
    },
    address: () => (listening ? (server.address() as AddressInfo) : undefined),
    close() {
      if (!listening) return Promise.resolve();
      listening = false;
      return new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}
