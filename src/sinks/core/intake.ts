/**
 * Getting accepted records into the bounded buffer under its when_full policy: `drop_newest` counts the rest as
 * dropped (buffer_full); `block` waits for room, and that wait is the backpressure that reaches the source. A wait
 * the shutdown deadline ended dead-letters the records still waiting. The sink core (sink.ts) composes this.
 */
import type { SinkStats } from '../../telemetry/stats';
import { increment } from '../../telemetry/stats';
import type { Logger } from '../../util/logger';
import type { BufferedRecord, EventBuffer } from './buffer';
import type { SinkOutcomes } from './outcomes';
import type { EncodedRecord } from './types';

/** The rest of an accept() call's records, waiting for buffer space (under when_full: block), not yet buffered. */
export interface WaitingRecords<R> {
  readonly records: readonly EncodedRecord<R>[];
  readonly from: number;
}

export interface IntakeDeps<R> {
  readonly name: string;
  readonly buffer: EventBuffer<R>;
  readonly stats: SinkStats;
  readonly log: Logger;
  readonly outcomes: SinkOutcomes<R>;
  /** Aborted at the shutdown deadline: a wait for room that ends after it dead-letters what was waiting. */
  readonly shutdown: AbortSignal;
  /**
   * Records of admit() calls waiting for room, not yet in the buffer; shared with shutdown.ts, whose stopNow()
   * dead-letters them and clears the set.
   */
  readonly waitingForRoom: Set<WaitingRecords<R>>;
  /** Called after every offer: update the buffer gauges and start batches (which may make room). */
  offered(): void;
}

/**
 * Offer `records` to the buffer under its when_full policy. Returns undefined when each record is already buffered,
 * dropped or dead-lettered (the common case: the buffer had room), else a promise that resolves once they are. The
 * synchronous path allocates no promise: at a few thousand events per second the sensor hands over a chunk per ring
 * drain (about 1 000 a second), and each async hop was a promise and a microtask per chunk (bench/hostcost).
 */
export type Admit<R> = (records: readonly BufferedRecord<R>[]) => Promise<void> | undefined;

export function createIntake<R>(deps: IntakeDeps<R>): Admit<R> {
  const { name, buffer, stats, log, outcomes, shutdown, waitingForRoom } = deps;
  /** Offer from `i` on until done (returns records.length) or the buffer is full under `block` (returns i). */
  const offerFrom = (records: readonly BufferedRecord<R>[], i: number): number => {
    while (i < records.length) {
      i = buffer.offer(records, i);
      deps.offered();
      if (i >= records.length) break;
      if (buffer.hasRoomFor((records[i] as BufferedRecord<R>).bytes)) continue; // the pump made room
      if (buffer.whenFull === 'drop_newest') {
        const dropped = records.length - i;
        increment(stats.dropped, 'buffer_full', dropped);
        outcomes.dropped(records.slice(i));
        log.burst('WARN', 'buffer-full', 'Sink buffer is full; dropping the newest events (when_full: drop_newest).', {
          sink: name,
          dropped,
          bufferEvents: buffer.events,
          bufferBytes: buffer.bytes,
        });
        return records.length;
      }
      return i;
    }
    return records.length;
  };
  const waitAndOffer = async (records: readonly BufferedRecord<R>[], from: number): Promise<void> => {
    let i = from;
    while (i < records.length) {
      const waiting = { records, from: i };
      waitingForRoom.add(waiting);
      await buffer.waitForRoom();
      waitingForRoom.delete(waiting);
      if (shutdown.aborted) {
        await outcomes.deadLetter(
          records.slice(i),
          'AEGIS_ERR_SHUTDOWN_UNDELIVERED',
          'shutdown deadline reached while the events waited for buffer space',
          0,
        );
        return;
      }
      i = offerFrom(records, i);
    }
  };
  return (records) => {
    const i = offerFrom(records, 0);
    return i >= records.length ? undefined : waitAndOffer(records, i);
  };
}
