/**
 * Kafka send failures as values. The client already retried transient failures itself (same producer id and
 * sequence numbers, so the broker discards a duplicate of a write whose acknowledgement was lost); what reaches here
 * is what those retries did not fix:
 * - MESSAGE_TOO_LARGE / RECORD_LIST_TOO_LARGE: `too_large`, so the core splits the batch and dead-letters the single
 *   record the broker still refuses, with the broker's reason.
 * - unknown topic, topic or cluster authorization failure, SASL failure: retryable and unhealthy, naming the topic;
 *   the events stay buffered until an operator creates the topic or grants access.
 * - a record the broker calls invalid (INVALID_RECORD, CORRUPT_MESSAGE): rejected (dead-lettered).
 * - everything else (connection refused, timeouts, leader elections, not enough replicas): retryable.
 */
import type { RetryLogic, SendResult } from '../core/types';
import { describeError } from '../../util/errors';

const TOO_LARGE = new Set(['MESSAGE_TOO_LARGE', 'RECORD_LIST_TOO_LARGE']);
const INVALID = new Set(['INVALID_RECORD', 'CORRUPT_MESSAGE', 'INVALID_TIMESTAMP']);
const AUTHZ = new Set([
  'TOPIC_AUTHORIZATION_FAILED',
  'CLUSTER_AUTHORIZATION_FAILED',
  'TRANSACTIONAL_ID_AUTHORIZATION_FAILED',
]);

interface ErrorLike {
  readonly message?: unknown;
  readonly code?: unknown;
  readonly apiId?: unknown;
  readonly serverErrorMessage?: unknown;
  readonly errors?: unknown;
  readonly cause?: unknown;
}

/** Every Kafka protocol error id (e.g. MESSAGE_TOO_LARGE) found in an error and its nested errors and causes. */
export function protocolErrorIds(err: unknown, depth = 0): string[] {
  if (err === null || typeof err !== 'object' || depth > 6) return [];
  const e = err as ErrorLike;
  const out: string[] = [];
  if (typeof e.apiId === 'string') out.push(e.apiId);
  if (Array.isArray(e.errors)) for (const inner of e.errors) out.push(...protocolErrorIds(inner, depth + 1));
  if (e.cause !== undefined) out.push(...protocolErrorIds(e.cause, depth + 1));
  return out;
}

/** A one-line description: the client's message plus the distinct protocol error ids and broker messages. */
export function describeKafkaError(err: unknown): string {
  const ids = [...new Set(protocolErrorIds(err))];
  const base = describeError(err);
  return ids.length === 0 ? base : `${base} (${ids.join(', ')})`;
}

function isAuthentication(err: unknown, depth = 0): boolean {
  if (err === null || typeof err !== 'object' || depth > 6) return false;
  const e = err as ErrorLike;
  if (e.code === 'PLT_KFK_AUTHENTICATION' || e.apiId === 'SASL_AUTHENTICATION_FAILED') return true;
  if (Array.isArray(e.errors) && e.errors.some((x) => isAuthentication(x, depth + 1))) return true;
  return e.cause !== undefined && isAuthentication(e.cause, depth + 1);
}

export function classifyKafkaError(err: unknown, topics: readonly string[]): SendResult {
  const ids = new Set(protocolErrorIds(err));
  const what = describeKafkaError(err);
  const named = topics.length === 1 ? `topic '${topics[0]}'` : `topics ${topics.map((t) => `'${t}'`).join(', ')}`;
  if ([...ids].some((id) => TOO_LARGE.has(id)))
    return { kind: 'too_large', reason: `the broker refused the record as too large (MESSAGE_TOO_LARGE): ${what}` };
  // The client reports a topic missing from the metadata as a UserError "Unknown topic …" before any produce.
  if (ids.has('UNKNOWN_TOPIC_OR_PARTITION') || ids.has('UNKNOWN_TOPIC_ID') || /Unknown topic/.test(what))
    return {
      kind: 'retryable',
      unhealthy: true,
      reason: `${named} does not exist on the brokers (create it, or enable auto.create.topics.enable); events are kept: ${what}`,
    };
  if ([...ids].some((id) => AUTHZ.has(id)))
    return {
      kind: 'retryable',
      unhealthy: true,
      reason: `not authorized to write to ${named} (grant WRITE on the topic and IDEMPOTENT_WRITE on the cluster); events are kept: ${what}`,
    };
  if (isAuthentication(err))
    return { kind: 'retryable', unhealthy: true, reason: `the brokers refused the SASL credentials: ${what}` };
  if ([...ids].some((id) => INVALID.has(id)))
    return { kind: 'rejected', reason: `the broker refused the records as invalid: ${what}` };
  return { kind: 'retryable', reason: `Kafka produce to ${named} failed: ${what}` };
}

export function kafkaRetryLogic(topics: () => readonly string[]): RetryLogic {
  return { classifyFailure: (err) => classifyKafkaError(err, topics()) };
}
