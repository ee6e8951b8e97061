/**
 * Whether a syslog failure is worth retrying, and with what reason. Network failures are retried with backoff
 * (the sink core's): the receiver restarts, the route comes back. Failures an operator must fix (TLS trust, host
 * name, a client certificate the receiver refuses, an unknown host name) are retried too — events wait in the
 * buffer, never fall back to plaintext, never get dropped — but also mark the sink unhealthy at once, with the cause.
 * A RELP `rsp` other than 200 for one message is the receiver refusing that message: it goes to the dead-letter file.
 */
import { describeError } from '../../util/errors';
import type { RetryLogic, SendResult } from '../core/types';
import type { SyslogTlsConfig } from './config';
import { describeTlsError } from './tls';

/** Network errors that are expected while a receiver restarts or a route flaps. */
const TRANSIENT = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENETDOWN',
  'EHOSTDOWN',
  'EAI_AGAIN',
  'ECONNABORTED',
  'ERR_STREAM_DESTROYED',
  'ERR_SOCKET_CLOSED',
  'ABORT_ERR',
]);
/** Errors that will not go away by themselves. */
const NEEDS_OPERATOR = new Set(['ENOTFOUND', 'EACCES', 'EPERM', 'EADDRNOTAVAIL', 'EINVAL']);

export interface FailureContext {
  readonly transport: string;
  /** `host:port` */
  readonly where: string;
  readonly tls: SyslogTlsConfig | undefined;
}

/** Describe a connection or write failure; `needsOperator` marks the sink unhealthy at once. */
export function describeSyslogFailure(
  err: unknown,
  context: FailureContext,
): { readonly reason: string; readonly needsOperator: boolean } {
  if (context.tls !== undefined) {
    const t = describeTlsError(err, context.where, context.tls);
    if (t !== undefined) return t;
  }
  const code = (err as { code?: unknown }).code;
  const text = describeError(err);
  if (code === 'ECONNREFUSED')
    return {
      reason: `${context.transport}: nothing accepts connections at ${context.where} (ECONNREFUSED); is the receiver running?`,
      needsOperator: false,
    };
  if (code === 'AEGIS_ERR_RELP_PROTOCOL') return { reason: `relp: ${text}`, needsOperator: true };
  if (code === 'ENOTFOUND')
    return {
      reason: `${context.transport}: the host name in ${context.where} does not resolve (ENOTFOUND).`,
      needsOperator: true,
    };
  if (typeof code === 'string' && NEEDS_OPERATOR.has(code))
    return { reason: `${context.transport} to ${context.where} failed: ${text}`, needsOperator: true };
  if (typeof code === 'string' && TRANSIENT.has(code))
    return { reason: `${context.transport} to ${context.where} failed: ${text}`, needsOperator: false };
  return { reason: `${context.transport} to ${context.where} failed: ${text}`, needsOperator: false };
}

/** A failure before anything was acknowledged: retry the whole batch. */
export function classifySyslogError(err: unknown, context: FailureContext): SendResult {
  const { reason, needsOperator } = describeSyslogFailure(err, context);
  return { kind: 'retryable', reason, unhealthy: needsOperator };
}

/**
 * The syslog transports' RetryLogic for one receiver. Failures only: a RELP `rsp` is per message (isRelpSuccess),
 * and plain TCP/TLS/UDP have no answer beyond write completion.
 */
export function syslogRetryLogic(context: FailureContext): RetryLogic {
  return { classifyFailure: (err) => classifySyslogError(err, context) };
}

/** RELP: whether an `rsp` status acknowledges the message. */
export function isRelpSuccess(status: number): boolean {
  return status === 200;
}
