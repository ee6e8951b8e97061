/**
 * Kernel time (bpf_ktime_get_ns(), CLOCK_MONOTONIC ns) to event timestamps (RFC 3339 UTC, microseconds).
 *
 * The offset wall = monotonic + offset is measured once at start and on refresh(). Date.now() only has
 * millisecond resolution, so the measurement waits for Date.now() to tick and reads the monotonic clock right
 * after the edge: the offset is then good to a few microseconds instead of up to a millisecond. (libuv's hrtime,
 * behind process.hrtime, is CLOCK_MONOTONIC, the same clock as bpf_ktime_get_ns().)
 *
 * Arithmetic stays exact: the offset is kept as integer microseconds plus a nanosecond remainder, and ktime values
 * are exact doubles below 2^53 ns (104 days of uptime).
 */

export interface BootClock {
  /** RFC 3339 UTC with exactly six fractional digits, from a kernel ktime (ns). */
  format(ktimeNs: number): string;
  /** Wall-clock microseconds since the epoch for a kernel ktime. */
  wallMicros(ktimeNs: number): number;
  /** Current CLOCK_MONOTONIC in ns (same clock as record ktime), as a number. */
  nowMonotonicNs(): number;
  /** Re-measure the offset (NTP may slew the wall clock). */
  refresh(): void;
}

export interface BootClockOptions {
  /** For tests: a fixed offset instead of measuring. wall_ns = ktime + offsetNs. */
  readonly offsetNs?: bigint;
  /** Upper bound on the busy wait for a Date.now() edge, ms. */
  readonly maxEdgeWaitMillis?: number;
}

function measureOffsetNs(maxEdgeWaitMillis: number): bigint {
  const start = Date.now();
  let now = start;
  const hrStart = process.hrtime.bigint();
  const limitNs = BigInt(maxEdgeWaitMillis) * 1_000_000n;
  let hr = hrStart;
  while (now === start && hr - hrStart < limitNs) {
    now = Date.now();
    hr = process.hrtime.bigint();
  }
  return BigInt(now) * 1_000_000n - hr;
}

export function createBootClock(options: BootClockOptions = {}): BootClock {
  const maxWait = options.maxEdgeWaitMillis ?? 2;
  let offsetMicros = 0;
  let offsetRemNs = 0;
  const setOffset = (ns: bigint): void => {
    // floor division for negative offsets too
    let micros = ns / 1000n;
    let rem = ns % 1000n;
    if (rem < 0n) {
      rem += 1000n;
      micros -= 1n;
    }
    offsetMicros = Number(micros);
    offsetRemNs = Number(rem);
  };
  const refresh = (): void => setOffset(options.offsetNs ?? measureOffsetNs(maxWait));
  refresh();

  let cachedSecond = Number.NaN;
  let cachedPrefix = '';
  const wallMicros = (ktimeNs: number): number => offsetMicros + Math.floor((ktimeNs + offsetRemNs) / 1000);

  return {
    wallMicros,
    format(ktimeNs) {
      const us = wallMicros(ktimeNs);
      const second = Math.floor(us / 1_000_000);
      if (second !== cachedSecond) {
        cachedSecond = second;
        cachedPrefix = new Date(second * 1000).toISOString().slice(0, 20); // "2026-11-21T10:30:00."
      }
      const frac = us - second * 1_000_000;
      return `${cachedPrefix}${frac < 100000 ? String(frac).padStart(6, '0') : String(frac)}Z`;
    },
    nowMonotonicNs() {
      return Number(process.hrtime.bigint());
    },
    refresh,
  };
}
