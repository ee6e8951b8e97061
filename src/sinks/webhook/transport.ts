/**
 * Sends batches to an HTTP(S) webhook. Delivered means the receiver answered 2xx (a webhook has no stronger
 * acknowledgement). The body is the batch as a JSON array (`body: array`) or one event per request
 * (`body: single`, sent in order; the first failure stops the batch so that order is kept on retry). A preset or a
 * body template shapes each event; otherwise the formatter's output is the event (JSON formats go into the array as
 * objects, text formats as JSON strings).
 */
import fs from 'node:fs';
import type { AegisEvent } from '../../event/types';
import { AegisError, describeError } from '../../util/errors';
import type { Batch, EncodedRecord, HealthResult, SendResult, Transport } from '../core/types';
import type { WebhookSinkConfig } from './config';
import { checkWebhookHealth } from './healthcheck';
import type { HttpClient } from '../core/http';
import { createHttpClient } from '../core/http';
import { presetBody } from './presets';
import { webhookRetryLogic } from './retry-policy';
import { signatureOf } from './signing';

export interface WebhookTransportOptions {
  /** MIME type of one formatted record (the formatter's). */
  readonly contentType: string;
  readonly userAgent: string;
  /** Wall clock in milliseconds, for the signed timestamp; injectable for tests. */
  readonly now?: () => number;
}

export interface WebhookTransport extends Transport<string> {
  /** The request body for these records (one request's worth). */
  bodyOf(records: readonly EncodedRecord<string>[]): Buffer;
}

/** Read the HMAC key: the file's bytes, one trailing newline removed (as every *_file secret). */
export function readHmacKey(file: string): Buffer {
  let text: Buffer;
  try {
    text = fs.readFileSync(file);
  } catch (err) {
    throw new AegisError('AEGIS_ERR_CONFIG_READ', `hmac.secret_file: cannot read ${file}: ${describeError(err)}`, {
      cause: err,
    });
  }
  let end = text.length;
  if (end > 0 && text[end - 1] === 0x0a) end--;
  if (end > 0 && text[end - 1] === 0x0d) end--;
  if (end === 0) throw new AegisError('AEGIS_ERR_CONFIG_INVALID', `hmac.secret_file: ${file} is empty`);
  return text.subarray(0, end);
}

/** The URL's path and query go into every request; error messages name only scheme, host and port (docs/sinks.md). */
function createWebhookHttpClient(config: WebhookSinkConfig): HttpClient {
  const url = new URL(config.url);
  return createHttpClient({
    url: config.url,
    maxSockets: config.maxSockets,
    tls: config.tls,
    maxAnswerBytes: 4096, // dead-letter reasons quote the start of an answer
    errorPrefix: `${url.protocol}//${url.host}: `,
  });
}

export function createWebhookTransport(
  config: WebhookSinkConfig,
  options: WebhookTransportOptions,
  client: HttpClient = createWebhookHttpClient(config),
): WebhookTransport {
  const now = options.now ?? Date.now;
  const target = new URL(config.url);
  const requestPath = `${target.pathname}${target.search}`;
  const hmacKey = config.hmac === undefined ? undefined : readHmacKey(config.hmac.secretFile);
  const shaped = config.preset !== undefined || config.template !== undefined;
  const jsonRecords = options.contentType.startsWith('application/json');
  const contentType = shaped || config.body === 'array' ? 'application/json' : options.contentType;

  const shape = (event: AegisEvent): unknown =>
    config.preset !== undefined
      ? presetBody(config.preset, event, config.routingKey)
      : (config.template as NonNullable<typeof config.template>).render(event);

  const bodyOf = (records: readonly EncodedRecord<string>[]): Buffer => {
    if (shaped) {
      const values = records.map((r) => shape(r.event));
      return Buffer.from(JSON.stringify(config.body === 'array' ? values : values[0]), 'utf8');
    }
    if (config.body === 'single') return Buffer.from((records[0] as EncodedRecord<string>).data, 'utf8');
    if (jsonRecords) return Buffer.from(`[${records.map((r) => r.data).join(',')}]`, 'utf8');
    return Buffer.from(JSON.stringify(records.map((r) => r.data)), 'utf8');
  };

  const headersFor = (body: Buffer): Record<string, string> => {
    const h: Record<string, string> = {
      'User-Agent': options.userAgent,
      ...config.headers,
      'Content-Type': contentType,
    };
    if (config.authorization !== undefined) h.Authorization = config.authorization;
    if (config.hmac !== undefined && hmacKey !== undefined) {
      const ts = Math.floor(now() / 1000);
      h[config.hmac.timestampHeader] = String(ts);
      h[config.hmac.header] = signatureOf(hmacKey, ts, body);
    }
    return h;
  };

  const post = async (records: readonly EncodedRecord<string>[], signal: AbortSignal): Promise<SendResult> => {
    const body = bodyOf(records);
    const res = await client.request(
      { method: config.method, path: requestPath, headers: headersFor(body), body },
      signal,
    );
    if (!res.ok) return webhookRetryLogic.classifyFailure(res.error);
    const retryAfter: string | undefined = res.headers['retry-after'];
    return webhookRetryLogic.classifyAnswer(
      { status: res.status, body: res.body, retryAfterHeader: retryAfter },
      now(),
    );
  };

  const sendSingles = async (batch: Batch<string>, signal: AbortSignal): Promise<SendResult> => {
    const rejected: { index: number; reason: string }[] = [];
    for (let i = 0; i < batch.records.length; i++) {
      const r = await post([batch.records[i] as EncodedRecord<string>], signal);
      if (r.kind === 'delivered') continue;
      if (r.kind === 'rejected' || r.kind === 'too_large') {
        rejected.push({ index: i, reason: r.reason });
        continue;
      }
      if (r.kind !== 'retryable') continue;
      // Nothing of this batch reached the receiver yet: the whole batch is retried as one (keeps the reason and
      // the unhealthy mark); otherwise the rest is, in order.
      if (i === 0) return r;
      const retry: number[] = [];
      for (let j = i; j < batch.records.length; j++) retry.push(j);
      return {
        kind: 'partial',
        retry,
        rejected,
        ...(r.retryAfterMillis === undefined ? {} : { retryAfterMillis: r.retryAfterMillis }),
      };
    }
    if (rejected.length === 0) return { kind: 'delivered' };
    if (rejected.length === batch.records.length && rejected.length === 1)
      return { kind: 'rejected', reason: (rejected[0] as { reason: string }).reason };
    return { kind: 'partial', retry: [], rejected };
  };

  return {
    bodyOf,
    async send(batch, signal) {
      if (batch.records.length === 0) return { kind: 'delivered' };
      if (signal.aborted) return { kind: 'retryable', reason: 'aborted before sending' };
      if (config.body === 'single') return sendSingles(batch, signal);
      return post(batch.records, signal);
    },
    healthcheck(signal): Promise<HealthResult> {
      return checkWebhookHealth(client, signal);
    },
    close() {
      client.close();
      return Promise.resolve();
    },
    abandon() {
      client.close();
    },
  };
}
