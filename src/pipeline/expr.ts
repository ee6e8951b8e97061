/**
 * A small, safe expression language over event fields, for `filter` conditions, route `when`s and the `when` of
 * other processors. No eval, no function calls, no property access beyond event fields and `labels.<name>`.
 *
 *   expr      := or
 *   or        := and ( '||' and )*
 *   and       := unary ( '&&' unary )*
 *   unary     := '!' unary | compare
 *   compare   := operand [ op operand | 'in' list | 'not' 'in' list ]
 *   op        := '==' | '!=' | '<' | '<=' | '>' | '>=' | 'startsWith' | 'endsWith' | 'contains' | 'matches'
 *   operand   := field | string | number | 'true' | 'false' | 'null' | '(' expr ')'
 *   list      := '[' literal ( ',' literal )* ']'
 *   field     := name ( '.' name )?          (known event fields; `labels.<key>`)
 *
 * Semantics: `==`/`!=` compare without type coercion; a missing field is `null`; ordering operators are false
 * unless both sides are numbers (or both strings); `startsWith`/`endsWith` need strings; `contains` works on
 * strings (substring) and on `args` (element equality); `matches` takes a regular-expression string literal,
 * compiled once. An expression that names an unknown field is a configuration error, not a silent `null`.
 */
import type { AegisEvent } from '../event/types';
import { FIELD_KINDS } from '../event/fields';
import { AegisError } from '../util/errors';

export type Predicate = (event: AegisEvent) => boolean;

type Literal = string | number | boolean | null;

type Node =
  | { readonly t: 'lit'; readonly v: Literal }
  | { readonly t: 'field'; readonly name: string; readonly label?: string }
  | { readonly t: 'not'; readonly e: Node }
  | { readonly t: 'and' | 'or'; readonly l: Node; readonly r: Node }
  | { readonly t: 'cmp'; readonly op: string; readonly l: Node; readonly r: Node }
  | { readonly t: 'in'; readonly l: Node; readonly list: readonly Literal[]; readonly negate: boolean };

interface Token {
  readonly kind: 'str' | 'num' | 'ident' | 'op' | 'eof';
  readonly text: string;
  readonly value?: string | number;
  readonly pos: number;
}

const WORD_OPS = new Set(['in', 'not', 'startsWith', 'endsWith', 'contains', 'matches', 'true', 'false', 'null']);
const SYMBOLS = ['==', '!=', '<=', '>=', '&&', '||', '<', '>', '!', '(', ')', '[', ']', ','];

function syntax(source: string, pos: number, what: string): AegisError {
  return new AegisError(
    'AEGIS_ERR_EXPR_SYNTAX',
    `${what} at position ${pos + 1} in expression ${JSON.stringify(source)}`,
  );
}

function tokenize(src: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < src.length) {
    const c = src[i] as string;
    if (c === ' ' || c === '\t' || c === '\n' || c === '\r') {
      i++;
      continue;
    }
    if (c === '"' || c === "'") {
      const start = i;
      let out = '';
      i++;
      for (;;) {
        if (i >= src.length) throw syntax(src, start, 'unterminated string');
        const d = src[i] as string;
        if (d === c) {
          i++;
          break;
        }
        if (d === '\\') {
          const e = src[i + 1];
          if (e === undefined) throw syntax(src, i, 'unterminated escape');
          const simple: Record<string, string> = {
            n: '\n',
            r: '\r',
            t: '\t',
            '\\': '\\',
            '"': '"',
            "'": "'",
            '0': '\0',
          };
          if (e in simple) {
            out += simple[e];
            i += 2;
          } else if (e === 'u' && /^[0-9a-fA-F]{4}$/.test(src.slice(i + 2, i + 6))) {
            out += String.fromCharCode(parseInt(src.slice(i + 2, i + 6), 16));
            i += 6;
          } else {
            throw syntax(src, i, `unknown escape \\${e}`);
          }
          continue;
        }
        out += d;
        i++;
      }
      tokens.push({ kind: 'str', text: src.slice(start, i), value: out, pos: start });
      continue;
    }
    const num = /^-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?/.exec(src.slice(i));
    if (num !== null && (c !== '-' || /[0-9]/.test(src[i + 1] ?? ''))) {
      tokens.push({ kind: 'num', text: num[0], value: Number(num[0]), pos: i });
      i += num[0].length;
      continue;
    }
    const ident = /^[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*/.exec(src.slice(i));
    if (ident !== null) {
      tokens.push({ kind: WORD_OPS.has(ident[0]) ? 'op' : 'ident', text: ident[0], pos: i });
      i += ident[0].length;
      continue;
    }
    const sym = SYMBOLS.find((s) => src.startsWith(s, i));
    if (sym === undefined) throw syntax(src, i, `unexpected character ${JSON.stringify(c)}`);
    tokens.push({ kind: 'op', text: sym, pos: i });
    i += sym.length;
  }
  tokens.push({ kind: 'eof', text: '', pos: src.length });
  return tokens;
}

