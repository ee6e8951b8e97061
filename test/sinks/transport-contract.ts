/**
 * The contract every transport passes (STYLE 11): run by each sink's tests against its real receiver.
 * - a batch is delivered and arrives complete and in order;
 * - the healthcheck reports a reachable receiver healthy and a broken one unhealthy, with a reason;
 * - failures are values: send never throws, whatever the receiver does;
 * - an aborted signal does not leave send hanging.
 * With AEGIS_CONTRACT_RECORDS=workers the batches hold the records a pipeline with worker threads hands a sink
 * (pipeline.workers): made by the real worker job handler, text sliced from its result, each event parsed again only
 * when the transport reads it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { AegisEvent } from '../../src/event/types';
import type { Batch, Transport } from '../../src/sinks/core/types';
import { formatJson } from '../../src/formatters/json';
import { generateEvents } from '../helpers/events';
import { createJobHandler } from '../../src/pipeline/workers/worker-main';
import { LazyEvents, lazyRecord, workerRecords } from '../../src/pipeline/workers/run-raw';
import type { EncodedRecord } from '../../src/sinks/core/types';

/** The records a worker-thread pipeline makes of `events` (see the file comment), formatted with `encode`. */
function workerMadeRecords(events: readonly AegisEvent[], encode: (e: AegisEvent) => string): EncodedRecord[] {
  const handle = createJobHandler({
    hostname: 'contract',
    version: 't',
    bootWallNanos: '0',
    processors: [],
    routes: [],
    sinks: [{ name: 'contract', format: 'json' }],
  });
  const bytes = Buffer.from(events.map((e) => formatJson(e) + '\n').join(''));
  const result = handle({ id: 1, source: 'contract', maxLineBytes: 1 << 24, bytes });
  assert.equal(result.decoded, events.length, 'the worker decoded every contract event');
  const lazy = new LazyEvents(result.events);
  const { records } = workerRecords(result, lazy, 0, Date.now(), undefined);
  if (encode === formatJson) return records;
  return records.map((r, i) => {
    const data = encode(r.event);
    return lazyRecord(new LazyEvents(result.events), i, data, Buffer.byteLength(data), 0, undefined);
  });
}

export interface ContractSubject {
  readonly transport: Transport<string>;
  /** Events (as parsed records) the receiver has, in arrival order. */
  received(): Promise<AegisEvent[]>;
  /** Make the receiver fail (stop it, break the path). */
  breakReceiver(): Promise<void>;
  restoreReceiver(): Promise<void>;
  cleanup(): Promise<void>;
}

export interface ContractOptions {
  readonly name: string;
  readonly create: () => Promise<ContractSubject | { skip: string }>;
  /** False for receivers that cannot come back once broken (a closed stdout). Default true. */
  readonly recovers?: boolean;
  /** Encode events as the sink would (default: json). */
  readonly encode?: (event: AegisEvent) => string;
  /**
   * What the receiver legitimately does to an event that the sink cannot prevent, applied to the expected events
   * (e.g. a UTF-8 receiver turns lone UTF-16 surrogates into U+FFFD). Default: nothing.
   */
  readonly receiverNormalizes?: (events: AegisEvent[]) => AegisEvent[];
}

export function batchOf(
  events: readonly AegisEvent[],
  encode: (e: AegisEvent) => string = formatJson,
  attempt = 1,
): Batch<string> {
  const records =
    process.env.AEGIS_CONTRACT_RECORDS === 'workers'
      ? workerMadeRecords(events, encode)
      : events.map((event) => {
          const data = encode(event);
          return { event, data, bytes: Buffer.byteLength(data) };
        });
  return { id: 1, records, bytes: records.reduce((n, r) => n + r.bytes, 0), attempt };
}

export function runTransportContract(options: ContractOptions): void {
  const encode = options.encode ?? formatJson;
  const withSubject = (title: string, body: (s: ContractSubject) => Promise<void>): void => {
    test(`${options.name} transport contract: ${title}`, async (t) => {
      const s = await options.create();
      if ('skip' in s) {
        t.skip(s.skip);
        return;
      }
      try {
        await body(s);
      } finally {
        await s.transport.close();
        await s.cleanup();
      }
    });
  };

  withSubject('a batch is delivered complete and in order', async (s) => {
    const events = generateEvents(200, { adversarial: true });
    const result = await s.transport.send(batchOf(events.slice(0, 120), encode), new AbortController().signal);
    assert.deepEqual(result, { kind: 'delivered' });
    const result2 = await s.transport.send(batchOf(events.slice(120), encode), new AbortController().signal);
    assert.equal(result2.kind, 'delivered');
    const got = await s.received();
    assert.deepEqual(
      got.map((e) => e.exec_id),
      events.map((e) => e.exec_id),
    );
    const expected = JSON.parse(JSON.stringify(events)) as AegisEvent[];
    assert.deepEqual(got, options.receiverNormalizes === undefined ? expected : options.receiverNormalizes(expected));
  });

  withSubject('healthcheck: healthy receiver, then broken receiver with a reason', async (s) => {
    assert.deepEqual(await s.transport.healthcheck(new AbortController().signal), { healthy: true });
    await s.breakReceiver();
    const h = await s.transport.healthcheck(new AbortController().signal);
    assert.equal(h.healthy, false);
    assert.ok(!h.healthy && h.reason.length > 0);
    await s.restoreReceiver();
  });

  withSubject(
    `failures are values: a broken receiver gives retryable or rejected, never a throw${options.recovers === false ? '' : '; recovery delivers'}`,
    async (s) => {
      const events = generateEvents(5);
      await s.breakReceiver();
      const r = await s.transport.send(batchOf(events, encode), new AbortController().signal);
      assert.ok(r.kind === 'retryable' || r.kind === 'rejected', `got ${r.kind}`);
      await s.restoreReceiver();
      if (options.recovers === false) return;
      const r2 = await s.transport.send(batchOf(events, encode, 2), new AbortController().signal);
      assert.equal(r2.kind, 'delivered');
      assert.deepEqual(
        (await s.received()).map((e) => e.exec_id),
        events.map((e) => e.exec_id),
        'no partial leftovers from the failed attempt',
      );
    },
  );

  withSubject('an aborted signal does not leave send hanging', async (s) => {
    const ctl = new AbortController();
    ctl.abort();
    const r = await Promise.race([
      s.transport.send(batchOf(generateEvents(3), encode), ctl.signal),
      new Promise<'hung'>((resolve) => setTimeout(() => resolve('hung'), 5000)),
    ]);
    assert.notEqual(r, 'hung');
  });
}
