/**
 * The configuration `aegisbpf run` uses without `--config`: the default source and one sink chosen by the
 * AegisBPF guide's flags (`--log=stdout|file`, `--log-format=json`).
 *
 * The default source is the kernel sensor where it can run. Until the sensor is part of the build, it is a replay
 * of the bundled sample events (samples/events.ndjson), and the daemon says so in its log.
 */
import os from 'node:os';
import path from 'node:path';
import { packagePath } from '../util/paths';
import type { Logger } from '../util/logger';

export const SAMPLE_EVENTS_PATH = packagePath('samples', 'events.ndjson');
export const DEFAULT_EVENT_LOG_PATH = '/var/log/aegisbpf/events.ndjson';

export interface DefaultConfigOptions {
  readonly log: 'stdout' | 'file';
  readonly logFormat: string;
  readonly logFile?: string;
  /** Use this source instead of the default one. */
  readonly source?: Record<string, unknown>;
}

/** State directory for the default configuration: /var/lib/aegisbpf as root, ~/.local/state/aegisbpf otherwise. */
export function defaultDataDir(env: NodeJS.ProcessEnv): string {
  if (process.getuid?.() === 0) return '/var/lib/aegisbpf';
  return path.join(env.XDG_STATE_HOME ?? path.join(os.homedir(), '.local', 'state'), 'aegisbpf');
}

/** The default source: where the sensor cannot run (or is not built), the bundled sample replay. */
export function defaultSource(logger: Logger): Record<string, unknown> {
  logger.warn('The kernel sensor is not part of this build yet; the default source replays the bundled sample events.', { path: SAMPLE_EVENTS_PATH });
  return { type: 'replay', path: SAMPLE_EVENTS_PATH };
}

export function defaultConfigDocument(options: DefaultConfigOptions, logger: Logger, env: NodeJS.ProcessEnv): Record<string, unknown> {
  const sink =
    options.log === 'file'
      ? { type: 'file', path: options.logFile ?? DEFAULT_EVENT_LOG_PATH, format: options.logFormat }
      : { type: 'stdout', format: options.logFormat };
  return {
    data_dir: defaultDataDir(env),
    sources: { default: options.source ?? defaultSource(logger) },
    sinks: { events: sink },
  };
}
