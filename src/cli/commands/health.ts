/**
 * `aegisbpf health`: what the kernel lets the sensor do, found by loading each capability for real, and — when a
 * daemon runs — whether it is ready, asked over its control socket (`/v1/ready`: sensor attached, sinks healthy).
 *
 * Two questions, two costs: the kernel probe loads a handful of BPF programs (fine on demand, wasteful every few
 * seconds); the readiness question is one request on a Unix socket. `--ready` asks only the second, for readiness
 * probes.
 */
import { createSpanTracer } from '../../telemetry/spans';
import { createLogger } from '../../util/logger';
import type { DaemonReadiness } from '../../daemon/control-client';
import { queryDaemonReadiness } from '../../daemon/control-client';
import { resolveControlSocketPath } from '../../config/endpoints';
import { formatHealth, healthExitCode, probeFeatures } from '../../sensor/feature-probe';
import { parseCommandArgs } from '../args';
import type { Command } from '../command';
import { EXIT } from '../../util/exit-codes';

const USAGE = `Usage: aegisbpf health [--json] [--socket PATH] [--ready]

Probe the kernel: BTF, BPF LSM (a real load), raw and syscall tracepoints, bpf_send_signal, ring buffer, cgroup v2 and
its connect hooks, lockdown; print the sensor backend and the enforcement that results. Mounts tracefs at
/sys/kernel/tracing when it is missing (the sensor needs it). Needs root to probe. Then, when a daemon runs, its
readiness (GET /v1/ready on the control socket: the sensor attached, every sink healthy).

  --json         the report as JSON (the kernel probe, plus "daemon": the readiness answer)
  --socket PATH  the daemon's control socket (default: AEGIS_CONTROL_SOCKET, else /run/aegisbpf/control.sock as root)
  --ready        only the daemon's readiness, no kernel probe (for readiness probes: cheap, no BPF loads)

Exit codes: 0 healthy (lsm mode); 1 degraded (tracepoint mode, or signals / network hooks missing), or a running
daemon is not ready or cannot be asked; 2 the sensor cannot run. No running daemon does not change the code.
With --ready: 0 the daemon is ready; 1 not ready, not running or cannot be asked.`;

const OPTIONS = {
  json: { type: 'boolean' },
  socket: { type: 'string' },
  ready: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

/** The daemon part of the text report. */
export function formatDaemonReadiness(r: DaemonReadiness): string {
  if (!r.reachable) {
    return r.failure === 'not-running'
      ? `daemon: not running (no control socket answers at ${r.socketPath})\n`
      : `daemon: UNKNOWN: ${r.reason}\n`;
  }
  const lines = [`daemon: ${r.ready ? 'ready' : 'NOT READY'} (control socket ${r.socketPath})`];
  for (const c of r.checks)
    lines.push(
      `  ${c.name}: ${c.ready ? `ok${c.detail !== undefined ? ` (${c.detail})` : ''}` : `not ready: ${c.detail ?? 'no reason given'}`}`,
    );
  return lines.join('\n') + '\n';
}

/** What the daemon's answer does to the exit code: nothing when none runs, at least 1 when it is not ready. */
export function daemonExitCode(r: DaemonReadiness): 0 | 1 {
  if (!r.reachable) return r.failure === 'not-running' ? EXIT.OK : EXIT.FAILURE;
  return r.ready ? EXIT.OK : EXIT.FAILURE;
}

export const healthCommand: Command = {
  name: 'health',
  usage: USAGE,
  async run(argv, io) {
    const { values } = parseCommandArgs('health', argv, OPTIONS, 0);
    if (values.help === true) {
      io.stdout.write(USAGE + '\n');
      return EXIT.OK;
    }
    const json = values.json === true;
    const socketPath = resolveControlSocketPath(values.socket, io.env);
    if (values.ready === true) {
      const daemon = await queryDaemonReadiness({ socketPath });
      io.stdout.write(json ? JSON.stringify(daemon, null, 2) + '\n' : formatDaemonReadiness(daemon));
      return daemon.reachable && daemon.ready ? EXIT.OK : EXIT.FAILURE;
    }
    // AEGIS_OTEL_SPANS=1: cli.health → health.detect_kernel_features → health.load_bpf (one per probe program).
    const tracer = createSpanTracer({
      logger: createLogger({ level: 'INFO', write: (line) => void io.stderr.write(line) }),
      env: io.env,
    });
    const report = tracer.withSpan('cli.health', () => probeFeatures());
    const daemon = await queryDaemonReadiness({ socketPath });
    io.stdout.write(
      json
        ? JSON.stringify({ ...report, daemon }, null, 2) + '\n'
        : formatHealth(report) + formatDaemonReadiness(daemon),
    );
    return Math.max(healthExitCode(report), daemonExitCode(daemon));
  },
};
