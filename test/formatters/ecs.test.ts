import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ECS_VERSION, ecsFormatter, formatEcs } from '../../src/formatters/ecs';
import { createFormatter, formatterNames } from '../../src/formatters/registry';
import { severityOf } from '../../src/formatters/common';
import { isValidEvent } from '../../src/event/validate';
import type { AegisEvent } from '../../src/event/types';
import { compareGolden, goldenCases } from './golden';
import { generateEvents } from '../helpers/events';
import { anyEvent } from '../helpers/event-arbitrary';
import {
  ECS_DEFINITIONS_VERSION,
  allowedValues,
  checkEcsValue,
  expectedTypesFor,
  flatten,
} from '../helpers/ecs-definitions';

type Doc = Record<string, unknown>;
const parse = (e: AegisEvent): Doc => JSON.parse(formatEcs(e)) as Doc;
const get = (doc: Doc, path: string): unknown => flatten(doc).get(path);

/** Every problem of one ECS document against the ECS definitions; aegisbpf.* and labels.* are ours. */
function ecsProblems(doc: Doc): string[] {
  const problems: string[] = [];
  const flat = flatten(doc);
  for (const [name, value] of flat) {
    if (name.startsWith('aegisbpf.')) continue;
    if (name.startsWith('labels.')) {
      if (typeof value !== 'string') problems.push(`${name}: labels are keyword strings`);
      continue;
    }
    problems.push(...checkEcsValue(name, value));
  }
  // Categorization: every event.type must be one ECS expects with one of the event.category values.
  const categories = (flat.get('event.category') ?? []) as string[];
  const types = (flat.get('event.type') ?? []) as string[];
  const expected = new Set(categories.flatMap(expectedTypesFor));
  for (const t of types)
    if (!expected.has(t)) problems.push(`event.type '${t}' is not expected with categories ${categories.join(', ')}`);
  for (const required of [
    '@timestamp',
    'ecs.version',
    'event.kind',
    'event.category',
    'event.type',
    'event.action',
    'event.dataset',
    'host.name',
  ]) {
    if (!flat.has(required)) problems.push(`${required}: missing`);
  }
  // No key is both a leaf and a prefix.
  const keys = [...flat.keys()];
  for (const k of keys) if (keys.some((o) => o.startsWith(k + '.'))) problems.push(`${k} is both a leaf and a prefix`);
  return problems;
}

test('ecs golden files: every event type and edge case, byte for byte', () => {
  const problems: string[] = [];
  for (const { name, event } of goldenCases()) {
    assert.ok(isValidEvent(event), `golden input ${name} must be a valid event`);
    const m = compareGolden('ecs', name, 'json', formatEcs(event) + '\n');
    if (m !== undefined) problems.push(m);
  }
  assert.deepEqual(problems, []);
});

test(`ecs output conforms to the ECS ${ECS_VERSION} definitions (types, arrays, allowed values) for every golden case`, () => {
  assert.equal(
    ECS_VERSION,
    ECS_DEFINITIONS_VERSION,
    'the definitions package must be the ECS release the formatter targets',
  );
  for (const { name, event } of goldenCases()) assert.deepEqual(ecsProblems(parse(event)), [], name);
});

test('ecs output conforms to ECS for generated events of every type, adversarial strings included (property)', () => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 1_000_000 }), (seed) => {
      for (const e of generateEvents(10, { seed, adversarial: true })) {
        const line = formatEcs(e);
        assert.ok(!line.includes('\n') && !line.includes('\r'), 'one document is one line');
        assert.deepEqual(ecsProblems(JSON.parse(line) as Doc), []);
      }
    }),
    { numRuns: 300 },
  );
});

test('ecs output conforms to ECS for any event: every type, action and optional field, absent or empty (property)', () => {
  fc.assert(
    fc.property(anyEvent, (e) => {
      assert.ok(isValidEvent(e));
      assert.deepEqual(ecsProblems(JSON.parse(formatEcs(e)) as Doc), []);
    }),
    { numRuns: 2000 },
  );
});

test('the categorization check itself rejects a wrong value (the validation is not vacuous)', () => {
  const doc = parse(goldenCases()[0]!.event);
  (doc.event as Doc).kind = 'notakind';
  (doc.event as Doc).type = ['start'];
  (doc.event as Doc).category = ['file'];
  (doc.process as Doc).pid = '12';
  const problems = ecsProblems(doc);
  assert.ok(problems.some((p) => p.includes("'notakind' is not an allowed value")));
  assert.ok(problems.some((p) => p.includes("event.type 'start' is not expected")));
  assert.ok(problems.some((p) => p.startsWith('process.pid: long')));
  assert.ok(allowedValues('event.outcome').includes('unknown'));
});

