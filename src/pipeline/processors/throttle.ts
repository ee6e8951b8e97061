/**
 * `throttle`: a token bucket per key. Each key may pass `threshold` events per `window_ms` (bursts up to
 * `threshold`); the rest are dropped and counted. Keys are bounded by `max_keys`: past it the least recently seen
 * key is forgotten (it starts again with a full bucket).
 */
import { increment } from '../../telemetry/stats';
import { checkExpression, checkFieldNames, fieldListSchema, keyOf, optionalWhen, whenSchema } from './common';
import type { ProcessorDefinition } from './types';
import { durationMillisSchema } from '../../util/duration-schema';

export const throttleProcessor: ProcessorDefinition = {
  type: 'throttle',
  description: 'Rate-limit events per key with a token bucket.',
  optionsSchema: {
    properties: {
      threshold: {
        type: 'integer',
        minimum: 1,
        description: 'Events allowed per window per key (also the burst size).',
      },
      window_ms: durationMillisSchema(1, 'Window length in milliseconds (default 1000).'),
      key_fields: fieldListSchema('Fields that form the key (default: one bucket for all events).'),
      max_keys: { type: 'integer', minimum: 1, description: 'Most keys tracked (default 10000).' },
      when: whenSchema,
    },
    required: ['threshold'],
  },
  check: (raw) => [...checkExpression('when', raw.when), ...checkFieldNames('key_fields', raw.key_fields)],
  create(raw, ctx) {
    const threshold = Number(raw.threshold);
    const windowMillis = typeof raw.window_ms === 'number' ? raw.window_ms : 1000;
    const keyFields = Array.isArray(raw.key_fields) ? (raw.key_fields as string[]) : [];
    const maxKeys = typeof raw.max_keys === 'number' ? raw.max_keys : 10_000;
    const when = optionalWhen(raw);
    const refillPerMilli = threshold / windowMillis;
    // Map iteration order is insertion order: re-inserting on use makes the first key the least recently seen.
    const buckets = new Map<string, { tokens: number; at: number }>();
    const admit = (key: string, now: number): boolean => {
      let b = buckets.get(key);
      if (b === undefined) {
        if (buckets.size >= maxKeys) buckets.delete(buckets.keys().next().value as string);
        b = { tokens: threshold, at: now };
      } else {
        buckets.delete(key);
        b.tokens = Math.min(threshold, b.tokens + (now - b.at) * refillPerMilli);
        b.at = now;
      }
      buckets.set(key, b);
      if (b.tokens >= 1) {
        b.tokens -= 1;
        return true;
      }
      return false;
    };
    return {
      name: ctx.name,
      type: 'throttle',
      process(events) {
        const now = ctx.now();
        const kept = events.filter(
          (e) =>
            (when !== undefined && !when.test(e)) ||
            admit(keyFields.length === 0 ? '' : keyOf(e as unknown as Record<string, unknown>, keyFields), now),
        );
        if (kept.length !== events.length) {
          const dropped = events.length - kept.length;
          increment(ctx.stats.removed, ctx.name, dropped);
          ctx.logger.burst('INFO', 'throttled', 'Throttle dropped events over its threshold.', {
            processor: ctx.name,
            dropped,
          });
        }
        return kept;
      },
    };
  },
};
