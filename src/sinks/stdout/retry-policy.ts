/**
 * stdout failures: a closed pipe (EPIPE: the reader went away) will not come back, so the events are rejected and
 * go to the dead-letter file; anything else is retried.
 */
import { describeError } from '../../util/errors';
import type { RetryLogic, SendResult } from '../core/types';

export function classifyStdoutError(err: unknown): SendResult {
  const code = (err as { code?: unknown }).code;
  if (code === 'EPIPE' || code === 'ERR_STREAM_DESTROYED')
    return { kind: 'rejected', reason: `stdout is closed (${String(code)})` };
  return { kind: 'retryable', reason: `stdout write failed: ${describeError(err)}` };
}

/** A write either completes or fails: no answer to classify. */
export const stdoutRetryLogic = { classifyFailure: classifyStdoutError } satisfies RetryLogic;
