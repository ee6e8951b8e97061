/**
 * The configuration's JSON Schema, assembled from the registries (sources, processors, sinks, formats), so a new
 * sink's keys are validated the moment it is registered. Published as rules/schema/config.schema.json
 * (`aegisbpf schema config`); a test keeps the committed file equal to what this builds.
 */
import { coreConfigSchema, mergeCoreDefaults } from '../sinks/core/config';
import type { JsonSchemaObject } from '../formatters/types';
import { formatSpecSchema, formatterNames, getFormatterDefinition } from '../formatters/registry';
import { getProcessorDefinition, processorTypes } from '../pipeline/processors/registry';
import { getSourceDefinition, sourceTypes } from '../pipeline/sources/registry';
import { getSinkDefinition, sinkTypes } from '../sinks/registry';
import { extraConfigSections } from './sections';
import { durationMillisSchema } from '../util/duration-schema';
import { byteSizeSchema } from '../util/byte-size';

export const NAME_PATTERN = '^[A-Za-z0-9_-]{1,64}$';

/** Schema properties of a definition, with `<secret>_file` variants; secrets leave `required` (checked later). */
function withSecrets(
  properties: Readonly<Record<string, JsonSchemaObject>>,
  required: readonly string[] | undefined,
  secrets: readonly string[] | undefined,
): { properties: Record<string, JsonSchemaObject>; required: string[] } {
  const props: Record<string, JsonSchemaObject> = { ...properties };
  for (const s of secrets ?? []) {
    props[`${s}_file`] = {
      type: 'string',
      minLength: 1,
      description: `File holding ${s} (read at start; trailing newline removed). Use instead of ${s}.`,
    };
  }
  return { properties: props, required: (required ?? []).filter((r) => !(secrets ?? []).includes(r)) };
}

/** Formats a sink may carry: `*` means every formatter whose output is a string. */
export function allowedFormats(allowed: readonly string[]): string[] {
  if (!allowed.includes('*')) return [...allowed];
  const strings = formatterNames().filter((n) => getFormatterDefinition(n)?.output === 'string');
  // `*` plus named record formats: stdout also shows kafka records (as JSON lines).
  return [...strings, ...allowed.filter((a) => a !== '*' && !strings.includes(a))];
}

function dispatchByType(kind: string, types: readonly string[]): JsonSchemaObject {
  return {
    type: 'object',
    required: ['type'],
    properties: { type: { type: 'string', enum: types, description: `${kind} type.` } },
    allOf: types.map((t) => ({
      if: { properties: { type: { const: t } }, required: ['type'] },
      then: { $ref: `#/$defs/${kind}_${t}` },
    })),
  };
}

export function buildConfigSchema(): Record<string, unknown> {
  const defs: Record<string, JsonSchemaObject> = {};

  for (const t of sourceTypes()) {
    const def = getSourceDefinition(t)!;
    const { properties, required } = withSecrets(def.optionsSchema.properties, def.optionsSchema.required, undefined);
    defs[`source_${t}`] = {
      type: 'object',
      description: def.description,
      properties: { type: true, ...properties },
      required,
      additionalProperties: false,
    };
  }
  for (const t of processorTypes()) {
    const def = getProcessorDefinition(t)!;
    const { properties, required } = withSecrets(def.optionsSchema.properties, def.optionsSchema.required, def.secrets);
    defs[`processor_${t}`] = {
      type: 'object',
      description: def.description,
      properties: {
        type: true,
        name: {
          type: 'string',
          pattern: NAME_PATTERN,
          description: 'Name in metrics and logs (default <type>#<index>).',
        },
        ...properties,
      },
      required,
      additionalProperties: false,
    };
  }
  for (const t of sinkTypes()) {
    const def = getSinkDefinition(t)!;
    const { properties, required } = withSecrets(def.configSchema.properties, def.configSchema.required, def.secrets);
    defs[`sink_${t}`] = {
      type: 'object',
      description: def.description,
      properties: {
        type: true,
        format: formatSpecSchema(allowedFormats(def.formats.allowed)),
        ...coreConfigSchema(mergeCoreDefaults(def.coreDefaults)),
        ...properties,
      },
      required,
      additionalProperties: false,
    };
  }

  return {
    $schema: 'https://json-schema.org/draft/2020-12/schema',
    $id: 'https://aegisbpf.dev/schema/config/1',
    title: 'aegisbpf configuration',
    description:
      'Sources feed processors; routes send the result to sinks. Validated before anything starts (`aegisbpf validate FILE`).',
    type: 'object',
    additionalProperties: false,
    required: ['sources', 'sinks'],
    properties: {
      data_dir: {
        type: 'string',
        minLength: 1,
        description: 'State directory (dead-letter file, policy history). Default /var/lib/aegisbpf.',
      },
      log: {
        type: 'object',
        additionalProperties: false,
        properties: {
          level: {
            type: 'string',
            enum: ['debug', 'info', 'warn', 'error', 'DEBUG', 'INFO', 'WARN', 'ERROR'],
            description: 'Daemon log level (default info).',
          },
        },
      },
      shutdown_timeout_ms: durationMillisSchema(
        0,
        'On SIGTERM/SIGINT, flush sinks for at most this long (default 10000); the rest goes to the dead-letter file.',
      ),
      dead_letter: {
        type: 'object',
        additionalProperties: false,
        properties: {
          enabled: { type: 'boolean', description: 'Write undeliverable events to a file (default true).' },
          path: {
            type: 'string',
            minLength: 1,
            description: 'Dead-letter NDJSON file (default <data_dir>/dead-letter.ndjson).',
          },
          max_bytes: byteSizeSchema(1, 'Bound of the file; past it entries are counted as lost (default 1 GiB).'),
        },
      },
      sources: {
        type: 'object',
        minProperties: 1,
        propertyNames: { pattern: NAME_PATTERN },
        additionalProperties: { $ref: '#/$defs/source' },
        description: 'Named sources.',
      },
      processors: {
        type: 'array',
        items: { $ref: '#/$defs/processor' },
        description: 'Processors applied in order to every event.',
      },
      routes: {
        type: 'array',
        items: {
          type: 'object',
          additionalProperties: false,
          required: ['name', 'sinks'],
          properties: {
            name: { type: 'string', pattern: NAME_PATTERN },
            when: {
              type: 'string',
              minLength: 1,
              description: 'Expression; events for which it is true take this route (default: all).',
            },
            sinks: { type: 'array', minItems: 1, uniqueItems: true, items: { type: 'string', pattern: NAME_PATTERN } },
          },
        },
        description:
          'Which events go to which sinks. An event may take several routes; each sink gets it once. Without routes every event goes to every sink.',
      },
      sinks: {
        type: 'object',
        minProperties: 1,
        propertyNames: { pattern: NAME_PATTERN },
        additionalProperties: { $ref: '#/$defs/sink' },
        description: 'Named sinks.',
      },
      ...extraConfigSections().schema,
    },
    $defs: {
      source: dispatchByType('source', sourceTypes()),
      processor: { type: 'object', ...dispatchByType('processor', processorTypes()) },
      sink: dispatchByType('sink', sinkTypes()),
      ...defs,
    },
  };
}
