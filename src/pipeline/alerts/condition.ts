/**
 * The condition language of alert rules (docs/alerts.md): one comparison of a value the agent measures with a
 * number.
 *
 *   condition := value op number ['%' | '/s']
 *   value     := 'rate' '(' EXPR ',' DURATION ')'      events per second matching EXPR over the window
 *              | 'count' '(' EXPR ',' DURATION ')'     events matching EXPR in the window
 *              | 'drops' '(' DURATION ')'              events dropped per second over the window (kernel ring
 *                                                      buffer + sink buffers)
 *              | 'sink_lag' '(' [SINK] ')'             events waiting in the sink's buffer (the fullest sink's)
 *              | 'map_utilization' '(' [MAP] ')'       percent of a policy map's capacity in use (the fullest map's)
 *   op        := '>' | '>=' | '<' | '<=' | '==' | '!='
 *   DURATION  := digits ('ms' | 's' | 'm' | 'h' | 'd')
 *
 * EXPR is the pipeline's filter language (src/pipeline/expr.ts), so `rate(type == "block" && comm == "cat", 1m)`
 * works and a field that does not exist is refused when the configuration is validated. `%` and `/s` after the
 * number are readability only (`> 80%`, `> 10/s`). Pure; no I/O.
 */
import { AegisError } from '../../util/errors';
import type { Predicate } from '../expr';
import { compileExpression } from '../expr';

export type Comparison = '>' | '>=' | '<' | '<=' | '==' | '!=';

export type ConditionValue =
  | { readonly kind: 'rate' | 'count'; readonly expr: string; readonly test: Predicate; readonly windowMillis: number }
  | { readonly kind: 'drops'; readonly windowMillis: number }
  | { readonly kind: 'sink_lag'; readonly sink: string | undefined }
  | { readonly kind: 'map_utilization'; readonly map: string | undefined };

export interface Condition {
  readonly source: string;
  readonly value: ConditionValue;
  readonly op: Comparison;
  readonly threshold: number;
}

const UNITS: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
/** The longest window or duration: 30 days (windows are kept in at most WINDOW_BUCKETS buckets). */
export const MAX_DURATION_MILLIS = 30 * 86_400_000;

/** `90s`, `5m`, `4h` → milliseconds; a bare integer is milliseconds. Throws with the problem. */
export function parseDuration(text: string | number): number {
  if (typeof text === 'number') {
    if (!Number.isInteger(text) || text < 0) throw new Error(`${text} is not a whole number of milliseconds`);
    return text;
  }
  const m = /^\s*(\d+)\s*(ms|s|m|h|d)\s*$/.exec(text);
  if (m === null) throw new Error(`"${text}" is not a duration (e.g. 30s, 5m, 4h)`);
  const ms = Number(m[1]) * (UNITS[m[2] as string] as number);
  if (ms > MAX_DURATION_MILLIS) throw new Error(`"${text}" is longer than 30 days`);
  return ms;
}

/** Index of the parenthesis closing the one at `open`, skipping string literals; -1 if none. */
function closingParen(s: string, open: number): number {
  let depth = 0;
  for (let i = open; i < s.length; i++) {
    const c = s[i];
    if (c === '"' || c === "'") {
      for (i++; i < s.length && s[i] !== c; i++) if (s[i] === '\\') i++;
      continue;
    }
    if (c === '(') depth++;
    else if (c === ')' && --depth === 0) return i;
  }
  return -1;
}

/** The last top-level comma of `s` (outside strings and parentheses); -1 if none. */
function lastTopLevelComma(s: string): number {
  let depth = 0;
  let found = -1;
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (c === '"' || c === "'") {
      for (i++; i < s.length && s[i] !== c; i++) if (s[i] === '\\') i++;
      continue;
    }
    if (c === '(' || c === '[') depth++;
    else if (c === ')' || c === ']') depth--;
    else if (c === ',' && depth === 0) found = i;
  }
  return found;
}

const NAME = /^[A-Za-z0-9_.-]{1,64}$/;

/** Parse and compile a condition. Throws AegisError (AEGIS_ERR_CONFIG_INVALID) naming the problem. */
export function parseCondition(source: string): Condition {
  const fail = (why: string): never => {
    throw new AegisError('AEGIS_ERR_CONFIG_INVALID', why);
  };
  const text = source.trim();
  const head = /^([a-z_]+)\s*\(/.exec(text);
  if (head === null)
    fail(
      'must start with rate(…), count(…), drops(…), sink_lag(…) or map_utilization(…), e.g. rate(type == "block", 5m) > 100',
    );
  const fn = (head as RegExpExecArray)[1] as string;
  const open = (head as RegExpExecArray)[0].length - 1;
  const close = closingParen(text, open);
  if (close < 0) fail(`${fn}(: missing closing parenthesis`);
  const args = text.slice(open + 1, close).trim();
  const rest = /^\s*(>=|<=|==|!=|>|<)\s*(-?\d+(?:\.\d+)?)\s*(%|\/s)?\s*$/.exec(text.slice(close + 1));
  if (rest === null) fail(`after ${fn}(…) comes a comparison with a number, e.g. > 100, >= 80%, > 10/s`);
  const op = (rest as RegExpExecArray)[1] as Comparison;
  const threshold = Number((rest as RegExpExecArray)[2]);
  const duration = (what: string, arg: string): number => {
    try {
      const ms = parseDuration(arg);
      if (ms < 1000) fail(`${what}: the window must be at least 1s`);
      return ms;
    } catch (err) {
      if (err instanceof AegisError) throw err;
      return fail(`${what}: ${err instanceof Error ? err.message : String(err)}`);
    }
  };
  let value: ConditionValue;
  switch (fn) {
    case 'rate':
    case 'count': {
      const comma = lastTopLevelComma(args);
      if (comma < 0) fail(`${fn}(EXPR, WINDOW): missing the window, e.g. ${fn}(type == "block", 5m)`);
      const expr = args.slice(0, comma).trim();
      if (expr === '') fail(`${fn}(EXPR, WINDOW): the expression is empty`);
      let test: Predicate;
      try {
        test = compileExpression(expr).test;
      } catch (err) {
        return fail(`${fn}(…): ${err instanceof Error ? err.message : String(err)}`);
      }
      value = { kind: fn, expr, test, windowMillis: duration(`${fn}(…)`, args.slice(comma + 1).trim()) };
      break;
    }
    case 'drops':
      value = { kind: 'drops', windowMillis: duration('drops(…)', args) };
      break;
    case 'sink_lag':
    case 'map_utilization': {
      if (args !== '' && !NAME.test(args)) fail(`${fn}(${args}): not a ${fn === 'sink_lag' ? 'sink' : 'map'} name`);
      value =
        fn === 'sink_lag'
          ? { kind: 'sink_lag', sink: args === '' ? undefined : args }
          : { kind: 'map_utilization', map: args === '' ? undefined : args };
      break;
    }
    default:
      return fail(`unknown function ${fn}(…); known: rate, count, drops, sink_lag, map_utilization`);
  }
  return { source, value, op, threshold };
}

export function compare(value: number, op: Comparison, threshold: number): boolean {
  switch (op) {
    case '>':
      return value > threshold;
    case '>=':
      return value >= threshold;
    case '<':
      return value < threshold;
    case '<=':
      return value <= threshold;
    case '==':
      return value === threshold;
    case '!=':
      return value !== threshold;
  }
}
