/**
 * Failed authentications per client address: at most `perMinute` in a sliding minute, then 429 with Retry-After
 * until the oldest failure leaves the window. Bounded: at most MAX_TRACKED_ADDRESSES addresses are tracked (the
 * stalest are forgotten first), so a spray from many addresses cannot grow memory without limit.
 */
export const MAX_TRACKED_ADDRESSES = 10_000;
const WINDOW_MILLIS = 60_000;

export interface FailureLimiter {
  /** Seconds to wait when this address is over its limit, else 0. */
  blockedFor(address: string, nowMillis: number): number;
  recordFailure(address: string, nowMillis: number): void;
}

export function createFailureLimiter(perMinute: number): FailureLimiter {
  const failures = new Map<string, number[]>();
  const recent = (address: string, now: number): number[] => {
    const list = (failures.get(address) ?? []).filter((t) => now - t < WINDOW_MILLIS);
    if (list.length === 0) failures.delete(address);
    else failures.set(address, list);
    return list;
  };
  return {
    blockedFor(address, now) {
      const list = recent(address, now);
      if (list.length < perMinute) return 0;
      return Math.max(1, Math.ceil((WINDOW_MILLIS - (now - (list[0] as number))) / 1000));
    },
    recordFailure(address, now) {
      const list = recent(address, now);
      list.push(now);
      failures.delete(address); // re-insert: Map order is then least recently failed first
      failures.set(address, list.slice(-perMinute));
      while (failures.size > MAX_TRACKED_ADDRESSES) failures.delete(failures.keys().next().value as string);
    },
  };
}