test('adversarial strings survive: every attacker-controlled field parses back to exactly the input (property)', () => {
  const nasty = fc.string({
    unit: fc.constantFrom(
      '|',
      '=',
      '\\',
      ']',
      '"',
      '\r',
      '\n',
      '\t',
      '\u0000',
      'ü',
      '☃',
      '\ud83d\ude00',
      '\u2028',
      '/',
      'a',
      ' ',
    ),
  });
  fc.assert(
    fc.property(nasty, nasty, fc.array(nasty, { maxLength: 5 }), nasty, (p, comm, args, cg) => {
      const [base] = generateEvents(1);
      const block = {
        ...base,
        type: 'block',
        ino: 1,
        dev: 2,
        action: 'KILL',
        path: p,
        resolved_path: p,
        comm: comm.slice(0, 16),
        exe: p,
        args,
        cgroup_path: cg,
      } as AegisEvent;
      const doc = parse(block);
      assert.equal(get(doc, 'file.path'), p === '' ? undefined : p);
      assert.equal(get(doc, 'process.name'), comm.slice(0, 16));
      assert.equal(get(doc, 'process.executable'), p);
      assert.deepEqual((doc.process as Doc).args, args);
      assert.equal(get(doc, 'process.command_line'), args.length > 0 ? args.join(' ') : undefined);
      assert.equal(get(doc, 'aegisbpf.cgroup_path'), cg);
    }),
    { numRuns: 500 },
  );
});

test('a label named __proto__ is a label like any other', () => {
  const [e] = generateEvents(1);
  const event = JSON.parse('{"__proto__":"x","b":"y"}') as Record<string, string>;
  const doc = JSON.parse(formatEcs({ ...e!, labels: event })) as { labels: Record<string, string> };
  assert.deepEqual(Object.entries(doc.labels), [
    ['__proto__', 'x'],
    ['b', 'y'],
  ]);
});

test('deterministic and independent of the input key order', () => {
  for (const e of generateEvents(50, { seed: 9, adversarial: true })) {
    const reversed = Object.fromEntries(Object.entries(e).reverse()) as unknown as AegisEvent;
    assert.equal(formatEcs(reversed), formatEcs(e));
    assert.equal(formatEcs(e), formatEcs(JSON.parse(JSON.stringify(e)) as AegisEvent));
  }
});

test('mapping of the decisive fields: policy hits are alerts with rule.*, enforcement is denied, signals do not undo the syscall', () => {
  const byName = new Map(goldenCases().map((c) => [c.name, c.event]));
  const kill = parse(byName.get('block-kill-adversarial')!);
  assert.equal(get(kill, 'event.kind'), 'alert');
  assert.deepEqual((kill.event as Doc).type, ['access', 'denied']);
  assert.equal(get(kill, 'event.outcome'), 'success', 'KILL signals the process; the open itself completed');
  assert.equal(get(kill, 'aegisbpf.action'), 'KILL');
  assert.equal(get(kill, 'rule.id'), 'deny|tmp=exec');
  assert.equal(get(kill, 'event.severity'), severityOf(byName.get('block-kill-adversarial')!));
  const audit = parse(byName.get('block-audit')!);
  assert.deepEqual((audit.event as Doc).type, ['access', 'allowed']);
  assert.equal(get(audit, 'file.inode'), '1837265', 'file.inode is a keyword in ECS');
  const blocked = parse(byName.get('connect-ipv6-block')!);
  assert.equal(get(blocked, 'event.outcome'), 'failure');
  assert.equal(get(blocked, 'destination.ip'), '2001:db8::dead:beef');
  assert.equal(get(blocked, 'network.type'), 'ipv6');
  const plain = parse(byName.get('connect-ipv4')!);
  assert.equal(get(plain, 'event.kind'), 'event');
  assert.equal(get(plain, 'rule.id'), undefined);
  const exit = parse(byName.get('exit-signal')!);
  assert.equal(get(exit, 'process.exit_code'), undefined, 'no misleading exit code 0 for a process killed by a signal');
  assert.equal(get(exit, 'aegisbpf.signal'), 9);
  const exec = parse(byName.get('exec-full')!);
  assert.equal(get(exec, 'process.entity_id'), 'web-1:4242:987654321000');
  assert.equal(get(exec, 'process.parent.pid'), 4200);
  assert.equal(get(exec, 'user.id'), '1000');
  assert.equal(get(exec, 'event.id'), 'web-1:1:42');
  assert.equal(get(exec, 'labels.team'), 'edge');
  assert.equal(get(exec, 'aegisbpf.type'), 'exec', 'the guide’s aegisbpf.type queries keep working');
  assert.equal(exec['process.ppid' as string], undefined);
});

test('process.start comes from start_ts, or from start_time with the boot time the formatter context provides', () => {
  const [e] = generateEvents(1);
  const noStart = { ...e!, start_ts: undefined } as AegisEvent;
  assert.equal(get(parse(noStart), 'process.start'), undefined, 'no invented datetime');
  const f = createFormatter('ecs', { hostname: 'h', version: '0', bootWallNanos: 1_700_000_000_000_000_000n });
  const doc = JSON.parse(f.format(noStart)) as Doc;
  const expectedMillis = Number((1_700_000_000_000_000_000n + BigInt(noStart.start_time)) / 1_000_000n);
  assert.equal(Date.parse(get(doc, 'process.start') as string), expectedMillis);
});

test('ecs is registered and built through the registry', () => {
  assert.ok(formatterNames().includes('ecs'));
  const [e] = generateEvents(1);
  assert.equal(createFormatter('ecs', { hostname: 'h', version: '0' }).format(e!), formatEcs(e!));
  assert.equal(ecsFormatter.output, 'string');
});
