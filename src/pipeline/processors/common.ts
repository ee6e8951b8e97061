/** Helpers shared by processor definitions. */
import type { JsonSchemaObject } from '../../formatters/types';
import { FIELD_KINDS } from '../../event/fields';
import { isAegisError } from '../../util/errors';
import type { CompiledExpression } from '../expr';
import { compileExpression } from '../expr';

export const whenSchema: JsonSchemaObject = {
  type: 'string',
  minLength: 1,
  description: 'Only events for which this expression is true are processed; the others pass unchanged.',
};

export const fieldListSchema = (description: string): JsonSchemaObject => ({
  type: 'array',
  minItems: 1,
  uniqueItems: true,
  items: { type: 'string', minLength: 1 },
  description,
});

/** Check an optional expression key; returns problems as `key: message`. */
export function checkExpression(key: string, value: unknown): string[] {
  if (typeof value !== 'string') return [];
  try {
    compileExpression(value);
    return [];
  } catch (err) {
    if (isAegisError(err)) return [`${key}: ${err.message}`];
    throw err;
  }
}

export function checkFieldNames(key: string, value: unknown): string[] {
  if (!Array.isArray(value)) return [];
  const problems: string[] = [];
  value.forEach((f, i) => {
    if (typeof f === 'string' && !FIELD_KINDS.has(f) && !/^labels\.[A-Za-z_][A-Za-z0-9_]*$/.test(f)) {
      problems.push(`${key}.${i}: unknown field '${f}'`);
    }
  });
  return problems;
}

export function optionalWhen(raw: Readonly<Record<string, unknown>>): CompiledExpression | undefined {
  return typeof raw.when === 'string' ? compileExpression(raw.when) : undefined;
}

/** Value of a field (or labels.<key>) as a key part. */
export function fieldValue(event: Readonly<Record<string, unknown>>, field: string): unknown {
  if (field.startsWith('labels.')) return (event.labels as Record<string, string> | undefined)?.[field.slice(7)];
  return event[field];
}

/** Composite key of several fields; JSON keeps types apart ("1" vs 1) and cannot collide across field boundaries. */
export function keyOf(event: Readonly<Record<string, unknown>>, fields: readonly string[]): string {
  if (fields.length === 1) {
    const v = fieldValue(event, fields[0] as string);
    return typeof v === 'string' ? 's' + v : JSON.stringify(v ?? null);
  }
  return JSON.stringify(fields.map((f) => fieldValue(event, f) ?? null));
}
