/**
 * Indexer acknowledgement bookkeeping: which ackIds of which channel are still unconfirmed, one shared poll of
 * `/services/collector/ack` per channel per interval (never one poll loop per batch), and the deadline after which an
 * unconfirmed batch is given up on (and resent by the sink core: a possible duplicate).
 *
 * Invariants:
 * - every `wait()` resolves exactly once: acked, ack_disabled (the receiver has acknowledgement off: HTTP 200 is all
 *   there is), or lost (deadline, channel replaced, receiver restarted, aborted, closed);
 * - the number of waiters is bounded by the sink's request concurrency (a send holds its slot while it waits), which
 *   makes `request.concurrency` the pending-ack bound and the source of backpressure;
 * - an ackId is never matched to the wrong batch: ids are unique per channel for the life of a receiver, so an id
 *   seen again on the same channel means the receiver forgot its ack state (restart, failover). Every older waiter
 *   of that channel is then failed (resent) instead of waiting to be "acknowledged" by an unrelated newer batch
 *   that happens to get the same number.
 */

export type AckQueryResult =
  | { readonly kind: 'acks'; readonly acks: ReadonlyMap<number, boolean> }
  /** HEC code 14: acknowledgement is disabled for this token. */
  | { readonly kind: 'disabled'; readonly reason: string }
  /** HEC codes 10/11: the channel is missing or not valid (any more). */
  | { readonly kind: 'channel_invalid'; readonly reason: string }
  | { readonly kind: 'failed'; readonly reason: string };

export type AckLossCause = 'timeout' | 'channel' | 'restart' | 'aborted' | 'closed';

export type AckOutcome =
  | { readonly kind: 'acked' }
  | { readonly kind: 'ack_disabled' }
  | { readonly kind: 'lost'; readonly cause: AckLossCause; readonly reason: string };

export interface AckTrackerOptions {
  readonly pollIntervalMillis: number;
  readonly timeoutMillis: number;
  /** POST /services/collector/ack for one channel. Must not reject. */
  query(channel: string, ids: readonly number[], signal: AbortSignal): Promise<AckQueryResult>;
  /** Counters and gauges (SinkStats.extra): acks_pending, ack_polls_total, acks_received_total, receiver_restarts_total. */
  readonly extra: Record<string, number>;
  /** The receiver answered code 14 to an ack query (called once). */
  onDisabled(reason: string): void;
  /** The receiver refused the channel in an ack query. */
  onChannelInvalid(channel: string, reason: string): void;
  /** The receiver's ack ids restarted on a channel; `stale` waiters were failed. */
  onRestart(channel: string, stale: number): void;
  readonly now?: () => number;
}

export interface AckTracker {
  /** Wait until `ackId` on `channel` is acknowledged (or lost). Resolves exactly once; never rejects. */
  wait(channel: string, ackId: number, signal: AbortSignal): Promise<AckOutcome>;
  /** Fail every waiter of `channel` (it was replaced). Returns how many were failed. */
  dropChannel(channel: string, reason: string): number;
  /** True once the receiver said acknowledgement is disabled. */
  readonly disabled: boolean;
  readonly pending: number;
  /** Stop polling and fail every waiter. */
  close(): void;
}

interface Waiter {
  readonly deadline: number;
  readonly resolve: (outcome: AckOutcome) => void;
}

interface ChannelState {
  readonly pending: Map<number, Waiter>;
  /** Ids issued on this channel within REPLAY_WINDOW of the highest; anything older counts as seen too. */
  readonly recent: Set<number>;
  highest: number;
}

/** Out-of-order spread of ackIds between concurrent requests stays far below this (concurrency is at most 1024). */
const REPLAY_WINDOW = 4096;
/** An ack query that takes longer than this is abandoned (the next interval asks again). */
const QUERY_TIMEOUT_MILLIS = 10_000;
/** Delay of the next poll after one that found everything acknowledged (see schedule()). */
const QUICK_POLL_MILLIS = 50;

