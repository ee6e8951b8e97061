/**
 * Kernel time (bpf_ktime_get_ns(), CLOCK_MONOTONIC ns) to event timestamps (RFC 3339 UTC, microseconds).
 *
 * The offset wall = monotonic + offset is measured once at start and on refresh(). Date.now() only has
 * millisecond resolution, so the measurement waits for Date.now() to tick and brackets that edge between two
 * monotonic reads, keeping the tightest of a few edges: the offset is then good to a few microseconds instead of up
 * to a millisecond, even on a busy machine. (libuv's hrtime, behind process.hrtime, is CLOCK_MONOTONIC, the same
 * clock as bpf_ktime_get_ns().)
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

/**
 * One Date.now() edge: the monotonic time just before the read that saw the millisecond change and just after it.
 * The edge lies between the two; the gap is the uncertainty (small unless the thread was preempted right there).
 */
function sampleEdge(maxWaitNs: bigint): { offsetNs: bigint; uncertaintyNs: bigint } | undefined {
  const start = Date.now();
  const hrStart = process.hrtime.bigint();
  let before = hrStart;
  for (;;) {
    const now = Date.now();
    const after = process.hrtime.bigint();
    if (now !== start)
      return { offsetNs: BigInt(now) * 1_000_000n - (before + (after - before) / 2n), uncertaintyNs: after - before };
    if (after - hrStart > maxWaitNs) return undefined;
    before = after;
  }
}

/** The best of a few edges: a loaded machine can preempt us between two clock reads; that sample is discarded. */
function measureOffsetNs(maxEdgeWaitMillis: number): bigint {
  const maxWaitNs = BigInt(maxEdgeWaitMillis) * 1_000_000n;
  let best: { offsetNs: bigint; uncertaintyNs: bigint } | undefined;
  for (let i = 0; i < 5; i++) {
    const s = sampleEdge(maxWaitNs);
    if (s !== undefined && (best === undefined || s.uncertaintyNs < best.uncertaintyNs)) best = s;
    if (best !== undefined && best.uncertaintyNs < 2_000n) break; // within 2 µs: good enough
  }
  return best?.offsetNs ?? BigInt(Date.now()) * 1_000_000n - process.hrtime.bigint();
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
