/**
 * An in-process transport whose responses are scripted, for the sink-core contract suite. It records every batch
 * it was asked to send (event order, attempts) and answers from a script, falling back to `delivered`.
 */
import type { AegisEvent } from '../../src/event/types';
import type { Batch, HealthResult, SendResult, Transport } from '../../src/sinks/core/types';

export type Step = SendResult | ((batch: Batch<string>) => SendResult | Promise<SendResult>) | { readonly hang: true };

export interface ScriptedTransport extends Transport<string> {
  readonly calls: { readonly ids: string[]; readonly attempt: number; readonly at: number }[];
  /** Every event of every `delivered` call (and the delivered part of partials), in order. */
  readonly delivered: AegisEvent[];
  script: Step[];
  health: HealthResult;
  closed: boolean;
  /** abandon() was called. */
  abandoned: boolean;
  /** Block sends until release() (to hold the sink and fill its buffer). */
  hold(): void;
  release(): void;
}

export function createScriptedTransport(script: Step[] = []): ScriptedTransport {
  let gate: Promise<void> | undefined;
  let open: (() => void) | undefined;
  const t: ScriptedTransport = {
    calls: [],
    delivered: [],
    script,
    health: { healthy: true },
    closed: false,
    abandoned: false,
    hold() {
      gate = new Promise((resolve) => (open = resolve));
    },
    release() {
      open?.();
      gate = undefined;
    },
    async send(batch, signal) {
      t.calls.push({
        ids: batch.records.map((r) => r.event.exec_id + '#' + r.event.ts),
        attempt: batch.attempt,
        at: Date.now(),
      });
      if (gate !== undefined) await gate;
      const step = t.script.shift();
      let result: SendResult;
      if (step === undefined) result = { kind: 'delivered' };
      else if ('hang' in step) {
        result = await new Promise<SendResult>((resolve) =>
          signal.addEventListener('abort', () => resolve({ kind: 'retryable', reason: 'aborted' }), { once: true }),
        );
      } else if (typeof step === 'function') result = await step(batch);
      else result = step;
      if (result.kind === 'delivered') t.delivered.push(...batch.records.map((r) => r.event));
      if (result.kind === 'partial') {
        const skip = new Set([...result.retry, ...result.rejected.map((r) => r.index)]);
        batch.records.forEach((r, i) => {
          if (!skip.has(i)) t.delivered.push(r.event);
        });
      }
      return result;
    },
    healthcheck: () => Promise.resolve(t.health),
    close() {
      t.closed = true;
      return Promise.resolve();
    },
    abandon() {
      t.abandoned = true;
    },
  };
  return t;
}
