/**
 * Wazuh 5.x YAML decoders in rules/wazuh/5.x/decoders (no 5.x engine runs here):
 * - every file parses and follows the documented decoder structure of the 5.0.0 branch's wazuh-decoders.json
 *   (checked by the rules below, written from that schema: name `decoder/<name>/0`, metadata with its required keys,
 *   parents, check as an expression or a list of one-key objects, `parse|<field>` lists, normalize blocks in one of
 *   the five allowed shapes, nothing else);
 * - every `$_aegis.<field>` it reads is an event field, and every field it maps exists in aegisbpf's ECS output;
 * - a small evaluator of its normalize blocks (map of literals, `$` references and `array_append`; checks with
 *   `==`, `!=`, `AND`, `NOT`, `exists()`), run on every event type and adversarial events, yields for each mapped
 *   field the value the `ecs` formatter writes there.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { FIELD_ORDER } from '../../src/event/fields';
import type { AegisEvent } from '../../src/event/types';
import { formatEcs } from '../../src/formatters/ecs';
import { formatJson } from '../../src/formatters/json';
import { packagePath } from '../../src/util/paths';
import { goldenCases } from '../formatters/golden';
import { generateEvents } from '../helpers/events';

const DIR = packagePath('rules', 'wazuh', '5.x', 'decoders');
const FILES = fs.readdirSync(DIR).filter((f) => f.endsWith('.yml'));
type Obj = Record<string, unknown>;
const decoders = FILES.map((f) => ({ file: f, d: parseYaml(fs.readFileSync(path.join(DIR, f), 'utf8')) as Obj }));

const isObj = (v: unknown): v is Obj => v !== null && typeof v === 'object' && !Array.isArray(v);
const PARSE = /^parse\|\S+$/;

function checkShape(v: unknown, where: string, problems: string[]): void {
  if (typeof v === 'string') {
    const field = /\$[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*|[A-Za-z_][A-Za-z0-9_]*\(/.test(v);
    const op = /==|!=|<=|>=|<|>|\bAND\b|\bOR\b|\bNOT\b/.test(v) || /^\s*[A-Za-z_][A-Za-z0-9_]*\([^)]*\)\s*$/.test(v);
    if (!field || !op) problems.push(`${where}: check expression needs a $field or helper and an operator: ${v}`);
  } else if (Array.isArray(v)) {
    if (v.length === 0) problems.push(`${where}: empty check list`);
    for (const item of v)
      if (!isObj(item) || Object.keys(item).length !== 1) problems.push(`${where}: check items are one-key objects`);
  } else problems.push(`${where}: check must be a string or a list`);
}

function structureProblems(d: Obj, file: string): string[] {
  const p: string[] = [];
  for (const k of Object.keys(d))
    if (!['name', 'metadata', 'definitions', 'check', 'parents', 'normalize'].includes(k) && !PARSE.test(k))
      p.push(`${file}: unknown key ${k}`);
  if (typeof d.name !== 'string' || !/^decoder\/[^/]+\/0$/.test(d.name))
    p.push(`${file}: name must be decoder/<name>/0`);
  const m = d.metadata;
  if (!isObj(m)) p.push(`${file}: metadata required`);
  else {
    for (const k of ['module', 'title', 'description', 'compatibility', 'versions', 'author', 'references'])
      if (!(k in m)) p.push(`${file}: metadata.${k} required`);
    for (const k of Object.keys(m))
      if (!['module', 'title', 'description', 'compatibility', 'versions', 'author', 'references'].includes(k))
        p.push(`${file}: unknown metadata.${k}`);
    const a = m.author;
    if (!isObj(a) || typeof a.name !== 'string' || typeof a.date !== 'string')
      p.push(`${file}: author needs name and date`);
    if (!Array.isArray(m.versions) || !Array.isArray(m.references))
      p.push(`${file}: versions and references are lists`);
  }
  if (d.parents !== undefined && (!Array.isArray(d.parents) || !d.parents.every((x) => typeof x === 'string')))
    p.push(`${file}: parents is a list of names`);
  if (d.check !== undefined) checkShape(d.check, `${file} check`, p);
  for (const [k, v] of Object.entries(d))
    if (PARSE.test(k) && (!Array.isArray(v) || v.length === 0 || !v.every((x) => typeof x === 'string' && x !== '')))
      p.push(`${file}: ${k} is a non-empty list of parser expressions`);
  if (!Array.isArray(d.normalize) || d.normalize.length === 0) p.push(`${file}: normalize is a non-empty list`);
  else
    d.normalize.forEach((b: unknown, i) => {
      const where = `${file} normalize[${i}]`;
      if (!isObj(b)) return void p.push(`${where}: a block is an object`);
      const keys = Object.keys(b);
      const parses = keys.filter((k) => PARSE.test(k));
      for (const k of keys) if (k !== 'check' && k !== 'map' && !PARSE.test(k)) p.push(`${where}: unknown key ${k}`);
      if (!('map' in b) && parses.length === 0) p.push(`${where}: needs map or parse|…`);
      if ('check' in b) checkShape(b.check, where, p);
      if ('map' in b) {
        const map = b.map;
        if (!Array.isArray(map) || map.length === 0) p.push(`${where}: map is a non-empty list`);
        else
          for (const it of map)
            if (!isObj(it) || Object.keys(it).length !== 1) p.push(`${where}: map items are one-key objects`);
      }
    });
  return p;
}

test('every 5.x decoder parses and follows the documented decoder structure', () => {
  assert.deepEqual(FILES.sort(), ['aegisbpf-json.yml', 'aegisbpf-syslog.yml']);
  for (const { file, d } of decoders) assert.deepEqual(structureProblems(d, file), []);
  // No 4.x constructs.
  for (const f of FILES)
    assert.doesNotMatch(fs.readFileSync(path.join(DIR, f), 'utf8'), /plugin_decoder|use_own_name|pcre2|offset/);
  // The structure check itself rejects what it should.
  assert.ok(
    structureProblems({ name: 'decoder/x/1', metadata: {}, id: 'x', normalize: [{ foo: 1 }] }, 't').length >= 4,
  );
});

// ---- evaluator ----------------------------------------------------------------------------------------------------

type Ctx = Obj;
function ref(ctx: Ctx, r: string): unknown {
  return r
    .replace(/^\$/, '')
    .split('.')
    .reduce<unknown>((o, k) => (isObj(o) ? o[k] : undefined), ctx);
}
function evalCheck(expr: string, ctx: Ctx): boolean {
  return expr.split(/\s+AND\s+/).every((term) => {
    let t = term.trim();
    let negate = false;
    if (t.startsWith('NOT ')) {
      negate = true;
      t = t.slice(4).trim();
    }
    let r: boolean;
    const ex = /^exists\((\$[\w.]+)\)$/.exec(t);
    const cmp = /^(\$[\w.]+)\s*(==|!=)\s*'([^']*)'$/.exec(t);
    if (ex !== null) r = ref(ctx, ex[1] as string) !== undefined;
    else if (cmp !== null) {
      const v = ref(ctx, cmp[1] as string);
      r = cmp[2] === '==' ? v === cmp[3] : v !== cmp[3];
    } else throw new Error(`not modelled: ${t}`);
    return negate ? !r : r;
  });
}
function setPath(o: Obj, p: string, v: unknown): void {
  const ks = p.split('.');
  let cur = o;
  for (const k of ks.slice(0, -1)) cur = cur[k] = isObj(cur[k]) ? cur[k] : {};
  cur[ks[ks.length - 1] as string] = v;
}
/** The document the decoder's normalize stage builds from one json line; `mapped` lists the fields it set. */
function normalize(d: Obj, line: string): { doc: Obj; mapped: Set<string> } {
  const ctx: Ctx = { _aegis: JSON.parse(line) as unknown };
  const doc: Obj = {};
  const mapped = new Set<string>();
  for (const b of d.normalize as Obj[]) {
    if (typeof b.check === 'string' && !evalCheck(b.check, ctx)) continue;
    const staged: [string, unknown][] = [];
    let ok = true;
    for (const it of b.map as Obj[]) {
      const [field, value] = Object.entries(it)[0] as [string, unknown];
      let v: unknown;
      if (typeof value === 'string' && value.startsWith('$')) v = ref(ctx, value);
      else if (typeof value === 'string' && value.startsWith('array_append(')) {
        const prev = ref(doc, field);
        const add = value
          .slice('array_append('.length, -1)
          .split(',')
          .map((s) => s.trim());
        v = [...(Array.isArray(prev) ? prev : []), ...add];
      } else v = value;
      // Strict reading: a missing reference fails the whole block (the blocks are written so this never happens).
      if (v === undefined) ok = false;
      staged.push([field, v]);
    }
    if (!ok) continue;
    for (const [f, v] of staged) {
      setPath(doc, f, v);
      mapped.add(f);
    }
  }
  return { doc, mapped };
}

