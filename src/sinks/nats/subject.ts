/**
 * The NATS subject of an event, from a template such as `aegisbpf.events.{{type}}`. A placeholder names an event
 * field; its value becomes one or more characters of a subject token, with every character NATS reserves or
 * that would split or widen the subject (`.`, `*`, `>`, whitespace, control characters) replaced by `_`, so an
 * event value can never publish to another subject hierarchy or a wildcard. A missing field renders as `_`.
 * Pure; compiled once per sink.
 */
import type { AegisEvent } from '../../event/types';
import { FIELD_KINDS } from '../../event/fields';

const PLACEHOLDER = /\{\{\s*([^{}]*?)\s*\}\}/g;
const FIELD = /^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z0-9_-]+)?$/;
/** Characters allowed in a rendered token (a conservative subset of what NATS accepts). */
const UNSAFE = /[^A-Za-z0-9_\-:@+=%~]/g;

export type SubjectOf = (event: AegisEvent) => string;

export function compileSubject(template: string): { subject: SubjectOf } | { error: string } {
  const parts: { text: string; field?: string; sub?: string }[] = [];
  let last = 0;
  for (const m of template.matchAll(PLACEHOLDER)) {
    const name = m[1] ?? '';
    if (!FIELD.test(name)) return { error: `placeholder {{${name}}} is not a field name` };
    const [head, sub] = name.split('.', 2) as [string, string | undefined];
    const kind = FIELD_KINDS.get(head);
    if (kind === undefined) return { error: `placeholder {{${name}}}: no event field ${head}` };
    if (sub !== undefined && kind !== 'string-map')
      return { error: `placeholder {{${name}}}: ${head} has no sub-fields` };
    if (kind === 'string[]' || (kind === 'string-map' && sub === undefined))
      return { error: `placeholder {{${name}}}: ${head} is a ${kind}, not one value` };
    parts.push(
      { text: template.slice(last, m.index) },
      { text: '', field: head, ...(sub === undefined ? {} : { sub }) },
    );
    last = m.index + m[0].length;
  }
  parts.push({ text: template.slice(last) });
  const skeleton = parts.map((p) => (p.field === undefined ? p.text : 'x')).join('');
  if (skeleton === '' || skeleton.startsWith('.') || skeleton.endsWith('.') || skeleton.includes('..'))
    return { error: 'must be dot-separated tokens, none empty' };
  if (/[\s*>]/.test(skeleton)) return { error: 'must not contain wildcards (* >) or whitespace' };
  const value = (event: AegisEvent, field: string, sub: string | undefined): string => {
    let v: unknown = (event as unknown as Record<string, unknown>)[field];
    if (sub !== undefined) v = v !== null && typeof v === 'object' ? (v as Record<string, unknown>)[sub] : undefined;
    if (typeof v !== 'string' && typeof v !== 'number' && typeof v !== 'boolean') return '_';
    const s = String(v).replace(UNSAFE, '_');
    return s === '' ? '_' : s;
  };
  if (parts.length === 1) {
    const fixed = template;
    return { subject: () => fixed };
  }
  return {
    subject: (event) => {
      let out = '';
      for (const p of parts) out += p.field === undefined ? p.text : value(event, p.field, p.sub);
      return out;
    },
  };
}
