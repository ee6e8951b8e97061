/**
 * KQL (Kibana Query Language) to Elasticsearch query DSL, for running detection rules' queries against a real
 * Elasticsearch in tests (no Kibana here). Covers the subset aegisbpf's rules use, after the KQL reference
 * (elastic.co/guide/en/kibana/current/kuery-query.html):
 *
 *   field:value          match query (on keyword fields: the exact value)
 *   field:"a b"          match_phrase
 *   field:val*ue         wildcard (a `*` in an unquoted value); field:* is `exists`
 *   field:(a or b)       either value; `and` inside the parentheses: both
 *   not X, X and Y, X or Y, ( … )   with KQL's precedence: not > and > or
 *
 * Anything else (ranges, nested field syntax, escapes other than `\<char>`) throws, so an untranslatable rule fails
 * the test instead of being tested under different semantics.
 */

export type Dsl = Record<string, unknown>;

type Tok = { t: 'word' | 'quoted' | 'lp' | 'rp' | 'colon'; v: string };

function lex(q: string): Tok[] {
  const out: Tok[] = [];
  let i = 0;
  while (i < q.length) {
    const c = q[i] as string;
    if (/\s/.test(c)) {
      i++;
    } else if (c === '(') {
      out.push({ t: 'lp', v: c });
      i++;
    } else if (c === ')') {
      out.push({ t: 'rp', v: c });
      i++;
    } else if (c === ':') {
      out.push({ t: 'colon', v: c });
      i++;
    } else if (c === '"') {
      let j = i + 1;
      let s = '';
      while (j < q.length && q[j] !== '"') {
        if (q[j] === '\\') j++;
        s += q[j] ?? '';
        j++;
      }
      if (j >= q.length) throw new Error(`unterminated quoted value in ${q}`);
      out.push({ t: 'quoted', v: s });
      i = j + 1;
    } else if ('<>{}'.includes(c)) {
      throw new Error(`KQL construct '${c}' is not translated: ${q}`);
    } else {
      // A word keeps escapes as \x so wildcards can tell an escaped * from a real one.
      let s = '';
      while (i < q.length && !/[\s():"]/.test(q[i] as string)) {
        if (q[i] === '\\') {
          s += '\\' + (q[i + 1] ?? '');
          i += 2;
        } else {
          s += q[i];
          i++;
        }
      }
      out.push({ t: 'word', v: s });
    }
  }
  return out;
}

const unescape = (w: string): string => w.replace(/\\(.)/g, '$1');
const hasWildcard = (w: string): boolean => /(^|[^\\])\*/.test(w);

export function kqlToDsl(query: string): Dsl {
  const toks = lex(query);
  let pos = 0;
  const peek = (): Tok | undefined => toks[pos];
  const isWord = (w: string): boolean => peek()?.t === 'word' && peek()?.v.toLowerCase() === w;

  const value = (field: string, tok: Tok): Dsl => {
    if (tok.t === 'quoted') return { match_phrase: { [field]: tok.v } };
    if (tok.v === '*') return { exists: { field } };
    if (hasWildcard(tok.v)) {
      // Lucene wildcard syntax: keep * as the wildcard, escape ? and backslashes that KQL treats literally.
      const pattern = tok.v.replace(/\\(.)|([?])/g, (_m, esc: string | undefined, q: string | undefined) =>
        esc !== undefined ? (esc === '*' ? '\\*' : esc) : `\\${q as string}`,
      );
      return { wildcard: { [field]: { value: pattern } } };
    }
    return { match: { [field]: unescape(tok.v) } };
  };

  const valueExpr = (field: string): Dsl => {
    const tok = peek();
    if (tok === undefined) throw new Error(`missing value for ${field}`);
    if (tok.t === 'lp') {
      pos++;
      const e = valueOr(field);
      if (peek()?.t !== 'rp') throw new Error(`expected ) in ${query}`);
      pos++;
      return e;
    }
    if (tok.t !== 'word' && tok.t !== 'quoted') throw new Error(`unexpected ${tok.v} in ${query}`);
    pos++;
    return value(field, tok);
  };
  const valueOr = (field: string): Dsl => {
    const parts = [valueAnd(field)];
    while (isWord('or')) {
      pos++;
      parts.push(valueAnd(field));
    }
    return parts.length === 1 ? (parts[0] as Dsl) : { bool: { should: parts, minimum_should_match: 1 } };
  };
  const valueAnd = (field: string): Dsl => {
    const parts = [valueNot(field)];
    while (isWord('and')) {
      pos++;
      parts.push(valueNot(field));
    }
    return parts.length === 1 ? (parts[0] as Dsl) : { bool: { filter: parts } };
  };
  const valueNot = (field: string): Dsl => {
    if (isWord('not')) {
      pos++;
      return { bool: { must_not: [valueNot(field)] } };
    }
    return valueExpr(field);
  };

  const primary = (): Dsl => {
    const tok = peek();
    if (tok === undefined) throw new Error(`unexpected end of ${query}`);
    if (tok.t === 'lp') {
      pos++;
      const e = or();
      if (peek()?.t !== 'rp') throw new Error(`expected ) in ${query}`);
      pos++;
      return e;
    }
    if (tok.t === 'word' && toks[pos + 1]?.t === 'colon') {
      pos += 2;
      return valueExpr(unescape(tok.v));
    }
    throw new Error(`free-text terms are not translated (${tok.v}) in ${query}`);
  };
  const not = (): Dsl => {
    if (isWord('not')) {
      pos++;
      return { bool: { must_not: [not()] } };
    }
    return primary();
  };
  const and = (): Dsl => {
    const parts = [not()];
    while (isWord('and')) {
      pos++;
      parts.push(not());
    }
    return parts.length === 1 ? (parts[0] as Dsl) : { bool: { filter: parts } };
  };
  const or = (): Dsl => {
    const parts = [and()];
    while (isWord('or')) {
      pos++;
      parts.push(and());
    }
    return parts.length === 1 ? (parts[0] as Dsl) : { bool: { should: parts, minimum_should_match: 1 } };
  };

  const dsl = or();
  if (pos !== toks.length) throw new Error(`trailing input in ${query}`);
  return dsl;
}

/** Every field a KQL query names. */
export function kqlFields(query: string): string[] {
  const toks = lex(query);
  const out = new Set<string>();
  for (let i = 0; i + 1 < toks.length; i++)
    if (toks[i]?.t === 'word' && toks[i + 1]?.t === 'colon') out.add(unescape(toks[i]?.v ?? ''));
  return [...out].sort();
}
