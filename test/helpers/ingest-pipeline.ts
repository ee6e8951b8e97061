/**
 * An interpreter for Elasticsearch ingest pipelines, for testing aegisbpf's pipeline where no Elasticsearch with
 * ingest processors can run (the test distribution has none: docs/test-services.md §2.3).
 *
 * Written from the Elasticsearch 8.x processor reference (elastic.co/guide/en/elasticsearch/reference/8.x/
 * <name>-processor.html) and "Handling pipeline failures"/"Conditionally run a processor". It models exactly the
 * processors and options aegisbpf's pipelines use, and throws `NotModelled` for anything else (another processor
 * type, an unknown option, a Painless construct outside the subset below, a `{{double-brace}}` template), so a
 * pipeline change can never silently run under semantics the interpreter does not have.
 *
 * Modelled:
 * - processors `set` (value with `{{{triple-brace}}}` mustache, copy_from, override, ignore_empty_value), `remove`
 *   (string or list, ignore_missing), `rename` (ignore_missing, override; fails if the target exists),
 *   `json` (field, target_field; fails on invalid JSON), `convert` (type `string` only, target_field,
 *   ignore_missing), `join` (fails if the field is not a list), `gsub` (literal patterns only), `append` (value or
 *   list, allow_duplicates), `pipeline` (a named pipeline given to runPipeline, run in place with its own
 *   on_failure; ignore_missing_pipeline), and on every
 *   processor `if`, `tag`, `description`, `ignore_failure`, `on_failure`;
 * - pipeline-level `on_failure`: run with `_ingest.on_failure_message` etc., then stop; the document is kept in the
 *   state it had (as Elasticsearch indexes it);
 * - dotted field paths with intermediate objects created on set, errors on missing fields and non-object parents;
 * - Painless conditions: `ctx` paths with `.`/`?.`, `==`/`!=` (value equality, numbers numerically), `&&`, `||`,
 *   `!`, parentheses, string/number/boolean/null literals, and the methods `startsWith(s)`, `isEmpty()`,
 *   `contains(x)`; `.` on null throws (Painless's NullPointerException), `?.` yields null.
 * Known differences: JSON duplicate keys are not rejected (the json format never writes them); integers beyond 2^53
 * lose precision (the json format never writes them); numbers are rendered by mustache as JavaScript does (only
 * strings and integers are rendered by aegisbpf's pipeline).
 */

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type Doc = { [key: string]: Json };

export class NotModelled extends Error {
  constructor(what: string) {
    super(`not modelled by the test interpreter: ${what}`);
    this.name = 'NotModelled';
  }
}

/** An ingest failure, with the message Elasticsearch would put in `_ingest.on_failure_message`. */
export class IngestFailure extends Error {
  constructor(
    message: string,
    readonly processorType: string,
    readonly tag: string | undefined,
  ) {
    super(message);
    this.name = 'IngestFailure';
  }
}

const isObj = (v: unknown): v is { [key: string]: Json } => v !== null && typeof v === 'object' && !Array.isArray(v);
const clone = <T>(v: T): T => (v === undefined ? v : (JSON.parse(JSON.stringify(v)) as T));

// ---------------------------------------------------------------------------------------------- field paths

function resolveParent(
  doc: Doc,
  path: string,
  create: boolean,
): { parent: { [key: string]: Json }; key: string } | undefined {
  const parts = path.split('.');
  let cur: Json = doc;
  for (let i = 0; i < parts.length - 1; i++) {
    const p = parts[i] as string;
    if (!isObj(cur))
      throw new Error(`cannot resolve [${p}] from object of type [${typeName(cur)}] as part of path [${path}]`);
    if (!(p in cur) || cur[p] === null) {
      if (!create) return undefined;
      cur[p] = {};
    }
    cur = cur[p] as Json;
    if (!isObj(cur)) {
      if (create)
        throw new Error(
          `cannot set [${parts[i + 1] as string}] with parent object of type [${typeName(cur)}] as part of path [${path}]`,
        );
      return undefined;
    }
  }
  return { parent: cur, key: parts[parts.length - 1] as string };
}

function typeName(v: Json): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'java.util.ArrayList';
  if (typeof v === 'string') return 'java.lang.String';
  if (typeof v === 'number') return 'java.lang.Integer';
  if (typeof v === 'boolean') return 'java.lang.Boolean';
  return 'java.util.HashMap';
}

