import type { AegisEvent } from '../event/types';

/**
 * A formatter turns one event into its encoded form and nothing else: no I/O, no framing (newlines, octet
 * counting and protocol envelopes belong to the sink), deterministic for a given event and options.
 */
export interface Formatter<R = string> {
  readonly name: string;
  /** MIME type of one encoded record, for transports that announce it. */
  readonly contentType: string;
  /**
   * The schema the output follows, when it is not the canonical aegisbpf event schema (e.g. `{name: 'ocsf', version:
   * '1.8.0'}`). Record-carrying transports announce it (Kafka `schema` / `schema-version` headers).
   */
  readonly schema?: { readonly name: string; readonly version: string };
  format(event: AegisEvent): R;
  /**
   * Only for a format whose every record carries the event's canonical JSON (src/formatters/json.ts) as it was
   * accepted: the event made again from the record. A buffered record of such a format keeps its text alone and
   * makes the event again only when a dead-letter entry or a transport asks for it (src/sinks/core/encode.ts), so a
   * buffered event is held once instead of twice (issue 23, memory).
   */
  eventOf?(this: void, data: R): AegisEvent;
}

/** JSON Schema (draft 2020-12) fragment for a formatter's options, as a plain object. */
export type JsonSchemaObject = Readonly<Record<string, unknown>>;

export interface FormatterContext {
  /** Host name to use where a format's header needs one and the event has none. */
  readonly hostname: string;
  /** aegisbpf version (CEF/LEEF device version, OCSF metadata.product.version). */
  readonly version: string;
  /**
   * Wall-clock nanoseconds at which this host's monotonic clock read zero, when the events come from this host's
   * current boot (the sensor). Lets formats that carry a datetime convert `start_time`; see common.processStart().
   */
  readonly bootWallNanos?: bigint;
}

export interface FormatterDefinition<O extends object = object, R = string> {
  readonly name: string;
  readonly description: string;
  /** Kind of output, so a sink can refuse a formatter it cannot carry (a file cannot carry Kafka records). */
  readonly output: 'string' | 'record';
  /**
   * True only for a string format documented to span several lines per event (none so far). Every other string
   * formatter writes one event as one line: no raw CR or LF (test/formatters/all-formatters.test.ts checks).
   */
  readonly multiLine?: boolean;
  /** Schema of the options object (without `type`); `additionalProperties: false` is applied by the registry. */
  readonly optionsSchema: {
    readonly properties: Readonly<Record<string, JsonSchemaObject>>;
    readonly required?: readonly string[];
  };
  create(options: O, context: FormatterContext): Formatter<R>;
}

/** In config: `format: json` or `format: {type: leef, delimiter: '^'}`. */
export type FormatSpec = string | ({ readonly type: string } & Readonly<Record<string, unknown>>);
