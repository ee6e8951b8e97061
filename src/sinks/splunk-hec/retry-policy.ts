/**
 * Whether an HEC answer is success, worth retrying, or final: a small pure function of (HTTP status, HEC code).
 * Codes from Splunk's "Troubleshoot HTTP Event Collector" table (the reference sheet, §5). Answers are parsed, never
 * compared as strings: bodies may be text/plain, spaced differently, or not JSON at all (docs/test-services.md §3.4).
 *
 * | answer                                   | outcome                                                          |
 * |------------------------------------------|------------------------------------------------------------------|
 * | 200, code 0 (ackId when ack is on)       | accepted (then wait for the ack)                                 |
 * | 413                                      | too_large: the core splits the batch and retries the halves      |
 * | 400 code 6/12/13/15 (+invalid-event-number) | bad_event: isolate the bad event(s), dead-letter them, resend the rest |
 * | codes 1, 2, 3, 4, 21, 22; any 401/403    | token refused: retryable + unhealthy, events wait in the buffer  |
 * | code 7 (index not allowed), 16           | configuration: retryable + unhealthy, events wait                |
 * | codes 10, 11 (channel missing/invalid)   | channel: new channel GUID, retry at once                         |
 * | code 9, 8, 18–20, 5xx, 429               | retryable, honouring Retry-After                                 |
 * | codes 24, 25 (queue at capacity)         | retryable, slowed down: at least SLOW_DOWN_MILLIS                |
 * | 404                                      | retryable + unhealthy (wrong endpoint or HEC disabled)           |
 * | other 4xx                                | rejected (dead-letter)                                           |
 */
import { parseRetryAfter } from '../core/retry';
import type { RetryLogic, SendResult } from '../core/types';

/** What a HEC answer says, parsed leniently. */
export interface HecAnswer {
  readonly status: number;
  readonly code: number | undefined;
  readonly text: string | undefined;
  readonly ackId: number | undefined;
  readonly invalidEventNumber: number | undefined;
  readonly retryAfterMillis: number | undefined;
  /** The body when it was not an HEC JSON object (a plain-text error), trimmed and shortened. */
  readonly other: string | undefined;
}

export type HecOutcome =
  | { readonly kind: 'accepted'; readonly ackId: number | undefined }
  | { readonly kind: 'bad_event'; readonly index: number | undefined; readonly reason: string }
  | { readonly kind: 'channel'; readonly reason: string }
  | SendResult;

/** Codes 24 and 25 (queue at capacity) are in the issue but could not be verified in Splunk's tables. */
export const SLOW_DOWN_MILLIS = 2000;

const TOKEN_CODES = new Set([1, 2, 3, 4, 21, 22]);
const CONFIG_CODES = new Set([7, 16]);
const BAD_EVENT_CODES = new Set([6, 12, 13, 15]);
const RETRY_CODES = new Set([8, 9, 18, 19, 20]);
const SLOW_DOWN_CODES = new Set([24, 25]);

const int = (v: unknown): number | undefined =>
  typeof v === 'number' && Number.isInteger(v) ? v : typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : undefined;

export function parseHecAnswer(
  status: number,
  body: string,
  retryAfterHeader: string | undefined,
  nowMillis: number = Date.now(),
): HecAnswer {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    parsed = undefined;
  }
  const retryAfterMillis = parseRetryAfter(retryAfterHeader, nowMillis);
  if (parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed)) {
    const o = parsed as Record<string, unknown>;
    return {
      status,
      code: int(o.code),
      text: typeof o.text === 'string' ? o.text : undefined,
      ackId: int(o.ackId),
      invalidEventNumber: int(o['invalid-event-number']),
      retryAfterMillis,
      other: undefined,
    };
  }
  const other = (typeof parsed === 'string' ? parsed : body).replace(/\s+/g, ' ').trim().slice(0, 200);
  return {
    status,
    code: undefined,
    text: undefined,
    ackId: undefined,
    invalidEventNumber: undefined,
    retryAfterMillis,
    other: other === '' ? undefined : other,
  };
}

/** `HTTP 403, HEC code 4: Invalid token` — for logs and dead-letter reasons (never contains the token). */
export function describeAnswer(a: HecAnswer): string {
  let s = `HTTP ${a.status}`;
  if (a.code !== undefined) s += `, HEC code ${a.code}`;
  if (a.text !== undefined) s += `: ${a.text}`;
  else if (a.other !== undefined) s += `: ${a.other}`;
  if (a.invalidEventNumber !== undefined) s += ` (invalid-event-number ${a.invalidEventNumber})`;
  return s;
}

export function classifyHecAnswer(a: HecAnswer): HecOutcome {
  const what = describeAnswer(a);
  const retryAfter = a.retryAfterMillis === undefined ? {} : { retryAfterMillis: a.retryAfterMillis };
  if (a.status >= 200 && a.status < 300 && (a.code === undefined || a.code === 0))
    return { kind: 'accepted', ackId: a.ackId };
  if ((a.code !== undefined && TOKEN_CODES.has(a.code)) || a.status === 401 || a.status === 403) {
    return {
      kind: 'retryable',
      reason: `HEC refused the token (${what}); fix the token (or enable it in Splunk): events wait in the buffer and are retried`,
      unhealthy: true,
      ...retryAfter,
    };
  }
  if (a.status === 413) return { kind: 'too_large', reason: what };
  if (a.code !== undefined && CONFIG_CODES.has(a.code)) {
    return {
      kind: 'retryable',
      reason: `HEC refused the request for its configuration (${what}); events wait in the buffer and are retried`,
      unhealthy: true,
      ...retryAfter,
    };
  }
  if (a.code === 10 || a.code === 11) return { kind: 'channel', reason: what };
  if (a.code !== undefined && SLOW_DOWN_CODES.has(a.code)) {
    return {
      kind: 'retryable',
      reason: `HEC is at capacity (${what}); slowing down`,
      retryAfterMillis: Math.max(a.retryAfterMillis ?? 0, SLOW_DOWN_MILLIS),
    };
  }
  if (a.status === 400 && a.code !== undefined && BAD_EVENT_CODES.has(a.code))
    return { kind: 'bad_event', index: a.invalidEventNumber, reason: what };
  if ((a.code !== undefined && RETRY_CODES.has(a.code)) || a.status >= 500 || a.status === 429 || a.status === 408) {
    return { kind: 'retryable', reason: what, ...retryAfter };
  }
  if (a.status === 404)
    return {
      kind: 'retryable',
      reason: `${what}: wrong endpoint URL, or HEC is disabled on the receiver`,
      unhealthy: true,
    };
  if (a.status >= 400 && a.status < 500) return { kind: 'rejected', reason: what };
  return { kind: 'retryable', reason: `unexpected answer: ${what}`, ...retryAfter };
}

/** A request that got no answer: always retryable (nothing was acknowledged). */
export function classifyHttpFailure(error: string): Extract<SendResult, { kind: 'retryable' }> {
  return { kind: 'retryable', reason: `HEC request failed: ${error}` };
}

/** HEC's RetryLogic: a request without an answer, or a parsed answer (whose outcome the transport resolves further). */
export const hecRetryLogic = {
  classifyFailure: classifyHttpFailure,
  classifyAnswer: classifyHecAnswer,
} satisfies RetryLogic<string, HecAnswer, HecOutcome>;