export function hasField(doc: Doc, path: string): boolean {
  const r = resolveParent(doc, path, false);
  return r !== undefined && Object.prototype.hasOwnProperty.call(r.parent, r.key);
}

export function getField(doc: Doc, path: string): Json {
  const r = resolveParent(doc, path, false);
  if (r === undefined || !Object.prototype.hasOwnProperty.call(r.parent, r.key))
    throw new Error(`field [${path.split('.').pop() as string}] not present as part of path [${path}]`);
  return r.parent[r.key] as Json;
}

function setField(doc: Doc, path: string, value: Json): void {
  const r = resolveParent(doc, path, true) as { parent: { [key: string]: Json }; key: string };
  r.parent[r.key] = value;
}

function removeField(doc: Doc, path: string): void {
  const r = resolveParent(doc, path, false);
  if (r === undefined || !Object.prototype.hasOwnProperty.call(r.parent, r.key))
    throw new Error(`field [${path.split('.').pop() as string}] not present as part of path [${path}]`);
  delete r.parent[r.key];
}

// ---------------------------------------------------------------------------------------------- mustache

/** Render `{{{path}}}` snippets; a missing value renders as the empty string (mustache). */
export function renderTemplate(template: string, doc: Doc): string {
  if (/\{\{(?!\{)/.test(template.replace(/\{\{\{[^}]*\}\}\}/g, '')))
    throw new NotModelled(`double-brace mustache in ${JSON.stringify(template)}`);
  return template.replace(/\{\{\{\s*([^}\s]+)\s*\}\}\}/g, (_, path: string) => {
    const v = hasField(doc, path) ? getField(doc, path) : null;
    if (v === null) return '';
    if (typeof v === 'string') return v;
    if (typeof v === 'number' && Number.isInteger(v)) return String(v);
    if (typeof v === 'boolean') return String(v);
    throw new NotModelled(`mustache rendering of ${typeName(v)} at ${path}`);
  });
}

function renderValue(v: Json, doc: Doc): Json {
  if (typeof v === 'string') return v.includes('{{') ? renderTemplate(v, doc) : v;
  if (Array.isArray(v)) return v.map((x) => renderValue(x, doc));
  if (isObj(v)) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, renderValue(x, doc)]));
  return v;
}

// ---------------------------------------------------------------------------------------------- painless subset

type Tok = { t: 'op' | 'id' | 'str' | 'num'; v: string };

function lex(src: string): Tok[] {
  const out: Tok[] = [];
  let i = 0;
  while (i < src.length) {
    const c = src[i] as string;
    if (/\s/.test(c)) {
      i++;
      continue;
    }
    const two = src.slice(i, i + 2);
    if (['==', '!=', '&&', '||', '?.'].includes(two)) {
      out.push({ t: 'op', v: two });
      i += 2;
      continue;
    }
    if ('()!.,'.includes(c)) {
      out.push({ t: 'op', v: c });
      i++;
      continue;
    }
    if (c === "'" || c === '"') {
      let j = i + 1;
      let s = '';
      while (j < src.length && src[j] !== c) {
        if (src[j] === '\\') throw new NotModelled('escapes in Painless string literals');
        s += src[j];
        j++;
      }
      if (j >= src.length) throw new Error(`unterminated string in ${src}`);
      out.push({ t: 'str', v: s });
      i = j + 1;
      continue;
    }
    const num = /^\d+/.exec(src.slice(i));
    if (num !== null) {
      out.push({ t: 'num', v: num[0] });
      i += num[0].length;
      continue;
    }
    const id = /^[A-Za-z_][A-Za-z0-9_]*/.exec(src.slice(i));
    if (id !== null) {
      out.push({ t: 'id', v: id[0] });
      i += id[0].length;
      continue;
    }
    throw new NotModelled(`Painless token at ${JSON.stringify(src.slice(i, i + 10))} in ${src}`);
  }
  return out;
}

type Val = Json | undefined;
type Expr = (ctx: Doc) => Val;

