/**
 * Splunk HEC transport: one POST per batch to `/services/collector/event` (envelopes back to back) or
 * `/services/collector/raw` (one record per line), gzip by default, over a keep-alive pool; then, with indexer
 * acknowledgement, `send()` resolves only when the batch's ackId is confirmed (AckTracker). The sink core bounds
 * in-flight sends with `request.concurrency`, so that bound is also the pending-ack bound: when Splunk indexes
 * slowly, sends stay pending, the buffer fills, and backpressure reaches the source.
 *
 * Delivered means: acknowledged by the indexer (ack on), or HTTP 200 (ack off, or the receiver has acknowledgement
 * disabled for the token — said once in the log and visible as `extra.ack_fallback = 1`).
 *
 * A bad event must not hold the other events hostage: on 400 with `invalid-event-number: n` (Splunk indexed 0…n−1),
 * event n is dead-lettered and n+1… are resent; on a data error without a number (receivers that reject the whole
 * request) the batch is bisected (the core's halveBatch, as for too_large) until the bad events are isolated.
 * Everything else maps through retry-policy.ts.
 *
 * The token is only ever written into the Authorization header. Reasons and log lines are built from HEC answers,
 * which may echo it: the sink core removes it from every reason and log line (src/sinks/core/redact.ts).
 */
import { randomUUID } from 'node:crypto';
import { promisify } from 'node:util';
import zlib from 'node:zlib';
import type { Logger } from '../../util/logger';
import type { SinkStats } from '../../telemetry/stats';
import { concatRecords } from '../core/concat';
import { halveBatch } from '../core/retrying-send';
import type { Batch, EncodedRecord, HealthResult, SendResult, Transport } from '../core/types';
import type { AckQueryResult, AckTracker } from './ack-tracker';
import { createAckTracker } from './ack-tracker';
import type { HecSinkConfig } from './config';
import { checkHecHealth } from './healthcheck';
import type { HttpAnswer, HttpClient, HttpFailure } from '../core/http';
import { createHttpClient } from '../core/http';
import { describeAnswer, hecRetryLogic, parseHecAnswer } from './retry-policy';

const gzip = promisify(zlib.gzip);

export interface HecTransportContext {
  readonly logger: Logger;
  readonly stats: SinkStats;
  readonly version: string;
  /** Replaces the HTTP client (tests). */
  readonly http?: HttpClient;
}

export interface HecTransport extends Transport<string> {
  /** The channel GUID currently in use (tests, logs). */
  readonly channel: () => string;
}

/** Per-record outcome of sending a slice of a batch, with indices relative to the slice. */
type SliceResult =
  | { readonly kind: 'ok' }
  | { readonly kind: 'fail'; readonly result: Exclude<SendResult, { kind: 'delivered' } | { kind: 'partial' }> }
  | {
      readonly kind: 'mixed';
      readonly retry: readonly number[];
      readonly rejected: readonly { readonly index: number; readonly reason: string }[];
      readonly retryAfterMillis?: number;
    };

type AttemptResult =
  | { readonly kind: 'ok' }
  | { readonly kind: 'bad_event'; readonly index: number | undefined; readonly reason: string }
  | { readonly kind: 'fail'; readonly result: Exclude<SendResult, { kind: 'delivered' } | { kind: 'partial' }> };

