/**
 * The build-time validators (src/util/precompiled-validator.ts): a built tree has one for every schema, they give the
 * same verdicts and the same errors as validators compiled at run time, and a schema that changed after the build is
 * compiled at run time instead of being checked by a stale module.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { test } from 'node:test';
import YAML from 'yaml';
import { configValidatorSpec } from '../../src/config/load';
import { eventValidatorSpecs } from '../../src/event/validate';
import type { ValidatorSpec } from '../../src/util/precompiled-validator';
import { loadValidator, validatorModulePath } from '../../src/util/precompiled-validator';
import { packagePath } from '../../src/util/paths';
import { generateEvents, prng } from '../helpers/events';

const allSpecs = (): ValidatorSpec[] => {
  const events = eventValidatorSpecs();
  return [configValidatorSpec(), events.full, ...events.fast.values()];
};

void test('the build wrote a validator module for every schema, and they are the ones used', () => {
  for (const spec of allSpecs()) {
    assert.ok(
      fs.existsSync(validatorModulePath(spec)),
      `${spec.id}: ${validatorModulePath(spec)} missing (npm run build writes it)`,
    );
    assert.equal(loadValidator(spec).origin, 'precompiled', spec.id);
  }
});

/** Both validators of a spec: the precompiled one and one compiled now. */
function both(spec: ValidatorSpec): {
  pre: (v: unknown) => { ok: boolean; errors: string };
  now: (v: unknown) => { ok: boolean; errors: string };
} {
  const pre = loadValidator(spec).validate;
  const now = spec.createAjv({}).compile(spec.schema);
  const run = (fn: typeof pre) => (v: unknown) => {
    const ok = fn(v);
    return { ok, errors: JSON.stringify(fn.errors ?? null) };
  };
  return { pre: run(pre), now: run(now) };
}

void test('precompiled and run-time validators agree: configurations, with every error and its detail', () => {
  const { pre, now } = both(configValidatorSpec());
  const docs: unknown[] = fs
    .readdirSync(packagePath('examples'))
    .filter((f) => f.endsWith('.yml'))
    .map((f) => YAML.parse(fs.readFileSync(packagePath('examples', f), 'utf8')) as unknown);
  assert.ok(docs.length >= 3);
  docs.push(
    { sinks: { s: { type: 'nope' } } },
    { sinks: { s: { type: 'file', path: '/x', batch: { max_events: 0 } } }, extra: 1 },
    { sources: { 'bad name!': { type: 'replay' } }, sinks: { s: { type: 'splunk_hec', url: 3, format: 'cef2' } } },
    [],
    null,
  );
  let invalid = 0;
  for (const d of docs) {
    const a = pre(d);
    const b = now(d);
    assert.deepEqual(a, b, JSON.stringify(d));
    if (!a.ok) invalid++;
  }
  assert.ok(invalid >= 5, 'the broken documents were refused');
});

void test('precompiled and run-time validators agree: events, valid and mutated', () => {
  const specs = eventValidatorSpecs();
  const full = both(specs.full);
  const fast = new Map([...specs.fast].map(([type, spec]) => [type, both(spec)]));
  const rand = prng(7);
  const mutations: ((e: Record<string, unknown>) => void)[] = [
    () => undefined,
    (e) => (e.pid = -1),
    (e) => (e.comm = 'x'.repeat(40)),
    (e) => (e.unknown_field = true),
    (e) => delete e.ts,
    (e) => (e.ts = '2026-11-21 10:00:00'),
    (e) => (e.args = [1, 2]),
  ];
  let refused = 0;
  for (const ev of generateEvents(300, { seed: 11 })) {
    const e = { ...ev } as Record<string, unknown>;
    (mutations[Math.floor(rand() * mutations.length)] as (e: Record<string, unknown>) => void)(e);
    const a = full.pre(e);
    assert.deepEqual(a, full.now(e));
    const f = fast.get(String(e.type));
    if (f !== undefined) assert.deepEqual(f.pre(e), f.now(e));
    if (!a.ok) refused++;
  }
  assert.ok(refused > 50, `mutations were refused (${refused})`);
});

void test('a schema that changed after the build is compiled at run time, not checked by the old module', () => {
  const spec = configValidatorSpec();
  const changed: ValidatorSpec = {
    ...spec,
    schema: { ...(spec.schema as object), description: 'changed after the build' },
  };
  assert.notEqual(validatorModulePath(changed), validatorModulePath(spec));
  const loaded = loadValidator(changed);
  assert.equal(loaded.origin, 'compiled');
  assert.equal(loaded.validate({ sinks: { s: { type: 'nope' } } }), false);
});
