/**
 * `host`: samples the machine from /proc every `interval` (CPU, load, memory, disk and network bytes, the top
 * processes by CPU and by resident memory) and yields one `host_stats` event per sample; with `metrics: true` (the
 * default) the same figures are the `aegisbpf_host_*` families of /metrics, and every sample is kept for the control
 * API's `/metrics/realtime` and `/metrics/history` (src/pipeline/analytics-view.ts).
 *
 * ```yaml
 * sources:
 *   - { type: host, interval: 10s, top: 5 }
 * ```
 *
 * The first reading is the baseline: the first event comes one interval later, with deltas over that interval.
 * top_cpu and top_rss are in every `top_every`-th event (default 6th), CPU shares over the time since the previous
 * reading of the processes: reading /proc/<pid>/stat of every process costs 2–3.5 µs of kernel time each.
 */
import os from 'node:os';
import type { HostStatsEvent } from '../../event/types';
import { readSelfIdentity, selfProcessFields } from '../../sensor/event-mapper';
import { sleep } from '../../sinks/core/retry';
import type { SourceStats, StatsRegistry } from '../../telemetry/stats';
import { formatTimestampFromMillis } from '../../util/time';
import type { JsonSchemaObject } from '../../formatters/types';
import { parseDuration } from '../processors/anomaly';
import type { AnalyticsStore } from '../analytics-view';
import {
  listWholeDisks,
  readCpu,
  readDiskstats,
  readLoad1,
  readMeminfo,
  readNetDev,
  netDelta,
  createProcessReader,
  createProcFiles,
  topByCpu,
  topByRss,
} from './host-proc';
import type { HostReading } from './host-proc';
import type { Source, SourceDefinition } from './types';

export interface HostOptions {
  readonly intervalMillis: number;
  /** Processes listed in top_cpu and top_rss; 0 reads no per-process file at all. */
  readonly top: number;
  /** Read the processes (and list the top ones) every this many samples: they are most of a sample's cost. */
  readonly topEvery: number;
  readonly metrics: boolean;
}

export interface HostDeps {
  readonly name: string;
  readonly hostname: string;
  readonly now?: () => number;
  /** Default /proc; tests pass a directory of their own files. */
  readonly procRoot?: string;
  /** Default /sys/block (whole disks). */
  readonly sysBlock?: string;
  readonly registry?: StatsRegistry;
  readonly analytics?: AnalyticsStore;
  readonly stats?: SourceStats;
  readonly sleep?: (millis: number, signal: AbortSignal) => Promise<boolean>;
}

export interface HostSampler {
  /** Read /proc now; the event for the interval since the previous reading (undefined for the first). */
  sample(): HostStatsEvent | undefined;
  /** Close the descriptors kept between samples. */
  close(): void;
}

export function parseHostOptions(raw: Readonly<Record<string, unknown>>): HostOptions {
  return {
    intervalMillis: parseDuration(raw.interval) ?? 10_000,
    top: typeof raw.top === 'number' ? raw.top : 5,
    topEvery: typeof raw.top_every === 'number' ? raw.top_every : 6,
    metrics: raw.metrics !== false,
  };
}

/** Bytes per memory page (RSS in /proc/<pid>/stat is in pages): 4096 on x86-64 and most arm64 kernels. */
const PAGE_BYTES = 4096;