export function createHecTransport(config: HecSinkConfig, context: HecTransportContext): HecTransport {
  const log = context.logger;
  const stats = context.stats;
  const extra = stats.extra;
  const http =
    context.http ??
    createHttpClient({
      url: config.endpoint,
      // An endpoint with a base path (a HEC behind a proxy): the collector paths go below it.
      pathPrefix: new URL(config.endpoint).pathname.replace(/\/+$/, ''),
      maxSockets: config.maxSockets,
      tls: config.tls,
    });
  const ackOn = config.acknowledgements.enabled;
  let channel = config.channel ?? randomUUID();
  let fallback = false;
  extra.ack_fallback = 0;
  extra.channel_resets_total = 0;
  extra.ack_timeouts_total = 0;

  const baseHeaders = (ch: string): Record<string, string> => ({
    Authorization: `Splunk ${config.token}`,
    'X-Splunk-Request-Channel': ch,
    'User-Agent': `aegisbpf/${context.version}`,
  });

  const sendPath = (ch: string): string => {
    if (config.endpointTarget === 'event') return '/services/collector/event';
    const q = new URLSearchParams({ channel: ch, sourcetype: config.raw.sourcetype });
    if (config.raw.source !== undefined) q.set('source', config.raw.source);
    if (config.raw.index !== undefined) q.set('index', config.raw.index);
    if (config.raw.host !== undefined) q.set('host', config.raw.host);
    return `/services/collector/raw?${q.toString()}`;
  };

  const answerOf = (r: HttpAnswer): ReturnType<typeof parseHecAnswer> => {
    const ra: string | string[] | undefined = r.headers['retry-after'];
    return parseHecAnswer(r.status, r.body, typeof ra === 'string' ? ra : ra?.[0]);
  };

  const failureReason = (r: HttpFailure): string => r.error;

  const enterFallback = (why: string): void => {
    if (fallback) return;
    fallback = true;
    extra.ack_fallback = 1;
    log.warn(
      'Indexer acknowledgement is disabled for this HEC token; HTTP 200 now counts as delivered (weaker: accepted, not confirmed indexed). Enable "Indexer acknowledgement" on the token to restore it.',
      {
        code: 'AEGIS_ERR_HEC_ACK_DISABLED',
        reason: why,
      },
    );
  };

  const rotateChannel = (from: string, reason: string): void => {
    if (channel !== from) return; // another request already rotated it
    const old = channel;
    channel = randomUUID();
    extra.channel_resets_total = (extra.channel_resets_total ?? 0) + 1;
    const failed = acks.dropChannel(old, `channel replaced: ${reason}`);
    log.warn(
      'HEC refused the request channel; switching to a new channel GUID. Batches waiting for acknowledgement on the old channel are resent (possible duplicates, counted).',
      {
        code: 'AEGIS_ERR_HEC_CHANNEL_RESET',
        reason,
        oldChannel: old,
        newChannel: channel,
        pendingResent: failed,
      },
    );
  };

  const queryAcks = async (ch: string, ids: readonly number[], signal: AbortSignal): Promise<AckQueryResult> => {
    const r = await http.request(
      {
        method: 'POST',
        path: `/services/collector/ack?channel=${encodeURIComponent(ch)}`,
        headers: { ...baseHeaders(ch), 'Content-Type': 'application/json' },
        body: Buffer.from(JSON.stringify({ acks: ids })),
      },
      signal,
    );
    if (!r.ok) return { kind: 'failed', reason: failureReason(r) };
    const a = answerOf(r);
    if (a.code === 14) return { kind: 'disabled', reason: describeAnswer(a) };
    if (a.code === 10 || a.code === 11) return { kind: 'channel_invalid', reason: describeAnswer(a) };
    if (r.status !== 200) return { kind: 'failed', reason: describeAnswer(a) };
    let parsed: unknown;
    try {
      parsed = JSON.parse(r.body);
    } catch {
      return { kind: 'failed', reason: `ack answer is not JSON: ${describeAnswer(a)}` };
    }
    const acksObj = (parsed as { acks?: unknown } | null)?.acks;
    if (acksObj === null || typeof acksObj !== 'object')
      return { kind: 'failed', reason: `ack answer has no "acks" object: ${describeAnswer(a)}` };
    const out = new Map<number, boolean>();
    for (const [k, v] of Object.entries(acksObj as Record<string, unknown>))
      if (/^\d+$/.test(k)) out.set(Number(k), v === true);
    return { kind: 'acks', acks: out };
  };

  const acks: AckTracker = createAckTracker({
    pollIntervalMillis: config.acknowledgements.pollIntervalMillis,
    timeoutMillis: config.acknowledgements.timeoutMillis,
    query: queryAcks,
    extra,
    onDisabled: (reason) => enterFallback(reason),
    onChannelInvalid: (ch, reason) => rotateChannel(ch, reason),
    onRestart: (ch, stale) =>
      log.warn(
        'The HEC receiver restarted or failed over (its ackIds started again); batches still waiting for acknowledgement are resent (possible duplicates, counted).',
        {
          code: 'AEGIS_ERR_HEC_ACK_LOST',
          channel: ch,
          pendingResent: stale,
        },
      ),
  });

  const encodeBody = async (records: readonly EncodedRecord<string>[]): Promise<Buffer> => {
    const plain = concatRecords(records, config.endpointTarget === 'raw');
    return config.compression === 'gzip' ? gzip(plain, { level: config.compressionLevel }) : plain;
  };

  const possibleDuplicates = (count: number): void => {
    stats.duplicates += count;
  };

  /** One POST of `records` (and the ack wait). */
  const attempt = async (records: readonly EncodedRecord<string>[], signal: AbortSignal): Promise<AttemptResult> => {
    const body = await encodeBody(records);
    const ch = channel;
    const headers: Record<string, string> = {
      ...baseHeaders(ch),
      'Content-Type': config.endpointTarget === 'event' ? 'application/json' : 'text/plain; charset=utf-8',
    };
    if (config.compression === 'gzip') headers['Content-Encoding'] = 'gzip';
    const r = await http.request({ method: 'POST', path: sendPath(ch), headers, body }, signal);
    if (!r.ok) {
      // Written completely but unanswered: the receiver may have indexed it, so the resend may duplicate it.
      if (r.sent) possibleDuplicates(records.length);
      return { kind: 'fail', result: hecRetryLogic.classifyFailure(failureReason(r)) };
    }
    const outcome = hecRetryLogic.classifyAnswer(answerOf(r));
    switch (outcome.kind) {
      case 'accepted': {
        if (!ackOn || fallback) return { kind: 'ok' };
        if (outcome.ackId === undefined) {
          // Splunk answers without an ackId when the token has useACK off (its /ack would say code 14).
          enterFallback('HEC accepted a request on a channel without returning an ackId');
          return { kind: 'ok' };
        }
        const ack = await acks.wait(ch, outcome.ackId, signal);
        if (ack.kind !== 'lost') return { kind: 'ok' };
        possibleDuplicates(records.length);
        if (ack.cause === 'timeout') {
          extra.ack_timeouts_total = (extra.ack_timeouts_total ?? 0) + 1;
          log.burst(
            'WARN',
            'ack-timeout',
            'A batch accepted by HEC was not acknowledged in time; it is resent (possible duplicates, counted).',
            {
              code: 'AEGIS_ERR_HEC_ACK_LOST',
              events: records.length,
              reason: ack.reason,
            },
          );
        }
        return {
          kind: 'fail',
          result: { kind: 'retryable', reason: `accepted by HEC but not acknowledged: ${ack.reason}` },
        };
      }
      case 'channel':
        rotateChannel(ch, outcome.reason);
        return {
          kind: 'fail',
          result: {
            kind: 'retryable',
            reason: `channel refused (${outcome.reason}); retrying on a new channel`,
            retryAfterMillis: 0,
          },
        };
      case 'bad_event':
        return { kind: 'bad_event', index: outcome.index, reason: outcome.reason };
      case 'retryable':
        if (outcome.unhealthy === true) {
          log.burst(
            'ERROR',
            'hec-refused',
            'HEC refused the request; events wait in the buffer and are retried.',
            { code: 'AEGIS_ERR_HEC_REFUSED', reason: outcome.reason },
            60_000,
          );
        }
        return { kind: 'fail', result: outcome };
      case 'rejected':
      case 'too_large':
        return { kind: 'fail', result: outcome };
      case 'delivered':
      case 'partial':
        return { kind: 'ok' }; // not produced by classifyHecAnswer
    }
  };

  /**
   * Send a slice; on a data error, isolate the bad events. With `invalid-event-number: n`, Splunk indexed 0…n−1 and
   * dropped n…: n is rejected, n+1… are sent again (as a new slice). Without a number, halves are sent in order.
   */
  const sendSlice = async (records: readonly EncodedRecord<string>[], signal: AbortSignal): Promise<SliceResult> => {
    const r = await attempt(records, signal);
    if (r.kind === 'ok' || r.kind === 'fail') return r;
    if (r.index !== undefined && r.index >= 0 && r.index < records.length) {
      const rejected = [{ index: r.index, reason: r.reason }];
      if (r.index + 1 >= records.length) return { kind: 'mixed', retry: [], rejected };
      const rest = await sendSlice(records.slice(r.index + 1), signal);
      return combine([{ offset: r.index + 1, length: records.length - r.index - 1, result: rest }], rejected, []);
    }
    const halves = halveBatch(records);
    if (halves === undefined) return { kind: 'mixed', retry: [], rejected: [{ index: 0, reason: r.reason }] };
    const mid = halves[0].length;
    const left = await sendSlice(halves[0], signal);
    if (left.kind === 'fail') {
      // The receiver itself is in trouble (not the data): leave the rest for the core's retry.
      return combine([{ offset: 0, length: mid, result: left }], [], range(mid, records.length));
    }
    const right = await sendSlice(halves[1], signal);
    return combine(
      [
        { offset: 0, length: mid, result: left },
        { offset: mid, length: records.length - mid, result: right },
      ],
      [],
      [],
    );
  };

  const send = async (batch: Batch<string>, signal: AbortSignal): Promise<SendResult> => {
    if (signal.aborted) return { kind: 'retryable', reason: 'aborted before sending' };
    try {
      const r = await sendSlice(batch.records, signal);
      if (r.kind === 'ok') return { kind: 'delivered' };
      if (r.kind === 'fail') return r.result;
      if (r.retry.length === 0 && r.rejected.length === 0) return { kind: 'delivered' };
      return {
        kind: 'partial',
        retry: r.retry,
        rejected: r.rejected,
        ...(r.retryAfterMillis === undefined ? {} : { retryAfterMillis: r.retryAfterMillis }),
      };
    } catch (err) {
      // gzip of a valid buffer cannot fail; keep the contract (failures are values) regardless.
      return {
        kind: 'retryable',
        reason: `HEC send failed: ${err instanceof Error ? err.message : String(err)}`,
      };
    }
  };

  return {
    send,
    healthcheck: (signal): Promise<HealthResult> =>
      checkHecHealth({ http, headers: baseHeaders(channel), sendPath: sendPath(channel) }, signal),
    close: () => {
      acks.close();
      http.close();
      return Promise.resolve();
    },
    // Destroying the agent's sockets fails every request in flight (and the ack waits end with the tracker), so the
    // orderly close already is the abandon.
    abandon: () => {
      acks.close();
      http.close();
    },
    channel: () => channel,
  };
}

