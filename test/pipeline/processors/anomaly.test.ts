/**
 * The anomaly processor on synthetic streams with known answers: a rate spike at a known minute, a steady stream
 * over 10 000 windows, a first-seen pair, planted isolation-forest outliers, bounded keys, and state that survives a
 * restart (through the data dir, as the daemon would).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { AegisEvent, AnomalyEvent } from '../../../src/event/types';
import { isValidEvent } from '../../../src/event/validate';
import { createAnomalyProcessor, parseDuration } from '../../../src/pipeline/processors/anomaly';
import { anomalyProcessor } from '../../../src/pipeline/processors/anomaly';
import { createRandom } from '../../../src/pipeline/processors/anomaly-iforest';
import { formatTimestampFromMillis } from '../../../src/util/time';
import { makeTempDir } from '../../helpers/tmp';

const T0 = Date.UTC(2026, 10, 21, 0, 0, 0);
const MIN = 60_000;
const quiet = { warn: () => undefined };

let seq = 0;
function exec(atMillis: number, fields: Partial<Record<string, unknown>> = {}): AegisEvent {
  const pid = 1000 + (seq++ % 50_000);
  const id = `${pid}:${pid * 1000}`;
  return {
    ts: formatTimestampFromMillis(atMillis),
    type: 'exec',
    host: 'web-1',
    pid,
    ppid: 1,
    start_time: pid * 1000,
    exec_id: id,
    trace_id: id,
    cgid: 1,
    cgroup_path: '/',
    comm: 'worker',
    event_id: `e-${seq}`,
    ...fields,
  };
}

function run(p: { process(e: readonly AegisEvent[]): readonly AegisEvent[] }, events: AegisEvent[]): AnomalyEvent[] {
  const out: AnomalyEvent[] = [];
  for (let i = 0; i < events.length; i += 256) {
    for (const e of p.process(events.slice(i, i + 256))) if (e.type === 'anomaly') out.push(e);
  }
  return out;
}

const processor = (detectors: unknown[], dataDir?: string, name = 'anomaly') =>
  createAnomalyProcessor({ detectors }, { name, now: () => 0, dataDir, logger: quiet });

test('durations: 1m, 24h, 90s, integer milliseconds; anything else is undefined', () => {
  assert.equal(parseDuration('1m'), 60_000);
  assert.equal(parseDuration('24h'), 86_400_000);
  assert.equal(parseDuration('90s'), 90_000);
  assert.equal(parseDuration(250), 250);
  for (const bad of ['1 m', '-1m', '1w', 0, 1.5, '']) assert.equal(parseDuration(bad), undefined, String(bad));
});

test('rate: a spike at minute 100 is found in that minute, once, on the event that crossed the limit', () => {
  const random = createRandom(7);
  const events: AegisEvent[] = [];
  for (let minute = 0; minute < 130; minute++) {
    const n = minute === 100 ? 60 : 4 + Math.floor(random() * 3); // 4–6 a minute, 60 in minute 100
    for (let i = 0; i < n; i++) events.push(exec(T0 + minute * MIN + Math.floor((i * MIN) / n)));
  }
  const found = run(
    processor([{ kind: 'rate', key: ['host', 'comm'], window: '1m', baseline: '1h', threshold: 4 }]),
    events,
  );
  assert.equal(found.length, 1, JSON.stringify(found));
  const a = found[0]!;
  assert.equal(Math.floor((Date.parse(a.ts) - T0) / MIN), 100, a.ts);
  assert.equal(a.detector, 'rate');
  assert.equal(a.anomaly_key, 'host=web-1 comm=worker');
  assert.ok(a.score >= 4 && a.threshold === 4, String(a.score));
  assert.ok(a.baseline !== undefined && a.baseline >= 4 && a.baseline <= 6, String(a.baseline));
  // The triggering event's identity: the process and event id of the event that reached the limit.
  const trigger = events.find((e) => e.event_id === a.trigger_event_id)!;
  assert.equal(a.exec_id, trigger.exec_id);
  assert.equal(a.trigger_type, 'exec');
  assert.ok(isValidEvent(a), 'the finding is a valid event');
});

test('rate: a steady stream gives no anomaly over 10 000 windows (median and EWMA centres)', () => {
  for (const center of ['median', 'ewma']) {
    const random = createRandom(11);
    const p = processor([{ kind: 'rate', key: ['comm'], window: '1m', baseline: '1h', threshold: 4, center }]);
    let found = 0;
    let chunk: AegisEvent[] = [];
    for (let minute = 0; minute < 10_000; minute++) {
      const n = 3 + Math.floor(random() * 5); // 3–7 a minute
      for (let i = 0; i < n; i++) chunk.push(exec(T0 + minute * MIN + i * 1000));
      if (chunk.length >= 512) {
        found += p.process(chunk).length - chunk.length;
        chunk = [];
      }
    }
    found += p.process(chunk).length - chunk.length;
    assert.equal(found, 0, center);
  }
});

test('rare: a pair seen while learning is normal; a first-seen pair afterwards is reported once', () => {
  const p = processor([{ kind: 'rare', key: ['parent_exe', 'exe'], learn: '1h' }]);
  const pair = (at: number, parent: string, exe: string): AegisEvent =>
    exec(at, { parent_exe: parent, exe, comm: exe.split('/').pop() });
  const events = [
    pair(T0, '/usr/sbin/nginx', '/usr/sbin/nginx'),
    pair(T0 + 10 * MIN, '/bin/bash', '/usr/bin/id'),
    pair(T0 + 2 * 3_600_000, '/bin/bash', '/usr/bin/id'), // learned
    pair(T0 + 2 * 3_600_000 + 1, '/usr/sbin/nginx', '/bin/sh'), // new: reported
    pair(T0 + 3 * 3_600_000, '/usr/sbin/nginx', '/bin/sh'), // seen now: not again
    exec(T0 + 3 * 3_600_000 + 5), // no parent_exe: not about this detector
  ];
  const found = run(p, events);
  assert.equal(found.length, 1);
  assert.equal(found[0]!.anomaly_key, 'parent_exe=/usr/sbin/nginx exe=/bin/sh');
  assert.equal(found[0]!.trigger_event_id, events[3]!.event_id);
  assert.equal(found[0]!.exe, '/bin/sh');
  assert.ok(isValidEvent(found[0]));
});

test('isolation_forest: processes with planted outlier behaviour are the ones reported', () => {
  const random = createRandom(3);
  const events: AegisEvent[] = [];
  const planted = new Set<string>();
  for (let w = 0; w < 6; w++) {
    for (let proc = 0; proc < 60; proc++) {
      const pid = 10_000 + w * 100 + proc;
      const id = `${pid}:${pid}`;
      const outlier = w === 5 && proc < 3;
      if (outlier) planted.add(id);
      const base = { pid, exec_id: id, trace_id: id, start_time: pid };
      const at = T0 + w * 5 * MIN + proc * 1000;
      events.push(exec(at, { ...base, args: ['x'.repeat(outlier ? 4000 : 10 + Math.floor(random() * 20))] }));
      const connects = outlier ? 40 + proc * 5 : Math.floor(random() * 3);
      for (let c = 0; c < connects; c++)
        events.push({
          ...events[events.length - 1]!,
          type: 'connect',
          family: 'ipv4',
          protocol: 'tcp',
          remote_ip: `10.0.${c % 250}.${outlier ? c : 1}`,
          remote_port: 443,
          event_id: `c-${pid}-${c}`,
        });
    }
  }
  events.push(exec(T0 + 6 * 5 * MIN)); // closes the last window
  const p = processor([
    {
      kind: 'isolation_forest',
      features: ['execs', 'distinct_remotes', 'connects', 'arg_bytes'],
      window: '5m',
      min_sample: 100,
    },
  ]);
  const found = run(p, events);
  assert.deepEqual(
    new Set(found.map((a) => a.exec_id)),
    planted,
    JSON.stringify(found.map((a) => [a.exec_id, a.score])),
  );
  for (const a of found) {
    assert.ok(a.score >= 0.75 && a.baseline !== undefined && a.baseline < a.score);
    assert.ok(isValidEvent(a));
  }
});

test('bounded: a full detector forgets its least recently seen keys (an eighth at a time) and counts them', () => {
  const p = processor([{ kind: 'rare', key: ['comm'], learn: '1h', max_keys: 10 }]);
  const early = Array.from({ length: 10 }, (_, i) => exec(T0 + i, { comm: `c${i}` }));
  early.push(exec(T0 + 10, { comm: 'c0' })); // c0 seen again: now the most recent
  early.push(exec(T0 + 11, { comm: 'c10' })); // full: c1 and c2, the least recently seen, are forgotten
  assert.equal(run(p, early).length, 0, 'still learning');
  assert.deepEqual(p.counts().rare, { keys: 9, evicted: 2 });
  // After the learning period: c0 and c3 are still known; c1 was forgotten, so it is new again.
  const late = ['c0', 'c3', 'c1'].map((comm, i) => exec(T0 + 2 * 3_600_000 + i, { comm }));
  assert.deepEqual(
    run(p, late).map((a) => a.anomaly_key),
    ['comm=c1'],
  );
});

test('state survives a restart: learned pairs, the learning start and rate histories come back from the data dir', () => {
  const { dir, cleanup } = makeTempDir('aegis-anomaly-');
  try {
    const detectors = [
      { kind: 'rare', key: ['parent_exe', 'exe'], learn: '1h' },
      { kind: 'rate', key: ['comm'], window: '1m', baseline: '1h', threshold: 4 },
    ];
    const first = processor(detectors, dir);
    const learning: AegisEvent[] = [];
    for (let minute = 0; minute < 30; minute++)
      for (let i = 0; i < 5; i++)
        learning.push(exec(T0 + minute * MIN + i, { parent_exe: '/bin/bash', exe: '/usr/bin/id' }));
    assert.equal(run(first, learning).length, 0);
    first.close();

    // A restart after the learning period: the pair is known and learning is not started again; the rate history
    // is there, so a spike in the first minute after the restart is found (a fresh detector needs 15 windows).
    const second = processor(detectors, dir);
    const after: AegisEvent[] = [exec(T0 + 2 * 3_600_000, { parent_exe: '/bin/bash', exe: '/usr/bin/id' })];
    for (let i = 0; i < 80; i++)
      after.push(exec(T0 + 2 * 3_600_000 + MIN + i, { parent_exe: '/bin/bash', exe: '/usr/bin/id' }));
    after.push(exec(T0 + 2 * 3_600_000 + 2 * MIN, { parent_exe: '/bin/bash', exe: '/usr/bin/curl' }));
    const found = run(second, after);
    assert.deepEqual(
      found.map((a) => a.detector),
      ['rate', 'rare'],
      JSON.stringify(found.map((a) => [a.detector, a.anomaly_key])),
    );
    assert.equal(found[1]!.anomaly_key, 'parent_exe=/bin/bash exe=/usr/bin/curl');

    // Without the state file, the same stream teaches a fresh processor instead: nothing is reported.
    cleanup();
    assert.equal(run(processor(detectors, dir), after).length, 0);
  } finally {
    cleanup();
  }
});

test('configuration: unknown key fields and a baseline shorter than the window are named', () => {
  const problems = anomalyProcessor.check!({
    detectors: [{ kind: 'rate', key: ['host', 'nope'], window: '1h', baseline: '1m' }],
  });
  assert.deepEqual(problems, [
    "detectors.0.key.1: unknown field 'nope'",
    'detectors.0.baseline: must be at least the window (1h)',
  ]);
});
