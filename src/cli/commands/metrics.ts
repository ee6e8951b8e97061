/**
 * `aegisbpf metrics [--out FILE] [--detailed]`: a running daemon's metrics in the Prometheus text format, on
 * stdout or as a node-exporter textfile (written to a temporary file in the same directory, fsync'ed, renamed into
 * place: the collector never reads a half-written file).
 */
import fs from 'node:fs';
import path from 'node:path';
import { fetchDaemonMetrics } from '../../daemon/control-client';
import { resolveControlSocketPath } from '../../config/endpoints';
import { createMetrics } from '../../telemetry/metrics';
import type { PinnedStatsOptions } from '../../sensor/pinned-stats';
import { pinnedStatsAbsentReason, readPinnedSensorStats } from '../../sensor/pinned-stats';
import { DEFAULT_PIN_DIR } from '../../sensor/bpf-object';
import { createStatsRegistry } from '../../telemetry/stats';
import { AegisError, describeError } from '../../util/errors';
import { parseCommandArgs } from '../args';
import type { Command } from '../command';
import { EXIT } from '../../util/exit-codes';
import { aegisVersion } from '../version';
import { EXPORT_FORMATS, pushExposition, pushTarget } from './metrics-export';

const USAGE = `Usage: aegisbpf metrics [--out FILE] [--detailed] [--socket PATH] [--pin-dir DIR]
       aegisbpf metrics export --format prometheus --endpoint URL [--detailed] [--socket PATH] [--pin-dir DIR]

Print a running daemon's metrics in the Prometheus text format (what GET /metrics serves), read over its control
socket. With --out, write them for node-exporter's textfile collector, atomically (temporary file + rename).

  --out FILE     Write to FILE instead of stdout ('-': stdout). Name it *.prom in the collector's directory.
  --detailed     Include the high-cardinality families (aegisbpf_blocks_by_path, aegisbpf_blocks_by_inode).
  --socket PATH  The daemon's control socket (default: AEGIS_CONTROL_SOCKET, else /run/aegisbpf/control.sock as root).
  --pin-dir DIR  Where the sensor pinned its maps, read when no daemon answers (default ${DEFAULT_PIN_DIR}).

export: push the same exposition to a Prometheus Pushgateway (PUT URL/metrics/job/aegisbpf/instance/HOST, unless
URL names a group already); --format prometheus is the only format. Credentials in the URL go as Basic auth.

When no daemon answers: the kernel counters from the sensor's pinned maps, with aegisbpf_up 0; without pinned
maps, only aegisbpf_up 0 (so a textfile says the daemon is down instead of going stale). Exit 1 in both cases.

Exit codes: 0 ok; 1 no running daemon (AEGIS_ERR_DAEMON_UNREACHABLE) or the file could not be written
(AEGIS_ERR_METRICS_WRITE); 2 usage.`;

