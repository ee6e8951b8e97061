/**
 * `relp` transport: rsyslog's Reliable Event Logging Protocol over one long-lived session (optionally over TLS).
 *
 * Delivered means acknowledged: an event is delivered when its `rsp 200` arrived, i.e. the receiver (rsyslog
 * imrelp) has taken it into its queue. Up to `window` events are unanswered at a time. When the session breaks,
 * the answered ones are delivered, a non-200 answer dead-letters that one event with the receiver's text, and the
 * unanswered ones are retried (`partial`) on a new session after the core's backoff. An unanswered event may have
 * reached the receiver before the break, so a resend can duplicate it: RELP is at-least-once. Such resends are
 * counted as possible duplicates (the sink's `duplicates` counter) when they are acknowledged; at most `window`
 * events per break.
 */
import type { Batch, EncodedRecord, HealthResult, SendResult, Transport } from '../core/types';
import type { SyslogSinkConfig } from './config';
import type { StreamTarget } from './connection';
import { AbortedError } from './connection';
import { truncateMessage } from './framing';
import { RELP_MAX_TXNR, RelpSession } from './relp-session';
import type { RspOutcome } from './relp-session';
import { syslogRetryLogic, describeSyslogFailure, isRelpSuccess } from './retry-policy';
import type { SyslogTransportDeps } from './shared';
import { failureContext, increment, reportFailure, streamTarget } from './shared';
import { createSerializer } from '../core/serialize';

export interface RelpTransportInternals {
  /** Roll over to a new session after this TXNR (default RELP_MAX_TXNR); tests use a small value. */
  readonly maxTxnr?: number;
  readonly version?: string;
}

const CLOSE_TIMEOUT_MILLIS = 2000;