export function compileCondition(src: string): (ctx: Doc) => boolean {
  const toks = lex(src);
  let pos = 0;
  const peek = (): Tok | undefined => toks[pos];
  const isOp = (v: string): boolean => peek()?.t === 'op' && peek()?.v === v;
  const expect = (v: string): void => {
    if (!isOp(v)) throw new NotModelled(`expected '${v}' at token ${pos} in ${src}`);
    pos++;
  };
  const bool = (v: Val, what: string): boolean => {
    if (typeof v !== 'boolean') throw new Error(`ClassCastException: ${what} is not a boolean in [${src}]`);
    return v;
  };

  const primary = (): Expr => {
    const tok = peek();
    if (tok === undefined) throw new NotModelled(`unexpected end of ${src}`);
    if (isOp('(')) {
      pos++;
      const e = or();
      expect(')');
      return e;
    }
    pos++;
    if (tok.t === 'str') return () => tok.v;
    if (tok.t === 'num') return () => Number(tok.v);
    if (tok.t === 'id' && tok.v === 'null') return () => null;
    if (tok.t === 'id' && (tok.v === 'true' || tok.v === 'false')) return () => tok.v === 'true';
    if (tok.t === 'id' && tok.v === 'ctx') {
      let e: Expr = (ctx) => ctx;
      while (isOp('.') || isOp('?.')) {
        const nullSafe = (peek() as Tok).v === '?.';
        pos++;
        const name = peek();
        if (name?.t !== 'id') throw new NotModelled(`member name expected in ${src}`);
        pos++;
        const target = e;
        if (isOp('(')) {
          pos++;
          const args: Expr[] = [];
          while (!isOp(')')) {
            args.push(or());
            if (isOp(',')) pos++;
          }
          pos++;
          e = method(target, name.v, args, nullSafe);
        } else {
          e = (ctx) => {
            const o = target(ctx);
            if (o === null || o === undefined) {
              if (nullSafe) return null;
              throw new Error(`NullPointerException: cannot access [${name.v}] of null in [${src}]`);
            }
            if (!isObj(o)) throw new NotModelled(`member access on ${typeName(o)}`);
            return Object.prototype.hasOwnProperty.call(o, name.v) ? o[name.v] : null;
          };
        }
      }
      return e;
    }
    throw new NotModelled(`Painless expression starting with ${JSON.stringify(tok.v)} in ${src}`);
  };

  const method =
    (target: Expr, name: string, args: Expr[], nullSafe: boolean): Expr =>
    (ctx) => {
      const o = target(ctx);
      if (o === null || o === undefined) {
        if (nullSafe) return null;
        throw new Error(`NullPointerException: cannot invoke ${name}() on null in [${src}]`);
      }
      const a = args.map((x) => x(ctx));
      switch (name) {
        case 'startsWith':
          if (typeof o !== 'string' || typeof a[0] !== 'string') throw new Error(`startsWith on ${typeName(o)}`);
          return o.startsWith(a[0]);
        case 'isEmpty':
          if (typeof o === 'string') return o.length === 0;
          if (Array.isArray(o)) return o.length === 0;
          if (isObj(o)) return Object.keys(o).length === 0;
          throw new Error(`isEmpty on ${typeName(o)}`);
        case 'contains':
          if (typeof o === 'string' && typeof a[0] === 'string') return o.includes(a[0]);
          if (Array.isArray(o)) return o.some((x) => equal(x, a[0]));
          throw new Error(`contains on ${typeName(o)}`);
        default:
          throw new NotModelled(`method ${name}()`);
      }
    };

  const equal = (a: Val, b: Val): boolean => {
    const x = a ?? null;
    const y = b ?? null;
    if (x === null || y === null) return x === y;
    if (typeof x === 'number' && typeof y === 'number') return x === y;
    if (typeof x === 'string' && typeof y === 'string') return x === y;
    if (typeof x === 'boolean' && typeof y === 'boolean') return x === y;
    if (typeof x !== typeof y) return false;
    throw new NotModelled(`== on ${typeName(x)}`);
  };

  const cmp = (): Expr => {
    const left = primary();
    if (isOp('==') || isOp('!=')) {
      const op = (peek() as Tok).v;
      pos++;
      const right = primary();
      return op === '==' ? (ctx) => equal(left(ctx), right(ctx)) : (ctx) => !equal(left(ctx), right(ctx));
    }
    return left;
  };
  const unary = (): Expr => {
    if (isOp('!')) {
      pos++;
      const e = unary();
      return (ctx) => !bool(e(ctx), 'operand of !');
    }
    return cmp();
  };
  const and = (): Expr => {
    let e = unary();
    while (isOp('&&')) {
      pos++;
      const l = e;
      const r = unary();
      e = (ctx) => bool(l(ctx), 'left of &&') && bool(r(ctx), 'right of &&');
    }
    return e;
  };
  const or = (): Expr => {
    let e = and();
    while (isOp('||')) {
      pos++;
      const l = e;
      const r = and();
      e = (ctx) => bool(l(ctx), 'left of ||') || bool(r(ctx), 'right of ||');
    }
    return e;
  };

  const expr = or();
  if (pos !== toks.length) throw new NotModelled(`trailing tokens in ${src}`);
  return (ctx) => bool(expr(ctx), 'the condition');
}