const OPTIONS = {
  out: { type: 'string' },
  detailed: { type: 'boolean' },
  socket: { type: 'string' },
  'pin-dir': { type: 'string' },
  format: { type: 'string' },
  endpoint: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

/** Write `text` to `file` atomically: temporary file in the same directory, fsync, rename, fsync the directory. */
export function writeFileAtomic(file: string, text: string, mode = 0o644): void {
  const dir = path.dirname(path.resolve(file));
  // Not *.prom: node-exporter's textfile collector must never pick up the temporary file.
  const tmp = path.join(dir, `.${path.basename(file)}.${process.pid}.tmp`);
  try {
    const fd = fs.openSync(tmp, 'w', mode);
    try {
      fs.writeSync(fd, text);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.chmodSync(tmp, mode);
    fs.renameSync(tmp, file);
  } catch (err) {
    fs.rmSync(tmp, { force: true });
    throw new AegisError('AEGIS_ERR_METRICS_WRITE', `Cannot write ${file}: ${describeError(err)}`, { cause: err });
  }
  try {
    const dfd = fs.openSync(dir, 'r');
    try {
      fs.fsyncSync(dfd);
    } finally {
      fs.closeSync(dfd);
    }
  } catch {
    // The rename is done; a directory that cannot be fsync'ed (some file systems) only weakens crash durability.
  }
}

/** What to export when no daemon answers: `aegisbpf_up 0`, plus the pinned sensor's counters when there are any. */
function offlineExposition(detailed: boolean, pinOptions: PinnedStatsOptions): { text: string; note: string } {
  const stats = createStatsRegistry();
  const pinned = readPinnedSensorStats({ ...pinOptions, detailed });
  if (pinned !== undefined) stats.sensor = pinned;
  const metrics = createMetrics({
    stats,
    version: aegisVersion(),
    detailed,
    up: () => 0,
    only: (spec) => spec.name === 'aegisbpf_up' || (pinned !== undefined && spec.component === 'sensor'),
  });
  return {
    text: metrics.render(),
    note: pinned === undefined ? pinnedStatsAbsentReason(pinOptions) : 'the kernel counters come from the pinned maps',
  };
}

export const metricsCommand: Command = {
  name: 'metrics',
  usage: USAGE,
  async run(argv, io) {
    const { values, positionals } = parseCommandArgs('metrics', argv, OPTIONS, 1);
    if (values.help === true) {
      io.stdout.write(USAGE + '\n');
      return EXIT.OK;
    }
    const exporting = positionals[0] === 'export';
    if (positionals[0] !== undefined && !exporting)
      throw new AegisError(
        'AEGIS_ERR_USAGE',
        `metrics: unexpected argument '${positionals[0]}' (the subcommand is export).`,
      );
    let target: ReturnType<typeof pushTarget> | undefined;
    if (exporting) {
      const format = values.format ?? 'prometheus';
      if (!(EXPORT_FORMATS as readonly string[]).includes(format))
        throw new AegisError('AEGIS_ERR_USAGE', `metrics export: --format must be prometheus (got '${format}').`);
      if (values.endpoint === undefined)
        throw new AegisError('AEGIS_ERR_USAGE', 'metrics export: --endpoint URL is required (a Pushgateway).');
      if (values.out !== undefined)
        throw new AegisError('AEGIS_ERR_USAGE', 'metrics export: --out does not apply (the metrics go to --endpoint).');
      target = pushTarget(values.endpoint);
    } else if (values.format !== undefined || values.endpoint !== undefined)
      throw new AegisError('AEGIS_ERR_USAGE', 'metrics: --format and --endpoint belong to `metrics export`.');
    const detailed = values.detailed === true;
    const out = values.out === '-' ? undefined : values.out;
    if (out !== undefined && out === '') throw new AegisError('AEGIS_ERR_USAGE', 'metrics: --out needs a file name.');
    const socketPath = resolveControlSocketPath(values.socket, io.env);
    const r = await fetchDaemonMetrics(socketPath, detailed);
    let text: string;
    let code: number = EXIT.OK;
    if (r.ok) text = r.value;
    else {
      if (r.failure !== 'not-running') {
        io.stderr.write(`aegisbpf metrics: ${r.message} (AEGIS_ERR_DAEMON_UNREACHABLE).\n`);
        return EXIT.FAILURE;
      }
      let offline;
      try {
        offline = offlineExposition(
          detailed,
          values['pin-dir'] !== undefined ? { pinDir: path.resolve(values['pin-dir']) } : {},
        );
      } catch (err) {
        io.stderr.write(
          `aegisbpf metrics: ${r.message}, and reading the pinned maps failed: ${describeError(err)} (AEGIS_ERR_DAEMON_UNREACHABLE).\n`,
        );
        return EXIT.FAILURE;
      }
      text = offline.text;
      io.stderr.write(
        `aegisbpf metrics: ${r.message}; exporting aegisbpf_up 0; ${offline.note} (AEGIS_ERR_DAEMON_UNREACHABLE).\n`,
      );
      code = EXIT.FAILURE;
    }
    if (target !== undefined) {
      try {
        io.stderr.write((await pushExposition(target, text)) + '\n');
      } catch (err) {
        io.stderr.write(`aegisbpf metrics export: ${(err as Error).message} (AEGIS_ERR_METRICS_PUSH).\n`);
        return EXIT.FAILURE;
      }
      return code;
    }
    if (out === undefined) {
      io.stdout.write(text);
      return code;
    }
    writeFileAtomic(out, text);
    return code;
  },
};
