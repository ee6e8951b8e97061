/**
 * Keeps the TypeScript event types and rules/schema/event.schema.json in sync. The compiler ties EVENT_FIELDS to
 * the interfaces (key by key, kind and optionality); this test ties EVENT_FIELDS to the schema.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EVENT_FIELDS, FIELD_ORDER } from '../../src/event/fields';
import type { FieldKind } from '../../src/event/fields';
import { EVENT_TYPES, ACTIONS, MODES } from '../../src/event/types';
import { loadEventSchema } from '../../src/event/validate';

interface Prop {
  type?: string;
  items?: { type?: string };
  additionalProperties?: { type?: string };
  enum?: unknown[];
}
const schema = loadEventSchema() as {
  properties: Record<string, Prop>;
  required: string[];
  $defs: Record<string, { properties: Record<string, Prop>; required: string[] }>;
};

function kindOf(p: Prop): FieldKind {
  if (p.type === 'array' && p.items?.type === 'string') return 'string[]';
  if (p.type === 'object' && p.additionalProperties?.type === 'string') return 'string-map';
  return p.type as FieldKind;
}

test('every event type in the TS union has a $defs entry in the schema and vice versa', () => {
  assert.deepEqual(Object.keys(schema.$defs).sort(), [...EVENT_TYPES].sort());
  assert.deepEqual((schema.properties.type!.enum as string[]).sort(), [...EVENT_TYPES].sort());
});

for (const type of EVENT_TYPES) {
  test(`fields of '${type}' agree between TS and schema (names, kinds, required)`, () => {
    const def = schema.$defs[type]!;
    const schemaProps: Record<string, Prop> = { ...schema.properties, ...def.properties };
    const schemaRequired = new Set([...schema.required, ...def.required]);
    const table = EVENT_FIELDS[type];
    assert.deepEqual(Object.keys(table).sort(), Object.keys(schemaProps).sort(), 'field names');
    for (const [name, spec] of Object.entries(table)) {
      assert.equal(kindOf(schemaProps[name]!), spec.kind, `kind of ${type}.${name}`);
      assert.equal(schemaRequired.has(name), spec.required, `required-ness of ${type}.${name}`);
    }
  });
}

test('enumerations agree: action, mode', () => {
  assert.deepEqual(schema.$defs.block!.properties.action!.enum, [...ACTIONS]);
  assert.deepEqual(schema.properties.mode!.enum, [...MODES]);
});

test('FIELD_ORDER lists every field exactly once', () => {
  const all = new Set<string>();
  for (const t of EVENT_TYPES) for (const k of Object.keys(EVENT_FIELDS[t])) all.add(k);
  assert.equal(new Set(FIELD_ORDER).size, FIELD_ORDER.length, 'no duplicates');
  assert.deepEqual([...FIELD_ORDER].sort(), [...all].sort());
});

test('a field name has the same kind in every event type', () => {
  const kinds = new Map<string, string>();
  for (const t of EVENT_TYPES) {
    for (const [k, spec] of Object.entries(EVENT_FIELDS[t])) {
      const seen = kinds.get(k);
      if (seen !== undefined) assert.equal(spec.kind, seen, `${k} in ${t}`);
      kinds.set(k, spec.kind);
    }
  }
});

test('no key is both a leaf and a prefix (flat names, labels only as a map)', () => {
  const names = [...FIELD_ORDER] as string[];
  for (const a of names) for (const b of names) assert.ok(!b.startsWith(a + '.'), `${a} is a prefix of ${b}`);
});

test('every integer field of the event schema has a maximum (what its kernel type holds), so 1.2e29 cannot pass as an integer', () => {
  const all: Record<string, { type?: string; maximum?: number }> = { ...schema.properties };
  for (const def of Object.values(schema.$defs)) Object.assign(all, def.properties);
  const integers = Object.entries(all).filter(([, p]) => p.type === 'integer');
  assert.ok(integers.length >= 10);
  for (const [name, p] of integers) {
    assert.equal(typeof p.maximum, 'number', `${name} has no maximum`);
    assert.ok(p.maximum! <= 2 ** 64, `${name}: maximum ${String(p.maximum)}`);
  }
});
