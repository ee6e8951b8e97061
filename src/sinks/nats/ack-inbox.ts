/**
 * JetStream publish acknowledgements for a whole batch on one inbox subscription (the "async publish" pattern of
 * the Go client): each record is published with `Nats-Msg-Id` and a reply subject `<inbox>.<n>`, the stream's ack
 * (or error, or the server's 503 "no responders" status) arrives on the one wildcard subscription, and one timer
 * per batch bounds the wait. `@nats-io/jetstream`'s `publish()` makes each message a request of its own (reply
 * bookkeeping, a timer and a promise per message), which measured 2.8× the CPU of a core publish
 * (docs/benchmarks.md, notify).
 *
 * Ack bodies: `{"stream":"S","seq":N,"duplicate":true?}` or `{"error":{"code":C,"err_code":E,"description":"…"}}`.
 */
import { createInbox, headers } from '@nats-io/transport-node';
import type { Msg, NatsConnection, Subscription } from '@nats-io/transport-node';

export type AckOutcome =
  | { readonly kind: 'acked'; readonly duplicate: boolean }
  | { readonly kind: 'failed'; readonly name: string; readonly message: string };

export interface AckInbox {
  /**
   * Publish each `[subject, data, msgId]` and resolve with one outcome per record, in order: acked, or failed
   * (no responders, a stream error, no ack within `timeoutMillis`, a publish the client refused, or aborted).
   */
  publishAll(
    records: readonly (readonly [subject: string, data: string, msgId: string])[],
    timeoutMillis: number,
    signal: AbortSignal,
  ): Promise<AckOutcome[]>;
  close(): void;
}

interface Pending {
  readonly outcomes: (AckOutcome | undefined)[];
  readonly index: number;
  readonly batch: { left: number; done: () => void };
}

function outcomeOf(msg: Msg): AckOutcome {
  const h = msg.headers;
  if (h !== undefined && h.hasError) {
    if (h.code === 503) return { kind: 'failed', name: 'JetStreamNotEnabled', message: 'no responders (503)' };
    return { kind: 'failed', name: 'JetStreamStatusError', message: `${h.code} ${h.description}` };
  }
  let body: { stream?: unknown; duplicate?: unknown; error?: { code?: unknown; description?: unknown } };
  try {
    body = msg.json();
  } catch {
    return { kind: 'failed', name: 'JetStreamError', message: 'the ack is not JSON' };
  }
  if (body.error !== undefined) {
    const code = typeof body.error.code === 'number' ? body.error.code : 0;
    const description = typeof body.error.description === 'string' ? body.error.description : 'stream error';
    return { kind: 'failed', name: 'JetStreamApiError', message: `${code} ${description}` };
  }
  if (typeof body.stream !== 'string' || body.stream === '')
    return { kind: 'failed', name: 'JetStreamError', message: 'invalid ack response' };
  return { kind: 'acked', duplicate: body.duplicate === true };
}

export function createAckInbox(conn: NatsConnection): AckInbox {
  const prefix = createInbox();
  const pending = new Map<string, Pending>();
  let next = 0;
  const settle = (p: Pending, o: AckOutcome): void => {
    if (p.outcomes[p.index] !== undefined) return;
    p.outcomes[p.index] = o;
    if (--p.batch.left === 0) p.batch.done();
  };
  const sub: Subscription = conn.subscribe(`${prefix}.*`, {
    callback: (err, msg) => {
      if (err !== null) return;
      const p = pending.get(msg.subject);
      if (p === undefined) return; // a late ack of a batch that timed out: the resend dedups it
      pending.delete(msg.subject);
      settle(p, outcomeOf(msg));
    },
  });

  return {
    publishAll(records, timeoutMillis, signal) {
      const outcomes = new Array<AckOutcome | undefined>(records.length).fill(undefined);
      if (records.length === 0) return Promise.resolve([]);
      return new Promise((resolve) => {
        const subjects: string[] = [];
        let timer: NodeJS.Timeout | undefined;
        const finish = (why: string | undefined): void => {
          if (timer !== undefined) clearTimeout(timer);
          signal.removeEventListener('abort', onAbort);
          for (const s of subjects) pending.delete(s);
          resolve(
            outcomes.map(
              (o) => o ?? { kind: 'failed', name: 'TimeoutError', message: why ?? 'no JetStream ack in time' },
            ),
          );
        };
        const batch = { left: records.length, done: () => finish(undefined) };
        const onAbort = (): void => finish('aborted while waiting for JetStream acks');
        signal.addEventListener('abort', onAbort, { once: true });
        for (let i = 0; i < records.length; i++) {
          const [subject, data, msgId] = records[i] as readonly [string, string, string];
          const reply = `${prefix}.${(next++).toString(36)}`;
          const entry: Pending = { outcomes, index: i, batch };
          pending.set(reply, entry);
          subjects.push(reply);
          const h = headers();
          h.set('Nats-Msg-Id', msgId);
          try {
            conn.publish(subject, data, { reply, headers: h });
          } catch (err) {
            pending.delete(reply);
            settle(entry, {
              kind: 'failed',
              name: err instanceof Error ? err.name : 'Error',
              message: err instanceof Error ? err.message : String(err),
            });
          }
        }
        if (batch.left > 0)
          timer = setTimeout(() => finish(`no JetStream ack within ${timeoutMillis} ms`), timeoutMillis);
      });
    },
    close() {
      sub.unsubscribe();
      pending.clear();
    },
  };
}
