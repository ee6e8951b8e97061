/** `aegisbpf run`: flags → configuration and logger, then the daemon (src/daemon/run.ts) runs. */
import type { AegisConfig } from '../../config/load';
import { loadConfigFile, validateConfigDocument } from '../../config/load';
import { parsePortSetting } from '../../config/endpoints';
import { runDaemon } from '../../daemon/run';
import { formatterNames, getFormatterDefinition } from '../../formatters/registry';
import { AegisError } from '../../util/errors';
import type { Logger } from '../../util/logger';
import { createLogger, parseLogLevel } from '../../util/logger';
import { parseCommandArgs } from '../args';
import type { Command, CommandIo } from '../command';
import { defaultConfigDocument } from '../default-config';
import { aegisVersion } from '../version';
import { createLineRing } from '../../util/line-ring';

/** Formats that write lines (a Kafka record format cannot go to stdout or a file). */
function lineFormats(): string[] {
  return formatterNames().filter((n) => getFormatterDefinition(n)?.output === 'string');
}

const USAGE = `Usage: aegisbpf run [--config FILE] [--enforce|--audit] [--log=stdout|file|journald|both] [--log-format=FORMAT|--event-format=ocsf] [--log-file=PATH] [--log-level=LEVEL] [--metrics-port=PORT|off]

Run the agent: sources → processors → routes → sinks, until the sources end or SIGINT/SIGTERM.

  --config FILE        YAML configuration (see docs/configuration.md). Without it: the default source and one sink
                       chosen by --log and --log-format.
  --enforce            Enforce every rule while this daemon runs, whatever the policy's mode: says (the stored
                       policy and any policy applied meanwhile go into the kernel in enforce mode). Needs the
                       eBPF sensor: refused where only the sample replay can run. See docs/enforcement.md.
  --audit              The opposite: report rule hits, enforce nothing, whatever the policy says.
                       Without either flag the policy's mode: decides (default audit).
  --log=stdout|file|journald|both
                       Without --config: write events to stdout (default), to --log-file, to the systemd
                       journal (native protocol; AEGIS_JOURNAL_SOCKET overrides /run/systemd/journal/socket), or
                       to both stdout and the journal.
  --log-format=FORMAT  Without --config: output format (default json). Known: ${lineFormats().join(', ')}.
  --event-format=ocsf  The SIEM guide's name for --log-format=ocsf (also OCSF, ocsf-1.1, ocsf-1.1.0; aegis,
                       default and json mean json).
  --log-file=PATH      Without --config and with --log=file (default /var/log/aegisbpf/events.ndjson).
  --log-level=LEVEL    Daemon log level: debug, info, warn, error (overrides log.level).
  --metrics-port=PORT  Serve /metrics, /health and /ready on this TCP port (default 9090, or metrics.port, or
                       AEGIS_METRICS_PORT); 0 picks a free port (logged); off disables the endpoint.
                       Listen address and more: the metrics section (docs/metrics.md).

Environment: AEGIS_METRICS_PORT (like --metrics-port), AEGIS_CONTROL_SOCKET (the control socket that
\`aegisbpf stats\` and \`aegisbpf metrics\` read), AEGIS_OTEL_SPANS=1 (span logs of the start-up stages).

Signals: SIGINT/SIGTERM flush and stop (a second one exits at once); SIGHUP reopens files.
Exit codes: 0 ok, 1 failure, 2 usage/config error, 3 completed with invalid or undelivered events, 130 forced.`;

