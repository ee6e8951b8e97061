/**
 * The code a pipeline worker thread runs (pool.ts starts it): for each job, the per-event work that needs no state
 * shared across the stream: split the NDJSON lines, JSON.parse, validate against the event schema, run the pure
 * processors, route, and format for every sink whose format is carried as text. It answers with strings and typed
 * arrays only (protocol.ts); the engine keeps everything with shared state (sources, buffers, batching, delivery,
 * acknowledgements, the dead-letter file).
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { AegisEvent } from '../../event/types';
import { formatJson } from '../../formatters/json';
import { createFormatter } from '../../formatters/registry';
import type { Formatter } from '../../formatters/types';
import { createDeadLetterQueue } from '../../sinks/core/dead-letter';
import { createSourceStats, createStatsRegistry } from '../../telemetry/stats';
import { describeError } from '../../util/errors';
import { silentLogger } from '../../util/logger';
import { getProcessorDefinition } from '../processors/registry';
import type { Processor } from '../processors/types';
import { createRouter } from '../router';
import { NdjsonDecoder } from '../sources/ndjson';
import type { SourceContext } from '../sources/types';
import type { SegmentedText } from './text-segments';
import { SegmentedTextBuilder } from './text-segments';
import type { WorkerInit, WorkerJob, WorkerReply, WorkerResult, WorkerSinkOutput } from './protocol';

/** Builds the job handler from the init message; exported for the tests, which run it without a thread. */
export function createJobHandler(init: WorkerInit): (job: WorkerJob) => WorkerResult {
  const stats = createStatsRegistry();
  const processors: Processor[] = init.processors.map((entry) => {
    const def = getProcessorDefinition(entry.type);
    if (def === undefined) throw new Error(`unknown processor type '${entry.type}'`);
    return def.create(entry.raw, {
      name: entry.name,
      stats: stats.pipeline,
      logger: silentLogger,
      hostname: init.hostname,
      now: Date.now,
      bootWallNanos: BigInt(init.bootWallNanos),
    });
  });
  const sinkNames = init.sinks.map((s) => s.name);
  const router = createRouter(init.routes, sinkNames);
  const formatters: (Formatter | undefined)[] = init.sinks.map((s) =>
    s.format === undefined
      ? undefined
      : createFormatter<string>(s.format, { hostname: init.hostname, version: init.version }),
  );
  // The plain json format is the canonical text the job returns anyway: reuse it rather than format twice.
  const isPlainJson = init.sinks.map((s) => s.format === 'json');
  // The events' text for the engine: their canonical JSON when a sink needs it anyway or a processor may change
  // events; otherwise the input line itself (it parses to the same event), which saves formatting every event twice.
  const canonicalText = isPlainJson.includes(true) || init.processors.some((p) => p.type !== 'filter');
  const deadLetter = createDeadLetterQueue({
    path: undefined,
    maxBytes: 0,
    logger: silentLogger,
    stats: { written: 0, bytes: 0, failed: 0 },
  });

  return (job) => {
    const ctx: SourceContext = {
      name: job.source,
      logger: silentLogger,
      stats: createSourceStats(job.source, 'worker'),
      deadLetter,
      hostname: init.hostname,
    };
    const decoder = new NdjsonDecoder(ctx, {
      chunkEvents: Number.MAX_SAFE_INTEGER,
      maxLineBytes: job.maxLineBytes,
      keepText: !canonicalText,
    });
    const bytes = Buffer.from(job.bytes.buffer, job.bytes.byteOffset, job.bytes.byteLength);
    const first = decoder.push(bytes);
    const last = decoder.end();
    const decoded = first.events.length + last.events.length;
    const decodedEvents = last.events.length === 0 ? first.events : first.events.concat(last.events);
    let events: readonly AegisEvent[] = decodedEvents;
    const invalid = [...first.invalid, ...last.invalid].map((entry) => {
      const line = entry.line ?? 0;
      const prefix = `line ${line}: `;
      return {
        line,
        reason: entry.reason.startsWith(prefix) ? entry.reason.slice(prefix.length) : entry.reason,
        raw: entry.raw ?? '',
      };
    });
    for (const p of processors) {
      if (events.length === 0) break;
      events = p.process(events);
    }
    const removedBy = stats.pipeline.removed;
    const removed = Object.entries(removedBy).map(([k, n]) => [k, n] as const);
    for (const k of Object.keys(removedBy)) delete removedBy[k];

    // The JSON of every event left (see WorkerResult.events).
    const canon: string[] = new Array<string>(events.length);
    let canonSizes: Uint32Array | undefined;
    let lineOf: Map<AegisEvent, string> | undefined;
    if (!canonicalText) {
      const texts = last.events.length === 0 ? first.texts! : first.texts!.concat(last.texts!);
      lineOf = new Map();
      for (let i = 0; i < decodedEvents.length; i++) lineOf.set(decodedEvents[i] as AegisEvent, texts[i] as string);
    }
    const eventText = new SegmentedTextBuilder();
    for (let i = 0; i < events.length; i++) {
      const e = events[i] as AegisEvent;
      const text = lineOf === undefined ? formatJson(e) : (lineOf.get(e) as string);
      canon[i] = text;
      eventText.add(text);
    }
    const { bySink, unrouted } = router.route(events);
    let index: Map<AegisEvent, number> | undefined;
    const indexOf = (e: AegisEvent): number => {
      if (index === undefined) {
        index = new Map();
        for (let i = 0; i < events.length; i++) index.set(events[i] as AegisEvent, i);
      }
      return index.get(e) as number;
    };
    const sinks: WorkerSinkOutput[] = init.sinks.map((s, k) => {
      const list = bySink.get(s.name);
      if (list === undefined) return { indices: new Uint32Array(0) };
      const indices = new Uint32Array(list.length);
      // The router hands every sink the chunk itself when no route condition applies: indices are then 0..n-1.
      if (list === events) for (let i = 0; i < list.length; i++) indices[i] = i;
      else for (let i = 0; i < list.length; i++) indices[i] = indexOf(list[i] as AegisEvent);
      const formatter = formatters[k];
      if (formatter === undefined) return { indices };
      if (isPlainJson[k] === true) {
        // The records are the canonical text the result carries anyway: send their sizes, not the text again.
        if (canonSizes === undefined) {
          canonSizes = new Uint32Array(canon.length);
          for (let i = 0; i < canon.length; i++) canonSizes[i] = Buffer.byteLength(canon[i] as string);
        }
        const sizes = new Uint32Array(indices.length);
        for (let i = 0; i < indices.length; i++) sizes[i] = canonSizes[indices[i] as number] as number;
        return { indices, sizes, canonical: true };
      }
      const text = new SegmentedTextBuilder();
      const kept: number[] = [];
      const sizes: number[] = [];
      let failed: { index: number; reason: string }[] | undefined;
      for (let i = 0; i < list.length; i++) {
        const n = indices[i] as number;
        let data: string;
        try {
          data = formatter.format(list[i] as AegisEvent);
        } catch (err) {
          (failed ??= []).push({ index: n, reason: `format '${formatter.name}' failed: ${describeError(err)}` });
          continue;
        }
        text.add(data);
        kept.push(n);
        sizes.push(Buffer.byteLength(data));
      }
      return {
        indices: failed === undefined ? indices : Uint32Array.from(kept),
        text: text.build(),
        sizes: Uint32Array.from(sizes),
        ...(failed === undefined ? {} : { failed }),
      };
    });
    return {
      id: job.id,
      lines: decoder.linesRead,
      decoded,
      invalid,
      removed,
      unrouted,
      events: eventText.build(),
      sinks,
    };
  };
}

if (
  parentPort !== null &&
  (workerData as { aegisPipelineWorker?: boolean } | undefined)?.aegisPipelineWorker === true
) {
  const port = parentPort;
  const handle = createJobHandler((workerData as { init: WorkerInit }).init);
  port.on('message', (job: WorkerJob) => {
    let reply: WorkerReply;
    try {
      reply = { kind: 'result', result: handle(job) };
    } catch (err) {
      reply = { kind: 'error', id: job.id, message: describeError(err) };
    }
    const transfer: ArrayBuffer[] = [];
    if (reply.kind === 'result') {
      const segments = (t: SegmentedText): void => {
        transfer.push(t.counts.buffer as ArrayBuffer, t.ends.buffer as ArrayBuffer);
      };
      segments(reply.result.events);
      for (const s of reply.result.sinks) {
        transfer.push(s.indices.buffer as ArrayBuffer);
        if (s.text !== undefined) segments(s.text);
        if (s.sizes !== undefined) transfer.push(s.sizes.buffer as ArrayBuffer);
      }
    }
    port.postMessage(reply, transfer);
  });
}
