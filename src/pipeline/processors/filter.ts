/** `filter`: keep the events for which `condition` is true. */
import { compileExpression } from '../expr';
import { increment } from '../../telemetry/stats';
import { checkExpression } from './common';
import type { ProcessorDefinition } from './types';

export const filterProcessor: ProcessorDefinition = {
  type: 'filter',
  description: 'Keep events matching an expression, e.g. `type == "block" || (type == "exec" && uid == 0)`.',
  optionsSchema: {
    properties: { condition: { type: 'string', minLength: 1, description: 'Events for which this is true are kept.' } },
    required: ['condition'],
  },
  check: (raw) => checkExpression('condition', raw.condition),
  create(raw, ctx) {
    const { test } = compileExpression(String(raw.condition));
    return {
      name: ctx.name,
      type: 'filter',
      process(events) {
        const kept = events.filter(test);
        if (kept.length !== events.length) increment(ctx.stats.removed, ctx.name, events.length - kept.length);
        return kept;
      },
    };
  },
};