// ---------------------------------------------------------------------------------------------- processors

type Options = { [key: string]: Json };
export interface ProcessorSpec {
  readonly [type: string]: Options;
}
export interface PipelineSpec {
  readonly processors: readonly ProcessorSpec[];
  readonly on_failure?: readonly ProcessorSpec[];
  readonly description?: string;
}

const COMMON = ['if', 'tag', 'description', 'ignore_failure', 'on_failure'];
const OPTIONS: Readonly<Record<string, readonly string[]>> = {
  set: ['field', 'value', 'copy_from', 'override', 'ignore_empty_value'],
  remove: ['field', 'ignore_missing'],
  rename: ['field', 'target_field', 'ignore_missing', 'override'],
  json: ['field', 'target_field'],
  convert: ['field', 'target_field', 'type', 'ignore_missing'],
  join: ['field', 'separator', 'target_field'],
  gsub: ['field', 'pattern', 'replacement', 'target_field', 'ignore_missing'],
  append: ['field', 'value', 'allow_duplicates'],
  pipeline: ['name', 'ignore_missing_pipeline'],
};

/** Pipelines a `pipeline` processor can call by name, for the run in progress (runPipeline's `pipelines`). */
let namedPipelines: ReadonlyMap<string, PipelineSpec> = new Map();

/** Processor types a pipeline uses, on_failure handlers included. */
export function processorTypes(spec: {
  processors?: readonly ProcessorSpec[];
  on_failure?: readonly ProcessorSpec[];
}): Set<string> {
  const out = new Set<string>();
  const walk = (list: readonly ProcessorSpec[] | undefined): void => {
    for (const p of list ?? []) {
      for (const [type, opts] of Object.entries(p)) {
        out.add(type);
        walk(opts.on_failure as unknown as ProcessorSpec[] | undefined);
      }
    }
  };
  walk(spec.processors);
  walk(spec.on_failure);
  return out;
}

function str(opts: Options, key: string, type: string): string {
  const v = opts[key];
  if (typeof v !== 'string') throw new Error(`[${key}] required property is missing or not a string in ${type}`);
  return v;
}

