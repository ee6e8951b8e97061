/**
 * Sends each record as one journal entry to journald's native socket, through the addon's journalSend (Node has
 * no unix datagram sockets, and journald's path for entries larger than one datagram, a sealed memfd passed with
 * SCM_RIGHTS, needs sendmsg with control data). Delivered means the kernel queued the datagram on journald's socket:
 * the protocol has no acknowledgement, so this is write completion, as for the file sink without fsync.
 * Sends never block the event loop: while journald's queue is full (EAGAIN) the send waits on a timer and goes on.
 */
import type { NativeBinding } from '../../native/binding';
import type { Batch, SendResult, Transport } from '../core/types';
import type { JournaldSinkConfig } from './config';
import { encodeJournalEntry } from './entry';
import { checkJournalSocket } from './healthcheck';
import { journaldRetryLogic } from './retry-policy';

/**
 * Entries above this size (bytes) go through a memfd rather than one datagram, as journald documents for large
 * entries: a datagram stays charged to our socket's send buffer until journald reads it, and one huge datagram
 * would hold back every small entry behind it. 256 KiB keeps a typical event (under 4 KiB) far from it.
 */
export const MEMFD_THRESHOLD_BYTES = 256 * 1024;

/**
 * The transport's counters (the sink's `extra` stats): `datagrams_total` entries sent as one datagram,
 * `memfds_total` entries sent through a sealed memfd (too large for one datagram).
 */
export type JournaldTransportStats = Record<string, number>;

function sendEntry(native: Pick<NativeBinding, 'journalSend'>, socketPath: string, entry: Buffer): number {
  return native.journalSend(socketPath, entry, entry.length > MEMFD_THRESHOLD_BYTES);
}

/** Waits between tries while journald's queue is full: 1 ms doubling to 32 ms (milliseconds). */
const QUEUE_WAIT_MIN_MILLIS = 1;
const QUEUE_WAIT_MAX_MILLIS = 32;

function sleep(millis: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, millis);
    signal.addEventListener('abort', done, { once: true });
  });
}

export function createJournaldTransport(
  config: JournaldSinkConfig,
  native: Pick<NativeBinding, 'journalSend' | 'journalProbe'>,
  stats: JournaldTransportStats = {},
): Transport<string> {
  stats.datagrams_total ??= 0;
  stats.memfds_total ??= 0;
  stats.queue_full_waits_total ??= 0;
  const failAt = (records: number, i: number, failure: SendResult): SendResult => {
    if (i === 0 || failure.kind !== 'retryable') return failure;
    // Entries before i are in journald's queue: only the rest is retried.
    const retry = Array.from({ length: records - i }, (_, k) => i + k);
    return {
      kind: 'partial',
      retry,
      rejected: [],
      ...(failure.retryAfterMillis !== undefined ? { retryAfterMillis: failure.retryAfterMillis } : {}),
    };
  };
  return {
    async send(batch: Batch<string>, signal: AbortSignal): Promise<SendResult> {
      const records = batch.records;
      let waitMillis = QUEUE_WAIT_MIN_MILLIS;
      for (let i = 0; i < records.length;) {
        if (signal.aborted) return failAt(records.length, i, { kind: 'retryable', reason: 'send aborted' });
        const record = records[i]!;
        const rc = sendEntry(
          native,
          config.socketPath,
          encodeJournalEntry(record.event, record.data, config.identifier),
        );
        if (rc >= 0) {
          if (rc === 0) stats.datagrams_total = (stats.datagrams_total ?? 0) + 1;
          else stats.memfds_total = (stats.memfds_total ?? 0) + 1;
          waitMillis = QUEUE_WAIT_MIN_MILLIS;
          i++;
          continue;
        }
        const failure = journaldRetryLogic.classifyFailure({ errno: -rc, socketPath: config.socketPath });
        if (failure.kind === 'retryable' && failure.retryAfterMillis !== undefined) {
          // journald's queue is full (net.unix.max_dgram_qlen entries: 512 where systemd booted the host, the
          // kernel's 10 elsewhere): it is behind, not gone. Wait a little and go on, until the signal aborts.
          stats.queue_full_waits_total = (stats.queue_full_waits_total ?? 0) + 1;
          await sleep(waitMillis, signal);
          waitMillis = Math.min(waitMillis * 2, QUEUE_WAIT_MAX_MILLIS);
          continue;
        }
        return failAt(records.length, i, failure);
      }
      return { kind: 'delivered' };
    },
    healthcheck: () => Promise.resolve(checkJournalSocket(config.socketPath, native)),
    close: () => Promise.resolve(),
    // Sends are non-blocking syscalls; a send waiting for room in journald's queue ends when its signal aborts.
    abandon: () => undefined,
  };
}
