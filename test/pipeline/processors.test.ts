import { test } from 'node:test';
import assert from 'node:assert/strict';
import { getProcessorDefinition, processorTypes } from '../../src/pipeline/processors/registry';
import type { Processor } from '../../src/pipeline/processors/types';
import { containerIdFromCgroup } from '../../src/pipeline/processors/enrich';
import { createPipelineStats } from '../../src/telemetry/stats';
import type { PipelineStats } from '../../src/telemetry/stats';
import type { AegisEvent } from '../../src/event/types';
import { silentLogger } from '../../src/util/logger';
import { generateEvents } from '../helpers/events';

function make(
  type: string,
  raw: Record<string, unknown>,
  now: () => number = Date.now,
): { p: Processor; stats: PipelineStats } {
  const def = getProcessorDefinition(type)!;
  assert.deepEqual(def.check?.(raw) ?? [], [], 'config passes its checks');
  const stats = createPipelineStats();
  return {
    p: def.create(
      { type, ...raw },
      { name: `${type}#0`, stats, logger: silentLogger, hostname: 'h', now, bootWallNanos: 1_700_000_000_000_000_000n },
    ),
    stats,
  };
}

test('the registry knows every processor type', () => {
  assert.deepEqual(processorTypes(), ['anomaly', 'dedupe', 'enrich', 'filter', 'redact', 'sample', 'throttle']);
});

test('filter keeps matching events and counts the rest', () => {
  const { p, stats } = make('filter', { condition: 'type == "block"' });
  const events = generateEvents(100);
  const kept = p.process(events);
  assert.ok(kept.length > 0 && kept.every((e) => e.type === 'block'));
  assert.equal(stats.removed['filter#0'], 100 - kept.length);
});

test('sample keeps 1 in N; with key_field all events of a key share the decision; when limits it', () => {
  const { p } = make('sample', { rate: 4 });
  assert.equal(p.process(generateEvents(400)).length, 100);
  const { p: keyed } = make('sample', { rate: 3, key_field: 'comm' });
  const events = generateEvents(300);
  const kept = keyed.process(events);
  const keptComms = new Set(kept.map((e) => e.comm));
  for (const e of events) assert.equal(keptComms.has(e.comm), kept.includes(e), 'all or none per key');
  const { p: only } = make('sample', { rate: 1000, when: 'type == "exec"' });
  const out = only.process(events);
  assert.equal(
    out.filter((e) => e.type !== 'exec').length,
    events.filter((e) => e.type !== 'exec').length,
    'non-matching events pass',
  );
});

test('throttle: token bucket per key, refilled over time, keys bounded', () => {
  let now = 0;
  const { p, stats } = make(
    'throttle',
    { threshold: 5, window_ms: 1000, key_fields: ['comm'], max_keys: 2 },
    () => now,
  );
  const same = generateEvents(1).map((e) => ({ ...e, comm: 'a' }))[0]!;
  assert.equal(p.process(Array(20).fill(same) as AegisEvent[]).length, 5, 'burst up to threshold');
  now = 400; // 0.4 window → 2 tokens
  assert.equal(p.process(Array(20).fill(same) as AegisEvent[]).length, 2);
  assert.equal(stats.removed['throttle#0'], 33);
  const b = { ...same, comm: 'b' };
  assert.equal(p.process(Array(3).fill(b) as AegisEvent[]).length, 3, 'separate bucket per key');
});

test('dedupe drops repeats within the window and lets them through after it', () => {
  let now = 0;
  const { p } = make('dedupe', { fields: ['type', 'exec_id', 'path', 'action'], window_ms: 1000 }, () => now);
  const [e] = generateEvents(1);
  assert.equal(p.process([e!, e!, e!]).length, 1);
  now = 500;
  assert.equal(p.process([e!]).length, 0);
  now = 1001;
  assert.equal(p.process([e!]).length, 1);
  const other = { ...e!, exec_id: '1:1' };
  assert.equal(p.process([other]).length, 1, 'different key passes');
});

test('enrich: host, wall-clock start times, container id, labels — on new objects', () => {
  const { p } = make('enrich', {
    host: 'override-host',
    start_time_to_wall: true,
    container_id: true,
    labels: { env: 'prod', team: 'x' },
  });
  const [e] = generateEvents(1);
  const input = {
    ...e!,
    start_time: 1_500_000_000,
    parent_start_time: 2_000,
    cgroup_path: '/kubepods/burstable/pod1/cri-containerd-' + 'ab'.repeat(32) + '.scope',
    labels: { team: 'edge' },
  } as AegisEvent;
  const [out] = p.process([input]);
  assert.notEqual(out, input, 'a new object');
  assert.equal(input.host, 'test-host', 'input unchanged');
  assert.equal(out!.host, 'override-host');
  assert.equal(out!.start_ts, '2023-11-14T22:13:21.500000Z'); // 1_700_000_000 s + 1.5 s
  assert.equal(out!.parent_start_ts, '2023-11-14T22:13:20.000002Z');
  assert.equal(out!.container_id, 'ab'.repeat(32));
  assert.deepEqual(out!.labels, { env: 'prod', team: 'edge' }, 'event labels win');
});

