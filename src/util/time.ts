/** Time helpers. Event timestamps are RFC 3339 UTC with exactly six fractional digits. */

const pad = (n: number, width: number): string => String(n).padStart(width, '0');

/** `2026-11-21T10:30:00.123456Z` from nanoseconds since the epoch. */
export function formatTimestampFromNanos(nanos: bigint): string {
  const millis = nanos / 1_000_000n;
  const micros = Number((nanos / 1000n) % 1000n);
  const iso = new Date(Number(millis)).toISOString(); // 2026-11-21T10:30:00.123Z
  return `${iso.slice(0, 23)}${pad(micros < 0 ? micros + 1000 : micros, 3)}Z`;
}

/** `2026-11-21T10:30:00.123000Z` from milliseconds since the epoch. */
export function formatTimestampFromMillis(millis: number): string {
  const iso = new Date(millis).toISOString();
  const extra = Math.floor((millis % 1) * 1000);
  return `${iso.slice(0, 23)}${pad(extra, 3)}Z`;
}

/** Wall-clock nanoseconds at which the monotonic clock (CLOCK_MONOTONIC, libuv's hrtime) read zero. */
export function monotonicZeroWallNanos(): bigint {
  return BigInt(Date.now()) * 1_000_000n - process.hrtime.bigint();
}

/** Parse an event timestamp into epoch microseconds (exact); undefined when malformed. */
export function parseTimestampMicros(ts: string): bigint | undefined {
  const m = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})$/.exec(ts);
  if (m === null) return undefined;
  const seconds = Date.parse(`${m[1] as string}${m[3] as string}`);
  if (Number.isNaN(seconds)) return undefined;
  const frac = ((m[2] ?? '') + '000000').slice(0, 6);
  return BigInt(seconds) * 1000n + BigInt(frac);
}