export function createHostSampler(o: HostOptions, deps: HostDeps): HostSampler {
  const root = deps.procRoot ?? '/proc';
  const now = deps.now ?? Date.now;
  const disks = listWholeDisks(deps.sysBlock ?? '/sys/block');
  const self = readSelfIdentity('/sys/fs/cgroup');
  const processes = createProcessReader(root, PAGE_BYTES);
  const files = createProcFiles(root);
  let prev: HostReading | undefined;
  /** When the processes were last read (their previous ticks are in the reader's entries). */
  let prevTopMillis: number | undefined;
  let samples = 0;
  const totals = { diskRead: 0, diskWrite: 0, rx: 0, tx: 0 };

  const reading = (): HostReading => {
    const mem = readMeminfo(files);
    const disk = readDiskstats(files, disks);
    return {
      atMillis: now(),
      cpu: readCpu(files),
      load1: readLoad1(files),
      memTotalBytes: mem.total,
      memAvailableBytes: mem.available,
      diskReadBytes: disk.read,
      diskWriteBytes: disk.write,
      net: readNetDev(files),
    };
  };
  // Counters can go back (a disk removed, a counter wrapped): a negative delta counts as 0.
  const delta = (a: number, b: number): number => Math.max(0, b - a);

  return {
    sample() {
      const withTop = o.top > 0 && samples++ % Math.max(1, o.topEvery) === 0;
      const cur = reading();
      const procs = withTop ? processes.read() : undefined;
      const before = prev;
      const beforeTopMillis = prevTopMillis;
      prev = cur;
      if (withTop) prevTopMillis = cur.atMillis;
      if (before === undefined) return undefined;
      const net = netDelta(before.net, cur.net);
      const interval = Math.max(0, cur.atMillis - before.atMillis);
      const dTotal = cur.cpu.total - before.cpu.total;
      const cpuPercent = dTotal > 0 ? Math.round((delta(before.cpu.busy, cur.cpu.busy) / dTotal) * 10_000) / 100 : 0;
      const e: Record<string, unknown> = {
        ts: formatTimestampFromMillis(cur.atMillis),
        type: 'host_stats',
        host: deps.hostname,
        ...selfProcessFields(self),
        interval_ms: interval,
        cpu_percent: Math.min(100, cpuPercent),
        load1: cur.load1,
        mem_total_bytes: cur.memTotalBytes,
        mem_available_bytes: cur.memAvailableBytes,
        disk_read_bytes: delta(before.diskReadBytes, cur.diskReadBytes),
        disk_write_bytes: delta(before.diskWriteBytes, cur.diskWriteBytes),
        net_rx_bytes: net.rx,
        net_tx_bytes: net.tx,
      };
      if (procs !== undefined && beforeTopMillis !== undefined) {
        // CPU over the interval since the previous reading of the processes (top_every samples ago).
        e.top_cpu = topByCpu(procs, cur.atMillis - beforeTopMillis, o.top);
        e.top_rss = topByRss(procs, o.top);
      }
      const event = e as unknown as HostStatsEvent;
      totals.diskRead += event.disk_read_bytes;
      totals.diskWrite += event.disk_write_bytes;
      totals.rx += event.net_rx_bytes;
      totals.tx += event.net_tx_bytes;
      if (o.metrics && deps.registry !== undefined)
        deps.registry.analytics.host = {
          cpuPercent: event.cpu_percent,
          load1: event.load1,
          memTotalBytes: event.mem_total_bytes,
          memAvailableBytes: event.mem_available_bytes,
          diskReadBytesTotal: totals.diskRead,
          diskWriteBytesTotal: totals.diskWrite,
          netReceiveBytesTotal: totals.rx,
          netTransmitBytesTotal: totals.tx,
        };
      deps.analytics?.recordHostSample(event);
      return event;
    },
    close: () => {
      processes.close();
      files.close();
    },
  };
}

export function createHostSource(o: HostOptions, deps: HostDeps): Source {
  const sampler = createHostSampler(o, deps);
  const wait = deps.sleep ?? sleep;
  return {
    name: deps.name,
    type: 'host',
    async *read(signal) {
      try {
        while (!signal.aborted) {
          const e = sampler.sample();
          if (e !== undefined) {
            if (deps.stats !== undefined) deps.stats.events++;
            yield [e];
          }
          if (!(await wait(o.intervalMillis, signal))) return;
        }
      } finally {
        sampler.close();
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

export const hostSource: SourceDefinition = {
  type: 'host',
  description: 'Host statistics from /proc (CPU, memory, disk, network, top processes) as host_stats events.',
  onePerDaemon: 'the aegisbpf_host_* metrics describe one machine',
  optionsSchema: {
    properties: {
      interval: durationSchema('How often /proc is sampled (default 10s).'),
      top: {
        type: 'integer',
        minimum: 0,
        maximum: 64,
        description: 'Processes in top_cpu and top_rss (default 5; 0 reads no per-process file).',
      },
      top_every: {
        type: 'integer',
        minimum: 1,
        description:
          'List the top processes every this many samples (default 6: once a minute at 10s). Reading every /proc/<pid>/stat is most of a sample cost.',
      },
      metrics: { type: 'boolean', description: 'Export the samples as the aegisbpf_host_* metrics (default true).' },
    },
  },
  create: (raw, ctx) =>
    createHostSource(parseHostOptions(raw), {
      name: ctx.name,
      hostname: ctx.hostname || os.hostname(),
      registry: ctx.registry,
      analytics: ctx.analytics,
      stats: ctx.stats,
    }),
};
