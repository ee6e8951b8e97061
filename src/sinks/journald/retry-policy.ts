/**
 * Whether a failed journald send is worth retrying. The native protocol has no answer: a send fails only with an
 * errno from the local socket. Every failure is retried (journald restarts, its queue drains); those that need an
 * operator (no journald listening, no permission) also mark the sink unhealthy.
 */
import os from 'node:os';
import type { RetryLogic, SendResult } from '../core/types';

/** journald's receive queue is full: it is busy, not gone; wait a little (milliseconds). */
export const QUEUE_FULL_RETRY_MILLIS = 50;

const NEEDS_OPERATOR = new Set(['ENOENT', 'ECONNREFUSED', 'EACCES', 'EPERM', 'ENOTSOCK', 'EPROTOTYPE']);

export function errnoName(errno: number): string {
  for (const [name, value] of Object.entries(os.constants.errno)) if (value === errno) return name;
  return `errno ${errno}`;
}

/** `errno` is positive (journalSend returns its negation). */
export function classifyJournalErrno(errno: number, socketPath: string): SendResult {
  const name = errnoName(errno);
  if (name === 'EAGAIN' || name === 'EWOULDBLOCK')
    return {
      kind: 'retryable',
      reason: `journald's queue is full (${name})`,
      retryAfterMillis: QUEUE_FULL_RETRY_MILLIS,
    };
  return {
    kind: 'retryable',
    reason: `sending to journald at ${socketPath} failed: ${name}`,
    unhealthy: NEEDS_OPERATOR.has(name),
  };
}

export const journaldRetryLogic = {
  classifyFailure: (f: { errno: number; socketPath: string }) => classifyJournalErrno(f.errno, f.socketPath),
} satisfies RetryLogic<{ errno: number; socketPath: string }>;
