/**
 * Whether a failed NATS publish is worth retrying: a small pure function of the client's error (by class name and
 * message: the client's error classes are not part of what this file imports, so that it stays pure and testable).
 *
 * | failure                                                    | outcome                                          |
 * |------------------------------------------------------------|--------------------------------------------------|
 * | no responders (`JetStreamNotEnabled`): no stream captures the subject, or JetStream is off | retryable + unhealthy: events wait |
 * | authorization / permission violation                       | retryable + unhealthy: events wait               |
 * | payload larger than the server's max_payload               | too_large (one event: dead-letter)               |
 * | ack timeout, connection closed or lost, any other error     | retryable (the resend carries the same Nats-Msg-Id: JetStream drops it as a duplicate if the first one was stored) |
 */
import type { RetryLogic, SendResult } from '../core/types';

export interface NatsFailure {
  readonly name: string;
  readonly message: string;
  readonly subject: string;
}

export function describeNatsError(err: unknown): NatsFailure['message'] {
  if (err instanceof Error) return err.cause instanceof Error ? `${err.message} (${err.cause.message})` : err.message;
  return String(err);
}

export function classifyNatsFailure(f: NatsFailure): SendResult {
  const text = `${f.name}: ${f.message}`;
  if (f.name === 'JetStreamNotEnabled' || /no responders/i.test(f.message))
    return {
      kind: 'retryable',
      reason: `no JetStream stream captures subject ${f.subject} (or JetStream is not enabled): create a stream for it; events wait (${text})`,
      unhealthy: true,
    };
  if (/AuthorizationError|PermissionViolation/i.test(f.name) || /permissions? violation|authorization/i.test(f.message))
    return { kind: 'retryable', reason: `NATS refused the publish to ${f.subject}: ${text}`, unhealthy: true };
  if (/max_payload/i.test(f.message)) return { kind: 'too_large', reason: `${text} (server max_payload)` };
  return { kind: 'retryable', reason: `NATS publish to ${f.subject} failed: ${text}` };
}

export const natsRetryLogic = { classifyFailure: classifyNatsFailure } satisfies RetryLogic<NatsFailure>;
