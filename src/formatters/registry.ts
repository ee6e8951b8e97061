/**
 * Formatters are found by name here. Adding a format is one file plus one line in FORMATTERS.
 */
import { AegisError } from '../util/errors';
import { cefFormatter } from './cef';
import { ecsFormatter } from './ecs';
import { hecFormatter } from './hec';
import { jsonFormatter } from './json';
import { createKafkaFormatterDefinition } from './kafka';
import { leefFormatter } from './leef';
import { ocsfFormatter } from './ocsf';
import { rfc3164Formatter } from './rfc3164';
import { rfc5424Formatter } from './rfc5424';
import type { FormatSpec, Formatter, FormatterContext, FormatterDefinition, JsonSchemaObject } from './types';

// The registry stores definitions type-erased; each definition validates its own options through optionsSchema.
type AnyFormatterDefinition = FormatterDefinition<never, unknown>;

const FORMATTERS: readonly AnyFormatterDefinition[] = [
  jsonFormatter,
  ecsFormatter,
  cefFormatter,
  leefFormatter,
  ocsfFormatter,
  rfc5424Formatter,
  rfc3164Formatter,
  hecFormatter,
  createKafkaFormatterDefinition({ createFormatter, formatSpecSchema, formatterNames, getFormatterDefinition }),
];

const BY_NAME = new Map<string, AnyFormatterDefinition>(FORMATTERS.map((d) => [d.name, d]));

export function formatterNames(): string[] {
  return [...BY_NAME.keys()].sort();
}

export function getFormatterDefinition(name: string): AnyFormatterDefinition | undefined {
  return BY_NAME.get(name);
}

export function formatSpecName(spec: FormatSpec): string {
  return typeof spec === 'string' ? spec : spec.type;
}

/**
 * JSON Schema for a `format` config value: a known name, or an object whose `type` selects the formatter and whose
 * other keys are that formatter's options. `allowed` restricts the choice (a sink that only carries some formats).
 */
export function formatSpecSchema(allowed: readonly string[] = formatterNames()): JsonSchemaObject {
  const names = allowed.filter((n) => BY_NAME.has(n));
  return {
    description: `Output format: one of ${names.join(', ')}; or an object {type: <format>, …options}.`,
    type: ['string', 'object'],
    if: { type: 'string' },
    then: { enum: names },
    else: {
      required: ['type'],
      properties: { type: { type: 'string', enum: names } },
      allOf: names.map((n) => {
        const def = BY_NAME.get(n) as AnyFormatterDefinition;
        return {
          if: { properties: { type: { const: n } }, required: ['type'] },
          then: {
            properties: { type: true, ...def.optionsSchema.properties },
            required: ['type', ...(def.optionsSchema.required ?? [])],
            additionalProperties: false,
          },
        };
      }),
    },
  };
}

/** Build a formatter from a (validated) spec. */
export function createFormatter<R = string>(spec: FormatSpec, context: FormatterContext): Formatter<R> {
  const name = formatSpecName(spec);
  const def = BY_NAME.get(name);
  if (def === undefined) {
    throw new AegisError(
      'AEGIS_ERR_FORMAT_UNKNOWN',
      `Unknown format '${name}'; known formats: ${formatterNames().join(', ')}.`,
    );
  }
  const options: Record<string, unknown> = typeof spec === 'string' ? {} : { ...spec };
  delete options.type;
  return def.create(options as never, context) as Formatter<R>;
}
