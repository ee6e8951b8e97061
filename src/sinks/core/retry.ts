/**
 * When to retry (the transport's retry-policy.ts decides whether). Full-jitter exponential backoff: the wait before
 * attempt n+1 is uniform in [0, min(max, initial * 2^(n-1))], which spreads a fleet's retries instead of having
 * every agent hammer a recovering receiver in step. A receiver's Retry-After overrides the jitter (never shorter).
 */
import type { RetryOptions } from './types';

export function backoffCeilingMillis(attempt: number, options: RetryOptions): number {
  const exp = Math.min(attempt - 1, 30);
  return Math.min(options.maxBackoffMillis, options.initialBackoffMillis * 2 ** exp);
}

export function retryDelayMillis(
  attempt: number,
  options: RetryOptions,
  retryAfterMillis?: number,
  random: () => number = Math.random,
): number {
  if (retryAfterMillis !== undefined && retryAfterMillis >= 0)
    return Math.min(retryAfterMillis, options.maxRetryAfterMillis);
  return Math.floor(random() * backoffCeilingMillis(attempt, options));
}

/**
 * Parse an HTTP Retry-After value (delay-seconds or HTTP-date) into milliseconds from `nowMillis`.
 * Returns undefined when absent or unparseable.
 */
export function parseRetryAfter(value: string | null | undefined, nowMillis: number = Date.now()): number | undefined {
  if (value === null || value === undefined) return undefined;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000;
  const date = Date.parse(trimmed);
  if (Number.isNaN(date)) return undefined;
  return Math.max(0, date - nowMillis);
}

/** Sleep that ends early (resolving false) when `signal` aborts. */
export function sleep(millis: number, signal?: AbortSignal): Promise<boolean> {
  return new Promise((resolve) => {
    if (signal?.aborted === true) {
      resolve(false);
      return;
    }
    const onAbort = (): void => {
      clearTimeout(timer);
      resolve(false);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve(true);
    }, millis);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
