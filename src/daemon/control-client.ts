/**
 * Asking a running daemon over its control socket (./control-server.ts). Used by `aegisbpf stats`,
 * `aegisbpf metrics`, and by `aegisbpf health` to include the daemon's readiness (`queryDaemonReadiness`).
 *
 * A missing socket or a refused connection means no daemon runs (`not-running`); a permission error means the
 * caller may not ask (the socket is 0600, owned by the daemon's user, normally root).
 */
import http from 'node:http';
import type { ReadinessEntry, ReadinessReport } from '../telemetry/readiness';
import type { StatsSnapshot } from '../telemetry/stats-snapshot';
import { resolveControlSocketPath } from '../config/endpoints';

export type ControlFailure = 'not-running' | 'permission-denied' | 'timeout' | 'protocol';

export type ControlResult<T> =
  | { readonly ok: true; readonly status: number; readonly value: T }
  | { readonly ok: false; readonly failure: ControlFailure; readonly message: string };

export const DEFAULT_CONTROL_TIMEOUT_MILLIS = 5000;

/** GET `urlPath` on the control socket; failures are values. */
export function controlGet(
  socketPath: string,
  urlPath: string,
  timeoutMillis = DEFAULT_CONTROL_TIMEOUT_MILLIS,
): Promise<ControlResult<string>> {
  return new Promise((resolve) => {
    let settled = false;
    const finish = (r: ControlResult<string>): void => {
      if (settled) return;
      settled = true;
      resolve(r);
    };
    // agent: false: one connection per request. A pooled keep-alive connection to a daemon that has since stopped
    // would fail with a reset instead of the "not running" that a fresh connect reports.
    const req = http.get(
      { socketPath, path: urlPath, timeout: timeoutMillis, agent: false, headers: { accept: '*/*' } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          finish({ ok: true, status: res.statusCode ?? 0, value: Buffer.concat(chunks).toString('utf8') }),
        );
        res.on('error', (err) =>
          finish({ ok: false, failure: 'protocol', message: `reading the daemon's answer failed: ${err.message}` }),
        );
      },
    );
    req.on('timeout', () => {
      req.destroy();
      finish({
        ok: false,
        failure: 'timeout',
        message: `the daemon did not answer on ${socketPath} within ${timeoutMillis} ms`,
      });
    });
    req.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT' || err.code === 'ECONNREFUSED' || err.code === 'ENOTSOCK') {
        finish({
          ok: false,
          failure: 'not-running',
          message: `no running daemon (control socket ${socketPath}: ${err.code === 'ENOENT' ? 'not found' : 'connection refused'})`,
        });
      } else if (err.code === 'EACCES' || err.code === 'EPERM') {
        finish({
          ok: false,
          failure: 'permission-denied',
          message: `permission denied on the control socket ${socketPath} (it is mode 0600: run as the daemon's user, normally root)`,
        });
      } else {
        finish({ ok: false, failure: 'protocol', message: `cannot ask the daemon on ${socketPath}: ${err.message}` });
      }
    });
  });
}

async function getJson<T>(socketPath: string, urlPath: string, timeoutMillis?: number): Promise<ControlResult<T>> {
  const r = await controlGet(socketPath, urlPath, timeoutMillis);
  if (!r.ok) return r;
  try {
    return { ok: true, status: r.status, value: JSON.parse(r.value) as T };
  } catch {
    return {
      ok: false,
      failure: 'protocol',
      message: `the daemon on ${socketPath} answered ${r.status} with something that is not JSON`,
    };
  }
}

export function fetchDaemonStats(
  socketPath: string,
  detailed: boolean,
  timeoutMillis?: number,
): Promise<ControlResult<StatsSnapshot>> {
  return getJson<StatsSnapshot>(socketPath, `/v1/stats${detailed ? '?detailed=1' : ''}`, timeoutMillis);
}

export async function fetchDaemonMetrics(
  socketPath: string,
  detailed: boolean,
  timeoutMillis?: number,
): Promise<ControlResult<string>> {
  const r = await controlGet(socketPath, `/v1/metrics${detailed ? '?detailed=1' : ''}`, timeoutMillis);
  if (r.ok && r.status !== 200)
    return { ok: false, failure: 'protocol', message: `the daemon answered ${r.status} to /v1/metrics` };
  return r;
}

export type DaemonReadiness =
  | {
      readonly reachable: false;
      readonly socketPath: string;
      readonly failure: ControlFailure;
      readonly reason: string;
    }
  | {
      readonly reachable: true;
      readonly socketPath: string;
      readonly ready: boolean;
      readonly checks: readonly ReadinessEntry[];
    };

export interface QueryReadinessOptions {
  /** Default: AEGIS_CONTROL_SOCKET, else /run/aegisbpf/control.sock as root (see src/config/endpoints.ts). */
  readonly socketPath?: string;
  readonly env?: NodeJS.ProcessEnv;
  readonly timeoutMillis?: number;
}

/**
 * For `aegisbpf health` (the Kubernetes exec readiness probe): is a daemon running, and is it ready (sensor
 * attached, every sink healthy)? Never throws. `reachable: false` with `failure: 'not-running'` means no daemon;
 * health decides what that means for its exit code.
 */
export async function queryDaemonReadiness(options: QueryReadinessOptions = {}): Promise<DaemonReadiness> {
  const socketPath = options.socketPath ?? resolveControlSocketPath(undefined, options.env ?? process.env);
  const r = await getJson<ReadinessReport>(socketPath, '/v1/ready', options.timeoutMillis);
  if (!r.ok) return { reachable: false, socketPath, failure: r.failure, reason: r.message };
  if ((r.status !== 200 && r.status !== 503) || !Array.isArray(r.value.checks)) {
    return {
      reachable: false,
      socketPath,
      failure: 'protocol',
      reason: `unexpected answer ${r.status} from /v1/ready`,
    };
  }
  return { reachable: true, socketPath, ready: r.status === 200 && r.value.ready, checks: r.value.checks };
}
