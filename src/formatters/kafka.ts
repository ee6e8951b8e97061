/**
 * `kafka`: one Kafka record per event, `{key, headers, value}`, for a record-carrying transport (the Kafka sink).
 *
 * - `key` chooses the ordering scope (Kafka orders within a partition, and the producer picks the partition from
 *   the key): `host` (default; every event of a host in order: exec before its connects and file opens), `exec_id`
 *   (per process; spreads a noisy host over partitions), or `none` (null key: round-robin, no ordering).
 * - `headers` (strings): `content-type` of the value, `format` (inner formatter), `schema` and `schema-version` (what
 *   the value follows: `aegisbpf` + the event schema version, or e.g. `ocsf` + `1.8.0`), `event-type`.
 * - `value`: the event in any string format (`inner`, default `json`), unframed.
 *
 * The record carries no timestamp: the producer's default (send time) keeps the broker's time-based retention sane;
 * the event time is in the value.
 *
 * The inner formatter is built through the registry, which itself lists this definition. To avoid an import cycle
 * the registry hands its functions to createKafkaFormatterDefinition(); they are only called at create() time.
 */
import type { AegisEvent, EventType } from '../event/types';
import { EVENT_TYPES } from '../event/types';
import { AegisError } from '../util/errors';
import { EVENT_SCHEMA_VERSION } from './common';
import type { FormatSpec, Formatter, FormatterContext, FormatterDefinition, JsonSchemaObject } from './types';

export interface KafkaRecord {
  /** Partitioning key; null means no key (round-robin). */
  readonly key: string | null;
  readonly headers: Readonly<Record<string, string>>;
  readonly value: string;
}

export const KAFKA_KEYS = ['host', 'exec_id', 'none'] as const;

export interface KafkaOptions {
  readonly key?: (typeof KAFKA_KEYS)[number];
  /** Format of the record value: any string formatter, by name or `{type, …options}`. Default `json`. */
  readonly inner?: FormatSpec;
}

/** What the kafka definition needs from the registry, passed in rather than imported (no import cycle). */
export interface FormatterRegistryApi {
  createFormatter<R = string>(spec: FormatSpec, context: FormatterContext): Formatter<R>;
  formatSpecSchema(allowed?: readonly string[]): JsonSchemaObject;
  formatterNames(): string[];
  getFormatterDefinition(name: string): { readonly output: 'string' | 'record' } | undefined;
}

function stringFormats(registry: FormatterRegistryApi): string[] {
  return registry.formatterNames().filter((n) => registry.getFormatterDefinition(n)?.output === 'string');
}

export function createKafkaFormatterDefinition(
  registry: FormatterRegistryApi,
): FormatterDefinition<KafkaOptions, KafkaRecord> {
  return {
    name: 'kafka',
    description:
      'Kafka records {key, headers, value}: key for ordering (host, exec_id or none), value in any string format.',
    output: 'record',
    get optionsSchema() {
      return {
        properties: {
          key: {
            type: 'string',
            enum: [...KAFKA_KEYS],
            default: 'host',
            description:
              'Record key, i.e. ordering scope: host (all events of a host in order), exec_id (per process), none (null key, round-robin).',
          },
          inner: { ...registry.formatSpecSchema(stringFormats(registry)), default: 'json' },
        },
      };
    },
    create(options: KafkaOptions, context: FormatterContext): Formatter<KafkaRecord> {
      const spec = options.inner ?? 'json';
      const name = typeof spec === 'string' ? spec : spec.type;
      const def = registry.getFormatterDefinition(name);
      if (def !== undefined && def.output !== 'string') {
        throw new AegisError(
          'AEGIS_ERR_CONFIG_INVALID',
          `The kafka format's inner format must produce a string; '${name}' produces ${def.output}s.`,
        );
      }
      const inner = registry.createFormatter<string>(spec, context);
      const schema = inner.schema ?? { name: 'aegisbpf', version: EVENT_SCHEMA_VERSION };
      // One frozen header object per event type, shared by every record (records are immutable).
      const headersByType = new Map<EventType, Readonly<Record<string, string>>>(
        EVENT_TYPES.map((t) => [
          t,
          Object.freeze({
            'content-type': inner.contentType,
            format: inner.name,
            schema: schema.name,
            'schema-version': schema.version,
            'event-type': t,
          }),
        ]),
      );
      const keyOf: (event: AegisEvent) => string | null =
        options.key === 'exec_id' ? (e) => e.exec_id : options.key === 'none' ? () => null : (e) => e.host;
      return {
        name: 'kafka',
        contentType: inner.contentType,
        schema,
        format: (event: AegisEvent): KafkaRecord => ({
          key: keyOf(event),
          headers: headersByType.get(event.type) as Readonly<Record<string, string>>,
          value: inner.format(event),
        }),
      };
    },
  };
}

/** The topic `replay --log-format=kafka` shows: the kafka sink's default (the formatter does not choose topics). */
export const PREVIEW_TOPIC = 'aegisbpf.events';

/**
 * One record as a JSON line `{"topic","key","headers","value"}`: what `aegisbpf replay FILE --log-format=kafka`
 * prints to preview the records the kafka sink would produce. JSON.stringify escapes every control character, so the
 * line holds no raw CR or LF whatever the value contains.
 */
export function kafkaRecordPreview(record: KafkaRecord, topic: string = PREVIEW_TOPIC): string {
  return JSON.stringify({ topic, key: record.key, headers: record.headers, value: record.value });
}