export function createAckTracker(options: AckTrackerOptions): AckTracker {
  return new AckTrackerImpl(options);
}

class AckTrackerImpl implements AckTracker {
  private readonly channels = new Map<string, ChannelState>();
  private timer: NodeJS.Timeout | undefined;
  private polling = false;
  private closed = false;
  private isDisabled = false;
  private count = 0;
  /** Whether the last poll found every id it asked about acknowledged (true before the first poll). */
  private lastPollConfirmedAll = true;
  private readonly stop = new AbortController();
  private readonly now: () => number;

  constructor(private readonly options: AckTrackerOptions) {
    this.now = options.now ?? Date.now;
    options.extra.acks_pending = 0;
    // Present at 0 from the start: the metrics endpoint exports a series per key (aegisbpf_sink_protocol_total).
    for (const key of ['ack_polls_total', 'acks_received_total', 'receiver_restarts_total']) options.extra[key] ??= 0;
  }

  get disabled(): boolean {
    return this.isDisabled;
  }

  get pending(): number {
    return this.count;
  }

  wait(channel: string, ackId: number, signal: AbortSignal): Promise<AckOutcome> {
    if (this.isDisabled) return Promise.resolve({ kind: 'ack_disabled' });
    if (this.closed) return Promise.resolve({ kind: 'lost', cause: 'closed', reason: 'the sink was closing' });
    const state = this.channelState(channel);
    if (this.isReplay(state, ackId)) {
      const stale = this.failAll(
        state,
        'restart',
        `the receiver issued ackId ${ackId} on this channel again: it restarted or failed over and forgot the earlier acknowledgements`,
      );
      state.recent.clear();
      state.highest = ackId;
      this.options.extra.receiver_restarts_total = (this.options.extra.receiver_restarts_total ?? 0) + 1;
      this.options.onRestart(channel, stale);
    }
    this.remember(state, ackId);
    return new Promise<AckOutcome>((resolve) => {
      const onAbort = (): void =>
        finish({
          kind: 'lost',
          cause: 'aborted',
          reason: 'the attempt was aborted while waiting for the acknowledgement',
        });
      const finish = (outcome: AckOutcome): void => {
        if (state.pending.get(ackId) !== waiter) return;
        state.pending.delete(ackId);
        this.count--;
        this.options.extra.acks_pending = this.count;
        signal.removeEventListener('abort', onAbort);
        resolve(outcome);
      };
      const waiter: Waiter = { deadline: this.now() + this.options.timeoutMillis, resolve: finish };
      state.pending.set(ackId, waiter);
      this.count++;
      this.options.extra.acks_pending = this.count;
      if (signal.aborted) {
        onAbort();
        return;
      }
      signal.addEventListener('abort', onAbort, { once: true });
      this.schedule();
    });
  }

  dropChannel(channel: string, reason: string): number {
    const state = this.channels.get(channel);
    if (state === undefined) return 0;
    const n = this.failAll(state, 'channel', reason);
    this.channels.delete(channel);
    return n;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.stop.abort();
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    for (const state of this.channels.values()) this.failAll(state, 'closed', 'the sink was closing');
  }

  // ---- internals ----

  private channelState(channel: string): ChannelState {
    let state = this.channels.get(channel);
    if (state === undefined) {
      state = { pending: new Map(), recent: new Set(), highest: -1 };
      this.channels.set(channel, state);
    }
    return state;
  }

  private isReplay(state: ChannelState, id: number): boolean {
    if (state.highest < 0) return false;
    return state.recent.has(id) || id < state.highest - REPLAY_WINDOW;
  }

  private remember(state: ChannelState, id: number): void {
    state.recent.add(id);
    if (id > state.highest) state.highest = id;
    if (state.recent.size > 2 * REPLAY_WINDOW) {
      const floor = state.highest - REPLAY_WINDOW;
      for (const old of state.recent) if (old < floor) state.recent.delete(old);
    }
  }

