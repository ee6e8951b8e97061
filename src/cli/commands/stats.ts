/** `aegisbpf stats`: a running daemon's totals, human-readable (or JSON), read over its control socket. */
import path from 'node:path';
import { DEFAULT_PIN_DIR } from '../../sensor/bpf-object';
import { resolveControlSocketPath } from '../../config/endpoints';
import { fetchDaemonStats } from '../../daemon/control-client';
import { pinnedStatsAbsentReason, readPinnedSensorStats } from '../../sensor/pinned-stats';
import type { SensorSnapshot, StatsSnapshot } from '../../telemetry/stats-snapshot';
import { snapshotSensor } from '../../telemetry/stats-snapshot';
import { BLOCK_ACTIONS } from '../../telemetry/sensor-stats';
import { describeError } from '../../util/errors';
import { parseCommandArgs } from '../args';
import type { Command } from '../command';
import { EXIT } from '../../util/exit-codes';
import { aegisVersion } from '../version';

const USAGE = `Usage: aegisbpf stats [--detailed] [--json] [--socket PATH] [--pin-dir DIR]

Print a running daemon's totals: blocks ("Total blocks"), ring-buffer events and drops, policy maps, events in,
per-sink delivery, dead letters, latency, readiness. Read over the daemon's control socket; when no daemon runs,
from the sensor's pinned maps (kernel counters only).

  --detailed     Also the top blocked paths and inodes (high cardinality; for debugging).
  --json         The snapshot as JSON (the control socket's /v1/stats).
  --socket PATH  The daemon's control socket (default: AEGIS_CONTROL_SOCKET, else /run/aegisbpf/control.sock as
                 root, $XDG_RUNTIME_DIR/aegisbpf/control.sock otherwise).
  --pin-dir DIR  Where the sensor pinned its maps, read when no daemon answers (default ${DEFAULT_PIN_DIR}).

Exit codes: 0 ok; 1 no running daemon and no pinned maps, or the socket could not be used (AEGIS_ERR_DAEMON_UNREACHABLE);
2 usage.`;