class Parser {
  private i = 0;
  constructor(
    private readonly src: string,
    private readonly tokens: readonly Token[],
  ) {}

  parse(): Node {
    const node = this.or();
    const t = this.peek();
    if (t.kind !== 'eof') throw syntax(this.src, t.pos, `unexpected '${t.text}'`);
    return node;
  }

  private peek(): Token {
    return this.tokens[this.i] as Token;
  }
  private next(): Token {
    return this.tokens[this.i++] as Token;
  }
  private accept(text: string): boolean {
    const t = this.peek();
    if (t.kind === 'op' && t.text === text) {
      this.i++;
      return true;
    }
    return false;
  }
  private expect(text: string): void {
    const t = this.peek();
    if (!this.accept(text))
      throw syntax(
        this.src,
        t.pos,
        t.kind === 'eof' ? `expected '${text}' but the expression ended` : `expected '${text}' but found '${t.text}'`,
      );
  }

  private or(): Node {
    let l = this.and();
    while (this.accept('||')) l = { t: 'or', l, r: this.and() };
    return l;
  }
  private and(): Node {
    let l = this.unary();
    while (this.accept('&&')) l = { t: 'and', l, r: this.unary() };
    return l;
  }
  private unary(): Node {
    if (this.accept('!')) return { t: 'not', e: this.unary() };
    return this.compare();
  }
  private compare(): Node {
    const l = this.operand();
    const t = this.peek();
    if (t.kind !== 'op') return l;
    if (['==', '!=', '<', '<=', '>', '>=', 'startsWith', 'endsWith', 'contains', 'matches'].includes(t.text)) {
      this.i++;
      const r = this.operand();
      if (t.text === 'matches' && (r.t !== 'lit' || typeof r.v !== 'string'))
        throw syntax(this.src, t.pos, "'matches' needs a regular-expression string literal on its right");
      return { t: 'cmp', op: t.text, l, r };
    }
    if (t.text === 'in' || t.text === 'not') {
      this.i++;
      const negate = t.text === 'not';
      if (negate) this.expect('in');
      return { t: 'in', l, list: this.list(), negate };
    }
    return l;
  }
  private list(): Literal[] {
    this.expect('[');
    const out: Literal[] = [];
    if (this.accept(']')) return out;
    do {
      const n = this.operand();
      if (n.t !== 'lit') throw syntax(this.src, this.peek().pos, "a list after 'in' may hold only literals");
      out.push(n.v);
    } while (this.accept(','));
    this.expect(']');
    return out;
  }
  private operand(): Node {
    const t = this.next();
    switch (t.kind) {
      case 'str':
      case 'num':
        return { t: 'lit', v: t.value as string | number };
      case 'ident': {
        const dot = t.text.indexOf('.');
        if (dot === -1) return { t: 'field', name: t.text };
        const head = t.text.slice(0, dot);
        const rest = t.text.slice(dot + 1);
        if (head !== 'labels' || rest.includes('.'))
          throw new AegisError(
            'AEGIS_ERR_EXPR_FIELD',
            `'${t.text}' is not a field: only labels.<name> may use a dot, in expression ${JSON.stringify(this.src)}`,
          );
        return { t: 'field', name: 'labels', label: rest };
      }
      case 'op':
        if (t.text === 'true') return { t: 'lit', v: true };
        if (t.text === 'false') return { t: 'lit', v: false };
        if (t.text === 'null') return { t: 'lit', v: null };
        if (t.text === '(') {
          const e = this.or();
          this.expect(')');
          return e;
        }
        throw syntax(this.src, t.pos, `unexpected '${t.text}'`);
      case 'eof':
        throw syntax(this.src, t.pos, 'the expression ended early');
    }
  }
}

function fieldsOf(node: Node, out: Set<string>): Set<string> {
  switch (node.t) {
    case 'field':
      out.add(node.name);
      break;
    case 'not':
      fieldsOf(node.e, out);
      break;
    case 'and':
    case 'or':
    case 'cmp':
      fieldsOf(node.l, out);
      fieldsOf(node.r, out);
      break;
    case 'in':
      fieldsOf(node.l, out);
      break;
    case 'lit':
      break;
  }
  return out;
}

type Getter = (e: Record<string, unknown>) => unknown;

