/**
 * Where a document goes and under which `_id`: the index name from the event's own time, and a deterministic id.
 *
 * Both are functions of the event alone, never of the time of sending: a batch resent after a crash, a timeout or a
 * partial failure goes to the same index with the same `_id`, and `create` answers 409 instead of indexing a
 * duplicate.
 */
import crypto from 'node:crypto';
import type { AegisEvent } from '../../event/types';
import { formatJson } from '../../formatters/json';

/** A parsed index pattern: literal text and date tokens (UTC, from the event's `ts`). */
export type IndexPattern = readonly ({ readonly literal: string } | { readonly token: DateToken })[];
type DateToken = 'yyyy' | 'YYYY' | 'yy' | 'MM' | 'dd' | 'HH';

const TOKENS: readonly DateToken[] = ['yyyy', 'YYYY', 'yy', 'MM', 'dd', 'HH'];
/** Characters Elasticsearch forbids in index names (plus upper case and a leading -, _ or +). */
const FORBIDDEN = /[\\/*?"<>| ,#:A-Z]/;

function tokenize(format: string): { parts: ({ literal: string } | { token: DateToken })[]; problems: string[] } {
  const parts: ({ literal: string } | { token: DateToken })[] = [];
  const problems: string[] = [];
  let i = 0;
  while (i < format.length) {
    const tok = TOKENS.find((t) => format.startsWith(t, i));
    if (tok !== undefined) {
      parts.push({ token: tok });
      i += tok.length;
    } else if ('.-_'.includes(format[i] as string)) {
      parts.push({ literal: format[i] as string });
      i++;
    } else {
      problems.push(
        `unsupported date format character '${format[i] as string}' in %{+${format}} (use yyyy, MM, dd, HH and . - _)`,
      );
      i++;
    }
  }
  return { parts, problems };
}

function split(pattern: string): { parts: ({ literal: string } | { token: DateToken })[]; problems: string[] } {
  const parts: ({ literal: string } | { token: DateToken })[] = [];
  const problems: string[] = [];
  const re = /%\{\+([^}]*)\}/g;
  let last = 0;
  for (let m = re.exec(pattern); m !== null; m = re.exec(pattern)) {
    if (m.index > last) parts.push({ literal: pattern.slice(last, m.index) });
    const t = tokenize(m[1] as string);
    parts.push(...t.parts);
    problems.push(...t.problems);
    last = m.index + m[0].length;
  }
  if (last < pattern.length) parts.push({ literal: pattern.slice(last) });
  const literals = parts
    .filter((p): p is { literal: string } => 'literal' in p)
    .map((p) => p.literal)
    .join('');
  if (literals.includes('%{')) problems.push('only %{+<date format>} placeholders are supported');
  if (FORBIDDEN.test(literals.replace(/%\{[^}]*\}/g, '')))
    problems.push('index names must be lower case without \\ / * ? " < > | space , # :');
  if (/^[-_+.]/.test(pattern)) problems.push("index names must not start with '-', '_', '+' or '.'");
  return { parts, problems };
}

export function checkIndexPattern(pattern: string): string[] {
  return split(pattern).problems;
}

export function parseIndexPattern(pattern: string): IndexPattern {
  return split(pattern).parts;
}

/** The index name for an event timestamp (`2026-11-21T10:30:00.123456Z`, always UTC). */
export function indexName(pattern: IndexPattern, ts: string): string {
  let out = '';
  for (const p of pattern) {
    if ('literal' in p) {
      out += p.literal;
      continue;
    }
    switch (p.token) {
      case 'yyyy':
      case 'YYYY':
        out += ts.slice(0, 4);
        break;
      case 'yy':
        out += ts.slice(2, 4);
        break;
      case 'MM':
        out += ts.slice(5, 7);
        break;
      case 'dd':
        out += ts.slice(8, 10);
        break;
      case 'HH':
        out += ts.slice(11, 13);
        break;
    }
  }
  return out;
}

/**
 * The document `_id`: 128 bits of SHA-256, base64url (22 characters).
 *
 * - With `event_id` (set by the sensor, stable across resends): hash of `host` and `event_id`. Two hosts can never
 *   collide even if their sensors' ids overlap, and the same event always gets the same `_id`.
 * - Without it: hash of the event's canonical JSON (the `json` formatter's byte-stable form). Identical content means
 *   identical `_id`: two events equal in every field (same host, process, microsecond, path, …) are
 *   indistinguishable and are stored once, the second counted as a duplicate. Enrichment that changes between two
 *   sends (new labels) changes the id.
 *
 * Distinct events collide only if SHA-256 truncated to 128 bits collides (about 2^64 events for a 50% chance).
 */
export function documentId(event: AegisEvent): string {
  const input =
    event.event_id !== undefined
      ? `aegisbpf/1:id\0${event.host}\0${event.event_id}`
      : `aegisbpf/1:content\0${formatJson(event)}`;
  return sha256(input).subarray(0, 16).toString('base64url');
}

// crypto.hash (one-shot, about a third cheaper per call) exists from Node 20.12; createHash everywhere.
const oneShot = (crypto as { hash?: (algorithm: string, data: string, encoding: 'buffer') => Buffer }).hash;
const sha256 = (input: string): Buffer =>
  oneShot !== undefined ? oneShot('sha256', input, 'buffer') : crypto.createHash('sha256').update(input).digest();
