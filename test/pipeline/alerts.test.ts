/**
 * Alert rules (src/pipeline/alerts/): the engine driven by an injected clock (no sleeps) through a synthetic block
 * storm; the conditions over the agent's own metrics read from a real StatsRegistry; `validate` refusing bad rules
 * with the key path; and the pipeline delivering alert events to the rule's sinks and along the routes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import type { AegisEvent, AlertEvent } from '../../src/event/types';
import { explainInvalidEvent } from '../../src/event/validate';
import { validateConfigDocument } from '../../src/config/load';
import { createAlertEngine, metricsFromStats } from '../../src/pipeline/alerts/engine';
import type { AgentMetrics } from '../../src/pipeline/alerts/engine';
import { parseCondition } from '../../src/pipeline/alerts/condition';
import { parseAlertRule } from '../../src/pipeline/alerts/rule';
import { createPipeline } from '../../src/pipeline/engine';
import type { Source } from '../../src/pipeline/sources/types';
import { createSinkStats, createStatsRegistry } from '../../src/telemetry/stats';
import { NO_SENSOR_STATS } from '../../src/telemetry/sensor-stats';
import { silentLogger } from '../../src/util/logger';
import { generateEvents } from '../helpers/events';
import { makeTempDir } from '../helpers/tmp';

const NO_METRICS: AgentMetrics = metricsFromStats(createStatsRegistry());
const blocks = generateEvents(400, { seed: 31 }).filter((e) => e.type === 'block');
const execs = generateEvents(400, { seed: 32 }).filter((e) => e.type === 'exec');

test('a synthetic block storm fires once after `for`, repeats after `repeat`, resolves when it stops', () => {
  const rule = parseAlertRule({
    name: 'block-storm',
    condition: 'rate(type == "block", 1m) > 100',
    severity: 'critical',
    message: 'High enforcement rate: {{ value }} blocks/s on {{ host }}',
    sinks: ['pager'],
    for: '30s',
    repeat: '10m',
  });
  const engine = createAlertEngine([rule], { hostname: 'web-1', metrics: NO_METRICS, pid: 812, ppid: 1 });
  const t0 = Date.UTC(2026, 10, 21, 10, 0, 0);
  const sent: { at: number; event: AlertEvent }[] = [];
  // 20 minutes, one evaluation per second; the storm (200 blocks/s, plus 60 execs/s that must not count) lasts
  // 12 minutes.
  for (let s = 0; s < 20 * 60; s++) {
    const now = t0 + s * 1000;
    if (s < 12 * 60) {
      for (let k = 0; k < 4; k++) engine.observe(blocks.slice(0, 50), now + k * 250);
      engine.observe(execs.slice(0, 60), now);
    }
    for (const n of engine.evaluate(now + 999)) sent.push({ at: s, event: n.event });
  }
  assert.deepEqual(
    sent.map((x) => `${x.at}:${x.event.status}`),
    // rate = blocks in the last minute / 60: 200 × 31 s / 60 > 100/s at the evaluation of second 30 (pending), held
    // 30 s (`for`) → fires at 60 s; again 10 minutes later (660 s); the storm's last second is 719 and at 749 the
    // window (690–749) holds 30 storm seconds = 100/s, not above 100 → resolved.
    ['60:firing', '660:firing', '749:resolved'],
  );
  const [first, repeat, resolved] = sent.map((x) => x.event) as [AlertEvent, AlertEvent, AlertEvent];
  assert.equal(first.message, 'High enforcement rate: 200 blocks/s on web-1');
  assert.equal(first.value, '200');
  assert.equal(first.severity, 'critical');
  assert.equal(first.started_at, '2026-11-21T10:00:30.999000Z', 'when the condition first held');
  assert.equal(repeat.started_at, first.started_at);
  assert.equal(resolved.started_at, first.started_at);
  assert.equal(resolved.status, 'resolved');
  for (const e of [first, repeat, resolved])
    assert.equal(explainInvalidEvent(e), undefined, 'an alert event is a valid canonical event');
  assert.equal(engine.status()[0]?.state, 'inactive');
});

test('a short spike that ends before `for` does not fire', () => {
  const rule = parseAlertRule({ name: 'x', condition: 'count(type == "block", 10s) >= 50', for: '20s' });
  const engine = createAlertEngine([rule], { hostname: 'h', metrics: NO_METRICS });
  const fired: string[] = [];
  for (let s = 0; s < 60; s++) {
    if (s < 5) engine.observe(blocks.slice(0, 20), s * 1000);
    for (const n of engine.evaluate(s * 1000 + 500)) fired.push(n.event.status);
  }
  assert.deepEqual(fired, []);
});

test('conditions over the agent metrics: drops per second, sink lag, map utilization (real StatsRegistry)', () => {
  const stats = createStatsRegistry();
  const sink = createSinkStats('pager', 'webhook');
  stats.sinks.set('pager', sink);
  let ringDrops = 0;
  stats.sensor = {
    read: () => ({
      ...NO_SENSOR_STATS,
      ringbufDrops: ringDrops,
      maps: [
        { map: 'deny_inode', entries: 850, capacity: 1000 },
        { map: 'deny_path', entries: 10, capacity: 1000 },
      ],
    }),
  };
  const rules = [
    parseAlertRule({ name: 'drops', condition: 'drops(10s) > 10/s' }),
    parseAlertRule({ name: 'lag', condition: 'sink_lag(pager) > 5000' }),
    parseAlertRule({ name: 'maps', condition: 'map_utilization() >= 80%' }),
    parseAlertRule({ name: 'path-map', condition: 'map_utilization(deny_path) >= 80%' }),
  ];
  const engine = createAlertEngine(rules, { hostname: 'h', metrics: metricsFromStats(stats) });
  const fired = (now: number): string[] => engine.evaluate(now).map((n) => `${n.event.alert}:${n.event.status}`);
  assert.deepEqual(fired(0), ['maps:firing'], 'deny_inode is 85% full; deny_path 1%');
  ringDrops = 50;
  sink.dropped.buffer_full = 100;
  sink.bufferEvents = 6000;
  assert.deepEqual(fired(5000), ['drops:firing', 'lag:firing'], '150 drops in 5 s = 30/s; 6000 buffered');
  sink.bufferEvents = 10;
  assert.deepEqual(fired(20_000), ['drops:resolved', 'lag:resolved'], 'no new drops in the last 10 s');
  assert.equal(parseCondition('drops(1m) > 10/s').threshold, 10);
});

test('validate refuses a condition on a field that does not exist, and other bad rules, with the key path', () => {
  const problems = (alerts: unknown[]): readonly string[] =>
    validateConfigDocument({ sources: { s: { type: 'stdin' } }, sinks: { pager: { type: 'stdout' } }, alerts }, {})
      .problems;
  const missing = problems([{ name: 'a', condition: 'rate(typ == "block", 5m) > 100' }]);
  assert.ok(
    missing.some((p) => p.startsWith("alerts.0.condition: rate(…): unknown field 'typ'")),
    missing.join('\n'),
  );
  const several = problems([
    { name: 'a', condition: 'rate(type == "block", 5m) > 1', sinks: ['pagr'], message: '{{ valu }}' },
    { name: 'a', condition: 'nonsense(1) > 2', for: '5d' },
  ]);
  for (const want of [
    'alerts.0.sinks.0: no sink named pagr (configured: pager)',
    'alerts.0.message: unknown placeholder {{ valu }}',
    'alerts.1.name: a second rule named a',
    'alerts.1.condition: unknown function nonsense(…); known: rate, count, drops, sink_lag, map_utilization',
  ])
    assert.ok(
      several.some((p) => p.startsWith(want)),
      `${want}\n--- got:\n${several.join('\n')}`,
    );
  const badFor = problems([{ name: 'a', condition: 'drops(1m) > 1', for: '5 minutes' }]);
  assert.ok(
    badFor.some((p) => p.startsWith('alerts.0.for')),
    badFor.join('\n'),
  );
  assert.deepEqual(
    problems([
      {
        name: 'block-storm',
        condition: 'rate(type == "block", 5m) > 100',
        severity: 'critical',
        message: 'High enforcement rate: {{ value }} blocks/s on {{ host }}',
        sinks: ['pager'],
        for: '1m',
        repeat: '4h',
      },
    ]),
    [],
  );
});

test('pipeline: a storm from a source fires an alert event to the rule sink and along the routes, then resolves', async () => {
  const { dir, cleanup } = makeTempDir('aegis-alerts-');
  try {
    const result = validateConfigDocument({
      data_dir: dir,
      sources: { s: { type: 'stdin' } },
      sinks: {
        pager: { type: 'file', path: path.join(dir, 'pager.ndjson'), batch: { timeout_ms: 5 } },
        siem: { type: 'file', path: path.join(dir, 'siem.ndjson'), batch: { timeout_ms: 5 } },
      },
      routes: [{ name: 'everything', sinks: ['siem'] }],
      alerts: [{ name: 'storm', condition: 'rate(type == "block", 1s) > 50', severity: 'high', sinks: ['pager'] }],
    });
    assert.deepEqual(result.problems, []);
    let release: () => void = () => undefined;
    const done = new Promise<void>((r) => (release = r));
    const source: Source = {
      name: 's',
      type: 'test',
      async *read() {
        yield blocks.slice(0, 100);
        await done;
      },
    };
    const pipeline = createPipeline(result.config!, {
      logger: silentLogger,
      version: 't',
      sources: () => [source],
      alertIntervalMillis: 20,
    });
    const running = pipeline.run();
    const read = (f: string): AegisEvent[] =>
      fs.existsSync(path.join(dir, f))
        ? fs
            .readFileSync(path.join(dir, f), 'utf8')
            .split('\n')
            .filter((l) => l !== '')
            .map((l) => JSON.parse(l) as AegisEvent)
        : [];
    const alertsIn = (f: string): string[] =>
      read(f)
        .filter((e): e is AlertEvent => e.type === 'alert')
        .map((e) => e.status);
    const deadline = Date.now() + 10_000;
    while (alertsIn('pager.ndjson').length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    release();
    await running;
    await pipeline.shutdown(5000);
    assert.deepEqual(alertsIn('pager.ndjson'), ['firing', 'resolved'], 'the rule sink gets only alerts');
    assert.deepEqual(alertsIn('siem.ndjson'), ['firing', 'resolved'], 'the route carries them like any event');
    assert.equal(read('siem.ndjson').filter((e) => e.type === 'block').length, 100);
    assert.equal(read('pager.ndjson').length, 2);
  } finally {
    cleanup();
  }
});
