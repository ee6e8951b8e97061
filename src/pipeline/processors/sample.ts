/**
 * `sample`: keep 1 in `rate` events. With `key_field`, the choice is a hash of that field, so all events of one
 * process (say `exec_id`) are kept or dropped together; without it, every rate-th event is kept. `when` limits
 * sampling to some events (never sample enforcement: `when: type == "exec"`).
 */
import { createHash } from 'node:crypto';
import { increment } from '../../telemetry/stats';
import { checkExpression, checkFieldNames, fieldValue, optionalWhen, whenSchema } from './common';
import type { ProcessorDefinition } from './types';

export const sampleProcessor: ProcessorDefinition = {
  type: 'sample',
  description: 'Keep 1 in N events, deterministically per key when key_field is set.',
  optionsSchema: {
    properties: {
      rate: { type: 'integer', minimum: 1, description: 'Keep 1 in this many events.' },
      key_field: {
        type: 'string',
        minLength: 1,
        description: 'Sample by the hash of this field (all or none of a key).',
      },
      when: whenSchema,
    },
    required: ['rate'],
  },
  check: (raw) => [
    ...checkExpression('when', raw.when),
    ...checkFieldNames('key_field', raw.key_field === undefined ? undefined : [raw.key_field]),
  ],
  create(raw, ctx) {
    const rate = Number(raw.rate);
    const keyField = typeof raw.key_field === 'string' ? raw.key_field : undefined;
    const when = optionalWhen(raw);
    let counter = 0;
    const keep = (event: Readonly<Record<string, unknown>>): boolean => {
      if (keyField === undefined) return counter++ % rate === 0;
      const v = fieldValue(event, keyField);
      const digest = createHash('sha1')
        .update(typeof v === 'string' ? v : JSON.stringify(v ?? null))
        .digest();
      return digest.readUInt32BE(0) % rate === 0;
    };
    return {
      name: ctx.name,
      type: 'sample',
      process(events) {
        if (rate === 1) return events;
        const kept = events.filter(
          (e) => (when !== undefined && !when.test(e)) || keep(e as unknown as Record<string, unknown>),
        );
        if (kept.length !== events.length) increment(ctx.stats.removed, ctx.name, events.length - kept.length);
        return kept;
      },
    };
  },
};