  private failAll(state: ChannelState, cause: AckLossCause, reason: string): number {
    const waiters = [...state.pending.values()];
    for (const w of waiters) w.resolve({ kind: 'lost', cause, reason });
    return waiters.length;
  }

  /**
   * The next poll comes after the poll interval, or after QUICK_POLL_MILLIS when the previous poll found every id it
   * asked about acknowledged (and before the first poll): a receiver that indexes faster than the interval is then
   * asked again soon instead of leaving batches (and their concurrency slots) waiting a whole interval, while a slow
   * receiver — one that answers `false` — is asked once per interval.
   */
  private schedule(): void {
    if (this.timer !== undefined || this.polling || this.closed || this.count === 0) return;
    const delay = this.lastPollConfirmedAll
      ? Math.min(QUICK_POLL_MILLIS, this.options.pollIntervalMillis)
      : this.options.pollIntervalMillis;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.tick();
    }, delay);
  }

  private async tick(): Promise<void> {
    this.polling = true;
    let confirmedAll = true;
    try {
      this.expire();
      for (const [channel, state] of [...this.channels]) {
        if (state.pending.size === 0 || this.closed || this.isDisabled) continue;
        const ids = [...state.pending.keys()];
        this.options.extra.ack_polls_total = (this.options.extra.ack_polls_total ?? 0) + 1;
        const result = await this.queryWithTimeout(channel, ids);
        if (this.closed) return;
        switch (result.kind) {
          case 'acks':
            for (const id of ids) if (result.acks.get(id) !== true) confirmedAll = false;
            for (const [id, acked] of result.acks) {
              if (!acked) continue;
              const w = state.pending.get(id);
              if (w === undefined) continue;
              this.options.extra.acks_received_total = (this.options.extra.acks_received_total ?? 0) + 1;
              w.resolve({ kind: 'acked' });
            }
            break;
          case 'disabled':
            this.isDisabled = true;
            for (const s of this.channels.values())
              for (const w of [...s.pending.values()]) w.resolve({ kind: 'ack_disabled' });
            this.options.onDisabled(result.reason);
            break;
          case 'channel_invalid':
            this.dropChannel(channel, `the receiver refused the channel: ${result.reason}`);
            this.options.onChannelInvalid(channel, result.reason);
            break;
          case 'failed':
            confirmedAll = false;
            break; // the next interval asks again; deadlines still apply
        }
      }
      this.expire();
    } finally {
      this.polling = false;
      this.lastPollConfirmedAll = confirmedAll;
      this.schedule();
    }
  }

  /**
   * One ack query, aborted on close or after QUERY_TIMEOUT_MILLIS. The signal is built by hand (not
   * AbortSignal.any/timeout) so that a poll every interval for the life of the daemon leaves no listener on the
   * long-lived stop signal and no timer behind.
   */
  private async queryWithTimeout(channel: string, ids: readonly number[]): Promise<AckQueryResult> {
    const ctl = new AbortController();
    const onStop = (): void => ctl.abort();
    this.stop.signal.addEventListener('abort', onStop, { once: true });
    const timer = setTimeout(() => ctl.abort(), QUERY_TIMEOUT_MILLIS);
    try {
      return await this.options.query(channel, ids, ctl.signal);
    } finally {
      clearTimeout(timer);
      this.stop.signal.removeEventListener('abort', onStop);
    }
  }

  private expire(): void {
    const now = this.now();
    for (const state of this.channels.values()) {
      for (const [id, w] of [...state.pending]) {
        if (w.deadline <= now)
          w.resolve({
            kind: 'lost',
            cause: 'timeout',
            reason: `ackId ${id} was not acknowledged within ${this.options.timeoutMillis} ms`,
          });
      }
    }
  }
}
