/**
 * The TS record layouts (src/sensor/abi.ts) against the BTF of the built object: every struct the decoders or the
 * policy code use must exist in bpf/build/aegis.bpf.o with the same size, the same members, and every member at
 * the same offset with the same size. This is what catches a field added to aegis_abi.h but not to abi.ts.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { test } from 'node:test';
import { NATIVE_PATHS } from '../../src/native/binding';
import { ALL_LAYOUTS } from '../../src/sensor/abi';

interface BtfMember {
  name: string;
  type_id: number;
  bits_offset: number;
}
interface BtfType {
  id: number;
  kind: string;
  name?: string;
  size?: number;
  type_id?: number;
  nr_elems?: number;
  members?: BtfMember[];
}

function loadBtf(): Map<number, BtfType> | string {
  if (!fs.existsSync(NATIVE_PATHS.sensorObject))
    return `${NATIVE_PATHS.sensorObject} is not built (npm run build:native)`;
  const bpftool = process.env.BPFTOOL ?? 'bpftool';
  const r = spawnSync(bpftool, ['btf', 'dump', 'file', NATIVE_PATHS.sensorObject, 'format', 'raw', '-j'], {
    encoding: 'utf8',
    maxBuffer: 64 << 20,
  });
  if (r.error !== undefined || r.status !== 0)
    return `bpftool unavailable or failed (${r.error?.message ?? r.stderr.trim()})`;
  const types = (JSON.parse(r.stdout) as { types: BtfType[] }).types;
  return new Map(types.map((t) => [t.id, t]));
}

function sizeOf(types: Map<number, BtfType>, id: number): number {
  const t = types.get(id);
  if (t === undefined) throw new Error(`BTF type ${id} missing`);
  switch (t.kind) {
    case 'INT':
    case 'STRUCT':
    case 'UNION':
    case 'ENUM':
    case 'ENUM64':
      return t.size as number;
    case 'ARRAY':
      return (t.nr_elems as number) * sizeOf(types, t.type_id as number);
    case 'TYPEDEF':
    case 'CONST':
    case 'VOLATILE':
    case 'RESTRICT':
      return sizeOf(types, t.type_id as number);
    case 'PTR':
      return 8;
    default:
      throw new Error(`unexpected BTF kind ${t.kind}`);
  }
}

void test('TS record and key layouts match the BTF of bpf/build/aegis.bpf.o', (t) => {
  const types = loadBtf();
  if (typeof types === 'string') {
    t.skip(types);
    return;
  }
  const structs = new Map(
    [...types.values()].filter((x) => x.kind === 'STRUCT' && x.name !== undefined).map((x) => [x.name as string, x]),
  );
  const problems: string[] = [];
  for (const layout of ALL_LAYOUTS) {
    const s = structs.get(layout.cName);
    if (s === undefined) {
      problems.push(`struct ${layout.cName}: not in the object's BTF`);
      continue;
    }
    if (s.size !== layout.size) problems.push(`struct ${layout.cName}: size ${s.size} in C, ${layout.size} in TS`);
    const cMembers = new Map((s.members ?? []).map((m) => [m.name, m]));
    for (const [name, f] of Object.entries(layout.fields)) {
      const m = cMembers.get(name);
      if (m === undefined) {
        problems.push(`${layout.cName}.${name}: in TS, not in C`);
        continue;
      }
      const offset = m.bits_offset / 8;
      const size = sizeOf(types, m.type_id);
      if (offset !== f.offset || size !== f.size)
        problems.push(`${layout.cName}.${name}: C offset ${offset} size ${size}, TS offset ${f.offset} size ${f.size}`);
    }
    for (const name of cMembers.keys())
      if (!(name in layout.fields)) problems.push(`${layout.cName}.${name}: in C, not in TS`);
  }
  assert.deepEqual(problems, []);
});
