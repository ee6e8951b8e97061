/**
 * Just enough of Splunk's .conf syntax and search language to lint the add-on in rules/splunk/ without a Splunk:
 * - `.conf`: `[stanza]` headers, `key = value` lines, `#` comment lines, `\` line continuations; nothing else.
 * - field references in eval expressions (calculated fields, `where`), in search terms (`field=value`,
 *   `field IN (…)`), and in the `stats`, `table`, `fields`, `eval` commands the detections use;
 * - a matcher for the base search (terms, AND/OR/NOT, parentheses, `*` wildcards, IN lists) to run detections and
 *   eventtypes against sample events.
 * Anything else is reported as unsupported, so a new construct extends this file instead of escaping the checks.
 */

export interface ConfEntry {
  readonly key: string;
  readonly value: string;
  readonly line: number;
}

export interface ConfStanza {
  readonly name: string;
  readonly line: number;
  readonly entries: ConfEntry[];
}

export function parseConf(text: string): { stanzas: ConfStanza[]; problems: string[] } {
  const stanzas: ConfStanza[] = [];
  const problems: string[] = [];
  const lines = text.split('\n');
  let current: ConfStanza | undefined;
  for (let i = 0; i < lines.length; i++) {
    let line = (lines[i] as string).replace(/\r$/, '');
    const lineNo = i + 1;
    while (line.endsWith('\\') && i + 1 < lines.length) line = line.slice(0, -1) + '\n' + (lines[++i] as string);
    const trimmed = line.trim();
    if (trimmed === '' || trimmed.startsWith('#')) continue;
    const header = /^\[(.*)\]$/.exec(trimmed);
    if (header !== null) {
      current = { name: header[1] as string, line: lineNo, entries: [] };
      if (stanzas.some((s) => s.name === current?.name))
        problems.push(`line ${lineNo}: stanza [${current.name}] appears twice`);
      stanzas.push(current);
      continue;
    }
    const kv = /^([^=\s][^=]*?)\s*=\s?(.*)$/.exec(line);
    if (kv === null) {
      problems.push(`line ${lineNo}: neither a [stanza], a key = value, nor a # comment: ${trimmed}`);
      continue;
    }
    if (current === undefined) {
      problems.push(`line ${lineNo}: key ${kv[1] as string} outside any stanza`);
      continue;
    }
    const key = kv[1] as string;
    if (current.entries.some((e) => e.key === key))
      problems.push(`line ${lineNo}: [${current.name}] sets ${key} twice`);
    if (/^\s/.test(line)) problems.push(`line ${lineNo}: a key must start at the beginning of the line`);
    current.entries.push({ key, value: (kv[2] as string).trim(), line: lineNo });
  }
  return { stanzas, problems };
}

export const get = (s: ConfStanza, key: string): string | undefined => s.entries.find((e) => e.key === key)?.value;

// ---- expressions ---------------------------------------------------------------------------------------------

const KEYWORDS = new Set(['and', 'or', 'not', 'like', 'in', 'by', 'as', 'true', 'false', 'null']);

/** Field names an eval expression reads: bare identifiers (not function names) and 'quoted field names'. */
export function evalFields(expr: string): string[] {
  const fields: string[] = [];
  let rest = expr.replace(/"(?:[^"\\]|\\.)*"/g, '""');
  rest = rest.replace(/'([^']+)'/g, (_m, name: string) => {
    fields.push(name);
    return ' ';
  });
  for (const m of rest.matchAll(/[A-Za-z_][A-Za-z0-9_.{}]*/g)) {
    const after = rest.slice((m.index ?? 0) + m[0].length).trimStart();
    if (after.startsWith('(')) continue; // function call
    if (KEYWORDS.has(m[0].toLowerCase())) continue;
    fields.push(m[0]);
  }
  return fields;
}

/** Split a search at top-level pipes (not inside quotes, parentheses or backticks). */
export function splitPipes(search: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let quote: string | undefined;
  let start = 0;
  for (let i = 0; i < search.length; i++) {
    const c = search[i];
    if (quote !== undefined) {
      if (c === '\\') i++;
      else if (c === quote) quote = undefined;
      continue;
    }
    if (c === '"' || c === '`') quote = c;
    else if (c === '(') depth++;
    else if (c === ')') depth--;
    else if (c === '|' && depth === 0) {
      out.push(search.slice(start, i).trim());
      start = i + 1;
    }
  }
  out.push(search.slice(start).trim());
  return out;
}

