/**
 * Whether a failed file write is worth retrying. Local I/O errors are mostly transient from the sink's point of
 * view (a full disk gets space, a remounted volume comes back, logrotate fixes permissions), so they are retried
 * and the events wait in the buffer; the ones that need an operator also mark the sink unhealthy.
 */
import { describeError } from '../../util/errors';
import type { RetryLogic, SendResult } from '../core/types';

const NEEDS_OPERATOR = new Set(['EACCES', 'EPERM', 'EROFS', 'ENOSPC', 'EDQUOT', 'EISDIR', 'ENOTDIR', 'ENOENT']);

export function classifyFileError(err: unknown): SendResult {
  const code = (err as { code?: unknown }).code;
  const reason = `file write failed: ${describeError(err)}`;
  return { kind: 'retryable', reason, unhealthy: typeof code === 'string' && NEEDS_OPERATOR.has(code) };
}

/** A write either completes or fails with an errno: no answer to classify. */
export const fileRetryLogic = { classifyFailure: classifyFileError } satisfies RetryLogic;
