/**
 * `activity` (opt-in): periodic per-process summaries of syscalls and block I/O counted in the kernel
 * (src/sensor/activity.ts, bpf/activity/activity.bpf.c), as `type: activity` events, the busiest processes first.
 *
 * ```yaml
 * sources:
 *   - { type: activity, interval: 10s, block_io: true, max_processes: 100 }
 * ```
 *
 * Needs root and BPF (like the sensor); it enables a syscall tracepoint, which slows every syscall on the host
 * (docs/analytics.md). `exec_id` is `<pid>:<start_time>` with the kernel's exact start time, the sensor's own.
 */
import type { ActivityEvent } from '../../event/types';
import { openActivityCollector } from '../../sensor/activity';
import type { ActivityCollector } from '../../sensor/activity';
import { sleep } from '../../sinks/core/retry';
import type { SourceStats } from '../../telemetry/stats';
import type { JsonSchemaObject } from '../../formatters/types';
import { formatTimestampFromMillis } from '../../util/time';
import { parseDuration } from '../processors/anomaly';
import type { Source, SourceDefinition } from './types';

export interface ActivityOptions {
  readonly intervalMillis: number;
  readonly blockIo: boolean;
  /** Most processes reported per interval, by syscalls (the rest are left out, not merged). */
  readonly maxProcesses: number;
}

export function parseActivityOptions(raw: Readonly<Record<string, unknown>>): ActivityOptions {
  return {
    intervalMillis: parseDuration(raw.interval) ?? 10_000,
    blockIo: raw.block_io !== false,
    maxProcesses: typeof raw.max_processes === 'number' ? raw.max_processes : 100,
  };
}

export interface ActivityDeps {
  readonly name: string;
  readonly hostname: string;
  readonly stats?: SourceStats;
  readonly now?: () => number;
  readonly open?: (blockIo: boolean) => ActivityCollector;
  readonly sleep?: (millis: number, signal: AbortSignal) => Promise<boolean>;
}

/** One interval's events from a collector read: the busiest `maxProcesses`, as activity events. */
export function activityEvents(
  collector: ActivityCollector,
  o: ActivityOptions,
  hostname: string,
  atMillis: number,
  intervalMillis: number,
): ActivityEvent[] {
  const rows = collector.read().sort((a, b) => b.syscalls - a.syscalls || a.pid - b.pid);
  return rows.slice(0, o.maxProcesses).map((r) => {
    const execId = `${r.pid}:${r.startTime}`;
    const e: Record<string, unknown> = {
      ts: formatTimestampFromMillis(atMillis),
      type: 'activity',
      host: hostname,
      pid: r.pid,
      ppid: r.ppid,
      start_time: Number(r.startTime),
      exec_id: execId,
      trace_id: execId,
      cgid: r.cgid,
      cgroup_path: '',
      comm: r.comm.slice(0, 16),
      interval_ms: intervalMillis,
      syscalls: r.syscalls,
    };
    if (collector.blockIo) {
      e.io_ops = r.ioOps;
      e.io_bytes = r.ioBytes;
      e.io_latency_ns = r.ioLatencyNs;
    }
    return e as unknown as ActivityEvent;
  });
}

export function createActivitySource(o: ActivityOptions, deps: ActivityDeps): Source {
  const now = deps.now ?? Date.now;
  const wait = deps.sleep ?? sleep;
  return {
    name: deps.name,
    type: 'activity',
    async *read(signal) {
      const collector = (deps.open ?? ((blockIo) => openActivityCollector({ blockIo })))(o.blockIo);
      try {
        collector.read(); // the baseline: what was counted before this interval
        let last = now();
        while (await wait(o.intervalMillis, signal)) {
          const at = now();
          const events = activityEvents(collector, o, deps.hostname, at, at - last);
          last = at;
          if (events.length > 0) {
            if (deps.stats !== undefined) deps.stats.events += events.length;
            yield events;
          }
        }
      } finally {
        collector.close();
      }
    },
  };
}

const durationSchema = (description: string): JsonSchemaObject => ({
  anyOf: [
    { type: 'integer', minimum: 1 },
    { type: 'string', pattern: '^([0-9]+)(ms|s|m|h|d)$' },
  ],
  description,
});

export const activitySource: SourceDefinition = {
  type: 'activity',
  description: 'Per-process syscall and block-I/O summaries counted in the kernel (opt-in; root, BPF).',
  onePerDaemon: 'the kernel counters are one per host',
  optionsSchema: {
    properties: {
      interval: durationSchema('How often the counters are read and summarised (default 10s).'),
      block_io: { type: 'boolean', description: 'Also count block-I/O requests, bytes and latency (default true).' },
      max_processes: {
        type: 'integer',
        minimum: 1,
        maximum: 16384,
        description: 'Most processes reported per interval, the busiest by syscalls (default 100).',
      },
    },
  },
  create: (raw, ctx) =>
    createActivitySource(parseActivityOptions(raw), { name: ctx.name, hostname: ctx.hostname, stats: ctx.stats }),
};