function runOne(type: string, opts: Options, doc: Doc): void {
  const allowed = OPTIONS[type];
  if (allowed === undefined) throw new NotModelled(`processor type [${type}]`);
  for (const k of Object.keys(opts))
    if (!allowed.includes(k) && !COMMON.includes(k)) throw new NotModelled(`option [${k}] of ${type}`);
  switch (type) {
    case 'set': {
      const field = str(opts, 'field', type);
      if ((opts.value === undefined) === (opts.copy_from === undefined))
        throw new Error('[value] either [value] or [copy_from] must be set');
      if (opts.override === false && hasField(doc, field) && getField(doc, field) !== null) return;
      let value: Json;
      if (opts.copy_from !== undefined) {
        const from = str(opts, 'copy_from', type);
        if (!hasField(doc, from)) {
          if (opts.ignore_empty_value === true) return;
          throw new Error(`field [${from.split('.').pop() as string}] not present as part of path [${from}]`);
        }
        value = clone(getField(doc, from));
        if (opts.ignore_empty_value === true && (value === null || value === '')) return;
      } else {
        value = renderValue(clone(opts.value as Json), doc);
        if (opts.ignore_empty_value === true && typeof opts.value === 'string' && (value === null || value === ''))
          return;
      }
      setField(doc, field, value);
      return;
    }
    case 'remove': {
      const fields = Array.isArray(opts.field) ? opts.field : [opts.field];
      for (const f of fields) {
        if (typeof f !== 'string') throw new Error('[field] must be a string or a list of strings');
        if (!hasField(doc, f)) {
          if (opts.ignore_missing === true) continue;
          throw new Error(`field [${f.split('.').pop() as string}] not present as part of path [${f}]`);
        }
        removeField(doc, f);
      }
      return;
    }
    case 'rename': {
      const field = str(opts, 'field', type);
      const target = str(opts, 'target_field', type);
      if (!hasField(doc, field)) {
        if (opts.ignore_missing === true) return;
        throw new Error(`field [${field}] doesn't exist`);
      }
      if (hasField(doc, target) && opts.override !== true) throw new Error(`field [${target}] already exists`);
      const value = getField(doc, field);
      removeField(doc, field);
      setField(doc, target, value);
      return;
    }
    case 'json': {
      const field = str(opts, 'field', type);
      const raw = getField(doc, field);
      if (typeof raw !== 'string')
        throw new Error(`cannot parse JSON from field [${field}] of type [${typeName(raw)}]`);
      let parsed: Json;
      try {
        parsed = JSON.parse(raw) as Json;
      } catch (err) {
        throw new Error(
          `Unrecognized token or malformed JSON in field [${field}]: ${err instanceof Error ? err.message : String(err)}`,
        );
      }
      setField(doc, typeof opts.target_field === 'string' ? opts.target_field : field, parsed);
      return;
    }
    case 'convert': {
      const field = str(opts, 'field', type);
      if (opts.type !== 'string') throw new NotModelled(`convert to [${JSON.stringify(opts.type)}]`);
      if (!hasField(doc, field) || getField(doc, field) === null) {
        if (opts.ignore_missing === true) return;
        throw new Error(`field [${field}] not present`);
      }
      const v = getField(doc, field);
      const conv = (x: Json): Json => {
        if (typeof x === 'number' && !Number.isInteger(x))
          throw new NotModelled('convert of a floating point number to string');
        if (x === null || typeof x === 'object') throw new Error(`cannot convert ${typeName(x)} to string`);
        return String(x);
      };
      setField(
        doc,
        typeof opts.target_field === 'string' ? opts.target_field : field,
        Array.isArray(v) ? v.map(conv) : conv(v),
      );
      return;
    }
    case 'join': {
      const field = str(opts, 'field', type);
      const v = getField(doc, field);
      if (!Array.isArray(v))
        throw new Error(`field [${field}] of type [${typeName(v)}] cannot be cast to [java.util.List]`);
      const sep = str(opts, 'separator', type);
      const parts = v.map((x) => {
        if (x === null) throw new Error('NullPointerException in join');
        if (typeof x !== 'string') throw new NotModelled(`join of ${typeName(x)}`);
        return x;
      });
      setField(doc, typeof opts.target_field === 'string' ? opts.target_field : field, parts.join(sep));
      return;
    }
    case 'gsub': {
      const field = str(opts, 'field', type);
      const pattern = str(opts, 'pattern', type);
      const replacement = str(opts, 'replacement', type);
      // Java and JavaScript regular expressions agree on literal patterns; anything else is not modelled.
      if (!/^[A-Za-z0-9_ :-]+$/.test(pattern) || /[$\\]/.test(replacement))
        throw new NotModelled(`gsub pattern ${JSON.stringify(pattern)} / replacement ${JSON.stringify(replacement)}`);
      if (!hasField(doc, field) || getField(doc, field) === null) {
        if (opts.ignore_missing === true) return;
        throw new Error(`field [${field}] not present`);
      }
      const v = getField(doc, field);
      const sub = (x: Json): Json => {
        if (typeof x !== 'string')
          throw new Error(`field [${field}] of type [${typeName(x)}] cannot be cast to [java.lang.String]`);
        return x.split(pattern).join(replacement);
      };
      setField(
        doc,
        typeof opts.target_field === 'string' ? opts.target_field : field,
        Array.isArray(v) ? v.map(sub) : sub(v),
      );
      return;
    }
  }
}

