/**
 * The engine's loop for a source read by worker threads (pipeline.workers ≥ 1): the source hands over items of
 * complete lines (Source.readRaw), up to `window` of them are decoded, processed, routed and formatted in the
 * workers at once, and the results are taken back strictly in the order they were read, so every sink gets its
 * records in input order (what request.concurrency: 1 promises downstream) and positions (checkpoints) settle in
 * order. Delivery, acknowledgements and the dead-letter file stay on this thread: it awaits every sink's accept of
 * one item before it takes the next, which is the same backpressure as the single-thread loop, with at most
 * `window` items read ahead.
 */
import type { AegisEvent } from '../../event/types';
import type { Acknowledgement } from '../../sinks/core/ack';
import { createAcknowledgement } from '../../sinks/core/ack';
import type { BufferedRecord } from '../../sinks/core/buffer';
import type { DeadLetterEntry, DeadLetterQueue } from '../../sinks/core/dead-letter';
import type { Sink } from '../../sinks/core/sink-api';
import type { PipelineStats } from '../../telemetry/stats';
import { increment } from '../../telemetry/stats';
import { MAX_REASON_CHARS, capText } from '../../util/bounded-text';
import type { Logger } from '../../util/logger';
import { tooLongReason } from '../sources/ndjson';
import type { RawItem, RawRead } from '../sources/types';
import type { WorkerPool } from './pool';
import type { WorkerResult } from './protocol';
import type { SegmentedText } from './text-segments';
import { SegmentedTextReader } from './text-segments';

export interface RawRunDeps {
  readonly pool: WorkerPool;
  /** Parallel to WorkerInit.sinks. */
  readonly sinks: readonly Sink[];
  readonly pipelineStats: PipelineStats;
  readonly deadLetter: DeadLetterQueue;
  readonly logger: Logger;
  readonly observe?: (events: readonly AegisEvent[]) => void;
}

/** The events of one result, parsed from their JSON text only when something asks (a transport, a dead-letter). */
export class LazyEvents {
  private readonly parsed: (AegisEvent | undefined)[];
  readonly text: SegmentedTextReader;
  constructor(text: SegmentedText) {
    this.text = new SegmentedTextReader(text);
    this.parsed = new Array<AegisEvent | undefined>(this.text.length);
  }
  get length(): number {
    return this.text.length;
  }
  get(i: number): AegisEvent {
    let e = this.parsed[i];
    if (e === undefined) {
      e = JSON.parse(this.text.get(i)) as AegisEvent;
      this.parsed[i] = e;
    }
    return e;
  }
}

/** A record formatted by a worker: its text and size as the sink core's encoder would have made them. */
class WorkerRecord implements BufferedRecord<string> {
  constructor(
    private readonly from: LazyEvents,
    private readonly index: number,
    readonly data: string,
    readonly bytes: number,
    readonly at: number,
    readonly ack: Acknowledgement | undefined,
  ) {}
  get event(): AegisEvent {
    return this.from.get(this.index);
  }
}

/**
 * The records of sink `k` in a result formatted by a worker (WorkerSinkOutput.text or .canonical), each carrying
 * its event from `events` (parsed on first use), and the events that sink's format refused.
 */
export function workerRecords(
  r: WorkerResult,
  events: LazyEvents,
  k: number,
  at: number,
  ack: Acknowledgement | undefined,
): { records: BufferedRecord<string>[]; failed: { event: AegisEvent; reason: string }[] | undefined } {
  const out = r.sinks[k]!;
  const { indices } = out;
  const sizes = out.sizes!;
  const records: BufferedRecord<string>[] = new Array<BufferedRecord<string>>(indices.length);
  if (out.canonical === true) {
    for (let i = 0; i < indices.length; i++) {
      const n = indices[i] as number;
      records[i] = new WorkerRecord(events, n, events.text.get(n), sizes[i] as number, at, ack);
    }
  } else {
    const text = new SegmentedTextReader(out.text!);
    for (let i = 0; i < indices.length; i++)
      records[i] = new WorkerRecord(events, indices[i] as number, text.get(i), sizes[i] as number, at, ack);
  }
  return { records, failed: out.failed?.map((f) => ({ event: events.get(f.index), reason: f.reason })) };
}

/** A record of an event of `events` with text formatted elsewhere (the transport contract tests build them too). */
export function lazyRecord(
  events: LazyEvents,
  index: number,
  data: string,
  bytes: number,
  at: number,
  ack: Acknowledgement | undefined,
): BufferedRecord<string> {
  return new WorkerRecord(events, index, data, bytes, at, ack);
}

type Pending =
  | { readonly item: RawItem & { kind: 'lines' }; readonly result: Promise<WorkerResult>; readonly t0: number }
  | { readonly item: RawItem & { kind: 'too_long' }; readonly t0: number };