export const OPTIONS = {
  config: { type: 'string' },
  log: { type: 'string' },
  'log-format': { type: 'string' },
  'event-format': { type: 'string' },
  'log-file': { type: 'string' },
  'log-level': { type: 'string' },
  'metrics-port': { type: 'string' },
  enforce: { type: 'boolean' },
  audit: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

/**
 * `--enforce` / `--audit` → the sensor sources' `mode` key. Every sensor source of the configuration gets it; a
 * configuration without one is refused: the flag would otherwise promise an enforcement nothing carries out.
 */
export function applyModeFlag(
  config: AegisConfig,
  flags: { readonly enforce?: boolean | undefined; readonly audit?: boolean | undefined },
): AegisConfig {
  if (flags.enforce === true && flags.audit === true)
    throw new AegisError('AEGIS_ERR_USAGE', 'run: --enforce and --audit exclude each other.');
  const mode = flags.enforce === true ? 'enforce' : flags.audit === true ? 'audit' : undefined;
  if (mode === undefined) return config;
  if (!config.sources.some((s) => s.type === 'sensor'))
    throw new AegisError(
      'AEGIS_ERR_USAGE',
      `run: --${mode} sets the eBPF sensor's mode, and this configuration has no sensor source (sources: ${config.sources.map((s) => `${s.name} (${s.type})`).join(', ')}).`,
    );
  return {
    ...config,
    sources: config.sources.map((s) => (s.type === 'sensor' ? { ...s, raw: { ...s.raw, mode } } : s)),
  };
}

export interface CommonRunFlags {
  readonly config?: string | undefined;
  readonly log?: string | undefined;
  readonly 'log-format'?: string | undefined;
  readonly 'event-format'?: string | undefined;
  readonly 'log-file'?: string | undefined;
  readonly 'log-level'?: string | undefined;
}

/**
 * The AegisBPF SIEM guide's `--event-format`: `ocsf` (also `OCSF`, `ocsf-1.1`, `ocsf-1.1.0`) is the OCSF 1.1.0 output
 * the guide describes; `aegis`, `default` and `json` are the native JSON. `--log-format=ocsf` stays the newer schema
 * (1.8.0), so the two flags are not given together.
 */
const OCSF_1_1 = { type: 'ocsf', version: '1.1.0' } as const;
const EVENT_FORMAT_ALIASES: Readonly<Record<string, 'json' | typeof OCSF_1_1>> = {
  ocsf: OCSF_1_1,
  OCSF: OCSF_1_1,
  'ocsf-1.1': OCSF_1_1,
  'ocsf-1.1.0': OCSF_1_1,
  aegis: 'json',
  default: 'json',
  json: 'json',
};

function resolveEventFormat(
  command: string,
  logFormat: string | undefined,
  eventFormat: string,
): 'json' | typeof OCSF_1_1 {
  const mapped = Object.hasOwn(EVENT_FORMAT_ALIASES, eventFormat) ? EVENT_FORMAT_ALIASES[eventFormat] : undefined;
  if (mapped === undefined)
    throw new AegisError(
      'AEGIS_ERR_USAGE',
      `${command}: --event-format must be one of ${Object.keys(EVENT_FORMAT_ALIASES).join(', ')} (got '${eventFormat}'); other formats: --log-format.`,
    );
  if (logFormat !== undefined)
    throw new AegisError(
      'AEGIS_ERR_USAGE',
      `${command}: --event-format and --log-format both name the output format; give one (--event-format=ocsf is OCSF 1.1.0, --log-format=ocsf the default OCSF 1.8.0).`,
    );
  return mapped;
}

/** Resolve --config / --log / --log-format into a validated configuration and a logger. Throws usage errors. */
export function resolveRunConfig(
  command: string,
  values: CommonRunFlags,
  io: CommandIo,
  source?: Record<string, unknown>,
): { config: AegisConfig; logger: Logger } {
  const levelFlag = values['log-level'];
  const level = levelFlag === undefined ? undefined : parseLogLevel(levelFlag);
  if (levelFlag !== undefined && level === undefined)
    throw new AegisError(
      'AEGIS_ERR_USAGE',
      `${command}: --log-level must be one of debug, info, warn, error (got '${levelFlag}').`,
    );
  const write = (line: string): void => void io.stderr.write(line);
  if (values.config !== undefined) {
    if (
      values.log !== undefined ||
      values['log-format'] !== undefined ||
      values['event-format'] !== undefined ||
      values['log-file'] !== undefined
    ) {
      throw new AegisError(
        'AEGIS_ERR_USAGE',
        `${command}: --log, --log-format, --event-format and --log-file describe the default sink; with --config, configure sinks in the file.`,
      );
    }
    const config = loadConfigFile(values.config, io.env);
    const logger = createLogger({ level: level ?? config.logLevel, write });
    for (const w of config.warnings) logger.warn(`Configuration warning: ${w}`);
    return { config, logger };
  }
  const log = values.log ?? 'stdout';
  if (log !== 'stdout' && log !== 'file' && log !== 'journald' && log !== 'both')
    throw new AegisError('AEGIS_ERR_USAGE', `${command}: --log must be stdout, file, journald or both (got '${log}').`);
  const eventFormat =
    values['event-format'] === undefined
      ? undefined
      : resolveEventFormat(command, values['log-format'], values['event-format']);
  const logFormat = typeof eventFormat === 'string' ? eventFormat : (values['log-format'] ?? 'json');
  // Kafka records go to stdout as one JSON line each ({"topic","key","headers","value"}): a preview of the kafka sink.
  if (!lineFormats().includes(logFormat) && !(logFormat === 'kafka' && log === 'stdout')) {
    const record = formatterNames().includes(logFormat);
    throw new AegisError(
      'AEGIS_ERR_USAGE',
      `${command}: ${record ? `--log-format '${logFormat}' produces records, not lines` : `unknown --log-format '${logFormat}'`}; formats for --log-format: ${lineFormats().join(', ')}.`,
    );
  }
  if (values['log-file'] !== undefined && log !== 'file')
    throw new AegisError('AEGIS_ERR_USAGE', `${command}: --log-file needs --log=file.`);
  const logger = createLogger({ level: level ?? 'INFO', write });
  const doc = defaultConfigDocument(
    {
      log,
      logFormat: typeof eventFormat === 'object' ? eventFormat : logFormat,
      ...(values['log-file'] !== undefined ? { logFile: values['log-file'] } : {}),
      ...(source !== undefined ? { source } : {}),
    },
    logger,
    io.env,
  );
  const result = validateConfigDocument(doc, io.env);
  if (result.config === undefined)
    throw new AegisError(
      'AEGIS_ERR_INTERNAL',
      `The built-in default configuration is invalid: ${result.problems.join('; ')}`,
    );
  return { config: result.config, logger };
}

export const runCommand: Command = {
  name: 'run',
  usage: USAGE,
  async run(argv, io) {
    const { values } = parseCommandArgs('run', argv, OPTIONS, 0);
    if (values.help === true) {
      io.stdout.write(USAGE + '\n');
      return 0;
    }
    const metricsPort = values['metrics-port'];
    if (metricsPort !== undefined) parsePortSetting(metricsPort, '--metrics-port'); // usage error before anything starts
    if (values.enforce === true && values.audit === true)
      throw new AegisError('AEGIS_ERR_USAGE', 'run: --enforce and --audit exclude each other.');
    // The daemon keeps its recent log lines for `aegisbpf debug bundle --include-logs` (stderr is all logs).
    const recent = createLineRing();
    const stderr = io.stderr;
    const teeIo: CommandIo = {
      ...io,
      stderr: Object.assign(Object.create(stderr) as typeof stderr, {
        write: (chunk: string | Uint8Array, ...rest: unknown[]) => {
          recent.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8'));
          return (stderr.write as (...a: unknown[]) => boolean).call(stderr, chunk, ...rest);
        },
      }),
    };
    const resolved = resolveRunConfig('run', values, teeIo);
    const config = applyModeFlag(resolved.config, values);
    return runDaemon({
      config,
      logger: resolved.logger,
      version: aegisVersion(),
      env: io.env,
      metricsPort,
      recentLogs: () => recent.lines(),
    });
  },
};
