import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createAckTracker } from '../../../src/sinks/splunk-hec/ack-tracker';
import type { AckOutcome, AckQueryResult, AckTracker } from '../../../src/sinks/splunk-hec/ack-tracker';

interface Rig {
  readonly tracker: AckTracker;
  readonly queries: { channel: string; ids: number[] }[];
  readonly extra: Record<string, number>;
  readonly events: string[];
  answer: (channel: string, ids: readonly number[]) => AckQueryResult;
}

function rig(timeoutMillis = 5000): Rig {
  const r: Rig = {
    queries: [],
    extra: {},
    events: [],
    answer: (_c, ids) => ({ kind: 'acks', acks: new Map(ids.map((i) => [i, true])) }),
    tracker: undefined as unknown as AckTracker,
  };
  Object.assign(r, {
    tracker: createAckTracker({
      pollIntervalMillis: 10,
      timeoutMillis,
      query: (channel, ids) => {
        r.queries.push({ channel, ids: [...ids] });
        return Promise.resolve(r.answer(channel, ids));
      },
      extra: r.extra,
      onDisabled: (reason) => r.events.push(`disabled: ${reason}`),
      onChannelInvalid: (c) => r.events.push(`channel: ${c}`),
      onRestart: (c, stale) => r.events.push(`restart: ${c} ${stale}`),
    }),
  });
  return r;
}

const signal = (): AbortSignal => new AbortController().signal;

test('one shared query per channel per interval carries every pending ackId', async () => {
  const r = rig();
  const waits = [
    r.tracker.wait('A', 0, signal()),
    r.tracker.wait('A', 1, signal()),
    r.tracker.wait('A', 2, signal()),
    r.tracker.wait('B', 0, signal()),
  ];
  assert.equal(r.tracker.pending, 4);
  assert.equal(r.extra.acks_pending, 4);
  const outcomes = await Promise.all(waits);
  assert.deepEqual(
    outcomes.map((o) => o.kind),
    ['acked', 'acked', 'acked', 'acked'],
  );
  assert.deepEqual(
    r.queries.sort((a, b) => a.channel.localeCompare(b.channel)),
    [
      { channel: 'A', ids: [0, 1, 2] },
      { channel: 'B', ids: [0] },
    ],
  );
  assert.equal(r.extra.acks_received_total, 4);
  assert.equal(r.extra.acks_pending, 0);
  r.tracker.close();
});

test('acks that stay false keep the waiter until true; past the deadline it is lost (timeout)', async () => {
  const r = rig(120);
  let trueFor = new Set<number>();
  r.answer = (_c, ids) => ({ kind: 'acks', acks: new Map(ids.map((i) => [i, trueFor.has(i)])) });
  const a = r.tracker.wait('A', 7, signal());
  const b = r.tracker.wait('A', 8, signal());
  await new Promise((res) => setTimeout(res, 40));
  trueFor = new Set([7]);
  assert.deepEqual(await a, { kind: 'acked' });
  const lost = await b;
  assert.equal(lost.kind, 'lost');
  assert.ok(
    lost.kind === 'lost' && lost.cause === 'timeout' && /ackId 8 was not acknowledged within 120 ms/.test(lost.reason),
  );
  assert.ok(r.queries.length >= 3);
  r.tracker.close();
});

test('ids out of order within the window are fine; an id seen again on a channel means the receiver restarted', async () => {
  const r = rig();
  r.answer = (_c, ids) => ({ kind: 'acks', acks: new Map(ids.map((i) => [i, false])) });
  const w5 = r.tracker.wait('A', 5, signal());
  const w3 = r.tracker.wait('A', 3, signal());
  assert.deepEqual(r.events, [], 'out of order is not a restart');
  const w5again = r.tracker.wait('A', 5, signal());
  assert.deepEqual(r.events, ['restart: A 2']);
  assert.equal(r.extra.receiver_restarts_total, 1);
  for (const w of [await w5, await w3]) assert.ok(w.kind === 'lost' && w.cause === 'restart');
  const w0 = r.tracker.wait('A', 0, signal()); // after a restart, low ids are new again
  assert.deepEqual(r.events, ['restart: A 2']);
  r.answer = (_c, ids) => ({ kind: 'acks', acks: new Map(ids.map((i) => [i, true])) });
  assert.deepEqual(await w5again, { kind: 'acked' });
  assert.deepEqual(await w0, { kind: 'acked' });
  r.tracker.close();
});

test('code 14 from the ack endpoint: every waiter resolves ack_disabled, later waits too, said once', async () => {
  const r = rig();
  r.answer = () => ({ kind: 'disabled', reason: 'HTTP 400, HEC code 14: ACK is disabled' });
  const outs = await Promise.all([r.tracker.wait('A', 0, signal()), r.tracker.wait('B', 0, signal())]);
  assert.deepEqual(
    outs.map((o) => o.kind),
    ['ack_disabled', 'ack_disabled'],
  );
  assert.deepEqual(await r.tracker.wait('A', 1, signal()), { kind: 'ack_disabled' });
  assert.equal(r.events.filter((e) => e.startsWith('disabled')).length, 1);
  assert.ok(r.tracker.disabled);
  r.tracker.close();
});

test('a refused channel fails its waiters (channel); abort and close fail theirs', async () => {
  const r = rig();
  r.answer = (c, ids) =>
    c === 'bad'
      ? { kind: 'channel_invalid', reason: 'HTTP 400, HEC code 11: Invalid data channel' }
      : { kind: 'acks', acks: new Map(ids.map((i) => [i, false])) };
  const bad = await r.tracker.wait('bad', 1, signal());
  assert.ok(bad.kind === 'lost' && bad.cause === 'channel');
  assert.deepEqual(r.events, ['channel: bad']);
  const ctl = new AbortController();
  const aborted = r.tracker.wait('ok', 1, ctl.signal);
  ctl.abort();
  assert.ok(((await aborted) as Extract<AckOutcome, { kind: 'lost' }>).cause === 'aborted');
  const closing = r.tracker.wait('ok', 2, signal());
  r.tracker.close();
  assert.ok(((await closing) as Extract<AckOutcome, { kind: 'lost' }>).cause === 'closed');
  assert.equal(r.tracker.pending, 0);
});

test('poll cadence: soon after a poll that confirmed everything, a whole interval after one that did not', async () => {
  const times: number[] = [];
  let yes = true;
  const t = createAckTracker({
    pollIntervalMillis: 400,
    timeoutMillis: 10_000,
    query: (_c, ids) => {
      times.push(Date.now());
      return Promise.resolve({ kind: 'acks', acks: new Map(ids.map((i) => [i, yes])) });
    },
    extra: {},
    onDisabled: () => undefined,
    onChannelInvalid: () => undefined,
    onRestart: () => undefined,
  });
  const started = Date.now();
  await t.wait('A', 0, signal());
  assert.ok(
    Date.now() - started < 300,
    `a fast receiver confirms without waiting the 400 ms interval (${Date.now() - started} ms)`,
  );
  yes = false;
  const w = t.wait('A', 1, signal());
  await new Promise((r) => setTimeout(r, 150));
  yes = true;
  await w;
  assert.ok(times.length >= 3);
  const gap = times[2]! - times[1]!;
  assert.ok(gap >= 390, `after a poll answered false, the next one waits the interval (${gap} ms)`);
  t.close();
});
