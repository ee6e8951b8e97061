/**
 * `dedupe`: drop an event when one with the same key `fields` passed within the last `window_ms`. State is bounded
 * by `max_keys` (least recently seen keys are forgotten first).
 */
import { increment } from '../../telemetry/stats';
import { checkExpression, checkFieldNames, fieldListSchema, keyOf, optionalWhen, whenSchema } from './common';
import type { ProcessorDefinition } from './types';
import { durationMillisSchema } from '../../util/duration-schema';

export const dedupeProcessor: ProcessorDefinition = {
  type: 'dedupe',
  description: 'Drop repeats of the same key within a time window.',
  optionsSchema: {
    properties: {
      fields: fieldListSchema('Fields that form the key, e.g. [type, exec_id, path, action].'),
      window_ms: durationMillisSchema(1, 'Repeats within this many milliseconds are dropped (default 10000).'),
      max_keys: { type: 'integer', minimum: 1, description: 'Most keys remembered (default 100000).' },
      when: whenSchema,
    },
    required: ['fields'],
  },
  check: (raw) => [...checkExpression('when', raw.when), ...checkFieldNames('fields', raw.fields)],
  create(raw, ctx) {
    const fields = raw.fields as string[];
    const windowMillis = typeof raw.window_ms === 'number' ? raw.window_ms : 10_000;
    const maxKeys = typeof raw.max_keys === 'number' ? raw.max_keys : 100_000;
    const when = optionalWhen(raw);
    const seen = new Map<string, number>();
    const isRepeat = (key: string, now: number): boolean => {
      const last = seen.get(key);
      if (last !== undefined && now - last < windowMillis) return true;
      if (last !== undefined) seen.delete(key);
      else if (seen.size >= maxKeys) seen.delete(seen.keys().next().value as string);
      seen.set(key, now);
      return false;
    };
    return {
      name: ctx.name,
      type: 'dedupe',
      process(events) {
        const now = ctx.now();
        const kept = events.filter(
          (e) =>
            (when !== undefined && !when.test(e)) ||
            !isRepeat(keyOf(e as unknown as Record<string, unknown>, fields), now),
        );
        if (kept.length !== events.length) increment(ctx.stats.removed, ctx.name, events.length - kept.length);
        return kept;
      },
    };
  },
};
