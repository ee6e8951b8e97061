/**
 * Whether a webhook answer is delivered, worth retrying, or final: a small pure function of the HTTP status.
 *
 * | answer                              | outcome                                                           |
 * |-------------------------------------|-------------------------------------------------------------------|
 * | 2xx                                 | delivered                                                         |
 * | 408, 429, 5xx                       | retryable, honouring Retry-After (seconds or HTTP date)           |
 * | 413                                 | too_large: the core splits the batch (a single event: dead-letter)|
 * | other 4xx                           | rejected: dead-lettered with the status and the answer's start    |
 * | 1xx, 3xx (redirects not followed)   | retryable + unhealthy: a wrong URL; events wait in the buffer     |
 * | no answer (refused, reset, TLS)     | retryable                                                         |
 */
import { parseRetryAfter } from '../core/retry';
import type { RetryLogic, SendResult } from '../core/types';

export interface WebhookAnswer {
  readonly status: number;
  readonly body: string;
  readonly retryAfterHeader: string | undefined;
  readonly location?: string | undefined;
}

/** How much of an answer a reason quotes: enough to show the receiver's error, short enough for a log line. */
export const ANSWER_QUOTE_CHARS = 200;

/** `HTTP 400: {"error":"bad"}`: the status and the first characters of the answer, on one line. */
export function describeWebhookAnswer(status: number, body: string): string {
  const quoted = body
    .replace(/[\u0000-\u001f\u007f]+/g, ' ')
    .trim()
    .slice(0, ANSWER_QUOTE_CHARS);
  return quoted === '' ? `HTTP ${status}` : `HTTP ${status}: ${quoted}`;
}

export function classifyWebhookAnswer(a: WebhookAnswer, nowMillis: number = Date.now()): SendResult {
  const what = describeWebhookAnswer(a.status, a.body);
  if (a.status >= 200 && a.status < 300) return { kind: 'delivered' };
  const retryAfterMillis = parseRetryAfter(a.retryAfterHeader, nowMillis);
  const after = retryAfterMillis === undefined ? {} : { retryAfterMillis };
  if (a.status === 408 || a.status === 429 || a.status >= 500) return { kind: 'retryable', reason: what, ...after };
  if (a.status === 413) return { kind: 'too_large', reason: what };
  if (a.status >= 400 && a.status < 500) return { kind: 'rejected', reason: `webhook refused the request: ${what}` };
  return {
    kind: 'retryable',
    reason: `unexpected answer ${what}${a.status >= 300 && a.status < 400 ? ' (redirects are not followed: check url)' : ''}`,
    unhealthy: true,
    ...after,
  };
}

export function classifyWebhookFailure(error: string): SendResult {
  return { kind: 'retryable', reason: `webhook request failed: ${error}` };
}

export const webhookRetryLogic = {
  classifyFailure: classifyWebhookFailure,
  classifyAnswer: classifyWebhookAnswer,
} satisfies RetryLogic<string, WebhookAnswer>;
