/**
 * The daemon's own log: JSON lines on stderr, never mixed into the event stream (stdout may carry events).
 *
 * A line is `{"ts":…,"level":"INFO","msg":"A full sentence.","component":"sink.file",…fields}`.
 * Fields are caller-chosen; secrets must never be passed (config values go through `redactSecrets` first).
 */

export type LogLevel = 'DEBUG' | 'INFO' | 'WARN' | 'ERROR' | 'FATAL';

const LEVEL_RANK: Record<LogLevel, number> = { DEBUG: 10, INFO: 20, WARN: 30, ERROR: 40, FATAL: 50 };

export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
  fatal(msg: string, fields?: Record<string, unknown>): void;
  /**
   * Log at most once per `intervalMillis` for `key`; later calls within the interval are counted and the
   * count is reported (`suppressed`) on the next line that gets through. For drop points: one line per burst.
   */
  burst(level: LogLevel, key: string, msg: string, fields?: Record<string, unknown>, intervalMillis?: number): void;
  child(component: string): Logger;
  isLevelEnabled(level: LogLevel): boolean;
}

export interface LoggerOptions {
  level?: LogLevel;
  /** Where lines go; defaults to process.stderr. */
  write?: (line: string) => void;
  component?: string;
  now?: () => number;
}

export function parseLogLevel(value: string): LogLevel | undefined {
  const upper = value.toUpperCase();
  return upper in LEVEL_RANK ? (upper as LogLevel) : undefined;
}

interface SharedState {
  minRank: number;
  write: (line: string) => void;
  now: () => number;
  bursts: Map<string, { lastMillis: number; suppressed: number }>;
}

export function createLogger(options: LoggerOptions = {}): Logger {
  const shared: SharedState = {
    minRank: LEVEL_RANK[options.level ?? 'INFO'],
    write: options.write ?? ((line) => void process.stderr.write(line)),
    now: options.now ?? Date.now,
    bursts: new Map(),
  };
  return makeLogger(shared, options.component);
}

function makeLogger(shared: SharedState, component: string | undefined): Logger {
  const emit = (level: LogLevel, msg: string, fields?: Record<string, unknown>): void => {
    if (LEVEL_RANK[level] < shared.minRank) return;
    const record: Record<string, unknown> = { ts: new Date(shared.now()).toISOString(), level, msg };
    if (component !== undefined) record.component = component;
    if (fields !== undefined) {
      for (const [k, v] of Object.entries(fields)) {
        if (k !== 'ts' && k !== 'level' && k !== 'msg') record[k] = v instanceof Error ? v.message : v;
      }
    }
    let line: string;
    try {
      line = JSON.stringify(record, bigintSafe);
    } catch {
      line = JSON.stringify({ ts: record.ts, level, msg, component, note: 'fields were not serializable' });
    }
    shared.write(line + '\n');
  };
  return {
    debug: (m, f) => emit('DEBUG', m, f),
    info: (m, f) => emit('INFO', m, f),
    warn: (m, f) => emit('WARN', m, f),
    error: (m, f) => emit('ERROR', m, f),
    fatal: (m, f) => emit('FATAL', m, f),
    burst(level, key, msg, fields, intervalMillis = 10_000) {
      const now = shared.now();
      const fullKey = `${component ?? ''}\u0000${key}`;
      const state = shared.bursts.get(fullKey);
      if (state !== undefined && now - state.lastMillis < intervalMillis) {
        state.suppressed += 1;
        return;
      }
      const suppressed = state?.suppressed ?? 0;
      shared.bursts.set(fullKey, { lastMillis: now, suppressed: 0 });
      if (shared.bursts.size > 10_000) shared.bursts.clear(); // bound: keys are code-chosen, this is a safety net
      emit(level, msg, suppressed > 0 ? { ...fields, suppressed } : fields);
    },
    child: (name) => makeLogger(shared, component === undefined ? name : `${component}.${name}`),
    isLevelEnabled: (level) => LEVEL_RANK[level] >= shared.minRank,
  };
}

function bigintSafe(_key: string, value: unknown): unknown {
  return typeof value === 'bigint' ? value.toString() : value;
}

/** A logger that discards everything (tests, library use). */
export const silentLogger: Logger = createLogger({ write: () => undefined, level: 'FATAL' });