/** `append`: the value (or each of a list) added to the field, made a list first; duplicates skipped on request. */
function runAppend(opts: Options, doc: Doc): void {
  const field = str(opts, 'field', 'append');
  const values = (Array.isArray(opts.value) ? opts.value : [opts.value as Json]).map((v) => renderValue(clone(v), doc));
  const current = hasField(doc, field) ? getField(doc, field) : undefined;
  const list: Json[] = current === undefined ? [] : Array.isArray(current) ? current : [current];
  for (const v of values)
    if (opts.allow_duplicates !== false || !list.some((x) => JSON.stringify(x) === JSON.stringify(v))) list.push(v);
  setField(doc, field, list);
}

/** `pipeline`: run a named pipeline on the document in place; its own on_failure handles its failures. */
function runNamedPipeline(opts: Options, doc: Doc): void {
  const name = str(opts, 'name', 'pipeline');
  const inner = namedPipelines.get(name);
  if (inner === undefined) {
    if (opts.ignore_missing_pipeline === true) return;
    throw new Error(`Pipeline processor configured for non-existent pipeline [${name}]`);
  }
  try {
    runList(inner.processors, doc);
  } catch (err) {
    if (!(err instanceof IngestFailure) || inner.on_failure === undefined || inner.on_failure.length === 0) throw err;
    withFailureMetadata(doc, err, () => runList(inner.on_failure as ProcessorSpec[], doc));
  }
}

function runList(list: readonly ProcessorSpec[], doc: Doc): void {
  for (const p of list) {
    const entries = Object.entries(p);
    if (entries.length !== 1) throw new Error('a processor is an object with exactly one key');
    const [type, opts] = entries[0] as [string, Options];
    if (opts.if !== undefined) {
      if (typeof opts.if !== 'string') throw new NotModelled('script objects in if');
      let ok: boolean;
      try {
        ok = compileCondition(opts.if)(doc);
      } catch (err) {
        if (err instanceof NotModelled) throw err;
        throw new IngestFailure(err instanceof Error ? err.message : String(err), type, opts.tag as string | undefined);
      }
      if (!ok) continue;
    }
    try {
      if (type === 'append' || type === 'pipeline') {
        for (const k of Object.keys(opts))
          if (!(OPTIONS[type] as string[]).includes(k) && !COMMON.includes(k))
            throw new NotModelled(`option [${k}] of ${type}`);
        if (type === 'append') runAppend(opts, doc);
        else runNamedPipeline(opts, doc);
      } else runOne(type, opts, doc);
    } catch (err) {
      if (err instanceof NotModelled) throw err;
      if (opts.ignore_failure === true) continue;
      const failure =
        err instanceof IngestFailure
          ? err
          : new IngestFailure(err instanceof Error ? err.message : String(err), type, opts.tag as string | undefined);
      const handlers = opts.on_failure as unknown as ProcessorSpec[] | undefined;
      if (handlers === undefined || handlers.length === 0) throw failure;
      withFailureMetadata(doc, failure, () => runList(handlers, doc));
    }
  }
}

function withFailureMetadata(doc: Doc, failure: IngestFailure, fn: () => void): void {
  const ingest: Json = {
    on_failure_message: failure.message,
    on_failure_processor_type: failure.processorType,
    on_failure_processor_tag: failure.tag ?? null,
  };
  const previous = doc._ingest;
  doc._ingest = ingest;
  try {
    fn();
  } finally {
    if (previous === undefined) delete doc._ingest;
    else doc._ingest = previous;
  }
}

export interface RunResult {
  readonly doc: Doc;
  /** The failure that sent the document through the pipeline's on_failure handlers, if any. */
  readonly failure?: IngestFailure;
}

export interface RunOptions {
  /** Pipelines the `pipeline` processor may call, by name (as they would be stored in the cluster). */
  readonly pipelines?: Readonly<Record<string, PipelineSpec>>;
}

/** Run a pipeline over one `_source` (not modified; the result is a copy). */
export function runPipeline(spec: PipelineSpec, source: Doc, options: RunOptions = {}): RunResult {
  const doc = clone(source);
  const previous = namedPipelines;
  namedPipelines = new Map(Object.entries(options.pipelines ?? {}));
  try {
    runList(spec.processors, doc);
    return { doc };
  } catch (err) {
    if (!(err instanceof IngestFailure)) throw err;
    if (spec.on_failure === undefined || spec.on_failure.length === 0) throw err;
    withFailureMetadata(doc, err, () => runList(spec.on_failure as ProcessorSpec[], doc));
    return { doc, failure: err };
  } finally {
    namedPipelines = previous;
  }
}
