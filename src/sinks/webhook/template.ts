/**
 * The webhook body template: a JSON document whose strings may hold `{{ field }}` placeholders, rendered once per
 * event. Safe by construction: the template is parsed as JSON when the config is validated, placeholders are only
 * ever replaced inside parsed string values, and the rendered tree is serialized with JSON.stringify, so no event
 * value (quotes, backslashes, control characters, `}}`) can change the document's structure.
 *
 * - `{{ name }}` / `{{ labels.team }}`: the field's value as text (numbers in decimal, arrays joined with spaces,
 *   a missing field as the empty string). Field names are checked against the event schema at validation.
 * - A string that is exactly `{{ $event }}` becomes the whole event as a JSON object.
 * - `{{ $summary }}`: a one-line summary of the event (what the presets use).
 * Keys are rendered too, so `{"{{ type }}": …}` works; a key that renders empty is kept as "".
 */
import type { AegisEvent } from '../../event/types';
import { FIELD_KINDS } from '../../event/fields';

export interface BodyTemplate {
  /** The JSON value for one event. */
  render(event: AegisEvent): unknown;
}

const PLACEHOLDER = /\{\{\s*([^{}]*?)\s*\}\}/g;
const NAME = /^(\$event|\$summary|[A-Za-z_@][A-Za-z0-9_@]*(\.[A-Za-z0-9_.-]+)?)$/;
const MAX_DEPTH = 32;

/** Compile a template; an error names the first problem (the caller adds the key path). Pure. */
export function compileBodyTemplate(text: string): { template: BodyTemplate } | { error: string } {
  let tree: unknown;
  try {
    tree = JSON.parse(text);
  } catch (err) {
    return { error: `is not a JSON document (${err instanceof Error ? err.message : String(err)})` };
  }
  const problem = checkTree(tree, 0);
  if (problem !== undefined) return { error: problem };
  return { template: { render: (event) => renderValue(tree, event) } };
}

function checkTree(node: unknown, depth: number): string | undefined {
  if (depth > MAX_DEPTH) return `nests deeper than ${MAX_DEPTH} levels`;
  if (typeof node === 'string') return checkString(node);
  if (Array.isArray(node)) {
    for (const v of node) {
      const p = checkTree(v, depth + 1);
      if (p !== undefined) return p;
    }
    return undefined;
  }
  if (node !== null && typeof node === 'object') {
    for (const [k, v] of Object.entries(node)) {
      const p = checkString(k) ?? checkTree(v, depth + 1);
      if (p !== undefined) return p;
    }
  }
  return undefined;
}

function checkString(s: string): string | undefined {
  for (const m of s.matchAll(PLACEHOLDER)) {
    const name = m[1] ?? '';
    if (!NAME.test(name)) return `placeholder {{ ${name} }} is not a field name`;
    if (name === '$event' && s.trim() !== m[0]) return '{{ $event }} must be a whole string value on its own';
    if (name.startsWith('$')) continue;
    const [head, rest] = splitPath(name);
    const kind = FIELD_KINDS.get(head);
    if (kind === undefined) return `placeholder {{ ${name} }}: no event field ${head}`;
    if (rest !== undefined && kind !== 'string-map')
      return `placeholder {{ ${name} }}: ${head} has no sub-fields (it is a ${kind})`;
  }
  return undefined;
}

function splitPath(name: string): [string, string | undefined] {
  const dot = name.indexOf('.');
  return dot < 0 ? [name, undefined] : [name.slice(0, dot), name.slice(dot + 1)];
}

function renderValue(node: unknown, event: AegisEvent): unknown {
  if (typeof node === 'string') return renderString(node, event);
  if (Array.isArray(node)) return node.map((v) => renderValue(v, event));
  if (node !== null && typeof node === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(node)) out[renderText(k, event)] = renderValue(v, event);
    return out;
  }
  return node;
}

function renderString(s: string, event: AegisEvent): unknown {
  if (/^\s*\{\{\s*\$event\s*\}\}\s*$/.test(s)) return event;
  return renderText(s, event);
}

function renderText(s: string, event: AegisEvent): string {
  if (!s.includes('{{')) return s;
  return s.replace(PLACEHOLDER, (_m, name: string) => fieldText(event, name));
}

/** The text of a field of the event (or of `$summary`); '' when the event does not have it. */
export function fieldText(event: AegisEvent, name: string): string {
  if (name === '$summary') return eventSummary(event);
  const [head, rest] = splitPath(name);
  let v: unknown = (event as unknown as Record<string, unknown>)[head];
  if (rest !== undefined) v = v !== null && typeof v === 'object' ? (v as Record<string, unknown>)[rest] : undefined;
  if (v === undefined || v === null) return '';
  if (Array.isArray(v)) return v.map(String).join(' ');
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  return JSON.stringify(v);
}

/** One line a human reads in a chat message or a page title: what happened, by which process, on which host. */
export function eventSummary(event: AegisEvent): string {
  const e = event as unknown as Record<string, unknown>;
  const message = typeof e.message === 'string' ? e.message : undefined;
  if (message !== undefined && message !== '') return `${message} (${event.host})`;
  const parts: string[] = [`aegisbpf ${event.type}`];
  if (typeof e.action === 'string') parts.push(e.action);
  parts.push(`${event.comm} pid ${event.pid}`);
  if (typeof e.path === 'string' && e.path !== '') parts.push(e.path);
  if (typeof e.remote_ip === 'string') parts.push(`${e.remote_ip}:${String(e.remote_port)}`);
  if (typeof e.status === 'string') parts.push(e.status);
  parts.push(`on ${event.host}`);
  return parts.join(' ');
}