/** Fields a base search filters on (`field=value`, `field!=value`, `field IN (…)`, comparisons). */
export function searchTermFields(base: string): string[] {
  const text = base.replace(/`[^`]*`/g, ' ').replace(/"(?:[^"\\]|\\.)*"/g, '""');
  const fields: string[] = [];
  for (const m of text.matchAll(/([A-Za-z_][\w.{}]*)\s*(?:!=|<=|>=|=|<|>)/g)) fields.push(m[1] as string);
  for (const m of text.matchAll(/([A-Za-z_][\w.{}]*)\s+IN\s*\(/g)) fields.push(m[1] as string);
  return fields;
}

export interface SearchAnalysis {
  /** Fields read, by command (for messages). */
  readonly reads: { readonly command: string; readonly field: string }[];
  /** Fields the pipeline creates (stats AS, eval). */
  readonly creates: string[];
  readonly problems: string[];
}

/** Field references of a whole search: base terms, then stats / where / table / fields / eval commands. */
export function analyzeSearch(search: string): SearchAnalysis {
  const [base, ...commands] = splitPipes(search);
  const reads: { command: string; field: string }[] = searchTermFields(base ?? '').map((field) => ({
    command: 'search',
    field,
  }));
  const creates: string[] = [];
  const problems: string[] = [];
  const list = (s: string): string[] => s.split(/[\s,]+/).filter((x) => x !== '');
  for (const cmd of commands) {
    const m = /^(\w+)\s*(.*)$/s.exec(cmd);
    const name = m?.[1] ?? '';
    const args = m?.[2] ?? '';
    switch (name) {
      case 'stats': {
        const [aggs, by] = args.split(/\s+BY\s+/i);
        for (const agg of (aggs ?? '').matchAll(/(\w+)(?:\(([^)]*)\))?(?:\s+AS\s+(\w+))?/gi)) {
          if (agg[2] !== undefined && agg[2] !== '')
            for (const f of list(agg[2])) reads.push({ command: 'stats', field: f });
          creates.push(agg[3] ?? (agg[2] === undefined ? (agg[1] as string) : `${agg[1] as string}(${agg[2]})`));
        }
        for (const f of list(by ?? '')) reads.push({ command: 'stats BY', field: f });
        break;
      }
      case 'where':
        for (const f of evalFields(args)) reads.push({ command: 'where', field: f });
        break;
      case 'table':
      case 'fields':
        for (const f of list(args.replace(/^[+-]\s*/, ''))) reads.push({ command: name, field: f });
        break;
      case 'eval': {
        const e = /^([\w.]+)\s*=\s*(.*)$/s.exec(args);
        if (e === null) problems.push(`eval without "name = expression": ${cmd}`);
        else {
          for (const f of evalFields(e[2] as string)) reads.push({ command: 'eval', field: f });
          creates.push(e[1] as string);
        }
        break;
      }
      default:
        problems.push(`command "${name}" is not understood by the checker (test/rules/splunk-conf.ts): ${cmd}`);
    }
  }
  return { reads, creates, problems };
}

// ---- base-search matcher ---------------------------------------------------------------------------------------

type Fields = Readonly<Record<string, unknown>>;

const wildcard = (pattern: string): RegExp =>
  new RegExp(
    `^${pattern
      .split('*')
      .map((p) => p.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
      .join('.*')}$`,
    'i',
  );

function valuesOf(fields: Fields, name: string): string[] {
  const v = fields[name];
  if (v === undefined || v === null) return [];
  return (Array.isArray(v) ? v : [v]).map((x) => String(x));
}

/** Does `fields` match the base search (the part before the first pipe)? Macros and `sourcetype=` are ignored. */
export function matchesBaseSearch(base: string, fields: Fields): boolean {
  const tokens: string[] = [];
  const text = base.replace(/`[^`]*`/g, ' ');
  const re = /\s*(\(|\)|,|"(?:[^"\\]|\\.)*"|[^\s(),"]+(?:"(?:[^"\\]|\\.)*")?)/gy;
  let m: RegExpExecArray | null;
  while ((m = re.exec(text)) !== null) if ((m[1] as string) !== '') tokens.push(m[1] as string);
  let pos = 0;
  const peek = (): string | undefined => tokens[pos];
  const unquote = (s: string): string => (s.startsWith('"') ? (JSON.parse(s) as string) : s);
  const orExpr = (): boolean => {
    let v = andExpr();
    while (peek()?.toUpperCase() === 'OR') {
      pos++;
      const r = andExpr();
      v = v || r;
    }
    return v;
  };
  const andExpr = (): boolean => {
    let v = notExpr();
    while (pos < tokens.length && peek() !== ')' && peek()?.toUpperCase() !== 'OR') {
      if (peek()?.toUpperCase() === 'AND') pos++;
      const r = notExpr();
      v = v && r;
    }
    return v;
  };
  const notExpr = (): boolean => {
    if (peek()?.toUpperCase() === 'NOT') {
      pos++;
      return !notExpr();
    }
    return term();
  };
  const term = (): boolean => {
    const t = tokens[pos++];
    if (t === undefined) throw new Error(`unexpected end of search: ${base}`);
    if (t === '(') {
      const v = orExpr();
      if (tokens[pos++] !== ')') throw new Error(`missing ) in ${base}`);
      return v;
    }
    if (peek()?.toUpperCase() === 'IN' && tokens[pos + 1] === '(') {
      pos += 2;
      const options: string[] = [];
      while (peek() !== ')') {
        const o = tokens[pos++];
        if (o === undefined) throw new Error(`missing ) after IN in ${base}`);
        if (o !== ',') options.push(unquote(o));
      }
      pos++;
      return valuesOf(fields, t).some((v) => options.some((o) => wildcard(o).test(v)));
    }
    const cmp = /^([A-Za-z_][\w.{}]*)(!=|=)(.*)$/.exec(t);
    if (cmp === null) throw new Error(`term not understood by the checker: ${t}`);
    const [, field, op, raw] = cmp as unknown as [string, string, string, string];
    if (field === 'sourcetype' || field === 'index') return true;
    const hit = valuesOf(fields, field).some((v) => wildcard(unquote(raw)).test(v));
    return op === '=' ? hit : valuesOf(fields, field).length > 0 && !hit;
  };
  const result = orExpr();
  if (pos !== tokens.length) throw new Error(`trailing tokens in ${base}: ${tokens.slice(pos).join(' ')}`);
  return result;
}
