/**
 * Batch assembly: when the buffer's oldest records make a batch, and the timer for a partial one. A batch is due
 * when it is full (batch.max_events records or batch.max_bytes bytes are waiting), when its oldest record has
 * waited batch.timeout_ms, or at once while the sink flushes for close. The buffer hands out the records (it owns
 * them); the batcher only decides when and how many.
 *
 * One timer at most: re-arming for a later moment keeps the earlier one, so a steady trickle of records cannot
 * push a partial batch's send out forever.
 */
import type { EventBuffer, TakenRecords } from './buffer';
import type { BatchOptions } from './types';

export interface Batcher<R> {
  /**
   * The next batch when one is due; otherwise undefined, with the timer armed to call `onDue` when the oldest
   * record's batch times out. `flush`: every held record is due (closing).
   */
  next(flush: boolean): TakenRecords<R> | undefined;
  /** Clear the timer (close). */
  stop(): void;
}

export interface BatcherOptions<R> {
  readonly buffer: EventBuffer<R>;
  readonly batch: BatchOptions;
  readonly now: () => number;
  /** Called when the timer fires: a partial batch is due. */
  readonly onDue: () => void;
}

export function createBatcher<R>(options: BatcherOptions<R>): Batcher<R> {
  const { buffer, now, onDue } = options;
  const { maxEvents, maxBytes, timeoutMillis } = options.batch;
  let timer: NodeJS.Timeout | undefined;
  let timerDue = 0;

  const arm = (delayMillis: number): void => {
    const due = now() + delayMillis;
    if (timer !== undefined && timerDue <= due) return;
    if (timer !== undefined) clearTimeout(timer);
    timerDue = due;
    timer = setTimeout(
      () => {
        timer = undefined;
        onDue();
      },
      Math.max(0, delayMillis),
    );
  };

  return {
    next(flush) {
      if (buffer.events === 0) return undefined;
      if (!flush && buffer.events < maxEvents && buffer.bytes < maxBytes) {
        const age = now() - (buffer.oldestAt() as number);
        if (age < timeoutMillis) {
          arm(timeoutMillis - age);
          return undefined;
        }
      }
      return buffer.take(maxEvents, maxBytes);
    },
    stop() {
      if (timer !== undefined) clearTimeout(timer);
      timer = undefined;
    },
  };
}
