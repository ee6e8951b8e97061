/**
 * Messages between the engine and its worker threads (pipeline.workers). Bytes and strings cross the thread
 * boundary, never event objects: a structured clone of a chunk of events costs about as much as parsing it again
 * (2.1 µs per event measured here), a string or a typed array is one copy.
 */
import type { FormatSpec } from '../../formatters/types';
import type { RouteSpec } from '../router';
import type { SegmentedText } from './text-segments';

/** Sent once when a worker starts: what it needs to build the same processors, router and formatters as the engine. */
export interface WorkerInit {
  readonly hostname: string;
  readonly version: string;
  readonly bootWallNanos: string;
  /** Processors that keep no state across events (PURE_PROCESSOR_TYPES), with their validated, resolved options. */
  readonly processors: readonly {
    readonly name: string;
    readonly type: string;
    readonly raw: Readonly<Record<string, unknown>>;
  }[];
  readonly routes: readonly RouteSpec[];
  /** Every sink, in the engine's order; `format` undefined: the engine formats that sink's records itself. */
  readonly sinks: readonly { readonly name: string; readonly format: FormatSpec | undefined }[];
}

/** One chunk of complete NDJSON lines of one source. */
export interface WorkerJob {
  readonly id: number;
  readonly source: string;
  readonly maxLineBytes: number;
  /** The lines, LF-terminated; transferred (its buffer moves to the worker). */
  readonly bytes: Uint8Array;
}

/** A line that was not a valid event; `line` counts from 1 within the job (the engine knows the job's first line). */
export interface WorkerInvalidLine {
  readonly line: number;
  /** The reason without its `line N: ` prefix. */
  readonly reason: string;
  readonly raw: string;
}

export interface WorkerSinkOutput {
  /** Indices into the job's routed events of the events routed to this sink, in order. */
  readonly indices: Uint32Array;
  /** With a worker-side format: the records' text. */
  readonly text?: SegmentedText;
  /** The records are the events' canonical text (the plain json format): WorkerResult.events, sliced. */
  readonly canonical?: boolean;
  /** UTF-8 bytes of each record. */
  readonly sizes?: Uint32Array;
  /** Events this sink's formatter refused: index into the routed events and the reason. */
  readonly failed?: readonly { readonly index: number; readonly reason: string }[];
}

export interface WorkerResult {
  readonly id: number;
  /** Lines in the job (valid, invalid and blank). */
  readonly lines: number;
  /** Valid events decoded (before the processors). */
  readonly decoded: number;
  readonly invalid: readonly WorkerInvalidLine[];
  /** Events each processor removed, by processor name. */
  readonly removed: readonly (readonly [string, number])[];
  readonly unrouted: number;
  /**
   * JSON of each event that left the processors. Canonical (the json format) when a sink uses that format or a
   * processor other than filter ran; otherwise each event's input line.
   */
  readonly events: SegmentedText;
  /** Parallel to WorkerInit.sinks. */
  readonly sinks: readonly WorkerSinkOutput[];
}

export type WorkerReply =
  | { readonly kind: 'result'; readonly result: WorkerResult }
  | { readonly kind: 'error'; readonly id: number; readonly message: string };

/**
 * Processors a worker may run: they decide from the event alone, with no state across events, so that running them
 * on several threads in any order gives the same output. The others (dedupe, throttle, sample, anomaly, enrich)
 * stay on one thread: with one of them configured, pipeline.workers must be 0.
 */
export const PURE_PROCESSOR_TYPES: ReadonlySet<string> = new Set(['filter', 'redact']);
