/**
 * CPU and memory of the daemon process for `aegisbpf_cpu_usage_percent` and `aegisbpf_memory_rss_bytes`, sampled
 * when read (at scrape time), never on a timer.
 *
 * CPU percent is user + system time of every thread of the process (the libuv pool included) over wall time, in
 * percent of one core (like `top`), over the interval since the previous sample. Reads closer together than
 * `minIntervalMillis` return the previous values (CPU and RSS), so two scrapers in quick succession do not see a noisy
 * 0-length interval and a client polling /api/v1/stats does not read /proc on every request. The first read covers
 * the process lifetime.
 */
export interface ProcessUsage {
  readonly cpuPercent: number;
  readonly rssBytes: number;
}

export interface ProcessSampler {
  sample(): ProcessUsage;
}

export interface ProcessSamplerOptions {
  readonly minIntervalMillis?: number;
  /** Injected for tests. */
  readonly now?: () => number;
  readonly cpuMicros?: () => number;
  readonly rss?: () => number;
}

export function createProcessSampler(options: ProcessSamplerOptions = {}): ProcessSampler {
  const minInterval = options.minIntervalMillis ?? 1000;
  const now = options.now ?? (() => performance.timeOrigin + performance.now());
  const cpuMicros =
    options.cpuMicros ??
    (() => {
      const u = process.cpuUsage();
      return u.user + u.system;
    });
  const rss = options.rss ?? (() => process.memoryUsage.rss());
  // The process started at timeOrigin with zero CPU time: the first interval is the lifetime.
  let last = {
    atMillis: options.now === undefined ? performance.timeOrigin : now(),
    cpuMicros: options.cpuMicros === undefined ? 0 : cpuMicros(),
  };
  let percent = 0;
  let rssBytes = 0;
  let sampled = false;
  return {
    sample() {
      const t = now();
      const elapsed = t - last.atMillis;
      if (!sampled || elapsed >= minInterval) {
        const c = cpuMicros();
        percent = elapsed > 0 ? Math.max(0, ((c - last.cpuMicros) / 1000 / elapsed) * 100) : 0;
        // RSS with the CPU: reading it is a read of /proc/self/stat (~20-70 µs), on every /api/v1/stats otherwise.
        rssBytes = rss();
        last = { atMillis: t, cpuMicros: c };
        sampled = true;
      }
      return { cpuPercent: percent, rssBytes };
    },
  };
}
