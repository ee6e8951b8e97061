/**
 * The numbered constants of bpf/include/aegis_abi.h (op codes, hooks, actions, verdicts, flags, sizes) against
 * their TS mirror. Enums that are only used as constants are not in the object's BTF, so this reads the header.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { PACKAGE_ROOT } from '../../src/util/paths';
import {
  ACTION_IDS,
  ACTION_MAX,
  ARGS_MAX,
  COMM_LEN,
  FLAG,
  HOOK_NAMES,
  LEAF_MAX,
  MAPS,
  MAP_ID_MAX,
  MAP_ID_NAMES,
  MODE_IDS,
  OP,
  OP_MAX,
  PATH_MAX,
  PROGRAMS,
  RODATA,
  VERDICT_NAMES,
} from '../../src/sensor/abi';

const root = PACKAGE_ROOT;
const header = fs.readFileSync(path.join(root, 'bpf', 'include', 'aegis_abi.h'), 'utf8');

function enumValues(prefix: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const m of header.matchAll(new RegExp(`\\b${prefix}([A-Z0-9_]+) = (\\d+),`, 'g')))
    out.set(m[1] as string, Number(m[2]));
  return out;
}

function define(name: string): number {
  const m = new RegExp(`#define ${name} \\(?(\\d+)(?:u << (\\d+)\\))?`).exec(header);
  if (m === null) throw new Error(`#define ${name} not found`);
  return m[2] === undefined ? Number(m[1]) : Number(m[1]) << Number(m[2]);
}

void test('op codes', () => {
  const c = enumValues('AEGIS_OP_');
  for (const [name, v] of Object.entries(OP)) assert.equal(c.get(name), v, `AEGIS_OP_${name}`);
  assert.equal(c.get('MAX'), OP_MAX);
  const cNames = [...c.keys()].filter((k) => k !== 'NONE' && k !== 'MAX').sort();
  assert.deepEqual(cNames, Object.keys(OP).sort(), 'every C op has a TS name');
});

void test('hooks, actions, verdicts, modes, map ids', () => {
  const hooks = enumValues('AEGIS_HOOK_');
  for (const [name, id] of hooks) {
    if (name === 'NONE' || name === 'MAX') continue;
    const ts = HOOK_NAMES[id] ?? '';
    assert.equal(ts.replace(/[/]/g, '_').toUpperCase(), name, `hook ${id}`);
  }
  assert.equal(HOOK_NAMES.length, hooks.size - 1, 'one TS name per C hook (index 0 = none)');
  const actions = enumValues('AEGIS_ACT_');
  for (const [name, v] of Object.entries(ACTION_IDS)) assert.equal(actions.get(name), v, `AEGIS_ACT_${name}`);
  assert.equal(actions.get('MAX'), ACTION_MAX);
  const verdicts = enumValues('AEGIS_VERDICT_');
  assert.deepEqual(
    [...verdicts.entries()].sort((a, b) => a[1] - b[1]).map(([n]) => n.toLowerCase()),
    VERDICT_NAMES,
  );
  const modes = enumValues('AEGIS_MODE_');
  assert.equal(modes.get('AUDIT'), MODE_IDS.audit);
  assert.equal(modes.get('ENFORCE'), MODE_IDS.enforce);
  const mapIds = enumValues('AEGIS_MAP_');
  assert.equal(mapIds.get('ID_MAX'), MAP_ID_MAX);
  assert.equal(mapIds.size - 1, MAP_ID_NAMES.length, 'one TS name per C map id');
});

void test('flags and sizes', () => {
  for (const [name, v] of Object.entries(FLAG)) assert.equal(define(`AEGIS_F_${name}`), v, `AEGIS_F_${name}`);
  assert.equal(define('AEGIS_COMM_LEN'), COMM_LEN);
  assert.equal(define('AEGIS_PATH_MAX'), PATH_MAX);
  assert.equal(define('AEGIS_LEAF_MAX'), LEAF_MAX);
  assert.equal(define('AEGIS_ARGS_MAX'), ARGS_MAX);
});

void test('map, rodata and program names exist in the BPF sources', () => {
  const maps = fs.readFileSync(path.join(root, 'bpf', 'include', 'aegis_maps.h'), 'utf8');
  for (const name of Object.values(MAPS))
    assert.match(maps, new RegExp(`\\} ${name} SEC\\("\\.maps"\\);`), `map ${name}`);
  for (const name of Object.values(RODATA))
    assert.match(maps, new RegExp(`AEGIS_RODATA\\(__u32, ${name},`), `rodata ${name}`);
  const sources = ['process', 'file', 'net']
    .flatMap((d) =>
      fs.readdirSync(path.join(root, 'bpf', d)).map((f) => fs.readFileSync(path.join(root, 'bpf', d, f), 'utf8')),
    )
    .join('\n');
  const cPrograms = [...sources.matchAll(/^int (?:BPF_PROG\()?(aegis_\w+)/gm)].map((m) => m[1] as string).sort();
  assert.deepEqual(
    cPrograms,
    [...PROGRAMS.common, ...PROGRAMS.cgroup, ...PROGRAMS.ingress, ...PROGRAMS.lsm, ...PROGRAMS.tracepoint].sort(),
  );
});