const OPTIONS = {
  detailed: { type: 'boolean' },
  json: { type: 'boolean' },
  socket: { type: 'string' },
  'pin-dir': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

function bytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let u = -1;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${v.toFixed(1)} ${units[u] as string}`;
}

function duration(seconds: number): string {
  const s = Math.floor(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  return h > 0 ? `${h}h ${m}m ${s % 60}s` : m > 0 ? `${m}m ${s % 60}s` : `${seconds.toFixed(1)}s`;
}

const pairs = (record: Readonly<Record<string, number>>): string => {
  const entries = Object.entries(record);
  return entries.length === 0 ? 'none' : entries.map(([k, v]) => `${k} ${v}`).join(', ');
};

function sensorLines(s: SensorSnapshot, detailed: boolean): string[] {
  const attempted = s.ringbuf_events + s.ringbuf_drops;
  const lines = [
    'Block Statistics:',
    `  Total blocks: ${s.blocks_total}`,
    `  Blocks by action: ${BLOCK_ACTIONS.map((a) => `${a} ${s.blocks[a]}`).join(', ')}`,
    `  Ringbuf events: ${s.ringbuf_events}`,
    `  Ringbuf drops: ${s.ringbuf_drops} (${attempted === 0 ? '0' : ((100 * s.ringbuf_drops) / attempted).toFixed(3)}% of records)`,
    `  Network blocks: connect ${s.net_blocks.connect}, bind ${s.net_blocks.bind}; network ringbuf drops ${s.net_ringbuf_drops}`,
    ...(s.ingress !== undefined
      ? [
          `  Inbound filter: ${s.ingress.hook}${s.ingress.targets.length > 0 ? ` on ${s.ingress.targets.join(', ')}` : ''}; packets passed ${s.packets?.passed ?? 0}, dropped ${s.packets?.dropped ?? 0}`,
        ]
      : []),
    s.attached
      ? `Sensor: attached (mode ${s.mode ?? 'unknown'}, backend ${s.backend ?? 'unknown'})`
      : `Sensor: not attached${s.absent_reason !== undefined ? ` (${s.absent_reason})` : ''}`,
  ];
  if (s.maps.length === 0) lines.push('Maps: none loaded');
  else {
    lines.push('Maps:');
    for (const m of s.maps)
      lines.push(
        `  ${m.map}: ${m.entries}/${m.capacity} entries (${m.capacity > 0 ? ((100 * m.entries) / m.capacity).toFixed(1) : '0.0'}% full)`,
      );
  }
  if (s.net_rules !== undefined)
    lines.push(`Network rules: ip ${s.net_rules.ip}, cidr ${s.net_rules.cidr}, port ${s.net_rules.port}`);
  if (detailed) {
    lines.push(
      '',
      'Detailed Block Statistics (for debugging only):',
      'WARNING: high cardinality; use `aegisbpf metrics` for production metrics.',
    );
    const paths = s.top_blocked_paths ?? [];
    const inodes = s.top_blocked_inodes ?? [];
    if (!s.attached && paths.length === 0 && inodes.length === 0)
      lines.push('  (no per-path or per-inode counters: the sensor is not attached)');
    else {
      // A path may hold any byte but NUL: JSON-quoted so a newline or an escape sequence cannot fake a line.
      lines.push(
        '  Top blocked paths (rule hits):',
        ...(paths.length === 0 ? ['    (none)'] : paths.map(([p, n]) => `    ${JSON.stringify(p)}: ${n}`)),
      );
      lines.push(
        '  Top blocked inodes (dev:ino, rule hits):',
        ...(inodes.length === 0 ? ['    (none)'] : inodes.map(([p, n]) => `    ${p}: ${n}`)),
      );
    }
  }
  return lines;
}

export function renderStats(snap: StatsSnapshot, detailed: boolean): string {
  const head =
    snap.origin === 'daemon'
      ? `aegisbpf ${snap.version} daemon (pid ${snap.pid ?? '?'}), up ${duration(snap.uptime_seconds ?? 0)}, ${snap.ready === undefined ? 'readiness unknown' : snap.ready.ready ? 'ready' : 'NOT READY'}`
      : `aegisbpf ${snap.version}: no running daemon; kernel counters from the pinned maps`;
  const lines = [head, ...sensorLines(snap.sensor, detailed)];
  if (snap.pipeline !== undefined) {
    const p = snap.pipeline;
    const lat = Object.entries(p.latency_us)
      .map(([q, v]) => `${q} ${v === null ? '-' : v}`)
      .join(', ');
    lines.push(
      'Pipeline:',
      `  Events in: ${p.events_in} (invalid input ${p.invalid_input})`,
      `  Removed by processors: ${pairs(p.removed)}`,
      `  Unrouted: ${p.unrouted}`,
      `  Queue depth: ${p.queue_depth_events} events`,
      `  Latency per event (µs, recent): ${lat}`,
    );
  }
  if (snap.sinks !== undefined) {
    lines.push('Sinks:');
    for (const [name, s] of Object.entries(snap.sinks)) {
      const dropped = Object.values(s.dropped).reduce((a, b) => a + b, 0);
      lines.push(
        `  ${name} (${s.type}): ${s.healthy ? 'healthy' : `UNHEALTHY (${s.last_error ?? 'unknown'})`}; received ${s.received}, delivered ${s.delivered}, ` +
          `failed requests ${s.failed_requests}, retried ${s.retried}, dead-lettered ${s.dead_lettered}, dropped ${dropped}${dropped > 0 ? ` (${pairs(s.dropped)})` : ''}; ` +
          `buffer ${s.buffer_events}/${s.buffer_max_events} events, ${bytes(s.buffer_bytes)}/${bytes(s.buffer_max_bytes)}`,
      );
      // Older daemons (before the sink protocol counters were in /v1/stats) have no `extra`.
      if (s.extra !== undefined && Object.keys(s.extra).length > 0) lines.push(`    protocol: ${pairs(s.extra)}`);
    }
  }
  if (snap.dead_letter !== undefined)
    lines.push(
      `Dead-letter file: ${snap.dead_letter.written} entries written (${bytes(snap.dead_letter.bytes)}), ${snap.dead_letter.failed} could not be written`,
    );
  if (snap.process !== undefined)
    lines.push(`Process: CPU ${snap.process.cpu_percent}%, RSS ${bytes(snap.process.rss_bytes)}`);
  if (snap.ready !== undefined) {
    lines.push('Readiness:');
    for (const c of snap.ready.checks)
      lines.push(
        `  ${c.name}: ${c.ready ? `ok${c.detail !== undefined ? ` (${c.detail})` : ''}` : `not ready: ${c.detail ?? ''}`}`,
      );
  }
  return lines.join('\n') + '\n';
}

export const statsCommand: Command = {
  name: 'stats',
  usage: USAGE,
  async run(argv, io) {
    const { values } = parseCommandArgs('stats', argv, OPTIONS, 0);
    if (values.help === true) {
      io.stdout.write(USAGE + '\n');
      return EXIT.OK;
    }
    const detailed = values.detailed === true;
    const socketPath = resolveControlSocketPath(values.socket, io.env);
    const pinOptions = {
      ...(values['pin-dir'] !== undefined ? { pinDir: path.resolve(values['pin-dir']) } : {}),
      detailed,
    };
    const r = await fetchDaemonStats(socketPath, detailed);
    let snap: StatsSnapshot | undefined = r.ok && r.status === 200 ? r.value : undefined;
    if (snap === undefined) {
      const why = r.ok ? `the daemon answered ${r.status}` : r.message;
      if (r.ok || r.failure !== 'not-running') {
        io.stderr.write(`aegisbpf stats: ${why} (AEGIS_ERR_DAEMON_UNREACHABLE).\n`);
        return EXIT.FAILURE;
      }
      let pinned;
      try {
        pinned = readPinnedSensorStats(pinOptions);
      } catch (err) {
        io.stderr.write(
          `aegisbpf stats: ${why}, and reading the pinned maps failed: ${describeError(err)} (AEGIS_ERR_DAEMON_UNREACHABLE).\n`,
        );
        return EXIT.FAILURE;
      }
      if (pinned === undefined) {
        io.stderr.write(
          `aegisbpf stats: ${why} and ${pinnedStatsAbsentReason(pinOptions)} (AEGIS_ERR_DAEMON_UNREACHABLE).\n`,
        );
        return EXIT.FAILURE;
      }
      snap = {
        origin: 'pinned-maps',
        version: aegisVersion(),
        pid: undefined,
        started_at: undefined,
        uptime_seconds: undefined,
        ready: undefined,
        sensor: snapshotSensor(pinned, detailed),
      };
    }
    io.stdout.write(values.json === true ? JSON.stringify(snap, null, 2) + '\n' : renderStats(snap, detailed));
    return EXIT.OK;
  },
};
