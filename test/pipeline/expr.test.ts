import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compileExpression } from '../../src/pipeline/expr';
import type { AegisEvent } from '../../src/event/types';
import { generateEvents } from '../helpers/events';

const sample = generateEvents(10);
const exec = sample.find((e) => e.type === 'exec');
const exit = sample.find((e) => e.type === 'exit');
const block = sample.find((e) => e.type === 'block');
const ev = (over: Record<string, unknown>): AegisEvent => ({ ...block!, ...over });

const cases: [string, AegisEvent, boolean][] = [
  ['type == "block"', ev({}), true],
  ["type == 'exec'", ev({}), false],
  ['type != "exec"', ev({}), true],
  ['uid == 0', ev({ uid: 0 }), true],
  ['uid == "0"', ev({ uid: 0 }), false], // no coercion
  ['pid > 100 && pid < 5000', ev({ pid: 4242 }), true],
  ['pid >= 4242 && pid <= 4242', ev({ pid: 4242 }), true],
  ['pid > "100"', ev({ pid: 4242 }), false],
  ['action in ["KILL", "TERM"]', ev({ action: 'KILL' }), true],
  ['action not in ["KILL", "TERM"]', ev({ action: 'KILL' }), false],
  ['path startsWith "/etc/"', ev({ path: '/etc/shadow' }), true],
  ['path endsWith "shadow"', ev({ path: '/etc/shadow' }), true],
  ['path contains "sha"', ev({ path: '/etc/shadow' }), true],
  ['args contains "-c"', ev({ args: ['sh', '-c', 'x'] }), true],
  ['args contains "-x"', ev({ args: ['sh', '-c', 'x'] }), false],
  ['path matches "^/(tmp|dev/shm)/"', ev({ path: '/dev/shm/x' }), true],
  ['path matches "^/(tmp|dev/shm)/"', ev({ path: '/etc/x' }), false],
  ['resolved_path == null', ev({}), true], // a missing field is null
  ['!(type == "block")', ev({}), false],
  ['type == "exec" || type == "block" && action == "KILL"', ev({ action: 'KILL' }), true], // && binds tighter
  ['(type == "exec" || type == "block") && action == "AUDIT"', ev({ action: 'KILL' }), false],
  ['labels.team == "edge"', ev({ labels: { team: 'edge' } }), true],
  ['labels.team == "edge"', ev({}), false],
  ['args_truncated', ev({ args_truncated: true }), true],
  ['true', ev({}), true],
  ['path == "a\\"b\\\\c\\n"', ev({ path: 'a"b\\c\n' }), true],
  ['remote_port == -1', ev({}), false],
];

for (const [source, event, expected] of cases) {
  test(`${source} → ${String(expected)}`, () => {
    assert.equal(compileExpression(source).test(event), expected);
  });
}

test('fields referenced are reported', () => {
  assert.deepEqual([...compileExpression('type == "exec" && (uid == 0 || labels.x == "y")').fields].sort(), [
    'labels',
    'type',
    'uid',
  ]);
});

test('syntax errors name the position and the problem', () => {
  const bad: [string, RegExp][] = [
    ['type ==', /ended early/],
    ['type == "exec" &&', /ended early/],
    ['(type == "exec"', /expected '\)'/],
    ['type = "exec"', /unexpected character "="/],
    ['type == "exec', /unterminated string/],
    ['type == "exec" "x"', /unexpected '"x"'/],
    ['path matches type', /needs a regular-expression string literal/],
    ['path matches "("', /invalid regular expression/],
    ['action in [type]', /only literals/],
  ];
  for (const [source, pattern] of bad)
    assert.throws(
      () => compileExpression(source),
      (err: Error & { code?: string }) => pattern.test(err.message) && /AEGIS_ERR_EXPR_/.test(err.code ?? ''),
      source,
    );
});

test('unknown fields are configuration errors, not silent nulls', () => {
  assert.throws(
    () => compileExpression('pathh == "/x"'),
    (err: Error & { code?: string }) =>
      err.code === 'AEGIS_ERR_EXPR_FIELD' && /unknown field 'pathh'/.test(err.message),
  );
  assert.throws(() => compileExpression('path.x == "/x"'), /only labels.<name> may use a dot/);
});

test('no code execution: constructor/prototype names are just unknown fields', () => {
  assert.throws(() => compileExpression('constructor == 1'), /unknown field 'constructor'/);
  assert.throws(() => compileExpression('__proto__ == 1'), /unknown field '__proto__'/);
  assert.equal(compileExpression('type == "exec"').test(exec!), true);
  assert.equal(compileExpression('type == "exec"').test(exit!), false);
});
