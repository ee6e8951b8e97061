/**
 * The recent events for GET /api/v1/events: a fixed-size ring fed once per pipeline chunk (after the processors,
 * what the sinks are offered). Bounded by `api.events_ring` events; the oldest are overwritten, never copied.
 * Events are immutable, so the ring keeps references, not copies.
 */
import type { AegisEvent } from '../../event/types';

export interface EventsRing {
  push(events: readonly AegisEvent[]): void;
  /** Newest last; at most `limit`, of `type` when given, with `ts` >= sinceMillis when given. */
  query(options: { type?: string; sinceMillis?: number; limit: number }): AegisEvent[];
  readonly capacity: number;
  /** Every event ever pushed (for the stats' events/s). */
  readonly total: number;
}

export function createEventsRing(capacity: number): EventsRing {
  const slots: (AegisEvent | undefined)[] = new Array<AegisEvent | undefined>(capacity);
  let next = 0;
  let total = 0;
  return {
    capacity,
    get total() {
      return total;
    },
    push(events) {
      total += events.length;
      if (capacity === 0) return;
      for (const e of events) {
        slots[next] = e;
        next = (next + 1) % capacity;
      }
    },
    query({ type, sinceMillis, limit }) {
      const out: AegisEvent[] = [];
      // Newest first, then reversed: a small limit touches only the newest slots.
      for (let i = 1; i <= capacity && out.length < limit; i++) {
        const e = slots[(next - i + capacity) % capacity];
        if (e === undefined) break;
        if (type !== undefined && e.type !== type) continue;
        if (sinceMillis !== undefined && Date.parse(e.ts) < sinceMillis) continue;
        out.push(e);
      }
      return out.reverse();
    },
  };
}