export async function runRawSource(name: string, raw: RawRead, window: number, deps: RawRunDeps): Promise<void> {
  const { pool, sinks, pipelineStats, deadLetter, logger } = deps;
  const stats = raw.stats;
  let line = 0;
  const queue: Pending[] = [];

  const deadLetterInvalid = async (entries: DeadLetterEntry[]): Promise<void> => {
    stats.invalid += entries.length;
    logger.burst('WARN', 'invalid-lines', 'Input lines were not valid events; they went to the dead-letter file.', {
      source: name,
      code: 'AEGIS_ERR_EVENT_INVALID',
      count: entries.length,
      first: entries[0]?.reason,
    });
    await deadLetter.write(entries);
  };

  const deliver = async (p: Pending): Promise<void> => {
    if (p.item.restartLine !== undefined) line = p.item.restartLine;
    if (p.item.kind === 'too_long') {
      line++;
      const settle = p.item.track?.(line);
      await deadLetterInvalid([
        {
          source: name,
          code: 'AEGIS_ERR_EVENT_INVALID',
          reason: capText(`line ${line}: ${tooLongReason(raw.maxLineBytes, p.item.bytes)}`, MAX_REASON_CHARS),
          line,
          raw: p.item.head,
        },
      ]);
      settle?.();
      return;
    }
    const r = await (p as Pending & { result: Promise<WorkerResult> }).result;
    const base = line;
    line += r.lines;
    const settle = p.item.track?.(line);
    const where = p.item.where;
    if (r.invalid.length > 0)
      await deadLetterInvalid(
        r.invalid.map((bad) =>
          where === undefined
            ? {
                source: name,
                code: 'AEGIS_ERR_EVENT_INVALID' as const,
                reason: capText(`line ${base + bad.line}: ${bad.reason}`, MAX_REASON_CHARS),
                line: base + bad.line,
                raw: bad.raw,
              }
            : {
                source: name,
                code: 'AEGIS_ERR_EVENT_INVALID' as const,
                reason: capText(`${where(bad.line)}: ${bad.reason}`, MAX_REASON_CHARS),
                raw: bad.raw,
              },
        ),
      );
    stats.events += r.decoded;
    for (const [processor, n] of r.removed) increment(pipelineStats.removed, processor, n);
    if (r.unrouted > 0) {
      pipelineStats.unrouted += r.unrouted;
      logger.burst('WARN', 'unrouted', 'Events matched no route and were not sent anywhere (counted as unrouted).', {
        source: name,
        count: r.unrouted,
      });
    }
    const events = new LazyEvents(r.events);
    if (deps.observe !== undefined && events.length > 0) {
      const all: AegisEvent[] = [];
      for (let i = 0; i < events.length; i++) all.push(events.get(i));
      deps.observe(all);
    }
    let expected = 0;
    for (const out of r.sinks) expected += out.indices.length + (out.failed?.length ?? 0);
    if (expected === 0) {
      settle?.();
      return;
    }
    const ack = settle === undefined ? undefined : createAcknowledgement(expected, settle);
    pipelineStats.inFlight += r.decoded;
    try {
      const at = Date.now();
      const accepts: Promise<void>[] = [];
      for (let k = 0; k < r.sinks.length; k++) {
        const out = r.sinks[k]!;
        const sink = sinks[k]!;
        if (out.indices.length === 0 && out.failed === undefined) continue;
        if (out.canonical !== true && out.text === undefined) {
          const list: AegisEvent[] = [];
          for (const i of out.indices) list.push(events.get(i));
          accepts.push(sink.accept(list, ack));
          continue;
        }
        const { records, failed } = workerRecords(r, events, k, at, ack);
        accepts.push(sink.acceptEncoded(records, failed, ack));
      }
      await Promise.all(accepts);
    } finally {
      pipelineStats.inFlight -= r.decoded;
    }
    const t1 = performance.now();
    pipelineStats.latencyMicros.observe((t1 - p.t0) * 1000, r.decoded);
    pipelineStats.latencyWindow.record((t1 - p.t0) * 1000, r.decoded, t1);
  };

  // Delivery runs beside the intake, taking each result as soon as it is ready and in order: a live source (Kafka)
  // may hand over a few items and then nothing for a while, and they must not wait for the window to fill.
  let ended = false;
  let failed = false;
  let wakeDelivery: (() => void) | undefined;
  let wakeIntake: (() => void) | undefined;
  const wake = (which: 'delivery' | 'intake'): void => {
    const w = which === 'delivery' ? wakeDelivery : wakeIntake;
    if (which === 'delivery') wakeDelivery = undefined;
    else wakeIntake = undefined;
    w?.();
  };
  const delivery = (async (): Promise<void> => {
    try {
      for (;;) {
        const head = queue[0];
        if (head === undefined) {
          if (ended) return;
          await new Promise<void>((resolve) => (wakeDelivery = resolve));
          continue;
        }
        await deliver(head);
        queue.shift();
        wake('intake');
      }
    } catch (err) {
      failed = true;
      wake('intake');
      throw err;
    }
  })();
  delivery.catch(() => undefined); // awaited below; the intake stops at once when it fails
  try {
    for await (const item of raw.items) {
      const t0 = performance.now();
      if (item.kind === 'lines') {
        const result = pool.run({ source: name, maxLineBytes: raw.maxLineBytes, bytes: item.bytes });
        // Awaited in turn by deliver(); a rejection before that turn must not count as unhandled.
        result.catch(() => undefined);
        queue.push({ item, t0, result });
      } else queue.push({ item, t0 });
      wake('delivery');
      while (queue.length >= window && !failed) await new Promise<void>((resolve) => (wakeIntake = resolve));
      if (failed) break;
    }
  } catch (err) {
    // What was read and not delivered is dropped (its positions never settle), as before.
    queue.length = 0;
    ended = true;
    wake('delivery');
    await delivery.catch(() => undefined);
    throw err;
  }
  ended = true;
  wake('delivery');
  try {
    await delivery;
  } finally {
    queue.length = 0;
  }
}