function compileValue(node: Node): Getter {
  switch (node.t) {
    case 'lit': {
      const v = node.v;
      return () => v;
    }
    case 'field': {
      const { name, label } = node;
      if (label !== undefined) return (e) => (e.labels as Record<string, string> | undefined)?.[label] ?? null;
      return (e) => e[name] ?? null;
    }
    default: {
      const p = compileBool(node);
      return (e) => p(e);
    }
  }
}

const bothNumbers = (a: unknown, b: unknown): boolean => typeof a === 'number' && typeof b === 'number';
const bothStrings = (a: unknown, b: unknown): boolean => typeof a === 'string' && typeof b === 'string';

function compileBool(node: Node): (e: Record<string, unknown>) => boolean {
  switch (node.t) {
    case 'not': {
      const p = compileBool(node.e);
      return (e) => !p(e);
    }
    case 'and': {
      const l = compileBool(node.l);
      const r = compileBool(node.r);
      return (e) => l(e) && r(e);
    }
    case 'or': {
      const l = compileBool(node.l);
      const r = compileBool(node.r);
      return (e) => l(e) || r(e);
    }
    case 'in': {
      const get = compileValue(node.l);
      const set = new Set<Literal>(node.list);
      const negate = node.negate;
      return (e) => set.has(get(e) as Literal) !== negate;
    }
    case 'cmp': {
      const l = compileValue(node.l);
      const r = compileValue(node.r);
      switch (node.op) {
        case '==':
          return (e) => l(e) === r(e);
        case '!=':
          return (e) => l(e) !== r(e);
        case '<':
          return (e) => {
            const a = l(e),
              b = r(e);
            return (bothNumbers(a, b) || bothStrings(a, b)) && (a as number) < (b as number);
          };
        case '<=':
          return (e) => {
            const a = l(e),
              b = r(e);
            return (bothNumbers(a, b) || bothStrings(a, b)) && (a as number) <= (b as number);
          };
        case '>':
          return (e) => {
            const a = l(e),
              b = r(e);
            return (bothNumbers(a, b) || bothStrings(a, b)) && (a as number) > (b as number);
          };
        case '>=':
          return (e) => {
            const a = l(e),
              b = r(e);
            return (bothNumbers(a, b) || bothStrings(a, b)) && (a as number) >= (b as number);
          };
        case 'startsWith':
          return (e) => {
            const a = l(e),
              b = r(e);
            return typeof a === 'string' && typeof b === 'string' && a.startsWith(b);
          };
        case 'endsWith':
          return (e) => {
            const a = l(e),
              b = r(e);
            return typeof a === 'string' && typeof b === 'string' && a.endsWith(b);
          };
        case 'contains':
          return (e) => {
            const a = l(e),
              b = r(e);
            if (typeof a === 'string') return typeof b === 'string' && a.includes(b);
            return Array.isArray(a) && a.includes(b);
          };
        case 'matches': {
          const re = new RegExp((node.r as { v: string }).v, 'u');
          return (e) => {
            const a = l(e);
            return typeof a === 'string' && re.test(a);
          };
        }
        default:
          throw new AegisError('AEGIS_ERR_INTERNAL', `unknown operator ${node.op}`);
      }
    }
    case 'lit': {
      const v = node.v === true;
      return () => v;
    }
    case 'field': {
      const get = compileValue(node);
      return (e) => get(e) === true;
    }
  }
}

export interface CompiledExpression {
  readonly source: string;
  readonly fields: ReadonlySet<string>;
  readonly test: Predicate;
}

/**
 * Parse and compile an expression. Throws AegisError (AEGIS_ERR_EXPR_SYNTAX / AEGIS_ERR_EXPR_FIELD) with a
 * message that names the problem and its position; never evaluates anything while compiling.
 */
export function compileExpression(source: string): CompiledExpression {
  const ast = new Parser(source, tokenize(source)).parse();
  const fields = fieldsOf(ast, new Set());
  for (const f of fields) {
    if (!FIELD_KINDS.has(f)) {
      throw new AegisError(
        'AEGIS_ERR_EXPR_FIELD',
        `unknown field '${f}' in expression ${JSON.stringify(source)}; known fields: ${[...FIELD_KINDS.keys()].sort().join(', ')}`,
      );
    }
  }
  // Regular expressions are compiled here, so a bad pattern is a configuration error, not a runtime one.
  let test: (e: Record<string, unknown>) => boolean;
  try {
    test = compileBool(ast);
  } catch (err) {
    if (err instanceof SyntaxError)
      throw new AegisError(
        'AEGIS_ERR_EXPR_SYNTAX',
        `invalid regular expression in ${JSON.stringify(source)}: ${err.message}`,
      );
    throw err;
  }
  return { source, fields, test: test as unknown as Predicate };
}
