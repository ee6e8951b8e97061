/**
 * The JSON Schema of every duration key in the configuration (`*_ms`). One helper so that no duration can be
 * configured that Node cannot honour: setTimeout/setInterval take a signed 32-bit millisecond delay, and a larger
 * value is not an error there but is silently replaced by 1 ms (with a warning on stderr), turning "wait a month"
 * into a busy loop. test/config/schema-published.test.ts walks the built config schema and fails on any `*_ms` key
 * without this bound.
 */

/** The largest delay Node's timers accept: 2^31 − 1 ms, about 24.8 days. */
export const MAX_TIMER_MILLIS = 2_147_483_647;

/** Appended by `aegisbpf validate` to the `must be <= 2147483647` of a duration key. */
export const MAX_TIMER_EXPLANATION = 'the largest timer Node supports: 2^31-1 ms, about 24.8 days';

/** An integer duration in milliseconds, at least `minimum`, at most MAX_TIMER_MILLIS (or a smaller `maximum`). */
export function durationMillisSchema(
  minimum: number,
  description: string,
  maximum: number = MAX_TIMER_MILLIS,
): Readonly<Record<string, unknown>> {
  return { type: 'integer', minimum, maximum: Math.min(maximum, MAX_TIMER_MILLIS), description };
}