test('enrich: the kept container id of the previous cgroup never leaks into the next (runs of one cgroup, one without an id, back)', () => {
  const { p } = make('enrich', { container_id: true });
  const [e] = generateEvents(1);
  const a = '/system.slice/docker-' + 'a1'.repeat(32) + '.scope';
  const b = '/kubepods/pod1/cri-containerd-' + 'b2'.repeat(32) + '.scope';
  const none = '/user.slice/user-1000.slice';
  const ev = (cgroup: string, id?: string): AegisEvent => {
    const x = { ...e!, cgroup_path: cgroup } as Record<string, unknown>;
    delete x.container_id;
    if (id !== undefined) x.container_id = id;
    return x as unknown as AegisEvent;
  };
  const out = p.process([ev(a), ev(a), ev(none), ev(b), ev(b, 'set-by-source'), ev(a), ev(none)]);
  assert.deepEqual(
    out.map((o) => o.container_id),
    ['a1'.repeat(32), 'a1'.repeat(32), undefined, 'b2'.repeat(32), 'set-by-source', 'a1'.repeat(32), undefined],
  );
  // Two calls in a row on the module-level RegExp: no lastIndex state carried from one to the next.
  assert.equal(containerIdFromCgroup(b), 'b2'.repeat(32));
  assert.equal(containerIdFromCgroup(b), 'b2'.repeat(32));
});

test('enrich: the kept start_ts of the previous event never leaks into the next process (runs of one process, then another, then back)', () => {
  const { p } = make('enrich', { start_time_to_wall: true });
  const [e] = generateEvents(1);
  const ev = (start: number, parent: number | undefined): AegisEvent => ({
    ...e!,
    start_time: start,
    parent_start_time: parent,
  });
  const out = p.process([
    ev(1_000, 5_000),
    ev(1_000, 5_000),
    ev(2_000_000, 5_000),
    ev(2_000_000, 7_000),
    ev(1_000, undefined),
  ]);
  assert.deepEqual(
    out.map((o) => [o.start_ts, o.parent_start_ts]),
    [
      ['2023-11-14T22:13:20.000001Z', '2023-11-14T22:13:20.000005Z'],
      ['2023-11-14T22:13:20.000001Z', '2023-11-14T22:13:20.000005Z'],
      ['2023-11-14T22:13:20.002000Z', '2023-11-14T22:13:20.000005Z'],
      ['2023-11-14T22:13:20.002000Z', '2023-11-14T22:13:20.000007Z'],
      ['2023-11-14T22:13:20.000001Z', undefined],
    ],
  );
  // the next batch starts from the last conversion: still exact
  assert.equal(p.process([ev(3_000_000, undefined)])[0]!.start_ts, '2023-11-14T22:13:20.003000Z');
});

test('container ids from common runtimes', () => {
  const id = '0123456789abcdef'.repeat(4);
  for (const p of [
    `/system.slice/docker-${id}.scope`,
    `/docker/${id}`,
    `/kubepods.slice/kubepods-pod1.slice/cri-containerd-${id}.scope`,
    `/machine.slice/libpod-${id}.scope`,
    `/kubepods/besteffort/pod2/${id}`,
  ]) {
    assert.equal(containerIdFromCgroup(p), id, p);
  }
  assert.equal(containerIdFromCgroup('/user.slice/user-1000.slice'), undefined);
});

test('redact drop removes optional fields; hash gives stable keyed digests', () => {
  const { p } = make('redact', { fields: ['args', 'exe'], mode: 'drop' });
  const [e] = generateEvents(1);
  const [out] = p.process([e!]);
  assert.equal(out!.args, undefined);
  assert.equal(out!.exe, undefined);
  assert.ok(e!.args !== undefined, 'input unchanged');
  const { p: h } = make('redact', { fields: ['args', 'cgroup_path'], mode: 'hash', salt: 'a-long-enough-salt!' });
  const [o1] = h.process([e!]);
  const [o2] = h.process([e!]);
  assert.match(o1!.cgroup_path, /^sha256:[0-9a-f]{32}$/);
  assert.deepEqual(o1, o2, 'deterministic');
  assert.ok(o1!.args!.every((a) => /^sha256:[0-9a-f]{32}$/.test(a)));
});

test('processor config checks name the problem', () => {
  assert.deepEqual(getProcessorDefinition('redact')!.check!({ fields: ['pid'], mode: 'drop' }), [
    "fields.0: 'pid' is required by the event schema and cannot be dropped; use mode: hash",
  ]);
  assert.deepEqual(getProcessorDefinition('redact')!.check!({ fields: ['comm'], mode: 'hash', salt: 'x'.repeat(16) }), [
    "fields.0: 'comm' cannot be hashed (only free-text string fields can)",
  ]);
  assert.match(
    getProcessorDefinition('filter')!.check!({ condition: 'typ == "exec"' })[0]!,
    /^condition: unknown field 'typ'/,
  );
  assert.deepEqual(getProcessorDefinition('dedupe')!.check!({ fields: ['nope'] }), ["fields.0: unknown field 'nope'"]);
});