function flatten(v: unknown, prefix: string, out: Map<string, unknown>): void {
  if (isObj(v)) for (const [k, x] of Object.entries(v)) flatten(x, prefix === '' ? k : `${prefix}.${k}`, out);
  else out.set(prefix, v);
}

test('every field read is an event field, every field mapped is in the ECS output, with the value ecs writes', () => {
  const events: AegisEvent[] = [
    ...goldenCases().map((c) => c.event),
    ...generateEvents(300, { adversarial: true, seed: 25 }),
  ];
  const eventFields = new Set<string>(FIELD_ORDER);
  const ecsFields = new Set<string>();
  for (const e of events) {
    const m = new Map<string, unknown>();
    flatten(JSON.parse(formatEcs(e)), '', m);
    for (const k of m.keys()) ecsFields.add(k);
  }
  for (const { file, d } of decoders) {
    const text = JSON.stringify(d);
    for (const m of text.matchAll(/\$_aegis\.([A-Za-z_]+)/g))
      assert.ok(eventFields.has(m[1] as string), `${file}: ${m[1]}`);
    const targets = new Set<string>();
    for (const b of d.normalize as Obj[])
      for (const it of (b.map as Obj[] | undefined) ?? []) targets.add(Object.keys(it)[0] as string);
    for (const t of targets) assert.ok(ecsFields.has(t), `${file}: ${t} is not a field of the ecs output`);
    const seen = new Set<string>();
    for (const e of events) {
      const { doc, mapped } = normalize(d, formatJson(e));
      const ecs = new Map<string, unknown>();
      flatten(JSON.parse(formatEcs(e)), '', ecs);
      for (const f of mapped) {
        seen.add(f);
        assert.deepEqual(ref(doc, f), ecs.get(f), `${file} ${e.type}: ${f}`);
      }
    }
    for (const t of targets) assert.ok(seen.has(t), `${file}: ${t} never mapped by any sample`);
  }
});
