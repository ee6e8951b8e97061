/**
 * Whether an Elasticsearch answer delivered, should be retried, or rejected, per request and per `_bulk` item.
 *
 * A `_bulk` 200 can hide per-item failures, so every item is classified (items come in request order, one per
 * action):
 *
 * | item status | meaning | outcome |
 * |---|---|---|
 * | 200, 201 | indexed | delivered |
 * | 409 `version_conflict_engine_exception` | our `create` met its own deterministic `_id`: already delivered | delivered, counted as a duplicate avoided |
 * | 429, 5xx | back-pressure or a transient shard problem | retried alone, with backoff |
 * | 403, 404, 400 "pipeline … does not exist" | the cluster's setup: privileges, a write block (read-only, flood-stage disk), a missing index/template/data stream or ingest pipeline | retried: an operator fixes it and the events wait (bounded by retry.max_duration_ms when set) |
 * | other 4xx (400 mapping errors, other 409s, 413 for one document) | the document cannot be indexed as it is | dead-letter with Elasticsearch's reason, never retried |
 *
 * Whole-request answers: 413 → too large (the core splits the batch); 429/502/503/504 and other 5xx → retry,
 * honouring `Retry-After`; 401/403 → retry and mark the sink unhealthy (credentials); other 4xx → rejected.
 * Retrying a whole batch is always safe: `create` with deterministic ids turns every already-indexed item into a 409.
 */
import { parseRetryAfter } from '../core/retry';
import type { RetryLogic, SendResult } from '../core/types';

export interface BulkItemError {
  readonly type?: string;
  readonly reason?: string;
  readonly caused_by?: { readonly type?: string; readonly reason?: string };
}

export interface BulkItem {
  readonly status: number;
  readonly error?: BulkItemError;
}

/** The reason written to the dead-letter file for one item: status, error type, reason and its cause. */
export function itemReason(item: BulkItem): string {
  const e = item.error;
  let reason = `elasticsearch ${item.status}`;
  if (e?.type !== undefined) reason += ` ${e.type}`;
  if (e?.reason !== undefined) reason += `: ${e.reason}`;
  if (e?.caused_by?.reason !== undefined)
    reason += ` (caused by ${e.caused_by.type ?? 'error'}: ${e.caused_by.reason})`;
  return reason.length > 2000 ? reason.slice(0, 2000) + '…' : reason;
}

export type ItemOutcome = 'delivered' | 'duplicate' | 'retry' | 'reject';

/** "pipeline with id [x] does not exist": the configured ingest pipeline is missing, a cluster problem. */
const MISSING_PIPELINE = /pipeline with id \[[^\]]*\] does not exist/;

export function classifyItem(item: BulkItem): ItemOutcome {
  const s = item.status;
  if (s >= 200 && s < 300) return 'delivered';
  if (s === 409 && (item.error?.type === undefined || item.error.type === 'version_conflict_engine_exception'))
    return 'duplicate';
  if (s === 429 || s >= 500 || s === 408) return 'retry';
  // The cluster's setup, not the document: missing privileges or a write block (403), a missing index, template
  // or data stream (404), a missing ingest pipeline. An operator fixes it; meanwhile the events wait.
  if (s === 403 || s === 404) return 'retry';
  if (s === 400 && MISSING_PIPELINE.test(item.error?.reason ?? '')) return 'retry';
  return 'reject';
}

/** Pull `{status, error}` out of `items[i]` = `{"create": {...}}`. Undefined when the item is malformed. */
function itemOf(raw: unknown): BulkItem | undefined {
  if (raw === null || typeof raw !== 'object') return undefined;
  const inner = Object.values(raw as Record<string, unknown>)[0];
  if (inner === null || typeof inner !== 'object') return undefined;
  const status = (inner as { status?: unknown }).status;
  if (typeof status !== 'number') return undefined;
  return inner as BulkItem;
}

/**
 * Classify the body of a `_bulk` answer with HTTP status 2xx for a batch of `count` records. A body that does not
 * account for every record (truncated, unparseable) is retried as a whole: safe, because ids are deterministic.
 */
