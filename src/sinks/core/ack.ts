/**
 * End-to-end acknowledgement: how a source hears that the events it handed over have a final outcome in every sink
 * they were routed to (delivered, dead-lettered, or dropped and counted), so that it may advance its checkpoint (a
 * replay file offset, Kafka offsets).
 *
 * The engine makes one Acknowledgement per tracked chunk, sized up front to the number of (event, sink) pairs it
 * routed, and hands it to each sink's accept(). The sink core attaches it to each record (EncodedRecord.ack) and
 * settles it once per record, at the one place each final outcome is counted (outcomes.ts; intake.ts for
 * drop_newest; shutdown.ts for stopNow). Untracked records carry `ack: undefined`, and the only cost they pay is
 * that check.
 *
 * Invariants (this file owns them):
 * - onSettled runs exactly once, when the last pending outcome arrives, never before.
 * - Extra settles (a bug elsewhere) never call it twice and never go negative; they are counted in `excess` so a
 *   test can catch them.
 */

export interface Acknowledgement {
  /** Outcomes still to come. */
  readonly pending: number;
  /** `count` records reached a final outcome. */
  settle(count: number): void;
}

export interface TrackedAcknowledgement extends Acknowledgement {
  /** Settles beyond the expected count (always 0 unless something settles a record twice). */
  readonly excess: number;
}

/** An acknowledgement expecting `expected` outcomes (>= 1); `onSettled` runs once after the last. */
export function createAcknowledgement(expected: number, onSettled: () => void): TrackedAcknowledgement {
  return new CountingAcknowledgement(expected, onSettled);
}

class CountingAcknowledgement implements TrackedAcknowledgement {
  excess = 0;
  constructor(
    public pending: number,
    private onSettled: (() => void) | undefined,
  ) {}

  settle(count: number): void {
    if (count <= 0) return;
    if (count > this.pending) {
      this.excess += count - this.pending;
      count = this.pending;
    }
    this.pending -= count;
    if (this.pending === 0 && this.onSettled !== undefined) {
      const done = this.onSettled;
      this.onSettled = undefined;
      done();
    }
  }
}

/** Settle each record's acknowledgement once (records of one chunk are usually adjacent: one call per run). */
export function settleRecords(records: readonly { readonly ack?: Acknowledgement | undefined }[]): void {
  let current: Acknowledgement | undefined;
  let run = 0;
  for (const r of records) {
    const ack = r.ack;
    if (ack === current) {
      run++;
      continue;
    }
    if (current !== undefined) current.settle(run);
    current = ack;
    run = 1;
  }
  if (current !== undefined) current.settle(run);
}
