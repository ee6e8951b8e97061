/**
 * The `metrics` and `control` configuration sections (registered in src/config/sections.ts, so the published
 * schema and `aegisbpf validate` cover them), and how flags and environment override them.
 *
 * Precedence, highest first: the `run` flag (`--metrics-port`), the environment (`AEGIS_METRICS_PORT`,
 * `AEGIS_CONTROL_SOCKET`), the configuration file, the defaults. The environment variables exist so that
 * containers, and test suites that start many daemons on one machine, can move every daemon off the defaults
 * without editing configuration files.
 *
 * Pure (no I/O, no sockets): it lives under config/ rather than daemon/ because the section registry
 * (./sections.ts) must reach it and config sits below daemon; src/daemon/ only consumes the resolved options.
 */
import os from 'node:os';
import path from 'node:path';
import type { ConfigSection } from './config-section';
import { AegisError } from '../util/errors';
import { durationMillisSchema } from '../util/duration-schema';

export const DEFAULT_METRICS_PORT = 9090;
/** All interfaces: the guide's Kubernetes httpGet probes and remote Prometheus servers must reach the endpoint. */
export const DEFAULT_METRICS_LISTEN = '0.0.0.0';
export const DEFAULT_HEALTHCHECK_INTERVAL_MILLIS = 15_000;
export const ROOT_CONTROL_SOCKET = '/run/aegisbpf/control.sock';

export interface MetricsEndpointOptions {
  readonly enabled: boolean;
  readonly listen: string;
  /** 0: ephemeral (the daemon logs the port it got). */
  readonly port: number;
  readonly detailed: boolean;
  /** How often every sink's healthcheck runs again, for `/ready`; 0: only at start. */
  readonly healthcheckIntervalMillis: number;
}

export interface ControlEndpointOptions {
  readonly enabled: boolean;
  readonly socketPath: string;
}

export const metricsConfigSection: ConfigSection = {
  key: 'metrics',
  schema: {
    type: 'object',
    additionalProperties: false,
    description: 'The HTTP endpoint of `aegisbpf run`: /metrics (Prometheus), /health, /ready. See docs/metrics.md.',
    properties: {
      enabled: { type: 'boolean', description: 'Serve the endpoint (default true).' },
      listen: {
        type: 'string',
        minLength: 1,
        description: `Address to listen on (default ${DEFAULT_METRICS_LISTEN}: every interface; 127.0.0.1 keeps it on the host; '::' for IPv6).`,
      },
      port: {
        type: 'integer',
        minimum: 0,
        maximum: 65535,
        description: `TCP port (default ${DEFAULT_METRICS_PORT}); 0 picks a free port and logs it. Overridden by --metrics-port and AEGIS_METRICS_PORT.`,
      },
      detailed: {
        type: 'boolean',
        description:
          'Also export the high-cardinality per-path and per-inode families (default false; for short debugging sessions).',
      },
      healthcheck_interval_ms: durationMillisSchema(
        0,
        `Run every sink's healthcheck again this often, so /ready follows the receivers (default ${DEFAULT_HEALTHCHECK_INTERVAL_MILLIS}; 0: only at start).`,
      ),
    },
  },
};

export const controlConfigSection: ConfigSection = {
  key: 'control',
  schema: {
    type: 'object',
    additionalProperties: false,
    description:
      'The local control socket that `aegisbpf stats` and `aegisbpf metrics` read (HTTP over a Unix socket, mode 0600).',
    properties: {
      enabled: { type: 'boolean', description: 'Create the socket (default true).' },
      socket: {
        type: 'string',
        minLength: 1,
        maxLength: 107,
        description: `Socket path (default ${ROOT_CONTROL_SOCKET} as root, $XDG_RUNTIME_DIR/aegisbpf/control.sock otherwise). Overridden by AEGIS_CONTROL_SOCKET.`,
      },
    },
  },
  // Unix socket paths are limited to 107 bytes by the kernel (sun_path); the schema can only count characters.
  check(raw) {
    const socket = raw.socket;
    return typeof socket === 'string' && Buffer.byteLength(socket) > 107
      ? ['socket: longer than the 107 bytes a Unix socket path may have']
      : [];
  },
};

type Raw = Readonly<Record<string, unknown>>;
const obj = (v: unknown): Raw => (v !== null && typeof v === 'object' ? (v as Raw) : {});

/** `--metrics-port` / `AEGIS_METRICS_PORT`: a port 0-65535, or `off`. */
export function parsePortSetting(value: string, what: string): number | 'off' {
  if (value === 'off') return 'off';
  if (!/^\d{1,5}$/.test(value) || Number(value) > 65535) {
    throw new AegisError(
      'AEGIS_ERR_USAGE',
      `${what} must be a port number 0-65535 (0: any free port) or 'off' (got '${value}').`,
    );
  }
  return Number(value);
}

export function defaultControlSocketPath(env: NodeJS.ProcessEnv): string {
  if (process.getuid?.() === 0) return ROOT_CONTROL_SOCKET;
  const base = env.XDG_RUNTIME_DIR ?? env.XDG_STATE_HOME ?? path.join(os.homedir(), '.local', 'state');
  return path.join(base, 'aegisbpf', 'control.sock');
}

/** The control socket a client (`stats`, `metrics`, `health`) should ask: flag, then env, then the default. */
export function resolveControlSocketPath(flag: string | undefined, env: NodeJS.ProcessEnv): string {
  return (
    flag ??
    (env.AEGIS_CONTROL_SOCKET !== undefined && env.AEGIS_CONTROL_SOCKET !== ''
      ? env.AEGIS_CONTROL_SOCKET
      : defaultControlSocketPath(env))
  );
}

export function resolveMetricsOptions(
  document: Raw,
  env: NodeJS.ProcessEnv,
  flagPort: string | undefined,
): MetricsEndpointOptions {
  const m = obj(document.metrics);
  let enabled = m.enabled !== false;
  let port = typeof m.port === 'number' ? m.port : DEFAULT_METRICS_PORT;
  const override =
    flagPort ??
    (env.AEGIS_METRICS_PORT !== undefined && env.AEGIS_METRICS_PORT !== '' ? env.AEGIS_METRICS_PORT : undefined);
  if (override !== undefined) {
    const p = parsePortSetting(override, flagPort !== undefined ? '--metrics-port' : 'AEGIS_METRICS_PORT');
    if (p === 'off') enabled = false;
    else {
      port = p;
      enabled = true;
    }
  }
  return {
    enabled,
    listen: typeof m.listen === 'string' ? m.listen : DEFAULT_METRICS_LISTEN,
    port,
    detailed: m.detailed === true,
    healthcheckIntervalMillis:
      typeof m.healthcheck_interval_ms === 'number' ? m.healthcheck_interval_ms : DEFAULT_HEALTHCHECK_INTERVAL_MILLIS,
  };
}

export function resolveControlOptions(document: Raw, env: NodeJS.ProcessEnv): ControlEndpointOptions {
  const c = obj(document.control);
  const fromEnv =
    env.AEGIS_CONTROL_SOCKET !== undefined && env.AEGIS_CONTROL_SOCKET !== '' ? env.AEGIS_CONTROL_SOCKET : undefined;
  return {
    enabled: c.enabled !== false,
    socketPath: fromEnv ?? (typeof c.socket === 'string' ? c.socket : defaultControlSocketPath(env)),
  };
}
