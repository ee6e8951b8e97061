/**
 * Accepted events to buffered records: format each one, measure its encoded size (what the buffer and batch bounds
 * count), stamp its arrival time. An event the formatter refuses goes to the dead-letter file on its own; the rest
 * of the chunk goes on.
 */
import type { AegisEvent } from '../../event/types';
import type { Formatter } from '../../formatters/types';
import { describeError } from '../../util/errors';
import type { Acknowledgement } from './ack';
import type { BufferedRecord } from './buffer';
import type { SinkOutcomes } from './outcomes';

/** UTF-8 bytes of a string, byteLength of binary data, UTF-8 bytes of the JSON of anything else. */
export function defaultSizeOf(data: unknown): number {
  if (typeof data === 'string') return Buffer.byteLength(data);
  if (data instanceof Uint8Array) return data.byteLength;
  return Buffer.byteLength(JSON.stringify(data) ?? '');
}

/** `ack`: the source's acknowledgement for these events (sink-api.ts accept), carried by each record. */
export type Encoder<R> = (events: readonly AegisEvent[], ack?: Acknowledgement) => BufferedRecord<R>[];

export interface EncoderOptions<R> {
  readonly formatter: Formatter<R>;
  readonly sizeOf: (data: R) => number;
  readonly now: () => number;
  readonly outcomes: SinkOutcomes<R>;
}

/**
 * A record of a format that carries the event's canonical JSON (json: the record itself; hec: its `event` member;
 * Formatter.eventOf): the record keeps only the text and makes the event again when it is asked for (a dead-letter
 * entry, a transport that reads fields). A buffered event is then held once, as text, instead of twice (the parsed
 * object, ~0.56 KB of heap, and its text), and the object dies young instead of being promoted with the buffer
 * (issue 23, memory). Other formats (ECS, CEF, syslog, …) do not carry it: keeping their canonical JSON instead of
 * the object would cost a JSON.stringify per event (~2 µs) to save ~50 bytes (docs/benchmarks.md, "Memory").
 */
class TextRecord implements BufferedRecord<string> {
  /** Kept once asked for: a transport that reads fields (NATS subjects, webhook shapes) asks on every attempt. */
  private parsed: AegisEvent | undefined = undefined;
  constructor(
    readonly data: string,
    readonly bytes: number,
    readonly at: number,
    readonly ack: Acknowledgement | undefined,
    private readonly eventOf: (data: string) => AegisEvent,
  ) {}
  get event(): AegisEvent {
    return (this.parsed ??= this.eventOf(this.data));
  }
}

/** json records built by hand (tests, tools) may lack eventOf: the record is the event's JSON all the same. */
const parseJson = (data: string): AegisEvent => JSON.parse(data) as AegisEvent;

export function createEncoder<R>(options: EncoderOptions<R>): Encoder<R> {
  const { formatter, sizeOf, now, outcomes } = options;
  const eventOf =
    sizeOf !== (defaultSizeOf as (data: R) => number)
      ? undefined
      : ((formatter.eventOf as ((data: string) => AegisEvent) | undefined) ??
        (formatter.name === 'json' ? parseJson : undefined));
  return (events, ack) => {
    const at = now();
    const out: BufferedRecord<R>[] = [];
    let failed: { event: AegisEvent; reason: string }[] | undefined;
    for (const event of events) {
      try {
        const data = formatter.format(event);
        if (eventOf !== undefined && typeof data === 'string') {
          out.push(new TextRecord(data, sizeOf(data), at, ack, eventOf) as unknown as BufferedRecord<R>);
          continue;
        }
        // Always the same five keys (ack possibly undefined): one object shape for every record.
        out.push({ event, data, bytes: sizeOf(data), at, ack });
      } catch (err) {
        (failed ??= []).push({ event, reason: `format '${formatter.name}' failed: ${describeError(err)}` });
      }
    }
    if (failed !== undefined) outcomes.formatFailed(failed, ack);
    return out;
  };
}