function range(from: number, to: number): number[] {
  const out: number[] = [];
  for (let i = from; i < to; i++) out.push(i);
  return out;
}

/** Merge slice results (each at an offset) plus extra rejected/retry indices into one result for the whole slice. */
function combine(
  parts: readonly { readonly offset: number; readonly length: number; readonly result: SliceResult }[],
  rejected: readonly { readonly index: number; readonly reason: string }[],
  retry: readonly number[],
): SliceResult {
  const outRetry = [...retry];
  const outRejected = [...rejected];
  let retryAfterMillis: number | undefined;
  for (const { offset, length, result } of parts) {
    switch (result.kind) {
      case 'ok':
        break;
      case 'mixed':
        for (const i of result.retry) outRetry.push(offset + i);
        for (const r of result.rejected) outRejected.push({ index: offset + r.index, reason: r.reason });
        if (result.retryAfterMillis !== undefined)
          retryAfterMillis = Math.max(retryAfterMillis ?? 0, result.retryAfterMillis);
        break;
      case 'fail':
        if (result.result.kind === 'rejected') {
          for (let i = 0; i < length; i++) outRejected.push({ index: offset + i, reason: result.result.reason });
        } else {
          for (let i = 0; i < length; i++) outRetry.push(offset + i);
          if (result.result.kind === 'retryable' && result.result.retryAfterMillis !== undefined) {
            retryAfterMillis = Math.max(retryAfterMillis ?? 0, result.result.retryAfterMillis);
          }
        }
        break;
    }
  }
  outRetry.sort((a, b) => a - b);
  outRejected.sort((a, b) => a.index - b.index);
  return {
    kind: 'mixed',
    retry: outRetry,
    rejected: outRejected,
    ...(retryAfterMillis === undefined ? {} : { retryAfterMillis }),
  };
}
