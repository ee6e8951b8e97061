/**
 * Sends batches to Elasticsearch with `_bulk`: one `create` action per event, with a deterministic `_id` and the
 * index named after the event's own date (or the data stream), the document being the formatter's output as is.
 *
 * Delivered means Elasticsearch acknowledged each item: 201, or 409 for an `_id` it already has (a resend, counted
 * as a duplicate). The response is filtered (`filter_path`) to statuses and errors, so its size does not grow with
 * the documents. Bodies are gzipped here (level 1 by default) in libuv's thread pool, off the event loop.
 */
import zlib from 'node:zlib';
import { promisify } from 'node:util';
import type { Logger } from '../../util/logger';
import { concatRecords } from '../core/concat';
import type { Batch, EncodedRecord, HealthResult, SendResult, Transport } from '../core/types';
import type { Client } from './client';
import { createEsClient, header, rawRequest } from './client';
import type { ElasticsearchSinkConfig } from './config';
import { checkElasticsearchHealth, fetchVersion } from './healthcheck';
import type { ServerVersion } from './healthcheck';
import type { InstallReport } from './install';
import { installElasticContent } from './install';
import { elasticsearchRetryLogic } from './retry-policy';
import { documentId, indexName } from './target';

const gzip = promisify(zlib.gzip);

/** `_bulk` answers filtered to what the retry policy reads. */
const FILTER_PATH = 'errors,items.*.status,items.*.error';

/** require_data_stream exists from Elasticsearch 8.13 (older versions reject unknown parameters). */
const REQUIRE_DATA_STREAM_SINCE: ServerVersion = { major: 8, minor: 13 };

export interface ElasticsearchTransportOptions {
  readonly logger: Logger;
  /** Injected for tests; defaults to a client built from the config. */
  readonly client?: Client;
  readonly version: string;
}

export interface ElasticsearchTransport extends Transport<string> {
  /** The NDJSON body of a batch, before compression. */
  bulkBody(records: readonly EncodedRecord<string>[]): Buffer;
}

export function createElasticsearchTransport(
  config: ElasticsearchSinkConfig,
  options: ElasticsearchTransportOptions,
): ElasticsearchTransport {
  const client = options.client ?? createEsClient(config);
  const log = options.logger;
  // Action lines (without their LF, with their UTF-8 size) are computed once per record and kept while the record
  // is alive (retries reuse them).
  const actions = new WeakMap<EncodedRecord<string>, EncodedRecord<string>>();
  let serverVersion: ServerVersion | undefined;
  let versionProbed = false;
  let installed: Promise<InstallReport> | undefined;

  const actionLine = (record: EncodedRecord<string>): EncodedRecord<string> => {
    let line = actions.get(record);
    if (line === undefined) {
      const index =
        config.target.kind === 'data_stream' ? config.target.name : indexName(config.target.pattern, record.event.ts);
      const data = `{"create":{"_index":${JSON.stringify(index)},"_id":"${documentId(record.event)}"}}`;
      line = { event: record.event, data, bytes: Buffer.byteLength(data) };
      actions.set(record, line);
    }
    return line;
  };

  // Action line and document, each followed by LF, written straight into one Buffer (src/sinks/core/concat.ts).
  const bulkBody = (records: readonly EncodedRecord<string>[]): Buffer => {
    const lines: EncodedRecord<string>[] = [];
    for (const r of records) lines.push(actionLine(r), r);
    return concatRecords(lines, true);
  };

  /** Install the content once (when configured); a failed install is retried with the next batch. */
  const ensureInstalled = (signal: AbortSignal): Promise<InstallReport> => {
    if (installed === undefined) {
      const attempt = installElasticContent(client, { logger: log, version: options.version, signal });
      installed = attempt;
      void attempt.catch(() => {
        if (installed === attempt) installed = undefined;
      });
    }
    return installed;
  };

  const queryFor = async (signal: AbortSignal): Promise<Record<string, string>> => {
    const qs: Record<string, string> = { filter_path: FILTER_PATH };
    if (config.pipeline !== undefined) qs.pipeline = config.pipeline;
    if (config.target.kind === 'data_stream') {
      if (!versionProbed) {
        versionProbed = true;
        serverVersion = await fetchVersion(client, signal).catch(() => undefined);
      }
      // Without it, a missing data stream template would let the first write create a plain index under the
      // stream's name, which then blocks the stream for good.
      if (serverVersion !== undefined && atLeast(serverVersion, REQUIRE_DATA_STREAM_SINCE))
        qs.require_data_stream = 'true';
    }
    return qs;
  };

  const send = async (batch: Batch<string>, signal: AbortSignal): Promise<SendResult> => {
    if (batch.records.length === 0) return { kind: 'delivered' };
    if (config.installContent) {
      try {
        await ensureInstalled(signal);
      } catch (err) {
        return {
          kind: 'retryable',
          reason: `installing the Elasticsearch content failed (AEGIS_ERR_SIEM_CONTENT): ${err instanceof Error ? err.message : String(err)}`,
          unhealthy: true,
        };
      }
    }
    const text = bulkBody(batch.records);
    let payload: Buffer = text;
    const headers: Record<string, string> = {};
    if (config.compressionLevel > 0) {
      payload = await gzip(text, { level: config.compressionLevel });
      headers['content-encoding'] = 'gzip';
    }
    if (signal.aborted) return { kind: 'retryable', reason: 'aborted before sending' };
    const res = await rawRequest(client, {
      method: 'POST',
      path: '/_bulk',
      querystring: await queryFor(signal),
      bulkBody: payload,
      headers,
      signal,
    });
    if (!res.ok) return elasticsearchRetryLogic.classifyFailure(res.error);
    return elasticsearchRetryLogic.classifyAnswer({
      status: res.status,
      body: res.body,
      retryAfterHeader: header(res.headers, 'retry-after'),
      count: batch.records.length,
    });
  };

  return {
    send,
    async healthcheck(signal): Promise<HealthResult> {
      if (config.installContent) {
        try {
          await ensureInstalled(signal);
        } catch (err) {
          return {
            healthy: false,
            reason: `installing the Elasticsearch content failed (AEGIS_ERR_SIEM_CONTENT): ${err instanceof Error ? err.message : String(err)}`,
          };
        }
      }
      const result = await checkElasticsearchHealth(client, config, signal, log);
      if (result.version !== undefined) {
        serverVersion = result.version;
        versionProbed = true;
      }
      return result.health;
    },
    async close() {
      await client.close();
    },
    // Requests in flight are already aborted through their signals at the shutdown deadline; closing the client's
    // pools now ends the keep-alive sockets without waiting for anything.
    abandon() {
      client.close().catch(() => undefined);
    },
    bulkBody,
  };
}

export function atLeast(v: ServerVersion, min: ServerVersion): boolean {
  return v.major > min.major || (v.major === min.major && v.minor >= min.minor);
}
