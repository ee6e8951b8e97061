/**
 * The live blocklist as a layer over the policy file: entries added over the REST API (POST /api/v1/blocklist) are
 * rules of the stored policy whose `id` starts with `blocklist-`. Applying a policy file (`aegisbpf policy apply`,
 * PUT /api/v1/policy) keeps them, the way Tetragon keeps its runtime-added policies apart from the ones loaded from
 * files: an operator who blocked an attacker's address over the API does not want the next routine policy deploy to
 * unblock it. `aegisbpf policy apply --replace-blocklist` drops them (the file is then the whole policy).
 */
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import type { StoredPolicy } from './policy-store';

export const BLOCKLIST_RULE_PREFIX = 'blocklist-';

interface RawDoc {
  rules?: unknown;
  [key: string]: unknown;
}

const isBlocklistRule = (r: unknown): r is { id: string } =>
  typeof r === 'object' &&
  r !== null &&
  typeof (r as { id?: unknown }).id === 'string' &&
  (r as { id: string }).id.startsWith(BLOCKLIST_RULE_PREFIX);

/** The blocklist rules of `current` that `text` does not define itself, appended to `text`'s rules. */
export function keepBlocklistRules(
  text: string,
  current: StoredPolicy | undefined,
): { readonly text: string; readonly carried: number } {
  if (current === undefined) return { text, carried: 0 };
  let doc: unknown;
  let stored: unknown;
  try {
    doc = parseYaml(text);
    stored = parseYaml(current.text);
  } catch {
    return { text, carried: 0 }; // the policy engine reports the YAML error of `text`
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) return { text, carried: 0 };
  const next = doc as RawDoc;
  const rules: unknown[] = Array.isArray(next.rules) ? (next.rules as unknown[]) : [];
  const ids = new Set(rules.map((r) => (typeof r === 'object' && r !== null ? (r as { id?: unknown }).id : undefined)));
  const storedRules = (stored as RawDoc | null)?.rules;
  const keep = (Array.isArray(storedRules) ? (storedRules as unknown[]) : []).filter(
    (r) => isBlocklistRule(r) && !ids.has(r.id),
  );
  if (keep.length === 0) return { text, carried: 0 };
  return { text: stringifyYaml({ ...next, rules: [...rules, ...keep] }), carried: keep.length };
}