export function classifyBulkResponse(body: unknown, count: number): SendResult {
  if (body === null || typeof body !== 'object')
    return { kind: 'retryable', reason: 'elasticsearch answered the bulk request with an unreadable body' };
  const { errors, items } = body as { errors?: unknown; items?: unknown };
  if (errors === false) return { kind: 'delivered' };
  if (!Array.isArray(items) || items.length !== count) {
    return {
      kind: 'retryable',
      reason: `elasticsearch answered with ${Array.isArray(items) ? items.length : 'no'} items for ${count} documents`,
    };
  }
  const retry: number[] = [];
  const rejected: { index: number; reason: string }[] = [];
  let duplicates = 0;
  let firstRetryReason: string | undefined;
  for (let i = 0; i < items.length; i++) {
    const item = itemOf(items[i]);
    if (item === undefined) {
      retry.push(i);
      continue;
    }
    switch (classifyItem(item)) {
      case 'delivered':
        break;
      case 'duplicate':
        duplicates++;
        break;
      case 'retry':
        retry.push(i);
        firstRetryReason ??= itemReason(item);
        break;
      case 'reject':
        rejected.push({ index: i, reason: itemReason(item) });
        break;
    }
  }
  if (retry.length === 0 && rejected.length === 0) return { kind: 'delivered', duplicates };
  if (retry.length === count)
    return { kind: 'retryable', reason: `every item failed: ${firstRetryReason ?? 'malformed items'}` };
  return { kind: 'partial', retry, rejected, duplicates };
}

/** The `error.type: reason` of a whole-request error body, for logs and dead-letter reasons. */
export function requestErrorReason(status: number, body: unknown): string {
  let detail = '';
  if (body !== null && typeof body === 'object') {
    const err = (body as { error?: unknown }).error;
    if (typeof err === 'string') detail = err;
    else if (err !== null && typeof err === 'object') {
      const e = err as { type?: unknown; reason?: unknown };
      detail = [e.type, e.reason].filter((x) => typeof x === 'string').join(': ');
    }
  } else if (typeof body === 'string') {
    detail = body.slice(0, 300);
  }
  return `elasticsearch answered HTTP ${status}${detail === '' ? '' : `: ${detail}`}`;
}

/** Classify a whole-request failure by HTTP status. */
export function classifyHttpStatus(
  status: number,
  body: unknown,
  retryAfterHeader: string | undefined,
  nowMillis: number = Date.now(),
): SendResult {
  const reason = requestErrorReason(status, body);
  const retryAfterMillis = parseRetryAfter(retryAfterHeader, nowMillis);
  const withRetryAfter = retryAfterMillis === undefined ? {} : { retryAfterMillis };
  if (status === 413) return { kind: 'too_large', reason };
  if (status === 401 || status === 403)
    return {
      kind: 'retryable',
      reason: `${reason} (check the credentials and the role's privileges)`,
      unhealthy: true,
    };
  if (status === 429 || status === 408 || status >= 500) return { kind: 'retryable', reason, ...withRetryAfter };
  if (status === 404)
    return { kind: 'retryable', reason: `${reason} (wrong URL path, or a proxy in between)`, unhealthy: true };
  return { kind: 'rejected', reason };
}

/** Classify an error thrown by the client before any HTTP answer (connection refused, TLS, timeout, abort). */
export function classifyClientError(err: unknown): SendResult {
  const name = err instanceof Error ? err.name : 'Error';
  const message = err instanceof Error ? err.message : String(err);
  const unhealthy =
    name === 'ProductNotSupportedError' || /certificate|self.signed|unable to verify|ERR_TLS|SSL/i.test(message);
  return { kind: 'retryable', reason: `elasticsearch request failed (${name}): ${message}`, unhealthy };
}

/** An answer to one `_bulk` request of `count` documents. */
export interface ElasticsearchAnswer {
  readonly status: number;
  readonly body: unknown;
  readonly retryAfterHeader: string | undefined;
  readonly count: number;
}

/** 2xx: classify per item; anything else: classify the whole request by its status. */
export const elasticsearchRetryLogic = {
  classifyFailure: classifyClientError,
  classifyAnswer: (a: ElasticsearchAnswer): SendResult =>
    a.status >= 200 && a.status < 300
      ? classifyBulkResponse(a.body, a.count)
      : classifyHttpStatus(a.status, a.body, a.retryAfterHeader),
} satisfies RetryLogic<unknown, ElasticsearchAnswer>;
