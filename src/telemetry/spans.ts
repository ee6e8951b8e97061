/**
 * OTel-style span logs, as the AegisBPF SIEM integration guide describes them: with `AEGIS_OTEL_SPANS=1` (or
 * true/yes/on), every span writes an `otel_span_start` and an `otel_span_end` line through the project's logger
 * (JSON on stderr) with `trace_id`, `span_id`, `parent_span_id` (child spans), `span_name`, and on the end line
 * `duration_ms` and `status` (`ok` | `error`, plus `error` with the message).
 *
 * IDs follow W3C Trace Context: 32 hex digits for a trace, 16 for a span, so the lines can be turned into real
 * OpenTelemetry spans. The message is in `msg` like every log line of aegisbpf, and repeated in `message`, the field
 * the guide names, so queries written against the guide match.
 *
 * Nesting: `withSpan` makes its span the current one for everything called inside it, synchronously or
 * asynchronously (AsyncLocalStorage), so `withChildSpan('daemon.load_bpf', …)` deep inside the pipeline's
 * construction becomes a child of `daemon.build_pipeline` without passing anything down. Outside any span, and when
 * spans are disabled, `withChildSpan` just calls the function.
 *
 * Span names in use: GUIDE_SPAN_NAMES (the SIEM guide's eleven) and `daemon.build_pipeline`,
 * `daemon.healthcheck_sinks`, `daemon.start_endpoints`, `daemon.shutdown` (docs/metrics.md#span-logs).
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import crypto from 'node:crypto';
import type { Logger } from '../util/logger';

export interface Span {
  readonly name: string;
  readonly traceId: string;
  readonly spanId: string;
  readonly parentSpanId: string | undefined;
  /** Mark the span failed; `end()` then reports status `error` with this message. */
  fail(error: unknown): void;
  /** Idempotent. */
  end(): void;
}

export interface SpanTracer {
  readonly enabled: boolean;
  /** A span that is not current for anything (end it yourself). Parent: `parent`, else the current span. */
  startSpan(name: string, parent?: Span): Span;
  /**
   * Run `fn` inside a new span (a child of the current one), ending it when `fn` returns or, for a promise, settles;
   * a throw or rejection marks it `error` and is re-thrown.
   */
  withSpan<T>(name: string, fn: (span: Span) => T): T;
}

/**
 * The span names the SIEM integration guide lists, and where they come from: `aegisbpf run` (daemon.*; the sensor's
 * load and attach; policy.apply_internal when the stored policy is restored), `aegisbpf policy apply|rollback`
 * (cli.policy_apply → policy.apply | policy.rollback_last_applied → policy.apply_internal), `aegisbpf health`
 * (cli.health → health.detect_kernel_features → health.load_bpf per probe program). A test checks all of them.
 */
export const GUIDE_SPAN_NAMES = [
  'cli.policy_apply',
  'policy.apply',
  'policy.apply_internal',
  'policy.rollback_last_applied',
  'daemon.run',
  'daemon.load_bpf',
  'daemon.attach_programs',
  'daemon.event_loop',
  'cli.health',
  'health.detect_kernel_features',
  'health.load_bpf',
] as const;

export function spansEnabled(env: NodeJS.ProcessEnv): boolean {
  const v = (env.AEGIS_OTEL_SPANS ?? '').trim().toLowerCase();
  return v === '1' || v === 'true' || v === 'yes' || v === 'on';
}

interface Current {
  readonly tracer: SpanTracer;
  readonly span: Span;
}

const current = new AsyncLocalStorage<Current>();

const NOOP_SPAN: Span = Object.freeze({
  name: '',
  traceId: '00000000000000000000000000000000',
  spanId: '0000000000000000',
  parentSpanId: undefined,
  fail: () => undefined,
  end: () => undefined,
});

function runInSpan<T>(tracer: SpanTracer, span: Span, fn: (span: Span) => T): T {
  let result: T;
  try {
    result = current.run({ tracer, span }, fn, span);
  } catch (err) {
    span.fail(err);
    span.end();
    throw err;
  }
  if (result instanceof Promise) {
    return result.then(
      (value: unknown) => {
        span.end();
        return value;
      },
      (err: unknown) => {
        span.fail(err);
        span.end();
        throw err;
      },
    ) as T;
  }
  span.end();
  return result;
}

export interface SpanTracerOptions {
  readonly logger: Logger;
  /** Default: from `AEGIS_OTEL_SPANS` in `env`. */
  readonly enabled?: boolean;
  readonly env?: NodeJS.ProcessEnv;
}

export function createSpanTracer(options: SpanTracerOptions): SpanTracer {
  const enabled = options.enabled ?? spansEnabled(options.env ?? process.env);
  const logger = options.logger;

  const tracer: SpanTracer = {
    enabled,
    startSpan(name, parent) {
      if (!enabled) return NOOP_SPAN;
      const p = parent ?? current.getStore()?.span;
      const traceId = p !== undefined && p !== NOOP_SPAN ? p.traceId : crypto.randomBytes(16).toString('hex');
      const spanId = crypto.randomBytes(8).toString('hex');
      const parentSpanId = p !== undefined && p !== NOOP_SPAN ? p.spanId : undefined;
      const started = performance.now();
      let error: string | undefined;
      let ended = false;
      const ids = {
        span_name: name,
        trace_id: traceId,
        span_id: spanId,
        ...(parentSpanId !== undefined ? { parent_span_id: parentSpanId } : {}),
      };
      logger.info('otel_span_start', { message: 'otel_span_start', ...ids });
      return {
        name,
        traceId,
        spanId,
        parentSpanId,
        fail(err) {
          error = err instanceof Error ? err.message : String(err);
        },
        end() {
          if (ended) return;
          ended = true;
          const durationMs = Math.round((performance.now() - started) * 1000) / 1000;
          logger.info('otel_span_end', {
            message: 'otel_span_end',
            ...ids,
            duration_ms: durationMs,
            status: error === undefined ? 'ok' : 'error',
            ...(error !== undefined ? { error } : {}),
          });
        },
      };
    },
    withSpan(name, fn) {
      if (!enabled) return fn(NOOP_SPAN);
      return runInSpan(tracer, tracer.startSpan(name), fn);
    },
  };
  return tracer;
}

/** A child of the current span with the current span's tracer; without one (or spans off), just `fn()`. */
export function withChildSpan<T>(name: string, fn: (span: Span) => T): T {
  const c = current.getStore();
  if (c === undefined) return fn(NOOP_SPAN);
  return c.tracer.withSpan(name, fn);
}
