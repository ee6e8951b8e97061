/**
 * The configuration `aegisbpf run` uses without `--config`: the default source and one sink chosen by the
 * AegisBPF guide's flags (`--log=stdout|file|journald`, `--log-format=json`).
 *
 * The default source is the eBPF sensor where it can run (root, addon built, kernel probe passes). Elsewhere it is a
 * replay of the bundled sample events (samples/events.ndjson), and the daemon logs why.
 */
import os from 'node:os';
import path from 'node:path';
import { sensorUnavailableReason } from '../sensor/feature-probe';
import { packagePath } from '../util/paths';
import type { Logger } from '../util/logger';

export const SAMPLE_EVENTS_PATH = packagePath('samples', 'events.ndjson');
export const DEFAULT_EVENT_LOG_PATH = '/var/log/aegisbpf/events.ndjson';

export interface DefaultConfigOptions {
  /** `both` (the AegisBPF SIEM guide's `--log=both`): stdout and the journal, the same format. */
  readonly log: 'stdout' | 'file' | 'journald' | 'both';
  /** A format name, or a format with its options (`{ type: 'ocsf', version: '1.1.0' }`). */
  readonly logFormat: string | Readonly<Record<string, string>>;
  readonly logFile?: string;
  /** Use this source instead of the default one. */
  readonly source?: Record<string, unknown>;
}

/** State directory for the default configuration: /var/lib/aegisbpf as root, ~/.local/state/aegisbpf otherwise. */
export function defaultDataDir(env: NodeJS.ProcessEnv): string {
  if (process.getuid?.() === 0) return '/var/lib/aegisbpf';
  return path.join(env.XDG_STATE_HOME ?? path.join(os.homedir(), '.local', 'state'), 'aegisbpf');
}

/** The default source: the eBPF sensor; where it cannot run (or is not built), the bundled sample replay. */
export function defaultSource(logger: Logger): Record<string, unknown> {
  const reason = sensorUnavailableReason();
  if (reason === undefined) return { type: 'sensor' };
  logger.warn('The eBPF sensor cannot run here; the default source replays the bundled sample events.', {
    reason,
    path: SAMPLE_EVENTS_PATH,
  });
  return { type: 'replay', path: SAMPLE_EVENTS_PATH };
}

export function defaultConfigDocument(
  options: DefaultConfigOptions,
  logger: Logger,
  env: NodeJS.ProcessEnv,
): Record<string, unknown> {
  const journald = {
    type: 'journald',
    format: options.logFormat,
    // The journal namespace's socket, for tests and `journalctl --namespace` set-ups.
    ...(env.AEGIS_JOURNAL_SOCKET !== undefined ? { socket_path: env.AEGIS_JOURNAL_SOCKET } : {}),
  };
  const stdout = { type: 'stdout', format: options.logFormat };
  const sinks: Record<string, unknown> =
    options.log === 'file'
      ? { events: { type: 'file', path: options.logFile ?? DEFAULT_EVENT_LOG_PATH, format: options.logFormat } }
      : options.log === 'journald'
        ? { events: journald }
        : options.log === 'both'
          ? { events: stdout, journal: journald }
          : { events: stdout };
  const source = options.source ?? defaultSource(logger);
  return {
    data_dir: defaultDataDir(env),
    sources: { default: source },
    // Events from this host's sensor: process start times in wall clock and container ids are known here.
    ...(source.type === 'sensor'
      ? { processors: [{ type: 'enrich', name: 'host-context', start_time_to_wall: true, container_id: true }] }
      : {}),
    sinks,
  };
}