export function createRelpTransport(
  config: SyslogSinkConfig,
  deps: SyslogTransportDeps,
  internals: RelpTransportInternals = {},
): Transport<string> {
  const { logger, counters } = deps;
  const target: StreamTarget = streamTarget(config);
  const context = failureContext(config);
  const retryLogic = syslogRetryLogic(context);
  const sessionOptions = {
    window: config.relpWindow,
    maxTxnr: internals.maxTxnr ?? RELP_MAX_TXNR,
    software: `aegisbpf,${internals.version ?? '0'},https://github.com/aegisbpf/aegisbpf`,
    openTimeoutMillis: config.connectTimeoutMillis,
  };
  let session: RelpSession | undefined;
  /** abandon() was called: no new session; every session still open is destroyed. */
  let abandoned = false;
  /** Every session not yet ended (the current one, one being rolled over or closed, healthchecks'). */
  const sessions = new Set<RelpSession>();
  const track = (s: RelpSession): RelpSession => {
    sessions.add(s);
    s.socket.once('close', () => sessions.delete(s));
    if (abandoned) s.destroy(new AbortedError('abandoned at the shutdown deadline'));
    return s;
  };
  /** Records sent on a session that broke before answering: a resend may duplicate them. */
  const maybeReceived = new WeakSet<EncodedRecord<string>>();

  const serialized = createSerializer();

  const ensureSession = async (signal: AbortSignal): Promise<RelpSession> => {
    if (session !== undefined && !session.unusable && !session.exhausted) return session;
    if (session !== undefined) {
      const old = session;
      session = undefined;
      if (old.exhausted && !old.unusable) increment(counters, 'relp_rollovers_total');
      else increment(counters, 'connection_lost_total'); // the server closed it (restart, serverclose) or the network broke
      await old.drain();
      await old.close(CLOSE_TIMEOUT_MILLIS);
    }
    if (abandoned) throw new AbortedError('abandoned at the shutdown deadline');
    session = track(await RelpSession.open(target, sessionOptions, signal));
    increment(counters, 'connects_total');
    return session;
  };

  const encode = (data: string): string | Buffer => {
    if (config.maxMessageBytes <= 0) return data;
    const cut = truncateMessage(data, config.maxMessageBytes);
    if (!cut.truncated) return data;
    increment(counters, 'truncated_total');
    logger.burst(
      'WARN',
      'syslog-truncated',
      `A syslog message was longer than max_message_bytes (${config.maxMessageBytes}) and was truncated at its end.`,
      {
        code: 'AEGIS_ERR_SYSLOG_TRUNCATED',
        truncatedTotal: counters.truncated_total,
      },
    );
    return cut.bytes;
  };

  const send = async (batch: Batch<string>, signal: AbortSignal): Promise<SendResult> => {
    if (signal.aborted || abandoned) return { kind: 'retryable', reason: 'aborted before sending' };
    const records = batch.records;
    const outcomes: (RspOutcome | undefined)[] = new Array<RspOutcome | undefined>(records.length);
    const used = new Set<RelpSession>();
    let last: RelpSession | undefined;
    let stopError: unknown;
    let unanswered = 0;
    let wake: (() => void) | undefined;
    // A request timeout or shutdown ends the sessions this batch used: its unanswered events are resent later.
    const onAbort = (): void => {
      for (const x of used) x.destroy(new AbortedError('aborted while waiting for RELP answers'));
      wake?.();
    };
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      // Phase 1, one batch at a time: queue every event on the session, in order, as the window allows.
      const openError = await serialized(async (): Promise<unknown> => {
        let s: RelpSession;
        try {
          s = await ensureSession(signal);
        } catch (err) {
          return err ?? new Error('the RELP session could not be opened');
        }
        used.add(s);
        for (let i = 0; i < records.length; i++) {
          if (s.exhausted) {
            // TXNR rollover: finish this session cleanly and continue on a new one.
            s.flush();
            try {
              s = await ensureSession(signal);
              used.add(s);
            } catch (err) {
              stopError = err;
              break;
            }
          }
          if (!s.hasRoom) {
            // Window full: send what is queued; refill as soon as answers free slots. (Refilling only from a
            // low-water mark measured 2–10 times slower: while we send nothing, our ACKs are delayed and the
            // server's small rsp writes wait for them under Nagle.)
            s.flush();
            await s.waitForRoom(signal);
          }
          if (s.unusable || signal.aborted) {
            stopError =
              s.error ??
              (signal.aborted ? new AbortedError('aborted') : new Error('the RELP server is closing the session'));
            break;
          }
          const rec = records[i] as EncodedRecord<string>;
          const index = i;
          unanswered++;
          s.syslog(encode(rec.data), (o) => {
            outcomes[index] = o;
            if (o.kind === 'lost') maybeReceived.add(rec);
            if (--unanswered === 0) wake?.();
          });
        }
        s.flush();
        last = s;
        return undefined;
      });
      if (openError !== undefined) {
        reportFailure(logger, openError, context);
        return retryLogic.classifyFailure(openError);
      }
      // Phase 2, outside the lock: with request.concurrency > 1 the next batch is queued while this one's answers
      // arrive, so the stream never idles between batches. Every queued command settles (answered, or lost).
      while (unanswered > 0) await new Promise<void>((resolve) => (wake = resolve));
    } finally {
      signal.removeEventListener('abort', onAbort);
    }
    const s = last as RelpSession;

    const retry: number[] = [];
    const rejected: { index: number; reason: string }[] = [];
    let duplicates = 0;
    let lostError: Error | undefined;
    for (let i = 0; i < records.length; i++) {
      const o = outcomes[i];
      const rec = records[i] as EncodedRecord<string>;
      if (o === undefined || o.kind === 'lost') {
        if (o !== undefined) lostError ??= o.error;
        retry.push(i);
      } else if (isRelpSuccess(o.status)) {
        if (maybeReceived.has(rec)) {
          maybeReceived.delete(rec);
          duplicates++;
        }
      } else {
        rejected.push({ index: i, reason: `the RELP receiver refused the event: rsp ${o.status} ${o.text}` });
      }
    }
    if (duplicates > 0) increment(counters, 'relp_resent_unacknowledged_total', duplicates);
    if (retry.length === 0 && rejected.length === 0)
      return duplicates > 0 ? { kind: 'delivered', duplicates } : { kind: 'delivered' };
    const cause =
      lostError ??
      (stopError instanceof Error ? stopError : undefined) ??
      s.error ??
      new Error('the RELP session ended');
    const { reason } = describeSyslogFailure(cause, context);
    if (retry.length > 0) {
      const unansweredAtBreak = retry.filter((i) => outcomes[i] !== undefined).length;
      if (session === s) increment(counters, 'connection_lost_total'); // (a session already replaced was counted there)
      logger.burst(
        'WARN',
        'relp-session-lost',
        'The RELP session broke; unanswered events are resent on a new session (the receiver may see some of them twice).',
        {
          code: 'AEGIS_ERR_SYSLOG_CONNECTION_LOST',
          receiver: context.where,
          unanswered: unansweredAtBreak,
          notSent: retry.length - unansweredAtBreak,
          reason,
        },
      );
      if (session === s) session = undefined;
      s.destroy(cause);
    }
    if (retry.length === records.length) return { kind: 'retryable', reason };
    return { kind: 'partial', retry, rejected, ...(duplicates > 0 ? { duplicates } : {}) };
  };

  return {
    send,
    healthcheck: async (signal): Promise<HealthResult> => {
      try {
        const s = track(await RelpSession.open(target, sessionOptions, signal));
        await s.close(CLOSE_TIMEOUT_MILLIS);
        return { healthy: true };
      } catch (err) {
        return { healthy: false, reason: describeSyslogFailure(err, context).reason };
      }
    },
    reopen: () =>
      serialized(async () => {
        const s = session;
        session = undefined;
        if (s !== undefined) await s.close(CLOSE_TIMEOUT_MILLIS);
      }),
    abandon: () => {
      abandoned = true;
      session = undefined;
      // Fails every unanswered command (reported lost: the core dead-letters them) and wakes every waiter.
      for (const s of sessions) s.destroy(new AbortedError('abandoned at the shutdown deadline'));
    },
    close: () =>
      serialized(async () => {
        const s = session;
        session = undefined;
        if (s !== undefined) {
          await s.drain();
          await s.close(CLOSE_TIMEOUT_MILLIS);
        }
      }),
  };
}
