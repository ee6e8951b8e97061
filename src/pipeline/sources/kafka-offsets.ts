/**
 * In-order offset commits for the kafka source (at-least-once). Records of a partition are handed to the pipeline in
 * chunks; chunks may settle (every event has a final outcome in every sink it was routed to) out of order. The offset
 * a partition may commit is one past the last record before which every record has settled: a chunk that settled
 * after a later one does not let the later one's offsets through early. Records that were not events (poison,
 * dead-lettered by the source) settle at once.
 */

export interface TopicPartition {
  readonly topic: string;
  readonly partition: number;
}

interface Pending {
  /** First and last offset (inclusive) of this partition's records in the chunk. */
  readonly first: bigint;
  readonly last: bigint;
  settled: boolean;
}

interface PartitionState {
  readonly topic: string;
  readonly partition: number;
  /** In offset order. */
  readonly pending: Pending[];
  /** Next offset to commit (one past the last settled record in order); undefined: nothing settled yet. */
  committable: bigint | undefined;
  /** What was last committed. */
  committed: bigint | undefined;
  /** Leader epoch of the last record seen (the commit carries it). */
  leaderEpoch: number;
}

export interface CommitEntry extends TopicPartition {
  readonly offset: bigint;
  readonly leaderEpoch: number;
}

export interface OffsetTracker {
  /** Records `first..last` of a partition were handed over in one chunk; returns a token to settle them by. */
  track(tp: TopicPartition, first: bigint, last: bigint, leaderEpoch: number): Pending;
  settle(token: Pending): void;
  /** Offsets to commit now (changed since the last markCommitted). */
  due(): CommitEntry[];
  markCommitted(entries: readonly CommitEntry[]): void;
  /** Forget partitions this member no longer owns (after a rebalance): their next owner starts at the commit. */
  forget(keep: (tp: TopicPartition) => boolean): void;
  /** Records handed over and not settled yet, per partition (the uncommitted window). */
  unsettled(): number;
}

const keyOf = (tp: TopicPartition): string => `${tp.topic}\u0000${tp.partition}`;

export function createOffsetTracker(): OffsetTracker {
  const parts = new Map<string, PartitionState>();
  const advance = (s: PartitionState): void => {
    while (s.pending.length > 0 && (s.pending[0] as Pending).settled) {
      const p = s.pending.shift() as Pending;
      // Never backwards: a chunk's range can start below its predecessor's end (a skipped corrupt batch it reports).
      if (s.committable === undefined || p.last + 1n > s.committable) s.committable = p.last + 1n;
    }
  };
  const owner = new WeakMap<Pending, PartitionState>();
  return {
    track(tp, first, last, leaderEpoch) {
      const k = keyOf(tp);
      let s = parts.get(k);
      if (s === undefined) {
        s = {
          topic: tp.topic,
          partition: tp.partition,
          pending: [],
          committable: undefined,
          committed: undefined,
          leaderEpoch,
        };
        parts.set(k, s);
      }
      s.leaderEpoch = leaderEpoch;
      const p: Pending = { first, last, settled: false };
      s.pending.push(p);
      owner.set(p, s);
      return p;
    },
    settle(token) {
      if (token.settled) return;
      token.settled = true;
      const s = owner.get(token);
      if (s !== undefined) advance(s);
    },
    due() {
      const out: CommitEntry[] = [];
      for (const s of parts.values())
        if (s.committable !== undefined && s.committable !== s.committed)
          out.push({ topic: s.topic, partition: s.partition, offset: s.committable, leaderEpoch: s.leaderEpoch });
      return out;
    },
    markCommitted(entries) {
      for (const e of entries) {
        const s = parts.get(keyOf(e));
        if (s !== undefined && (s.committed === undefined || e.offset > s.committed)) s.committed = e.offset;
      }
    },
    forget(keep) {
      for (const [k, s] of parts) if (!keep(s)) parts.delete(k);
    },
    unsettled() {
      let n = 0;
      for (const s of parts.values()) for (const p of s.pending) if (!p.settled) n += Number(p.last - p.first + 1n);
      return n;
    },
  };
}
